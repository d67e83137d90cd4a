package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley/api"
	"github.com/parley-dev/parley/pipeline"
)

// failedRunsFake is a FailedRunLister that keeps what it was asked.
type failedRunsFake struct {
	since []time.Time
	limit int
}

func (f *failedRunsFake) FailedSince(_ context.Context, since time.Time, limit int) ([]pipeline.FailedRun, bool, error) {
	f.since, f.limit = append(f.since, since), limit
	return []pipeline.FailedRun{{WorkflowRunID: "run-1", TranscriptID: "tr-1", FailedAt: since.Add(time.Minute),
		FailedStep: "get_recording", Steps: []pipeline.RunStep{{Name: "get_recording", Label: "Fetch recording", State: pipeline.StepFailed}}}}, true, nil
}

// TestFailedRunsRoute: GET /v1/runs/failed takes an RFC 3339 since
// (default: the window before now), answers {since, runs, more} and needs
// the API token like every /v1 route.
func TestFailedRunsRoute(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name, query, auth string
		status            int
		since             time.Time
	}{
		{name: "DefaultWindow", auth: "Bearer tok", status: 200, since: now.Add(-2 * time.Hour)},
		{name: "Since", query: "?since=2026-05-03T08:30:00%2B02:00", auth: "Bearer tok", status: 200,
			since: time.Date(2026, 5, 3, 6, 30, 0, 0, time.UTC)},
		{name: "ErrSince", query: "?since=yesterday", auth: "Bearer tok", status: 400},
		{name: "ErrNoToken", status: 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lister := &failedRunsFake{}
			srv := api.New(api.Config{Token: "tok", FailedRunsWindow: 2 * time.Hour},
				api.Deps{FailedRuns: lister, Now: func() time.Time { return now }})
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/v1/runs/failed"+tt.query, nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			srv.ServeHTTP(rec, req)
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			if tt.status != 200 {
				require.Empty(t, lister.since)
				return
			}
			var got struct {
				Since time.Time `json:"since"`
				Runs  []struct {
					WorkflowRunID string `json:"workflow_run_id"`
					FailedStep    string `json:"failed_step"`
					Steps         []struct {
						Name, Label, State string
					} `json:"steps"`
				} `json:"runs"`
				More bool `json:"more"`
			}
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
			require.True(t, tt.since.Equal(got.Since), "since %s", got.Since)
			require.Len(t, lister.since, 1)
			require.True(t, tt.since.Equal(lister.since[0]), "asked since %s", lister.since[0])
			require.Equal(t, 100, lister.limit)
			require.True(t, got.More)
			require.Len(t, got.Runs, 1)
			require.Equal(t, "run-1", got.Runs[0].WorkflowRunID)
			require.Equal(t, "get_recording", got.Runs[0].FailedStep)
			require.Equal(t, "failed", got.Runs[0].Steps[0].State)
		})
	}
}
