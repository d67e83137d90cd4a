package hatchet_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley/hatchet"
	"github.com/parley-dev/parley/hatchet/hatchettest"
)

func noop(context.Context, struct{}) (struct{}, error) { return struct{}{}, nil }

func TestPolicyTotal(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		p    hatchet.Policy
		want time.Duration
	}{
		{"NoRetries", hatchet.Policy{Timeout: time.Minute}, time.Minute},
		{"ImmediateRetries", hatchet.Policy{Timeout: time.Minute, Retries: 2}, 3 * time.Minute},
		// Backoff before retry k is factor^k seconds: 2 s, 4 s, 8 s.
		{"Backoff", hatchet.Policy{Timeout: time.Minute, Retries: 3, BackoffFactor: 2}, 4*time.Minute + 14*time.Second},
		// Capped at BackoffMax: 3 s, 9 s, 20 s, 20 s.
		{"BackoffCapped", hatchet.Policy{Timeout: 10 * time.Second, Retries: 4, BackoffFactor: 3, BackoffMax: 20 * time.Second},
			50*time.Second + 52*time.Second},
		{"FactorOne", hatchet.Policy{Timeout: time.Second, Retries: 2, BackoffFactor: 1}, 5 * time.Second},
		{"Zero", hatchet.Policy{}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.p.Total())
		})
	}
}

// TestDeclared reads a workflow's declaration without an engine.
func TestDeclared(t *testing.T) {
	t.Parallel()
	c := hatchettest.Offline(t)
	wf := c.NewWorkflow("W", "test", nil)
	p := hatchet.Policy{Timeout: 90 * time.Second, Retries: 2, BackoffFactor: 3, BackoffMax: time.Minute}
	a := hatchet.Task(wf, "a", p, noop)
	hatchet.Task(wf, "b", hatchet.Policy{Timeout: time.Minute}, noop, a)
	tasks, onFailure := wf.Declared()
	require.Nil(t, onFailure)
	require.Equal(t, []hatchet.DeclaredTask{
		{Name: "a", Parents: []string{}, Timeout: 90 * time.Second, Retries: 2, BackoffFactor: 3, BackoffMax: time.Minute},
		{Name: "b", Parents: []string{"a"}, Timeout: time.Minute},
	}, tasks)
}

// TestDeclaredPlacement: a task's pool preference reaches the engine as a
// soft desired worker label (required=false, weighted), and its cap as a
// concurrency limit; other tasks have neither.
func TestDeclaredPlacement(t *testing.T) {
	t.Parallel()
	c := hatchettest.Offline(t)
	wf := c.NewWorkflow("W", "test", nil)
	a := hatchet.Task(wf, "a", hatchet.Policy{Timeout: time.Minute, Pool: "cpu", MaxConcurrent: 2}, noop)
	hatchet.Task(wf, "b", hatchet.Policy{Timeout: time.Minute}, noop, a)
	hatchet.Task(wf, "c", hatchet.Policy{Timeout: time.Minute, Pool: "gpu"}, noop, a)
	tasks, _ := wf.Declared()
	require.Equal(t, []hatchet.DeclaredTask{
		{Name: "a", Parents: []string{}, Timeout: time.Minute, Pool: "cpu", MaxConcurrent: 2},
		{Name: "b", Parents: []string{"a"}, Timeout: time.Minute},
		{Name: "c", Parents: []string{"a"}, Timeout: time.Minute, Pool: "gpu"},
	}, tasks)
	// Declaring twice (a second worker) declares the same.
	again, _ := wf.Declared()
	require.Equal(t, tasks, again)
}
