package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley/api"
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
