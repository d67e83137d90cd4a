package api_test

import (
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley/api"
	"github.com/parley-dev/parley/pipeline"
)

// get fetches path from h and returns the status, Content-Type and body.
func get(t *testing.T, h http.Handler, p string) (int, string, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
	b, err := io.ReadAll(rec.Result().Body)
	require.NoError(t, err)
	return rec.Code, rec.Header().Get("Content-Type"), string(b)
}

var (
	moduleScript = regexp.MustCompile(`<script type="module" src="(/static/app\.js)\?v=[0-9a-f]{16}"></script>`)
	importFrom   = regexp.MustCompile(`(?m)^(?:import|export)\b[^;]*?\bfrom\s+"([^"]+)"`)
)

// TestWebModulesResolve walks the page's ES modules from index.html's
// entry point: every relative import is served as JavaScript, so a file
// moved or renamed without its importers fails here, not in a browser.
func TestWebModulesResolve(t *testing.T) {
	t.Parallel()
	h := api.WebHandler()
	status, ct, index := get(t, h, "/")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "text/html; charset=utf-8", ct)
	m := moduleScript.FindStringSubmatch(index)
	require.NotNil(t, m, "index.html loads app.js as a versioned module: %s", index)

	seen := map[string]bool{}
	queue := []string{m[1]}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		status, ct, body := get(t, h, p)
		require.Equal(t, http.StatusOK, status, p)
		require.Equal(t, "text/javascript; charset=utf-8", ct, p)
		for _, imp := range importFrom.FindAllStringSubmatch(body, -1) {
			spec := imp[1]
			require.True(t, strings.HasPrefix(spec, "./") || strings.HasPrefix(spec, "../"),
				"%s imports %q: only relative imports work without a build step", p, spec)
			queue = append(queue, path.Join(path.Dir(p), spec))
		}
	}
	for _, want := range []string{"/static/html.js", "/static/api.js", "/static/list.js", "/static/transcript/page.js",
		"/static/transcript/progress.js", "/static/transcript/player.js", "/static/transcript/waveform.js", "/static/transcript/audit.js"} {
		require.True(t, seen[want], "%s is reached from app.js (reached: %v)", want, seen)
	}
}

var update = flag.Bool("update", false, "rewrite api/webtest/pipeline.json from the step table")

// TestPipelineRoute serves GET /v1/pipeline from the step table and keeps
// api/webtest/pipeline.json, the table the page's unit tests use, equal to
// it (go test ./api -run TestPipelineRoute -update rewrites the file).
func TestPipelineRoute(t *testing.T) {
	t.Parallel()
	srv := api.New(api.Config{}, api.Deps{})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/v1/pipeline", nil)
	req.Host = "127.0.0.1"
	srv.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var got struct {
		Workflow string              `json:"workflow"`
		Steps    []pipeline.StepInfo `json:"steps"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	require.Equal(t, pipeline.WorkflowPipeline, got.Workflow)
	require.Equal(t, pipeline.DefaultPolicies().Table(), got.Steps)

	fixture, err := json.MarshalIndent(got, "", "  ")
	require.NoError(t, err)
	fixture = append(fixture, '\n')
	const file = "webtest/pipeline.json"
	if *update {
		require.NoError(t, os.WriteFile(file, fixture, 0o644))
	}
	want, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Equal(t, string(want), string(fixture), "%s is stale: go test ./api -run TestPipelineRoute -update", file)
}
