package hatchet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hatchet-dev/hatchet/pkg/client/rest"
	sdk "github.com/hatchet-dev/hatchet/sdks/go"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/parley-dev/parley"
)

// Run states, as Hatchet names them.
const (
	RunQueued    = "QUEUED"
	RunRunning   = "RUNNING"
	RunCompleted = "COMPLETED"
	RunFailed    = "FAILED"
	RunCancelled = "CANCELLED"
)

// TaskState is one task of a run.
type TaskState struct {
	ExternalID string
	Status     string
	Error      string
}

// RunState is where a workflow run is.
type RunState struct {
	Status string
	Done   bool
	// Tasks by task name (the on-failure task as OnFailureTask).
	Tasks map[string]TaskState
	// Input is the run's input, when it is a JSON object.
	Input map[string]any
}

// Start triggers a workflow run by name and returns its id once the engine
// has created the run. The engine (hatchet-lite v0.104.7 included) accepts
// a trigger for a workflow name it does not know and returns a run id for a
// run that never exists, so Start checks twice: before the trigger, that a
// worker has registered the workflow, and after it, that the run exists
// (within StartCheckTimeout); otherwise it returns an error, never the
// id of a phantom run.
func (c *Client) Start(ctx context.Context, workflow string, input any, meta map[string]string) (string, error) {
	if err := c.registered(ctx, workflow); err != nil {
		return "", err
	}
	ref, err := c.sdk.RunNoWait(ctx, workflow, input, sdk.WithRunMetadata(meta))
	if err != nil {
		if strings.Contains(err.Error(), "workflow names not found") {
			return "", errNotRegistered(err, workflow)
		}
		return "", parley.WrapError(parley.ETRANSIENT, err, "start %s", workflow)
	}
	if err := c.awaitRun(ctx, workflow, ref.RunId); err != nil {
		c.known.Delete(workflow) // check the registration again next time
		return "", err
	}
	return ref.RunId, nil
}

// awaitRun waits until the engine knows the run (its DAG is written
// asynchronously after the trigger returns).
func (c *Client) awaitRun(ctx context.Context, workflow, runID string) error {
	id, err := uuid.Parse(runID)
	if err != nil {
		return parley.Errorf(parley.EINTERNAL, "start %s: the engine returned %q, not a run id", workflow, runID)
	}
	ctx, cancel := context.WithTimeout(ctx, c.startCheck)
	defer cancel()
	delay := 20 * time.Millisecond
	var last error
	for {
		_, err := c.sdk.Runs().GetDetails(ctx, id)
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return parley.WrapError(parley.ETRANSIENT, last,
				"start %s: the engine accepted the trigger (run %s) but did not create the run within %s; "+
					"is the workflow registered under exactly this name?", workflow, runID, c.startCheck)
		case <-time.After(delay):
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
}

func errNotRegistered(err error, workflow string) error {
	return parley.WrapError(parley.ETRANSIENT, err,
		"start %s: no worker has registered this workflow with the engine yet (is `parley worker` running?)", workflow)
}

// registered checks (once per workflow and process, when it succeeds)
// that the engine knows the workflow.
func (c *Client) registered(ctx context.Context, workflow string) error {
	if _, ok := c.known.Load(workflow); ok {
		return nil
	}
	name := c.Namespaced(workflow)
	found, err := c.exists(ctx, name)
	if err != nil {
		return parley.WrapError(parley.ETRANSIENT, err, "start %s", workflow)
	}
	if !found {
		return errNotRegistered(fmt.Errorf("workflow %s not found", name), workflow)
	}
	c.known.Store(workflow, true)
	return nil
}

// Registered reports whether the engine has the workflow (by name, in the
// client's namespace) registered, asking the engine every time.
func (c *Client) Registered(ctx context.Context, workflow string) (bool, error) {
	found, err := c.exists(ctx, c.Namespaced(workflow))
	if err != nil {
		return false, parley.WrapError(parley.ETRANSIENT, err, "look up workflow %s", workflow)
	}
	return found, nil
}

// exists reports whether the engine has a workflow of exactly that
// (namespaced) name; the API's name filter is a search.
func (c *Client) exists(ctx context.Context, name string) (bool, error) {
	_, found, err := c.workflowID(ctx, name)
	return found, err
}

// State returns a run's state from the engine's core tables (available at
// once after Start, unlike the eventually consistent REST views).
func (c *Client) State(ctx context.Context, runID string) (RunState, error) {
	id, err := uuid.Parse(runID)
	if err != nil {
		return RunState{}, parley.Errorf(parley.EINVALID, "%q is not a workflow run id", runID)
	}
	d, err := c.sdk.Runs().GetDetails(ctx, id)
	if err != nil {
		return RunState{}, parley.WrapError(parley.ETRANSIENT, err, "get run %s", runID)
	}
	st := RunState{Status: string(d.Status), Done: d.Done, Tasks: map[string]TaskState{}, Input: runInput(d.Input)}
	for name, t := range d.TaskRuns {
		if name == engineOnFailure {
			name = OnFailureTask
		}
		ts := TaskState{ExternalID: t.ExternalId.String(), Status: string(t.Status)}
		if t.Error != nil {
			ts.Error = taskError(*t.Error)
		}
		st.Tasks[name] = ts
	}
	return st, nil
}

// Replay re-runs the given tasks (task external ids) and their DAG
// descendants; completed upstream tasks keep their outputs.
func (c *Client) Replay(ctx context.Context, taskIDs ...string) error {
	if len(taskIDs) == 0 {
		return nil
	}
	ids := make([]openapi_types.UUID, 0, len(taskIDs))
	for _, s := range taskIDs {
		id, err := uuid.Parse(s)
		if err != nil {
			return parley.Errorf(parley.EINVALID, "%q is not a task id", s)
		}
		ids = append(ids, id)
	}
	if _, err := c.sdk.Runs().Replay(ctx, rest.V1ReplayTaskRequest{ExternalIds: &ids}); err != nil {
		return parley.WrapError(parley.ETRANSIENT, err, "replay %d task(s)", len(ids))
	}
	return nil
}

// Cancel cancels a run (its running tasks see their context end).
func (c *Client) Cancel(ctx context.Context, runID string) error {
	id, err := uuid.Parse(runID)
	if err != nil {
		return parley.Errorf(parley.EINVALID, "%q is not a workflow run id", runID)
	}
	if _, err := c.sdk.Runs().Cancel(ctx, rest.V1CancelTaskRequest{ExternalIds: &[]openapi_types.UUID{id}}); err != nil {
		return parley.WrapError(parley.ETRANSIENT, err, "cancel run %s", runID)
	}
	return nil
}

// DeleteWorkflows removes workflows (by name, in the client's namespace)
// from the engine, which otherwise keeps scheduling for them: a test run
// cleans up the workflows of its namespace. Unknown names are skipped.
func (c *Client) DeleteWorkflows(ctx context.Context, names ...string) error {
	var errs []error
	for _, name := range names {
		ns := c.Namespaced(name)
		c.known.Delete(name)
		// By the exact name's id: the SDK's Delete takes the first workflow
		// whose name contains the one given, case-insensitively, so
		// deleting DiarizationPipeline deleted its diarizationpipeline
		// alias instead and left the pipeline (and its concurrency
		// strategy, which the engine keeps polling) registered.
		id, found, err := c.workflowID(ctx, ns)
		if err != nil {
			errs = append(errs, fmt.Errorf("delete workflow %s: %w", ns, err))
			continue
		}
		if !found {
			continue
		}
		if err := c.deleteWorkflow(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("delete workflow %s: %w", ns, err))
		}
	}
	return errors.Join(errs...)
}

// deleteWorkflow deletes a workflow by id through the engine's REST API
// (the SDK has no delete by id). The API answers 204 on success.
func (c *Client) deleteWorkflow(ctx context.Context, id uuid.UUID) error {
	if c.rest == nil {
		return errors.New("the engine's REST address is unknown (HATCHET_CLIENT_SERVER_URL or the token's server_url)")
	}
	resp, err := c.rest.WorkflowDeleteWithResponse(ctx, id)
	if err != nil {
		return err
	}
	if code := resp.StatusCode(); code != 204 && code != 200 {
		return fmt.Errorf("HTTP %d: %s", code, strings.TrimSpace(string(resp.Body)))
	}
	return nil
}

// Namespaced returns a workflow name as the engine knows it.
func (c *Client) Namespaced(name string) string {
	if c.namespace == "" {
		return name
	}
	return fmt.Sprintf("%s_%s", strings.ToLower(c.namespace), name)
}
