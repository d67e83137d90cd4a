package hatchet

import (
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// OnFailureTask is the name of the task that OnFailure declares, as the
// dashboard, the observer and the audit see it.
const OnFailureTask = "on_failure"

// DeclaredTask is one task as a workflow declares it to the engine.
type DeclaredTask struct {
	Name    string
	Parents []string
	Timeout time.Duration
	Retries int
	// BackoffFactor and BackoffMax are zero when the task retries at once.
	BackoffFactor float64
	BackoffMax    time.Duration
	// Pool is the worker pool the task prefers (Policy.Pool), "" for none.
	Pool string
	// MaxConcurrent is its concurrency cap (Policy.MaxConcurrent), 0 for none.
	MaxConcurrent int
	// RateLimits maps the engine's rate limit keys to the units the task
	// takes.
	RateLimits map[string]int
}

// Declared returns the tasks w declares to the engine, in declaration
// order, and its on-failure task (nil when it has none). It reads the
// registration request the worker would send, so a test can check a
// workflow's DAG, policies and placement without an engine.
func (w *Workflow) Declared() ([]DeclaredTask, *DeclaredTask) {
	req, _, _, _ := w.base().Dump()
	conv := func(t interface {
		GetReadableId() string
		GetParents() []string
		GetTimeout() string
		GetRetries() int32
		GetBackoffFactor() float32
		GetBackoffMaxSeconds() int32
		ProtoReflect() protoreflect.Message
	}) DeclaredTask {
		timeout, _ := time.ParseDuration(t.GetTimeout())
		pool, maxConcurrent := declaredPlacement(t.ProtoReflect())
		return DeclaredTask{Name: t.GetReadableId(), Parents: t.GetParents(), Timeout: timeout, Retries: int(t.GetRetries()),
			BackoffFactor: float64(t.GetBackoffFactor()), BackoffMax: time.Duration(t.GetBackoffMaxSeconds()) * time.Second,
			Pool: pool, MaxConcurrent: maxConcurrent}
	}
	tasks := make([]DeclaredTask, 0, len(req.GetTasks()))
	for _, t := range req.GetTasks() {
		d := conv(t)
		for _, rl := range t.GetRateLimits() {
			if d.RateLimits == nil {
				d.RateLimits = map[string]int{}
			}
			d.RateLimits[rl.GetKey()] = int(rl.GetUnits())
		}
		tasks = append(tasks, d)
	}
	var onFailure *DeclaredTask
	if t := req.GetOnFailureTask(); t != nil {
		d := conv(t)
		d.Name = OnFailureTask
		onFailure = &d
	}
	return tasks, onFailure
}
