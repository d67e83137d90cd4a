package hatchet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/hatchet-dev/hatchet/pkg/client/types"
	"github.com/hatchet-dev/hatchet/pkg/worker"
	sdk "github.com/hatchet-dev/hatchet/sdks/go"
	"github.com/hatchet-dev/hatchet/sdks/go/features"

	"github.com/parley-dev/parley"
)

// Policy is a task's execution policy. Every task has one, explicitly:
// Hatchet's own defaults (5 min timeout, immediate retries) are never used.
type Policy struct {
	// Timeout is the execution timeout of one attempt.
	Timeout time.Duration `json:"timeout"`
	// Retries is how many times a failed attempt is retried (so at most
	// Retries+1 attempts). Permanent errors are never retried.
	Retries int `json:"retries"`
	// BackoffFactor and BackoffMax shape the delay before retry k:
	// min(BackoffMax, BackoffFactor^k) seconds. A zero factor retries at
	// once.
	BackoffFactor float64       `json:"backoff_factor"`
	BackoffMax    time.Duration `json:"backoff_max"`
	// ScheduleTimeout is how long an attempt may wait in the queue for a
	// worker slot. Defaults to 1 hour, so that a burst of recordings queues
	// instead of failing.
	ScheduleTimeout time.Duration `json:"schedule_timeout"`
	// Pool is the worker pool the task prefers: workers started with that
	// pool (WorkerConfig.Pool) get it first, any other worker when none of
	// them has a free slot or none exists (a soft affinity; see PoolLabel).
	// Empty: no preference.
	Pool string `json:"pool,omitempty"`
	// MaxConcurrent caps how many attempts of the task run at once across
	// all workers (a Hatchet concurrency limit on the task; more wait in
	// its queue, round robin). 0: no cap. Every worker must declare the
	// same value: each registration with another one makes a new workflow
	// version.
	MaxConcurrent int `json:"max_concurrent,omitempty"`
}

// Total is the longest the task can take over all its attempts, backoff
// included (queueing excluded). Parents use it to size their own timeout so
// that they never time out before their children can.
func (p Policy) Total() time.Duration {
	total := time.Duration(p.Retries+1) * p.Timeout
	delay := 1.0
	for k := 1; k <= p.Retries; k++ {
		delay *= p.BackoffFactor
		d := time.Duration(delay * float64(time.Second))
		if p.BackoffMax > 0 && d > p.BackoffMax {
			d = p.BackoffMax
		}
		total += d
	}
	return total
}

func (p Policy) options() []sdk.TaskOption {
	opts := []sdk.TaskOption{
		sdk.WithExecutionTimeout(max(p.Timeout, time.Second)),
		sdk.WithRetries(p.Retries),
		sdk.WithScheduleTimeout(cmp.Or(p.ScheduleTimeout, time.Hour)),
	}
	if p.BackoffFactor > 0 {
		opts = append(opts, sdk.WithRetryBackoff(float32(p.BackoffFactor), int(max(p.BackoffMax, time.Second).Seconds())))
	}
	if p.MaxConcurrent > 0 {
		limit := int32(p.MaxConcurrent)
		strategy := types.GroupRoundRobin
		opts = append(opts, sdk.WithConcurrency(&types.Concurrency{Expression: concurrencyKey, MaxRuns: &limit, LimitStrategy: &strategy}))
	}
	return opts
}

// concurrencyKey groups every run of a task under one concurrency key, so
// that Policy.MaxConcurrent caps them all together.
const concurrencyKey = "'all'"

// Attempt describes one attempt of one task, as observers and steps see it.
type Attempt struct {
	Workflow string
	Task     string
	// WorkflowRunID is the run this task belongs to; for a child workflow
	// it is the child run, and ParentRunID is the run that spawned it.
	WorkflowRunID string
	ParentRunID   string
	TaskRunID     string
	// Number is 1-based; retries and replays increase it.
	Number      int
	MaxAttempts int
	StartedAt   time.Time
}

// Observer is told about every task attempt. The pipeline uses it to write
// the audit and to emit progress events.
type Observer interface {
	// Started runs before the step. An error fails the attempt (transient
	// errors are retried), so a step never runs unrecorded.
	Started(ctx context.Context, a Attempt, input any) error
	// Finished runs after the step with its output or error. willRetry
	// tells whether Hatchet will run another attempt.
	Finished(ctx context.Context, a Attempt, input any, output any, usage parley.Usage, err error, willRetry bool)
}

// Workflow is a Hatchet workflow under construction.
type Workflow struct {
	c    *Client
	wf   *sdk.Workflow
	name string
	obs  Observer
	// pools maps task names to the worker pool they prefer (Policy.Pool).
	pools map[string]string
	// limits are the rate limits its tasks take units of (declared with
	// UseRateLimit); a worker that registers the workflow upserts them.
	limits []RateLimitUse
}

// RateLimit is a static Hatchet rate limit: at most Limit units per
// second over every worker of the tenant. The engine counts in fixed
// one-second windows, so any span of W seconds admits at most
// Limit·(W+1) units.
type RateLimit struct {
	// Name is the rate limit's name without namespace ("llm"); the key the
	// engine knows is the client's namespace and the name
	// (Client.RateLimitKey), so that namespaces do not share one.
	Name  string
	Limit int
}

// RateLimitUse is a rate limit and the units each task of a workflow
// takes from it.
type RateLimitUse struct {
	RateLimit
	Units int
}

// UseRateLimit makes every task of w declared afterwards take units of rl
// before it starts (queued while the limit is spent). Workers registering
// w create or update rl in the engine before they take tasks.
func (w *Workflow) UseRateLimit(rl RateLimit, units int) {
	w.limits = append(w.limits, RateLimitUse{RateLimit: rl, Units: max(units, 1)})
}

// RateLimitKey is the engine's key of the rate limit name in this
// client's namespace (name itself without one). The engine does not
// namespace rate limits: without this, tests in different namespaces
// would share, and overwrite, one limit.
func (c *Client) RateLimitKey(name string) string {
	if c.namespace == "" {
		return name
	}
	return strings.ToLower(c.namespace) + "_" + name
}

// UpsertRateLimit creates or updates a static rate limit (per second) in
// the engine.
func (c *Client) UpsertRateLimit(rl RateLimit) error {
	if rl.Limit <= 0 {
		return parley.Errorf(parley.EINVALID, "rate limit %s: the limit must be positive, not %d", rl.Name, rl.Limit)
	}
	err := c.sdk.RateLimits().Upsert(features.CreateRatelimitOpts{Key: c.RateLimitKey(rl.Name), Limit: rl.Limit, Duration: types.Second})
	if err != nil {
		return parley.WrapError(parley.ETRANSIENT, err, "upsert rate limit %s", rl.Name)
	}
	return nil
}

// NewWorkflow declares a workflow. obs may be nil.
func (c *Client) NewWorkflow(name, description string, obs Observer, opts ...sdk.WorkflowOption) *Workflow {
	opts = append([]sdk.WorkflowOption{sdk.WithWorkflowDescription(description)}, opts...)
	return &Workflow{c: c, wf: c.sdk.NewWorkflow(name, opts...), name: name, obs: obs}
}

// Name returns the workflow's name (without namespace).
func (w *Workflow) Name() string { return w.name }

// SDK returns the underlying SDK workflow.
func (w *Workflow) SDK() *sdk.Workflow { return w.wf }

// TaskRef names a declared task, for parents lists.
type TaskRef struct {
	task   *sdk.Task
	name   string
	policy Policy
}

// Name returns the task's name.
func (t *TaskRef) Name() string { return t.name }

// Policy returns the task's policy.
func (t *TaskRef) Policy() Policy { return t.policy }

type hatchetCtxKey struct{}
type attemptKey struct{}

// AttemptFromContext returns the attempt a step runs in (zero when ctx is
// not a task's).
func AttemptFromContext(ctx context.Context) Attempt {
	a, _ := ctx.Value(attemptKey{}).(Attempt)
	return a
}

// ContextWithAttempt returns ctx carrying a as the attempt a step runs in,
// as a task's context does (for calling steps outside Hatchet, in tests).
func ContextWithAttempt(ctx context.Context, a Attempt) context.Context {
	return context.WithValue(ctx, attemptKey{}, a)
}

// Task declares a task of w that runs fn with the workflow input. fn gets a
// plain context (cancelled at the task's timeout or on cancellation) that
// carries a usage meter (parley.UsageFromContext) and the attempt
// (AttemptFromContext); it never sees a hatchet.Context.
func Task[I, O any](w *Workflow, name string, p Policy, fn func(ctx context.Context, in I) (O, error), parents ...*TaskRef) *TaskRef {
	opts := p.options()
	if len(w.limits) > 0 {
		rls := make([]*types.RateLimit, len(w.limits))
		for i, l := range w.limits {
			units := l.Units
			rls[i] = &types.RateLimit{Key: w.c.RateLimitKey(l.Name), Units: &units}
		}
		opts = append(opts, sdk.WithRateLimits(rls...))
	}
	if len(parents) > 0 {
		ps := make([]*sdk.Task, len(parents))
		for i, pr := range parents {
			ps[i] = pr.task
		}
		opts = append(opts, sdk.WithParents(ps...))
	}
	t := w.wf.NewTask(name, func(hctx sdk.Context, in I) (O, error) {
		return run(hctx, w, name, p, in, fn)
	}, opts...)
	if p.Pool != "" {
		if w.pools == nil {
			w.pools = map[string]string{}
		}
		w.pools[name] = p.Pool
	}
	return &TaskRef{task: t, name: name, policy: p}
}

// OnFailure declares the task Hatchet runs once when the workflow run has
// failed for good (after retries). failures maps task names to their error
// text. p only numbers the attempts: the SDK's Workflow.OnFailure takes no
// task options, so the engine runs the task with its default timeout and
// retries.
func OnFailure[I any](w *Workflow, p Policy, fn func(ctx context.Context, in I, failures map[string]string) error) {
	w.wf.OnFailure(func(hctx sdk.Context, in I) (struct{}, error) {
		failures := hctx.StepRunErrors()
		_, err := run(hctx, w, OnFailureTask, p, in, func(ctx context.Context, in I) (struct{}, error) {
			return struct{}{}, fn(ctx, in, failures)
		})
		return struct{}{}, err
	})
}

func run[I, O any](hctx sdk.Context, w *Workflow, name string, p Policy, in I, fn func(context.Context, I) (O, error)) (out O, err error) {
	a := Attempt{
		Workflow:      w.name,
		Task:          name,
		WorkflowRunID: hctx.WorkflowRunId(),
		TaskRunID:     hctx.StepRunId(),
		Number:        hctx.RetryCount() + 1,
		MaxAttempts:   p.Retries + 1,
		StartedAt:     time.Now(),
	}
	if pr := hctx.ParentWorkflowRunId(); pr != nil {
		a.ParentRunID = *pr
	}
	ctx, cancel := context.WithCancel(hctx)
	defer cancel()
	meter := &parley.UsageMeter{}
	ctx = context.WithValue(ctx, hatchetCtxKey{}, hctx)
	ctx = context.WithValue(ctx, attemptKey{}, a)
	ctx = parley.NewContextWithUsage(ctx, meter)
	if sub, ok := any(in).(interface{ Subject() string }); ok && sub.Subject() != "" {
		ctx = parley.NewContextWithSubject(ctx, sub.Subject())
	}
	log := w.c.log.With(slog.String("workflow", w.name), slog.String("task", name),
		slog.String("workflow_run_id", a.WorkflowRunID), slog.Int("attempt", a.Number))
	if w.c.debug {
		log.DebugContext(ctx, "task started", slog.Int("max_attempts", a.MaxAttempts))
	}
	if w.obs != nil {
		if err := throughOutages(ctx, log, func() error { return w.obs.Started(ctx, a, in) }); err != nil {
			log.WarnContext(ctx, "could not record task start", slog.Any("error", err))
			return out, classify(fmt.Errorf("%s: record start: %w", name, err))
		}
	}
	err = throughOutages(ctx, log, func() (err error) {
		out, err = safeCall(ctx, fn, in)
		return err
	})
	willRetry := err != nil && retryable(err) && a.Number < a.MaxAttempts
	if w.obs != nil {
		// Record the outcome even when the attempt's context has ended
		// (timeout or cancellation).
		octx, ocancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		w.obs.Finished(octx, a, in, out, meter.Total(), err, willRetry)
		ocancel()
	}
	elapsed := time.Since(a.StartedAt)
	switch {
	case err == nil:
		if w.c.debug {
			log.DebugContext(ctx, "task finished", slog.Duration("elapsed", elapsed))
		}
		return out, nil
	case willRetry:
		log.WarnContext(ctx, "task attempt failed; Hatchet will retry", slog.Duration("elapsed", elapsed), slog.Any("error", err))
	default:
		log.ErrorContext(ctx, "task failed", slog.Duration("elapsed", elapsed), slog.Any("error", err))
	}
	return out, classify(err)
}

// outageWait bounds how long a task is re-run in place while a dependency
// is briefly unavailable (parley.ErrUnavailable: the database restarting).
// Failing at once would report the failure while the engine, which shares
// that database, may be unable to take the report, and the run would then
// wait for the task's timeout. Steps are idempotent, so re-running is safe.
const outageWait = 45 * time.Second

func throughOutages(ctx context.Context, log *slog.Logger, op func() error) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = 500*time.Millisecond, 8*time.Second, outageWait
	var last error
	err := backoff.RetryNotify(func() error {
		last = op()
		if last != nil && !errors.Is(last, parley.ErrUnavailable) {
			return backoff.Permanent(last)
		}
		return last
	}, backoff.WithContext(b, ctx), func(err error, wait time.Duration) {
		log.WarnContext(ctx, "a dependency is unavailable; running the step again in place", slog.Duration("in", wait), slog.Any("error", err))
	})
	if err != nil && last != nil {
		return last // the step's own error, not the context's when it ended the waiting
	}
	return err
}

func safeCall[I, O any](ctx context.Context, fn func(context.Context, I) (O, error), in I) (out O, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = parley.WrapError(parley.EINTERNAL, fmt.Errorf("panic: %v\n%s", r, debug.Stack()), "internal error")
		}
	}()
	return fn(ctx, in)
}

// permanentError marks an error that no retry can fix even though its code
// alone would allow one (a failed child workflow: a retried parent would
// re-attach to the same failed child).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

func retryable(err error) bool {
	var p *permanentError
	if errors.As(err, &p) {
		return false
	}
	return parley.IsRetryable(err)
}

// classify tells Hatchet not to retry permanent errors.
func classify(err error) error {
	if err == nil || retryable(err) {
		return err
	}
	return worker.NewNonRetryableError(err)
}

// RunChild runs a child workflow from inside a task and waits for it,
// returning the output of its task lastTask. key must be stable for the
// child (e.g. "track-2"): when the parent is retried or replayed, Hatchet
// re-attaches to the child with the same key instead of starting another.
// ctx must be (derived from) a task's context.
func RunChild[O any](ctx context.Context, child *Workflow, lastTask, key string, input any, meta map[string]string) (O, error) {
	var out O
	hctx, ok := ctx.Value(hatchetCtxKey{}).(sdk.Context)
	if !ok {
		return out, parley.Errorf(parley.EINTERNAL, "RunChild called outside a task")
	}
	opts := []sdk.RunOptFunc{sdk.WithRunKey(key)}
	if meta != nil {
		opts = append(opts, sdk.WithRunMetadata(meta))
	}
	// The child is bound to the task (hctx makes it a child run); ctx only
	// bounds how long this call waits.
	type result struct {
		res *sdk.WorkflowResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := child.wf.Run(hctx, input, opts...)
		done <- result{res, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		return out, fmt.Errorf("%s %s: %w", child.name, key, ctx.Err())
	}
	if r.err != nil {
		return out, Permanent(fmt.Errorf("%s %s failed: %w", child.name, key, r.err))
	}
	if err := r.res.TaskOutput(lastTask).Into(&out); err != nil {
		return out, fmt.Errorf("%s %s: read output of %s: %w", child.name, key, lastTask, err)
	}
	return out, nil
}

// WithMaxRuns limits how many runs of a workflow execute at once; more
// wait in a queue (round robin). n <= 0 means no limit (no option).
func WithMaxRuns(n int) []sdk.WorkflowOption {
	if n <= 0 {
		return nil
	}
	limit := int32(n)
	strategy := types.GroupRoundRobin
	return []sdk.WorkflowOption{sdk.WithWorkflowConcurrency(types.Concurrency{Expression: "'all'", MaxRuns: &limit, LimitStrategy: &strategy})}
}

// WithConcurrencyKey lets at most n runs of a workflow with the same value
// of expr (a CEL expression over the run, e.g. "input.transcript_id")
// execute at once; more wait in a queue.
func WithConcurrencyKey(expr string, n int) []sdk.WorkflowOption {
	limit := int32(max(n, 1))
	strategy := types.GroupRoundRobin
	return []sdk.WorkflowOption{sdk.WithWorkflowConcurrency(types.Concurrency{Expression: expr, MaxRuns: &limit, LimitStrategy: &strategy})}
}

// WithCron runs a workflow on a cron schedule.
func WithCron(expr ...string) sdk.WorkflowOption { return sdk.WithWorkflowCron(expr...) }
