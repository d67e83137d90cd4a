//go:build chaos

package pipeline_test

// The slow part of the fault suite (make chaos): it restarts the shared
// hatchet-lite and PostgreSQL, so its tests do not run in parallel with
// anything else.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley/internal/e2e"
	"github.com/parley-dev/parley/internal/testenv"
	"github.com/parley-dev/parley/sim"
)

func stack(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(testenv.Root(t), "scripts", "stack.sh"), args...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
}

func startSlowRun(t *testing.T, s *e2e.Stack, id string) string {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, (&sim.Client{Base: s.SimURL}).SetFaults(ctx, map[string]sim.Fault{sim.EndpointASR: {LatencyMS: 4000}}))
	tracks := recording(t, s, id)
	var acc accepted
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/process", map[string]any{"tracks": tracks, "recording_id": id}, &acc))
	s.WaitFor("transcription under way", time.Minute, func() bool {
		reqs, err := (&sim.Client{Base: s.SimURL}).Requests(ctx, sim.EndpointASR)
		require.NoError(t, err)
		return len(reqs) > 0
	})
	return acc.TranscriptID
}

func TestChaosHatchetRestart(t *testing.T) {
	s := e2e.New(t, e2e.Options{})
	s.StartWorker()
	s.StartServe()
	id := startSlowRun(t, s, "rec-hatchet")
	stack(t, "restart", "hatchet")
	s.RequireComplete(context.Background(), id, 6*time.Minute)
}

func TestChaosPostgresRestart(t *testing.T) {
	s := e2e.New(t, e2e.Options{})
	s.StartWorker()
	s.StartServe()
	id := startSlowRun(t, s, "rec-pg")
	versions, err := os.ReadDir("/etc/postgresql")
	require.NoError(t, err, "this test restarts the machine's PostgreSQL cluster")
	out, err := exec.Command("pg_ctlcluster", "--skip-systemctl-redirect", versions[len(versions)-1].Name(), "main", "restart").CombinedOutput()
	require.NoError(t, err, string(out))
	s.RequireComplete(context.Background(), id, 6*time.Minute)
}

func TestChaosTwoWorkersOneKilled(t *testing.T) {
	ctx := context.Background()
	s := e2e.New(t, e2e.Options{})
	a := s.StartWorker()
	b := s.StartWorker()
	s.StartServe()
	require.NoError(t, (&sim.Client{Base: s.SimURL}).SetFaults(ctx, map[string]sim.Fault{sim.EndpointASR: {LatencyMS: 3000}}))
	var ids []string
	for i := 0; i < 4; i++ {
		tracks := recording(t, s, fmt.Sprintf("rec-two-%d", i))
		var acc accepted
		require.Equal(t, 202, s.API(ctx, "POST", "/v1/process", map[string]any{"tracks": tracks, "recording_id": fmt.Sprintf("rec-two-%d", i)}, &acc))
		ids = append(ids, acc.TranscriptID)
	}
	s.WaitFor("tasks on both workers", 2*time.Minute, func() bool {
		rows, err := s.DB.Pool().Query(ctx, `SELECT count(*) FROM steps WHERE transcript_id = ANY($1::uuid[])`, ids)
		require.NoError(t, err)
		defer rows.Close()
		var n int
		for rows.Next() {
			require.NoError(t, rows.Scan(&n))
		}
		return n >= 8
	})
	s.Kill(a)
	for _, id := range ids {
		s.RequireComplete(context.Background(), id, 6*time.Minute)
	}
	require.NotEmpty(t, e2e.Lines(b.Log(), "worker started"))
}

// TestChaosLoad submits 20 three-track recordings at once to two workers:
// all complete, none lost or duplicated. Wall time and peak worker memory
// are written to bench/results/load.json.
func TestChaosLoad(t *testing.T) {
	ctx := context.Background()
	s := e2e.New(t, e2e.Options{Env: map[string]string{"PARLEY_MAX_RUNS": "10"}})
	a := s.StartWorker()
	b := s.StartWorker()
	s.StartServe()
	require.NoError(t, (&sim.Client{Base: s.SimURL}).SetFaults(ctx, map[string]sim.Fault{sim.EndpointASR: {LatencyMS: 500}}))
	const n = 20
	t0 := time.Now()
	ids := make([]string, n)
	statuses := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
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
	peak := [2]int64{a.PeakRSSKB(), b.PeakRSSKB()}
	var transcripts int
	require.NoError(t, s.DB.Pool().QueryRow(ctx, `SELECT count(*) FROM transcripts`).Scan(&transcripts))
	require.Equal(t, n, transcripts, "none lost, none duplicated")
	t.Logf("20 recordings x 3 tracks on 2 workers: %s; worker peak RSS %d MB / %d MB", wall.Round(time.Second), peak[0]/1024, peak[1]/1024)
	writeLoad(t, wall, peak)
}

func writeLoad(t *testing.T, wall time.Duration, peak [2]int64) {
	path := filepath.Join(testenv.Root(t), "bench", "results", "load.json")
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	body := fmt.Sprintf(`{"recordings": 20, "tracks_each": 3, "workers": 2, "asr_latency_ms": 500, "wall_s": %.1f, "worker_peak_rss_mb": [%d, %d], "all_completed": true}`+"\n",
		wall.Seconds(), peak[0]/1024, peak[1]/1024)
	require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
}
