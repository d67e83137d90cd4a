// Package e2e runs Parley end to end in tests: the real `parley worker`
// and `parley serve` binaries as child processes against the local
// stack's PostgreSQL (a schema of their own), hatchet-lite (a namespace of
// their own) and MinIO (a bucket of their own), with parley-sim at the
// outside edges, started in process as a real HTTP server.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/hatchet"
	"github.com/parley-dev/parley/internal/testenv"
	"github.com/parley-dev/parley/pipeline"
	"github.com/parley-dev/parley/sim"
	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// Binaries builds parley and parley-sim once per test process and returns
// their directory.
func Binaries(tb testing.TB) string {
	tb.Helper()
	root := testenv.Root(tb)
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "parley-e2e-bin-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binDir+"/", "./cmd/parley", "./cmd/parley-sim")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binDir
}

// Stack is one test's isolated slice of the local stack.
type Stack struct {
	t         testing.TB
	DB        *store.DB
	S3        *store.S3
	Sim       *sim.Server
	SimURL    string
	Schema    string
	Namespace string
	// APIURL is set by StartServe.
	APIURL string
	// Token protects the API when set before StartServe.
	Token string
	env   map[string]string
	bin   string
	mu    sync.Mutex
	procs []*Proc
}

// Options tune a stack.
type Options struct {
	// Env adds or overrides variables of the child processes.
	Env map[string]string
}

// New prepares a stack: schema, bucket, simulator and namespace.
func New(t testing.TB, opts Options) *Stack {
	t.Helper()
	testenv.Load(t)
	db, schema := storetest.NewDBWithSchema(t)
	s3 := storetest.NewS3(t)
	simSrv, err := sim.New(sim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(simSrv)
	t.Cleanup(func() {
		simSrv.Close()
		hs.Close()
	})
	smtpAddr, err := simSrv.ListenSMTP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	smtpHost, smtpPort, _ := net.SplitHostPort(smtpAddr)
	smtpCA := filepath.Join(t.TempDir(), "smtp-ca.pem")
	if err := os.WriteFile(smtpCA, simSrv.SMTPCertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Stack{t: t, DB: db, S3: s3, Sim: simSrv, SimURL: hs.URL, Schema: schema,
		Namespace: testenv.Name(t, "e2e"), bin: Binaries(t)}
	dbURL := storetest.DatabaseURL(t)
	sep := "?"
	if strings.Contains(dbURL, "?") {
		sep = "&"
	}
	s.env = map[string]string{
		"DATABASE_URL":              dbURL + sep + "search_path=" + schema,
		"HATCHET_CLIENT_NAMESPACE":  s.Namespace,
		"HATCHET_CLIENT_LOG_LEVEL":  "warn",
		"S3_BUCKET":                 s3.Bucket(),
		"DAILY_BUCKET":              s3.Bucket(),
		"TRANSCRIPT_BACKEND":        "openai",
		"TRANSCRIPT_URL":            hs.URL + "/v1",
		"TRANSCRIPT_API_KEY":        "sim-asr-key",
		"LLM_URL":                   hs.URL + "/v1",
		"LLM_API_KEY":               "sim-llm-key",
		"DAILY_API_URL":             hs.URL + "/v1",
		"DAILY_API_KEY":             "sim-daily-key",
		"DAILY_WEBHOOK_SECRET":      "c2VjcmV0LWZvci10ZXN0cw==",
		"ZULIP_REALM":               hs.URL,
		"ZULIP_BOT_EMAIL":           "bot@example.com",
		"ZULIP_API_KEY":             "sim-zulip-key",
		"PARLEY_WORKER_HEALTH_ADDR": "",
		// parley-sim's SMTP sink (STARTTLS with its own certificate).
		"SMTP_HOST":     smtpHost,
		"SMTP_PORT":     smtpPort,
		"SMTP_USERNAME": "parley",
		"SMTP_PASSWORD": "sim-smtp-password",
		"SMTP_FROM":     "parley@example.com",
		"SMTP_CA_FILE":  smtpCA,
		// parley-sim is on loopback: the egress policy allows it (and
		// nothing else on this machine).
		"PARLEY_EGRESS_ALLOW":  strings.TrimPrefix(hs.URL, "http://") + "," + smtpAddr,
		"PARLEY_LOG_LEVEL":     "info",
		"PARLEY_DRAIN_TIMEOUT": "20s",
		// Tests run the polling and purge workflows themselves, not on a
		// timer.
		"PARLEY_DAILY_POLL_CRON":  "0 0 1 1 *",
		"PARLEY_TRASH_PURGE_CRON": "0 0 1 1 *",
		"PARLEY_FAILED_RUNS_CRON": "0 0 1 1 *",
	}
	for k, v := range opts.Env {
		s.env[k] = v
	}
	// The engine keeps scheduling for every registered workflow (a
	// concurrency strategy each): remove this namespace's at the end, or
	// every test run makes the shared engine slower.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Hatchet().DeleteWorkflows(ctx, pipeline.WorkflowPipeline, pipeline.WorkflowTrack,
			pipeline.WorkflowTopicChunk, pipeline.WorkflowSubject, pipeline.WorkflowDailyPolling,
			pipeline.WorkflowTrashPurge, pipeline.WorkflowPipelineAlias, hatchet.ReadinessWorkflow, pipeline.WorkflowEmail,
			pipeline.WorkflowFailedRuns); err != nil {
			t.Logf("could not delete the test's workflows: %v", err)
		}
		testenv.DropHatchetQueues(t, s.Namespace)
	})
	return s
}

// Setenv sets a variable for processes started afterwards.
func (s *Stack) Setenv(k, v string) { s.env[k] = v }

// Environ is the child processes' environment.
func (s *Stack) Environ() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := s.env[k]; ok || strings.HasPrefix(k, "PARLEY_STEP_") {
			continue
		}
		out = append(out, kv)
	}
	for k, v := range s.env {
		out = append(out, k+"="+v)
	}
	return out
}

// Proc is a running child process.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
	err  error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Running reports whether the process has not exited.
func (p *Proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Log returns what the process wrote so far.
func (p *Proc) Log() string { return p.log.String() }

// PeakRSSKB is the process's peak resident memory so far in KiB (VmHWM,
// kept by the kernel: no sampling needed), 0 when it cannot be read.
func (p *Proc) PeakRSSKB() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (s *Stack) start(name string, env map[string]string, args ...string) *Proc {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(s.bin, "parley"), args...)
	cmd.Env = s.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &Proc{Name: name, cmd: cmd, log: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	s.t.Cleanup(func() {
		s.Stop(p)
		if s.t.Failed() {
			s.t.Logf("--- %s log ---\n%s", name, tail(p.Log(), 60))
		}
	})
	return p
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitHTTP polls url until it answers 200, the process dies, or 90 s pass.
func (s *Stack) waitHTTP(p *Proc, url string) {
	s.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for delay := 20 * time.Millisecond; ; delay = min(delay*2, 500*time.Millisecond) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-p.done:
			s.t.Fatalf("%s exited during startup: %v\n%s", p.Name, p.err, tail(p.Log(), 40))
		case <-time.After(delay):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s not ready at %s\n%s", p.Name, url, tail(p.Log(), 40))
		}
	}
}

// StartWorker starts `parley worker` and waits until it has registered.
func (s *Stack) StartWorker() *Proc {
	s.t.Helper()
	return s.StartWorkerEnv(nil)
}

// StartWorkerEnv is StartWorker with variables of its own (e.g.
// PARLEY_WORKER_POOL).
func (s *Stack) StartWorkerEnv(vars map[string]string) *Proc {
	s.t.Helper()
	addr := freeAddr(s.t)
	env := map[string]string{"PARLEY_WORKER_HEALTH_ADDR": addr}
	for k, v := range vars {
		env[k] = v
	}
	p := s.start("worker", env, "worker")
	s.waitHTTP(p, "http://"+addr+"/healthz")
	return p
}

// StartServe starts `parley serve` on a free port and sets APIURL.
func (s *Stack) StartServe() *Proc {
	s.t.Helper()
	addr := freeAddr(s.t)
	env := map[string]string{"PARLEY_HTTP_ADDR": addr, "UI_BASE_URL": "http://" + addr}
	if s.Token != "" {
		env["PARLEY_API_TOKEN"] = s.Token
	}
	p := s.start("serve", env, "serve")
	s.APIURL = "http://" + addr
	s.waitHTTP(p, s.APIURL+"/healthz")
	return p
}

// Stop ends a process with SIGTERM (a graceful drain), then SIGKILL.
func (s *Stack) Stop(p *Proc) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Kill ends a process with SIGKILL, as a crash would.
func (s *Stack) Kill(p *Proc) {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Run runs a parley subcommand to completion and returns its stdout,
// stderr and exit code.
func (s *Stack) Run(ctx context.Context, args ...string) (stdout, stderr string, code int) {
	s.t.Helper()
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, "parley"), args...)
	cmd.Env = append(s.Environ(), "PARLEY_API_URL="+s.APIURL, "PARLEY_API_TOKEN="+s.Token)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// Upload puts a local file into the test bucket and returns its key.
func (s *Stack) Upload(ctx context.Context, path, key string) string {
	s.t.Helper()
	if _, err := s.S3.PutFile(ctx, s.S3.Bucket(), key, path, "audio/webm"); err != nil {
		s.t.Fatal(err)
	}
	return key
}

// API calls the running serve; body may be nil. It returns the status and
// decodes a JSON answer into out when out is not nil. It fails the test on
// an error, so it belongs on the test's goroutine; others use CallAPI.
func (s *Stack) API(ctx context.Context, method, path string, body any, out any) int {
	s.t.Helper()
	status, err := s.CallAPI(ctx, method, path, body, out)
	if err != nil {
		s.t.Fatal(err)
	}
	return status
}

// CallAPI is API returning its error instead of failing the test.
func (s *Stack) CallAPI(ctx context.Context, method, path string, body any, out any) (int, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.APIURL+path, r)
	if err != nil {
		return 0, err
	}
	if body != nil || method == http.MethodPost || method == http.MethodPatch {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil {
		b, _ := io.ReadAll(resp.Body)
		if len(b) > 0 {
			if err := json.Unmarshal(b, out); err != nil {
				return resp.StatusCode, fmt.Errorf("%s %s: %d %s: %w", method, path, resp.StatusCode, b, err)
			}
		}
	}
	return resp.StatusCode, nil
}

// WaitStatus waits until the transcript reaches one of the statuses, and
// returns it. It waits on the event stream: every status change appends a
// STATUS event, announced with NOTIFY, so the transcript is read again
// when the listener connects and on each of its events, never on a timer.
func (s *Stack) WaitStatus(ctx context.Context, id string, timeout time.Duration, want ...parley.Status) *parley.Transcript {
	s.t.Helper()
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wake := make(chan struct{}, 1)
	poke := func() {
		select {
		case wake <- struct{}{}:
		default: // a read is due anyway
		}
	}
	listened := make(chan struct{})
	go func() {
		defer close(listened)
		_ = s.DB.Listen(lctx, func(n store.Notification) {
			if n.TranscriptID == id {
				poke()
			}
		}, poke)
	}()
	defer func() { cancel(); <-listened }()
	expired := time.NewTimer(timeout)
	defer expired.Stop()
	for {
		t, err := s.DB.GetTranscript(ctx, id)
		if err != nil {
			s.t.Fatal(err)
		}
		for _, w := range want {
			if t.Status == w {
				return t
			}
		}
		select {
		case <-wake:
		case <-expired.C:
			s.t.Fatalf("transcript %s is %s after %s, want %v (error %+v)", id, t.Status, timeout, want, t.Error)
		}
	}
}

// RequireComplete waits for a run of the transcript to end and checks
// that it is whole: words, none twice (a retried or duplicated step would
// store them again), a gapless event sequence and the mixed-down audio.
func (s *Stack) RequireComplete(ctx context.Context, id string, timeout time.Duration) {
	s.t.Helper()
	tr := s.WaitStatus(ctx, id, timeout, parley.StatusEnded, parley.StatusError)
	if tr.Status != parley.StatusEnded {
		s.t.Fatalf("transcript %s is %s: %+v", id, tr.Status, tr.Error)
	}
	words, err := s.DB.ListWords(ctx, id)
	if err != nil {
		s.t.Fatal(err)
	}
	if len(words) == 0 {
		s.t.Fatalf("transcript %s ended without words", id)
	}
	seen := map[string]bool{}
	for _, w := range words {
		k := fmt.Sprintf("%d/%.3f", w.Speaker, w.Start)
		if seen[k] {
			s.t.Fatalf("transcript %s: duplicated word %+v", id, w)
		}
		seen[k] = true
	}
	for i, ev := range s.Events(ctx, id) {
		if ev.Seq != int64(i+1) {
			s.t.Fatalf("transcript %s: event %d has seq %d (a gap or a duplicate)", id, i+1, ev.Seq)
		}
	}
	if tr.AudioKey == "" {
		s.t.Fatalf("transcript %s ended without its mixed-down audio", id)
	}
}

// WaitFor polls cond (reading local state) until it holds or timeout.
func (s *Stack) WaitFor(what string, timeout time.Duration, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Events returns the stored events of a transcript.
func (s *Stack) Events(ctx context.Context, id string) []parley.Event {
	s.t.Helper()
	evs, err := s.DB.ListEvents(ctx, id, 0, 0)
	if err != nil {
		s.t.Fatal(err)
	}
	return evs
}

// Lines scans a process log for lines containing sub.
func Lines(log, sub string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		if strings.Contains(sc.Text(), sub) {
			out = append(out, sc.Text())
		}
	}
	return out
}

// Hatchet returns a Hatchet client in the stack's namespace.
func (s *Stack) Hatchet() *hatchet.Client {
	s.t.Helper()
	c, err := hatchet.NewClient(hatchet.Config{Namespace: s.Namespace, Logger: slog.New(slog.DiscardHandler), SDKLogOutput: io.Discard})
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}
