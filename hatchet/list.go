package hatchet

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hatchet-dev/hatchet/pkg/client/rest"
	"github.com/hatchet-dev/hatchet/pkg/config/loader/loaderutils"

	"github.com/parley-dev/parley"
)

// RunSummary is a workflow run as the engine's run list shows it. The list
// is the REST API's (the dashboard's) view, which the engine fills a
// moment after the run changed: a run that just failed may be listed a
// little later.
type RunSummary struct {
	ID     string
	Status string
	// CreatedAt is when the run was triggered; FinishedAt when its last
	// task finished (zero while it runs).
	CreatedAt, FinishedAt time.Time
	// Metadata is the run's additional metadata (string values only).
	Metadata map[string]string
}

// maxListedRuns bounds one ListRuns or ChildRuns answer.
const maxListedRuns = 1000

// listPage is how many runs one REST call asks for.
const listPage = 100

// ListRuns lists the runs of a workflow (by name, in the client's
// namespace) created at or after since, whose status is one of statuses
// (any when none), oldest first, at most 1000. A workflow the engine does
// not know has no runs.
func (c *Client) ListRuns(ctx context.Context, workflow string, since time.Time, statuses ...string) ([]RunSummary, error) {
	id, found, err := c.workflowID(ctx, c.Namespaced(workflow))
	if err != nil {
		return nil, parley.WrapError(parley.ETRANSIENT, err, "list runs of %s", workflow)
	}
	if !found {
		return []RunSummary{}, nil
	}
	params := rest.V1WorkflowRunListParams{Since: since, WorkflowIds: &[]uuid.UUID{id}}
	if len(statuses) > 0 {
		st := make([]rest.V1TaskStatus, len(statuses))
		for i, s := range statuses {
			st[i] = rest.V1TaskStatus(s)
		}
		params.Statuses = &st
	}
	runs, err := c.listRuns(ctx, params)
	if err != nil {
		return nil, parley.WrapError(parley.ETRANSIENT, err, "list runs of %s", workflow)
	}
	return runs, nil
}

// ChildRuns lists the workflow runs a task (its external id) spawned,
// created at or after since, oldest first.
func (c *Client) ChildRuns(ctx context.Context, taskID string, since time.Time) ([]RunSummary, error) {
	id, err := uuid.Parse(taskID)
	if err != nil {
		return nil, parley.Errorf(parley.EINVALID, "%q is not a task id", taskID)
	}
	runs, err := c.listRuns(ctx, rest.V1WorkflowRunListParams{Since: since, ParentTaskExternalId: &id})
	if err != nil {
		return nil, parley.WrapError(parley.ETRANSIENT, err, "list the child runs of task %s", taskID)
	}
	return runs, nil
}

// listRuns reads every page of a run list (DAG runs, without payloads).
func (c *Client) listRuns(ctx context.Context, params rest.V1WorkflowRunListParams) ([]RunSummary, error) {
	noPayloads := false
	limit := int64(listPage)
	params.IncludePayloads, params.Limit, params.OnlyTasks = &noPayloads, &limit, false
	out := []RunSummary{}
	seen := map[string]bool{}
	for offset := int64(0); len(out) < maxListedRuns; offset += listPage {
		params.Offset = &offset
		page, err := c.sdk.Runs().List(ctx, params)
		if err != nil {
			return nil, err
		}
		for _, r := range page.Rows {
			// Pages are by creation time, newest first: a run created
			// while paging shifts the rest by one.
			if seen[r.Metadata.Id] {
				continue
			}
			seen[r.Metadata.Id] = true
			s := RunSummary{ID: r.Metadata.Id, Status: string(r.Status), CreatedAt: r.CreatedAt, Metadata: map[string]string{}}
			if r.FinishedAt != nil {
				s.FinishedAt = *r.FinishedAt
			}
			if r.AdditionalMetadata != nil {
				for k, v := range *r.AdditionalMetadata {
					if str, ok := v.(string); ok {
						s.Metadata[k] = str
					}
				}
			}
			out = append(out, s)
		}
		if len(page.Rows) < listPage {
			break
		}
	}
	slices.SortStableFunc(out, func(a, b RunSummary) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// workflowID looks up a workflow's id by its exact (namespaced) name.
func (c *Client) workflowID(ctx context.Context, name string) (uuid.UUID, bool, error) {
	list, err := c.sdk.Workflows().List(ctx, &rest.WorkflowListParams{Name: &name})
	if err != nil {
		return uuid.Nil, false, fmt.Errorf("list workflows: %w", err)
	}
	if list.Rows != nil {
		for _, w := range *list.Rows {
			if w.Name == name {
				id, err := uuid.Parse(w.Metadata.Id)
				if err != nil {
					return uuid.Nil, false, fmt.Errorf("workflow %s has id %q: %w", name, w.Metadata.Id, err)
				}
				return id, true, nil
			}
		}
	}
	return uuid.Nil, false, nil
}

// RunURL returns a run's page in the Hatchet dashboard
// ({server}/tenants/{tenant}/runs/{run}, the server being
// HATCHET_CLIENT_SERVER_URL or the token's), or "" when the token does
// not say.
func (c *Client) RunURL(runID string) string {
	if c.dashboard == "" {
		return ""
	}
	return c.dashboard + "/runs/" + url.PathEscape(runID)
}

// dashboardBase returns {server}/tenants/{tenant} from the token (and
// HATCHET_CLIENT_SERVER_URL, which the SDK prefers to the token's
// server_url), or "" when they cannot be read.
func dashboardBase(token string) string {
	server, tenant, _ := serverOf(token)
	if server == "" || tenant == "" {
		return ""
	}
	return server + "/tenants/" + url.PathEscape(tenant)
}

// restClient is a client of the engine's REST API with the token, as the
// SDK builds its own; nil when the address cannot be read.
func restClient(token string) *rest.ClientWithResponses {
	server, _, token := serverOf(token)
	if server == "" {
		return nil
	}
	auth := func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+token)
		return nil
	}
	c, err := rest.NewClientWithResponses(server, rest.WithRequestEditorFn(auth),
		rest.WithHTTPClient(&http.Client{Timeout: 30 * time.Second}))
	if err != nil {
		return nil
	}
	return c
}

// serverOf returns the engine's server URL (HATCHET_CLIENT_SERVER_URL,
// else the token's server_url, without a trailing slash), the token's
// tenant and the token (HATCHET_CLIENT_TOKEN when token is ""); the URL
// is "" when it cannot be read.
func serverOf(token string) (server, tenant, tok string) {
	if token == "" {
		token = os.Getenv("HATCHET_CLIENT_TOKEN")
	}
	conf, err := loaderutils.GetConfFromJWT(token)
	if err != nil {
		return "", "", token
	}
	server = strings.TrimSpace(os.Getenv("HATCHET_CLIENT_SERVER_URL"))
	if server == "" {
		server = conf.ServerURL
	}
	if u, err := url.Parse(server); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", conf.TenantId, token
	}
	return strings.TrimRight(server, "/"), conf.TenantId, token
}

// engineOnFailure is the name the SDK gives the task OnFailure declares
// (Parley calls it OnFailureTask).
const engineOnFailure = "on-failure"

// taskError is a task's error text: the engine gives it as a JSON string
// (quoted), which is decoded; anything else is kept as it is.
func taskError(s string) string {
	var text string
	if strings.HasPrefix(s, `"`) && json.Unmarshal([]byte(s), &text) == nil {
		return text
	}
	return s
}

// runInput decodes a run's input, when it is a JSON object.
func runInput(raw json.RawMessage) map[string]any {
	var m map[string]any
	if len(raw) > 0 && json.Unmarshal(raw, &m) == nil {
		return m
	}
	return nil
}
