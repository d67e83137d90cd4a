package hatchet_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/hatchet"
	"github.com/parley-dev/parley/internal/testenv"
)

type fanIn struct {
	Items []int `json:"items"`
}

type itemIn struct {
	Item int `json:"item"`
}

type itemOut struct {
	Square int `json:"square"`
}

type gatherOut struct {
	Squares []int `json:"squares"`
	Sum     int   `json:"sum"`
}

// recorder is an Observer that keeps what it was told.
type recorder struct {
	mu       sync.Mutex
	started  []string
	finished []string
}

func (r *recorder) Started(_ context.Context, a hatchet.Attempt, _ any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started = append(r.started, a.Task)
	return nil
}

func (r *recorder) Finished(_ context.Context, a hatchet.Attempt, _ any, _ any, _ parley.Usage, err error, _ bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finished = append(r.finished, fmt.Sprintf("%s:%v", a.Task, err == nil))
}

// TestSmokeFanOut proves the stack: a worker registers a small DAG whose
// middle task spawns one child workflow per item on the real hatchet-lite;
// the test runs it and checks the gathered outputs.
func TestSmokeFanOut(t *testing.T) {
	t.Parallel()
	testenv.Load(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	ns := testenv.Name(t, "smoke")
	c, err := hatchet.NewClient(hatchet.Config{Namespace: ns, Logger: log, SDKLogOutput: io.Discard})
	require.NoError(t, err)
	t.Cleanup(func() { // the engine keeps scheduling for registered workflows
		require.NoError(t, c.DeleteWorkflows(context.Background(), "smoke-item", "smoke-fanout"))
		testenv.DropHatchetQueues(t, ns)
	})

	rec := &recorder{}
	quick := hatchet.Policy{Timeout: 30 * time.Second, Retries: 1}
	child := c.NewWorkflow("smoke-item", "squares one item", rec)
	hatchet.Task(child, "square", quick, func(ctx context.Context, in itemIn) (itemOut, error) {
		return itemOut{Square: in.Item * in.Item}, nil
	})

	parent := c.NewWorkflow("smoke-fanout", "fans out one child per item", rec)
	validate := hatchet.Task(parent, "validate", quick, func(ctx context.Context, in fanIn) (struct{}, error) {
		if len(in.Items) == 0 {
			return struct{}{}, parley.Errorf(parley.EINVALID, "no items")
		}
		return struct{}{}, nil
	})
	hatchet.Task(parent, "gather", hatchet.Policy{Timeout: 2 * time.Minute}, func(ctx context.Context, in fanIn) (gatherOut, error) {
		out := gatherOut{Squares: make([]int, len(in.Items))}
		var wg sync.WaitGroup
		errs := make([]error, len(in.Items))
		for i, item := range in.Items {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := hatchet.RunChild[itemOut](ctx, child, "square", fmt.Sprintf("item-%d", i), itemIn{Item: item}, nil)
				out.Squares[i], errs[i] = res.Square, err
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				return out, fmt.Errorf("item %d: %w", i, err)
			}
			out.Sum += out.Squares[i]
		}
		return out, nil
	}, validate)

	w, err := c.NewWorker(hatchet.WorkerConfig{Name: "smoke", Slots: 10}, parent, child)
	require.NoError(t, err)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	defer func() {
		stop()
		require.NoError(t, <-done)
	}()

	res, err := parent.SDK().Run(ctx, fanIn{Items: []int{1, 2, 3, 4}})
	require.NoError(t, err)
	var got gatherOut
	require.NoError(t, res.TaskOutput("gather").Into(&got))
	require.Equal(t, gatherOut{Squares: []int{1, 4, 9, 16}, Sum: 30}, got)

	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.ElementsMatch(t, []string{"validate", "gather", "square", "square", "square", "square"}, rec.started)
	require.Contains(t, rec.finished, "gather:true")
}
