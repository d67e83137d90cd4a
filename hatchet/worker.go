package hatchet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	sdk "github.com/hatchet-dev/hatchet/sdks/go"
)

// WorkerConfig configures a worker process.
type WorkerConfig struct {
	// Name is shown in the Hatchet dashboard. Defaults to "parley-worker".
	Name string
	// Slots is how many tasks run at once in this process. Defaults to 20.
	// Parents hold a slot while they wait for children, so keep it well
	// above the number of concurrent parents.
	Slots int
	// DrainTimeout bounds how long a stopping worker waits for its running
	// tasks (SIGTERM). Defaults to 60 s.
	DrainTimeout time.Duration
	// HealthAddr, when set, serves GET /healthz (200 once registered, 503
	// while draining). Defaults to none.
	HealthAddr string
	// Pool, when set, labels the worker (PoolLabel = Pool) so that tasks
	// preferring that pool (Policy.Pool) come here first. It still runs
	// every other task. Defaults to none.
	Pool string
}

// Worker runs tasks of the registered workflows.
type Worker struct {
	c        *Client
	cfg      WorkerConfig
	w        *sdk.Worker
	inflight sync.WaitGroup
	running  atomic.Int64
	ready    atomic.Bool
}

// NewWorker registers workflows on one worker (one gRPC connection).
func (c *Client) NewWorker(cfg WorkerConfig, workflows ...*Workflow) (*Worker, error) {
	cfg.Name = cmp.Or(cfg.Name, "parley-worker")
	cfg.Slots = cmp.Or(cfg.Slots, 20)
	cfg.DrainTimeout = cmp.Or(cfg.DrainTimeout, 60*time.Second)
	// The engine refuses to register a workflow whose tasks use a rate
	// limit it does not know (and a task of an unknown limit would never
	// be scheduled): create or update them first. The SDK registers the
	// workflows when the worker is created.
	limits := map[string]RateLimit{}
	for _, wf := range workflows {
		for _, l := range wf.limits {
			limits[l.Name] = l.RateLimit
		}
	}
	for _, rl := range limits {
		if err := c.UpsertRateLimit(rl); err != nil {
			return nil, fmt.Errorf("create worker: %w", err)
		}
	}
	wfs := make([]sdk.WorkflowBase, len(workflows))
	for i, wf := range workflows {
		wfs[i] = wf.base()
	}
	opts := []sdk.WorkerOption{sdk.WithWorkflows(wfs...), sdk.WithSlots(cfg.Slots), sdk.WithLogger(&c.zl)}
	if cfg.Pool != "" {
		opts = append(opts, sdk.WithLabels(map[string]any{PoolLabel: cfg.Pool}))
	}
	w, err := c.sdk.NewWorker(cfg.Name, opts...)
	if err != nil {
		return nil, fmt.Errorf("create worker: %w", err)
	}
	wk := &Worker{c: c, cfg: cfg, w: w}
	// Count running tasks so that Run can drain them on shutdown: the SDK's
	// StartBlocking returns at once and does not wait for them.
	w.Use(func(hctx sdk.Context, next func(sdk.Context) error) error {
		wk.inflight.Add(1)
		wk.running.Add(1)
		defer func() {
			wk.running.Add(-1)
			wk.inflight.Done()
		}()
		return next(hctx)
	})
	return wk, nil
}

// Run starts the worker and blocks until ctx ends, then stops taking tasks
// and waits (at most DrainTimeout) for the running ones to finish.
func (wk *Worker) Run(ctx context.Context) error {
	log := wk.c.log
	var srv *http.Server
	if wk.cfg.HealthAddr != "" {
		ln, err := net.Listen("tcp", wk.cfg.HealthAddr)
		if err != nil {
			return fmt.Errorf("worker health endpoint: %w", err)
		}
		srv = &http.Server{Handler: http.HandlerFunc(wk.serveHealth), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.ErrorContext(ctx, "worker health endpoint stopped", slog.Any("error", err))
			}
		}()
		defer srv.Close()
	}
	cleanup, err := wk.w.Start()
	if err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	wk.ready.Store(true)
	log.InfoContext(ctx, "worker started", slog.String("name", wk.cfg.Name), slog.Int("slots", wk.cfg.Slots), slog.String("pool", wk.cfg.Pool))
	<-ctx.Done()
	wk.ready.Store(false)
	log.InfoContext(ctx, "worker stopping: no new tasks; draining running ones",
		slog.Int64("running", wk.running.Load()), slog.Duration("timeout", wk.cfg.DrainTimeout))
	// cleanup stops the action listener; tasks already running keep their
	// contexts and still report their results.
	if err := cleanup(); err != nil {
		log.WarnContext(ctx, "worker cleanup", slog.Any("error", err))
	}
	done := make(chan struct{})
	go func() { wk.inflight.Wait(); close(done) }()
	select {
	case <-done:
		log.InfoContext(ctx, "worker drained")
	case <-time.After(wk.cfg.DrainTimeout):
		log.WarnContext(ctx, "worker drain timed out; Hatchet will retry the unfinished tasks",
			slog.Int64("running", wk.running.Load()))
	}
	return nil
}

func (wk *Worker) serveHealth(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/healthz" {
		http.NotFound(w, r)
		return
	}
	if !wk.ready.Load() {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintf(w, "ok %d running\n", wk.running.Load())
}
