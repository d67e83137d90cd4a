package hatchet

import (
	"context"
	"time"

	"github.com/parley-dev/parley"
)

// ReadinessWorkflow is the tiny workflow every Parley worker registers so
// that a probe can prove the whole path a pipeline run takes: trigger,
// scheduling, dispatch to a worker, result.
const ReadinessWorkflow = "ParleyReadiness"

// ReadinessOutput is the readiness task's output.
type ReadinessOutput struct {
	OK bool `json:"ok"`
}

// NewReadinessWorkflow declares ReadinessWorkflow (one task that returns
// at once), for NewWorker.
func (c *Client) NewReadinessWorkflow() *Workflow {
	wf := c.NewWorkflow(ReadinessWorkflow, "Readiness probe (parley ready, make up): a run must start and finish promptly.", nil)
	Task(wf, "ready", Policy{Timeout: 30 * time.Second}, func(context.Context, struct{}) (ReadinessOutput, error) {
		return ReadinessOutput{OK: true}, nil
	})
	return wf
}

// ProbeResult tells how long a readiness run took.
type ProbeResult struct {
	RunID string
	// Started is how long after the trigger the run's task was running or
	// done (the time a run waits in the queue); Finished is when the run
	// had completed.
	Started, Finished time.Duration
}

// Probe triggers a readiness run and waits (until ctx ends) for it to
// complete. A worker that has not registered yet is waited for, and a run
// that fails (a task the engine reassigned while the worker reconnected)
// is followed by another: the probe succeeds only once a run went through.
// Started and Finished count from the first trigger.
func (c *Client) Probe(ctx context.Context) (ProbeResult, error) {
	t0 := time.Now()
	for {
		res, err := c.probeOnce(ctx, t0)
		if err == nil || ctx.Err() != nil || parley.ErrorCode(err) != parley.ETRANSIENT {
			return res, err
		}
		select {
		case <-ctx.Done():
			return res, err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (c *Client) probeOnce(ctx context.Context, t0 time.Time) (ProbeResult, error) {
	var res ProbeResult
	var err error
	res.RunID, err = c.Start(ctx, ReadinessWorkflow, struct{}{}, map[string]string{"probe": "parley ready"})
	if err != nil {
		if ctx.Err() != nil {
			return res, parley.WrapError(parley.ETRANSIENT, err, "readiness probe: no run could be started")
		}
		return res, err // not registered yet (transient) or a real error
	}
	for {
		st, err := c.State(ctx, res.RunID)
		if err == nil {
			if res.Started == 0 && st.Status != RunQueued {
				res.Started = time.Since(t0)
			}
			if st.Done {
				res.Finished = time.Since(t0)
				if st.Status != RunCompleted {
					return res, parley.Errorf(parley.ETRANSIENT, "readiness run %s ended %s", res.RunID, st.Status)
				}
				return res, nil
			}
		}
		select {
		case <-ctx.Done():
			return res, parley.Errorf(parley.ETRANSIENT,
				"readiness probe: run %s was accepted but has not finished after %s (still queued: the engine does not schedule yet)",
				res.RunID, time.Since(t0).Round(100*time.Millisecond))
		case <-time.After(50 * time.Millisecond):
		}
	}
}
