package hatchet

import (
	"fmt"
	"time"

	"github.com/hatchet-dev/hatchet/pkg/worker"
	sdk "github.com/hatchet-dev/hatchet/sdks/go"
)

// AliasTask is the one task of an alias workflow.
const AliasTask = "forward"

// AliasOutput is the output of an alias run's task.
type AliasOutput struct {
	// Workflow is the workflow the alias ran.
	Workflow string `json:"workflow"`
	// WorkflowRunID is that workflow's run (a child of the alias run).
	WorkflowRunID string `json:"workflow_run_id"`
}

// NewAlias declares workflow name as another name for target. A run of the
// alias starts target with the same input, as its child, and completes when
// that run completes (it fails when that run fails). Hatchet matches
// workflow names exactly, and some clients (the TypeScript SDK v1) lowercase
// every name they trigger: an alias under the lowercased name lets them
// reach target. The alias's task is durable, so that while it waits it
// holds a durable slot, never one of the worker's task slots (which the
// target's own tasks need). timeout bounds the whole wait; the target's
// tasks have their own timeouts.
func (c *Client) NewAlias(name string, target *Workflow, timeout time.Duration) *Workflow {
	wf := c.sdk.NewWorkflow(name, sdk.WithWorkflowDescription(
		fmt.Sprintf("Another name for %s (for clients that lowercase workflow names): runs it with the same input.", target.name)))
	wf.NewDurableTask(AliasTask, func(ctx sdk.DurableContext, in map[string]any) (AliasOutput, error) {
		// A stable key: a retried or replayed alias re-attaches to its run.
		res, err := target.wf.Run(ctx, in, sdk.WithRunKey("alias"))
		if err != nil {
			return AliasOutput{}, worker.NewNonRetryableError(fmt.Errorf("%s failed: %w", target.name, err))
		}
		return AliasOutput{Workflow: target.name, WorkflowRunID: res.RunId}, nil
	}, sdk.WithExecutionTimeout(timeout), sdk.WithRetries(0))
	return &Workflow{c: c, wf: wf, name: name}
}
