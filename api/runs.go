package api

import (
	"context"
	"net/http"
	"time"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/pipeline"
)

// FailedRunLister lists the failed pipeline runs with their DAGs (package
// pipeline, from the Hatchet engine).
type FailedRunLister interface {
	FailedSince(ctx context.Context, since time.Time, limit int) (runs []pipeline.FailedRun, more bool, err error)
}

// maxFailedRuns bounds one GET /v1/runs/failed answer (each run costs the
// engine a few calls).
const maxFailedRuns = 100

// failedRunsAnswer is GET /v1/runs/failed's answer.
type failedRunsAnswer struct {
	Since time.Time            `json:"since"`
	Runs  []pipeline.FailedRun `json:"runs"`
	// More is true when more than maxFailedRuns failed since then (the
	// oldest failures are listed: ask again from the last failed_at).
	More bool `json:"more"`
}

// getFailedRuns answers GET /v1/runs/failed?since=RFC3339: the
// DiarizationPipeline runs that failed since then (default: the last
// FailedRunsWindow), oldest failure first.
func (s *Server) getFailedRuns(w http.ResponseWriter, r *http.Request) error {
	if s.failedRuns == nil {
		return parley.Errorf(parley.EINTERNAL, "failed runs: no lister configured")
	}
	since := s.now().Add(-s.cfg.FailedRunsWindow)
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return parley.Errorf(parley.EINVALID, "since: %q is not an RFC 3339 time such as 2026-05-04T10:00:00Z", v)
		}
		since = t
	}
	runs, more, err := s.failedRuns.FailedSince(r.Context(), since, maxFailedRuns)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, failedRunsAnswer{Since: since.UTC(), Runs: runs, More: more})
	return nil
}
