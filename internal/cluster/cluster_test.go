//go:build chaos

package cluster_test

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley/internal/e2e"
	"github.com/parley-dev/parley/internal/testenv"
	"github.com/parley-dev/parley/pipeline"
	"github.com/parley-dev/parley/sim"
)

// hatchetDB is the deployment's own Hatchet database (dropped before and
// after); its RabbitMQ vhost is parley-hatchet_cluster_test.
const hatchetDB = "hatchet_cluster_test"

var (
	root     string
	stackDir string
	// stackEnv is what scripts/stack.sh needs to reach this deployment.
	stackEnv []string
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run()) // every test skips (testenv.Load)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster: go env GOMOD:", err)
		return 1
	}
	root = filepath.Dir(strings.TrimSpace(string(out)))
	if stackDir, err = os.MkdirTemp("", "parley-cluster-"); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		return 1
	}
	defer os.RemoveAll(stackDir)
	grpc, health := freeBlock(3), freeBlock(3)
	stackEnv = []string{"PARLEY_HATCHET=cluster", "PARLEY_STACK_DIR=" + stackDir, "PARLEY_HATCHET_DB=" + hatchetDB,
		"HATCHET_GRPC_PORT=" + strconv.Itoa(grpc), "HATCHET_HEALTH_PORT=" + strconv.Itoa(health),
		"HATCHET_API_PORT=" + strconv.Itoa(freeBlock(1)), "MINIO_PORT=" + strconv.Itoa(freeBlock(1)),
		"MINIO_CONSOLE_PORT=" + strconv.Itoa(freeBlock(1))}
	// From nothing: no database, vhost or state of an earlier run.
	if err := stack("reset"); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		return 1
	}
	defer func() {
		if err := stack("reset"); err != nil {
			fmt.Fprintln(os.Stderr, "cluster:", err)
		}
	}()
	t0 := time.Now()
	if err := stack("infra"); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "cluster: deployment up in %s\n", time.Since(t0).Round(100*time.Millisecond))
	// The deployment's variables win over a normal stack's that make test
	// exported.
	if err := loadEnv(filepath.Join(stackDir, "env")); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		return 1
	}
	return m.Run()
}

// stack runs scripts/stack.sh for this deployment.
func stack(args ...string) error {
	cmd := exec.Command(filepath.Join(root, "scripts", "stack.sh"), args...)
	cmd.Env = append(os.Environ(), stackEnv...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("scripts/stack.sh %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

func loadEnv(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "export ")
		if !ok {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			if err := os.Setenv(k, strings.Trim(v, `'"`)); err != nil {
				return err
			}
		}
	}
	return sc.Err()
}

// freeBlock returns the first of n consecutive free loopback ports.
func freeBlock(n int) int {
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		base := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		ok := base+n < 65536
		for p := base + 1; ok && p < base+n; p++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return base
		}
	}
}

var names = []string{"alice", "bob", "carol"}

// recording uploads the sample meeting as a Daily recording and registers
// it (with its participants) in the simulated Daily.
func recording(t *testing.T, s *e2e.Stack, id string) []map[string]string {
	t.Helper()
	ctx := context.Background()
	var tracks []map[string]string
	var simTracks []map[string]any
	var ps []map[string]any
	for i, n := range names {
		pid := fmt.Sprintf("%08d-0000-4000-8000-00000000000%d", i, i)
		key := s.Upload(ctx, filepath.Join(testenv.Root(t), "testdata", "meeting", n+".webm"),
			fmt.Sprintf("standup-20261122090000/1763800000000-%s-cam-audio-1763800001000", pid))
		tracks = append(tracks, map[string]string{"s3_key": key})
		simTracks = append(simTracks, map[string]any{"type": "audio", "s3Key": key, "size": 1000})
		ps = append(ps, map[string]any{"participant_id": pid, "user_name": strings.ToUpper(n[:1]) + n[1:], "user_id": "u-" + n})
	}
	require.NoError(t, (&sim.Client{Base: s.SimURL}).AddRecording(ctx, sim.DailyRecording{
		Recording: map[string]any{"id": id, "room_name": "standup-20261122090000", "status": "finished", "duration": 56,
			"mtgSessionId": "mtg-" + id, "tracks": simTracks, "start_ts": time.Now().Unix()},
		Participants: ps,
	}))
	return tracks
}

type accepted struct {
	TranscriptID string `json:"transcript_id"`
}

func process(t *testing.T, s *e2e.Stack, id string) string {
	t.Helper()
	var acc accepted
	require.Equal(t, 202, s.API(context.Background(), "POST", "/v1/process",
		map[string]any{"tracks": recording(t, s, id), "recording_id": id}, &acc))
	return acc.TranscriptID
}

func hatchetDBConn(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), testenv.Getenv(t, "HATCHET_DATABASE_URL"))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// placement counts, per task, the attempts of a namespace's tasks that ran
// on a worker of the CPU pool and on others (the engine's record of the
// worker that ran each task).
func placement(t *testing.T, namespace string) map[string][2]int {
	t.Helper()
	rows, err := hatchetDBConn(t).Query(context.Background(), `
		SELECT split_part(t.action_id, ':', 2), w.name = 'parley-worker-cpu', count(*)
		FROM v1_tasks_olap t JOIN "Worker" w ON w.id = t.latest_worker_id
		WHERE starts_with(t.action_id, $1) GROUP BY 1, 2`, strings.ToLower(namespace)+"_")
	require.NoError(t, err)
	defer rows.Close()
	out := map[string][2]int{}
	for rows.Next() {
		var task string
		var cpu bool
		var n int
		require.NoError(t, rows.Scan(&task, &cpu, &n))
		c := out[task]
		if cpu {
			c[0] += n
		} else {
			c[1] += n
		}
		out[task] = c
	}
	require.NoError(t, rows.Err())
	return out
}

// startWorkers starts the deployment's three workers, the last one in the
// CPU pool, with one mixdown at a time.
func startWorkers(t *testing.T, env map[string]string) (*e2e.Stack, []*e2e.Proc) {
	t.Helper()
	if env == nil {
		env = map[string]string{}
	}
	env["PARLEY_MIXDOWN_CONCURRENCY"] = "1"
	s := e2e.New(t, e2e.Options{Env: env})
	ws := []*e2e.Proc{s.StartWorker(), s.StartWorker(), s.StartWorkerEnv(map[string]string{"PARLEY_WORKER_POOL": pipeline.PoolCPU})}
	s.StartServe()
	return s, ws
}

// TestChaosClusterEngineKilled: a three-track meeting runs on the
// deployment; while its tracks are transcribed, the engine replica that
// schedules the tenant is killed (kill -9). The meeting still ends, once
// the other replica takes the tenant's queues over, and the CPU-heavy steps
// ran in the CPU pool.
func TestChaosClusterEngineKilled(t *testing.T) {
	ctx := context.Background()
	s, _ := startWorkers(t, nil)
	require.NoError(t, (&sim.Client{Base: s.SimURL}).SetFaults(ctx, map[string]sim.Fault{sim.EndpointASR: {LatencyMS: 4000}}))
	id := process(t, s, "rec-engine-killed")
	s.WaitFor("transcription under way", time.Minute, func() bool {
		reqs, err := (&sim.Client{Base: s.SimURL}).Requests(ctx, sim.EndpointASR)
		require.NoError(t, err)
		return len(reqs) > 0
	})

	// The replica whose scheduler partition has the tenant: killing it is
	// the worst case (its queues wait for the partition to be declared dead).
	var owner string
	require.NoError(t, hatchetDBConn(t).QueryRow(ctx, `SELECT sp.name FROM "Tenant" t
		JOIN "SchedulerPartition" sp ON sp.id = t."schedulerPartitionId" WHERE t.id = '707d0855-80ab-4e1f-a156-f1c4546cbf52'`).Scan(&owner))
	n, ok := strings.CutPrefix(owner, "parley-engine-")
	require.True(t, ok, "partition %q belongs to a replica of this deployment", owner)
	n, _, _ = strings.Cut(n, ":")
	pidFile := filepath.Join(stackDir, "run", "hatchet-engine-"+n+".pid")
	b, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	killed := time.Now()
	t.Logf("killed hatchet-engine-%d (pid %d), which scheduled the tenant", mustAtoi(t, n), pid)

	s.RequireComplete(context.Background(), id, 6*time.Minute)
	t.Logf("the meeting ended %s after the kill", time.Since(killed).Round(100*time.Millisecond))
	p := placement(t, s.Namespace)
	require.Equal(t, [2]int{3, 0}, p["pad_track"], "pad_track ran on the CPU worker (cpu, other)")
	require.Equal(t, [2]int{1, 0}, p["mixdown_tracks"], "mixdown_tracks ran on the CPU worker (cpu, other)")

	// Leave the deployment whole for the next test.
	require.NoError(t, stack("infra"))
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}

// TestChaosClusterLoad submits 20 three-track recordings at once to the
// deployment's three workers: all complete, none lost or duplicated. Wall
// time, peak worker memory and where the CPU-heavy steps ran are written to
// bench/results/load-cluster.json.
func TestChaosClusterLoad(t *testing.T) {
	ctx := context.Background()
	s, ws := startWorkers(t, map[string]string{"PARLEY_MAX_RUNS": "10"})
	require.NoError(t, (&sim.Client{Base: s.SimURL}).SetFaults(ctx, map[string]sim.Fault{sim.EndpointASR: {LatencyMS: 500}}))
	const n = 20
	t0 := time.Now()
	ids := make([]string, n)
	statuses := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		tracks := recording(t, s, fmt.Sprintf("rec-load-%d", i))
		wg.Go(func() {
			var acc accepted
			statuses[i], errs[i] = s.CallAPI(ctx, "POST", "/v1/process", map[string]any{"tracks": tracks, "recording_id": fmt.Sprintf("rec-load-%d", i)}, &acc)
			ids[i] = acc.TranscriptID
		})
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, 202, statuses[i], "recording %d", i)
	}
	for _, id := range ids {
		s.RequireComplete(context.Background(), id, 6*time.Minute)
	}
	wall := time.Since(t0)
	peak := make([]int64, len(ws))
	for i, w := range ws {
		peak[i] = w.PeakRSSKB()
	}
	var transcripts int
	require.NoError(t, s.DB.Pool().QueryRow(ctx, `SELECT count(*) FROM transcripts`).Scan(&transcripts))
	require.Equal(t, n, transcripts, "none lost, none duplicated")
	p := placement(t, s.Namespace)
	require.Equal(t, 3*n, p["pad_track"][0]+p["pad_track"][1])
	require.Equal(t, n, p["mixdown_tracks"][0]+p["mixdown_tracks"][1])
	t.Logf("20 recordings x 3 tracks on the cluster (3 workers, 1 CPU pool): %s; worker peak RSS %d/%d/%d MB; on the CPU worker: pad_track %d/%d, mixdown_tracks %d/%d",
		wall.Round(time.Second), peak[0]/1024, peak[1]/1024, peak[2]/1024, p["pad_track"][0], 3*n, p["mixdown_tracks"][0], n)
	path := filepath.Join(testenv.Root(t), "bench", "results", "load-cluster.json")
	body := fmt.Sprintf(`{"recordings": %d, "tracks_each": 3, "deployment": "hatchet-api + 2 hatchet-engine (RabbitMQ)", "workers": 3, "cpu_pool_workers": 1, `+
		`"max_runs": 10, "mixdown_concurrency": 1, "asr_latency_ms": 500, "wall_s": %.1f, "worker_peak_rss_mb": [%d, %d, %d], `+
		`"pad_track_on_cpu_pool": %d, "mixdown_on_cpu_pool": %d, "all_completed": true}`+"\n",
		n, wall.Seconds(), peak[0]/1024, peak[1]/1024, peak[2]/1024, p["pad_track"][0], p["mixdown_tracks"][0])
	require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
}

// TestChaosClusterNoCPUPool: without a worker in the CPU pool, the steps
// that prefer it run on the others (the preference is soft), and the
// meeting ends as usual.
func TestChaosClusterNoCPUPool(t *testing.T) {
	s := e2e.New(t, e2e.Options{Env: map[string]string{"PARLEY_MIXDOWN_CONCURRENCY": "1"}})
	s.StartWorker()
	s.StartWorker()
	s.StartServe()
	id := process(t, s, "rec-no-cpu-pool")
	s.RequireComplete(context.Background(), id, 6*time.Minute)
	p := placement(t, s.Namespace)
	require.Equal(t, [2]int{0, 3}, p["pad_track"], "pad_track ran elsewhere (cpu, other)")
	require.Equal(t, [2]int{0, 1}, p["mixdown_tracks"], "mixdown_tracks ran elsewhere (cpu, other)")
}
