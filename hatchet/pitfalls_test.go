package hatchet_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley/hatchet"
	"github.com/parley-dev/parley/internal/testenv"
)

// These tests pin the Hatchet pitfalls Parley works around (README,
// "Hatchet"). Where a test asserts the engine's or SDK's own behaviour, a
// failure after an upgrade means the pitfall is gone and the workaround
// can go too.

type echoIn struct {
	N int `json:"n"`
}

type echoOut struct {
	N int `json:"n"`
}

// tinyStack registers workflow name (one task echoing its input) on a
// worker of its own namespace; cleanup deletes it and its queues.
func tinyStack(t *testing.T, prefix, name string, cfg hatchet.Config) (*hatchet.Client, string) {
	t.Helper()
	testenv.Load(t)
	ns := testenv.Name(t, prefix)
	cfg.Namespace = ns
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SDKLogOutput == nil {
		cfg.SDKLogOutput = io.Discard
	}
	c, err := hatchet.NewClient(cfg)
	require.NoError(t, err)
	wf := c.NewWorkflow(name, "echoes its input", nil)
	hatchet.Task(wf, "echo", hatchet.Policy{Timeout: 30 * time.Second}, func(_ context.Context, in echoIn) (echoOut, error) {
		return echoOut(in), nil
	})
	w, err := c.NewWorker(hatchet.WorkerConfig{Name: prefix, Slots: 2}, wf)
	require.NoError(t, err)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		require.NoError(t, <-done)
		_ = c.DeleteWorkflows(context.Background(), name)
		testenv.DropHatchetQueues(t, ns)
	})
	return c, ns
}

// waitDone waits until a run has finished and returns its status.
func waitDone(ctx context.Context, t *testing.T, c *hatchet.Client, runID string) string {
	t.Helper()
	for {
		st, err := c.State(ctx, runID)
		require.NoError(t, err)
		if st.Done {
			return st.Status
		}
		select {
		case <-ctx.Done():
			t.Fatalf("run %s did not finish: %v (status %s)", runID, ctx.Err(), st.Status)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestStartReportsALostTrigger: the engine answers a trigger for a
// workflow name it does not know with a run id for a run that never exists
// (hatchet-lite v0.104.7). Start refuses such a name before the trigger;
// TestStartDetectsARunThatNeverStarts covers the check after it.
func TestStartReportsALostTrigger(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, _ := tinyStack(t, "lost", "lost-echo", hatchet.Config{})

	// The pitfall itself, through the SDK: an accepted trigger, no run.
	ref, err := c.SDK().RunNoWait(ctx, "never-registered", echoIn{N: 1})
	require.NoError(t, err, "the engine now refuses unknown workflow names: Start's run check may be unnecessary")
	_, err = c.SDK().Runs().GetDetails(ctx, uuid.MustParse(ref.RunId))
	require.Error(t, err, "the phantom run exists after all")

	// Never registered: refused before the trigger.
	_, err = c.Start(ctx, "never-registered", echoIn{N: 1}, nil)
	require.ErrorContains(t, err, "no worker has registered this workflow")

	// Registered: a real run.
	id, err := c.Start(ctx, "lost-echo", echoIn{N: 2}, nil)
	require.NoError(t, err)
	require.Equal(t, "COMPLETED", waitDone(ctx, t, c, id))
}

// TestDeleteWorkflowsDespiteThe204: the SDK reports the API's 204 No
// Content (its success answer to a delete) as an error; DeleteWorkflows
// treats it as the success it is, and the workflow is gone.
func TestDeleteWorkflowsDespiteThe204(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, _ := tinyStack(t, "del", "del-a", hatchet.Config{})
	// A second workflow, deleted through the SDK directly.
	d, _ := tinyStack(t, "del", "del-b", hatchet.Config{})

	_, err := d.SDK().Workflows().Delete(ctx, d.Namespaced("del-b"))
	require.ErrorContains(t, err, "204", "the SDK now accepts 204: DeleteWorkflows' special case can go")
	found, err := d.Registered(ctx, "del-b")
	require.NoError(t, err)
	require.False(t, found, "the workflow survived the SDK's delete")

	require.NoError(t, c.DeleteWorkflows(ctx, "del-a", "never-registered"))
	found, err = c.Registered(ctx, "del-a")
	require.NoError(t, err)
	require.False(t, found, "DeleteWorkflows left the workflow")
}

// TestDeleteWorkflowsByExactName: two workflows whose names differ only in
// case (DiarizationPipeline and its diarizationpipeline alias); the SDK's
// delete by name takes whichever the engine lists first. DeleteWorkflows
// deletes exactly the one named.
func TestDeleteWorkflowsByExactName(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	testenv.Load(t)
	ns := testenv.Name(t, "case")
	c, err := hatchet.NewClient(hatchet.Config{Namespace: ns, Logger: slog.New(slog.DiscardHandler), SDKLogOutput: io.Discard})
	require.NoError(t, err)
	var wfs []*hatchet.Workflow
	for _, name := range []string{"Case-Pipeline", "case-pipeline"} {
		wf := c.NewWorkflow(name, "echoes its input", nil)
		hatchet.Task(wf, "echo", hatchet.Policy{Timeout: 30 * time.Second}, func(_ context.Context, in echoIn) (echoOut, error) {
			return echoOut(in), nil
		})
		wfs = append(wfs, wf)
	}
	w, err := c.NewWorker(hatchet.WorkerConfig{Name: "case", Slots: 2}, wfs...)
	require.NoError(t, err)
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	t.Cleanup(func() {
		stop()
		require.NoError(t, <-done)
		_ = c.DeleteWorkflows(context.Background(), "Case-Pipeline", "case-pipeline")
		testenv.DropHatchetQueues(t, ns)
	})
	for _, name := range []string{"Case-Pipeline", "case-pipeline"} {
		require.Eventually(t, func() bool {
			found, err := c.Registered(ctx, name)
			return err == nil && found
		}, 30*time.Second, 100*time.Millisecond, name)
	}
	for _, tt := range []struct{ del, kept string }{{"Case-Pipeline", "case-pipeline"}, {"case-pipeline", ""}} {
		require.NoError(t, c.DeleteWorkflows(ctx, tt.del))
		found, err := c.Registered(ctx, tt.del)
		require.NoError(t, err)
		require.False(t, found, "%s was not deleted", tt.del)
		if tt.kept != "" {
			found, err = c.Registered(ctx, tt.kept)
			require.NoError(t, err)
			require.True(t, found, "deleting %s deleted %s", tt.del, tt.kept)
		}
	}
}

// lineWatch is an io.Writer that closes a channel per pattern once a
// written line contains it.
type lineWatch struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want map[string]chan struct{}
}

func newLineWatch(patterns ...string) *lineWatch {
	w := &lineWatch{want: map[string]chan struct{}{}}
	for _, p := range patterns {
		w.want[p] = make(chan struct{})
	}
	return w
}

func (w *lineWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for pat, ch := range w.want {
		if strings.Contains(w.buf.String(), pat) {
			close(ch)
			delete(w.want, pat)
		}
	}
	return len(p), nil
}

func (w *lineWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestDebugShowsRegistrationListenerAndHeartbeat: HATCHET_DEBUG=true
// (Config.Debug) makes the SDK log the worker's registration, its action
// listener and its heartbeats.
func TestDebugShowsRegistrationListenerAndHeartbeat(t *testing.T) {
	t.Parallel()
	lines := map[string]string{
		"registration": "Registered worker with id",
		"listener":     "starting action listener",
		"heartbeat":    "updating worker heartbeat",
	}
	var pats []string
	for _, p := range lines {
		pats = append(pats, p)
	}
	watch := newLineWatch(pats...)
	watch.mu.Lock()
	chans := map[string]chan struct{}{}
	for what, p := range lines {
		chans[what] = watch.want[p]
	}
	watch.mu.Unlock()
	tinyStack(t, "debug", "debug-echo", hatchet.Config{Debug: true, SDKLogOutput: watch})
	deadline := time.After(time.Minute)
	for what, ch := range chans {
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no %s line (%q) in the SDK's debug output:\n%s", what, lines[what], watch.String())
		}
	}
}
