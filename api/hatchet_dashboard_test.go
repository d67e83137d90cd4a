package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/internal/e2e"
	"github.com/parley-dev/parley/internal/testenv"
	"github.com/parley-dev/parley/pipeline"
)

// pageWatch records what goes wrong in a browser tab: uncaught exceptions
// and promise rejections, errors logged to the console (React logs the
// errors its error boundaries catch there), and API answers that are 5xx
// or 403. It also keeps the API requests of the current document that have
// no answer yet, so that a test can wait until a page has loaded its data.
type pageWatch struct {
	mu       sync.Mutex
	problems []string
	inflight map[network.RequestID]request
}

type request struct {
	url    string
	loader cdp.LoaderID // the document that sent it
}

// controlPlaneMetadata is the one API call that answers 403 on a healthy
// self-hosted Hatchet: the dashboard asks it whether a Hatchet Cloud
// control plane exists. The OSS API has no such route, and its rate-limit
// middleware answers 403 to every path outside its OpenAPI spec
// (api/v1/server/middleware/ratelimit: the route lookup fails, ErrorHandler
// returns 403). The dashboard reads any non-retryable 4xx there as "no
// control plane" (frontend/app/src/lib/api/api.ts, controlPlaneMetaQuery).
const controlPlaneMetadata = "/api/v1/control-plane/metadata"

func watchPage(ctx context.Context) *pageWatch {
	w := &pageWatch{inflight: map[network.RequestID]request{}}
	chromedp.ListenTarget(ctx, w.handle)
	return w
}

// handle takes one DevTools event of the tab.
func (w *pageWatch) handle(ev any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch e := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := e.ExceptionDetails
		msg := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			msg = d.Exception.Description
		}
		w.problems = append(w.problems, "uncaught: "+msg)
	case *runtime.EventConsoleAPICalled:
		if e.Type != runtime.APITypeError {
			return
		}
		var parts []string
		for _, a := range e.Args {
			if a.Description != "" {
				parts = append(parts, a.Description)
			} else {
				parts = append(parts, string(a.Value))
			}
		}
		w.problems = append(w.problems, "console.error: "+strings.Join(parts, " "))
	case *page.EventFrameNavigated:
		// A new document: the requests of the old one never answer
		// (Chrome does not always report them as cancelled).
		if e.Frame.ParentID == "" {
			for id, r := range w.inflight {
				if r.loader != e.Frame.LoaderID {
					delete(w.inflight, id)
				}
			}
		}
	case *network.EventRequestWillBeSent:
		if isAPI(e.Request.URL) {
			w.inflight[e.RequestID] = request{e.Request.URL, e.LoaderID}
		}
	case *network.EventLoadingFinished:
		delete(w.inflight, e.RequestID)
	case *network.EventLoadingFailed:
		delete(w.inflight, e.RequestID)
	case *network.EventResponseReceived:
		delete(w.inflight, e.RequestID)
		if !isAPI(e.Response.URL) {
			return
		}
		st := e.Response.Status
		if st >= 500 || (st == 403 && urlPath(e.Response.URL) != controlPlaneMetadata) {
			w.problems = append(w.problems, fmt.Sprintf("%d %s", st, e.Response.URL))
		}
	}
}

func isAPI(u string) bool { return strings.Contains(urlPath(u), "/api/") }

func urlPath(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	return p.Path
}

// take returns the problems seen since the last call.
func (w *pageWatch) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.problems
	w.problems = nil
	return p
}

// settle waits until every API request has its answer (the dashboard
// refetches every few seconds, so this is a moment between polls).
func (w *pageWatch) settle(t *testing.T, page string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		w.mu.Lock()
		n := len(w.inflight)
		var some string
		for _, r := range w.inflight {
			some = r.url
		}
		w.mu.Unlock()
		if n == 0 {
			return
		}
		require.True(t, time.Now().Before(deadline), "%s: API requests still in flight after a minute, e.g. %s", page, some)
		time.Sleep(50 * time.Millisecond)
	}
}

// waitPage polls until the JavaScript condition holds on the page; it
// fails at once when the dashboard shows its error page instead, with
// what the browser reported meanwhile.
func waitPage(t *testing.T, b context.Context, w *pageWatch, page, cond string) {
	t.Helper()
	var res string
	js := fmt.Sprintf(`(() => {
		const text = document.body ? document.body.innerText : '';
		if (text.includes('Something went wrong')) return 'error page: ' + text.slice(0, 600);
		return (%s) ? 'ok' : '';
	})()`, cond)
	run(t, b, chromedp.Poll(js, &res, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(90*time.Second)))
	if res != "ok" {
		t.Fatalf("%s: %s\nbrowser: %q", page, res, w.take())
	}
}

// js writes a Go value as a JavaScript literal.
func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestHatchetDashboard logs in to the Hatchet dashboard that the stack
// serves, visits every page an operator uses, and checks that a finished
// DiarizationPipeline run shows its whole DAG, its TrackProcessing
// children, logs, input and output. Any uncaught error, console error,
// error page, or 5xx/403 API answer fails it.
func TestHatchetDashboard(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	testenv.Load(t)
	base := strings.TrimRight(testenv.Getenv(t, "HATCHET_CLIENT_SERVER_URL"), "/")
	resp, err := http.Get(base + "/")
	require.NoError(t, err)
	index, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if m := regexp.MustCompile(`name="parley-dashboard" content="([^"]*)"`).FindSubmatch(index); m != nil {
		t.Fatalf("hatchet-lite at %s serves no dashboard: %s (make up builds it: scripts/dashboard.sh)", base, m[1])
	}

	// A finished run with two tracks.
	s := e2e.New(t, e2e.Options{})
	s.StartWorker()
	s.StartServe()
	names := []string{"alice", "bob"}
	var tracks []map[string]string
	for _, n := range names {
		tracks = append(tracks, map[string]string{"s3_key": s.Upload(ctx, meetingFile(t, n+".webm"), "dash/"+n+".webm")})
	}
	var acc struct {
		TranscriptID string `json:"transcript_id"`
	}
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/process", map[string]any{"tracks": tracks, "name": "Dashboard check"}, &acc))
	tr := s.WaitStatus(ctx, acc.TranscriptID, 4*time.Minute, parley.StatusEnded, parley.StatusError)
	require.Equal(t, parley.StatusEnded, tr.Status, "the pipeline failed: %+v", tr.Error)
	require.NotNil(t, tr.WorkflowRunID)
	runID := *tr.WorkflowRunID

	b := browser(t)
	w := watchPage(b)

	// Before login the dashboard asks who is logged in and gets 403s: expected.
	var loc string
	run(t, b, chromedp.Navigate(base+"/auth/login"), chromedp.WaitVisible("#email", chromedp.ByID))
	w.settle(t, "login")
	for _, p := range w.take() {
		require.True(t, strings.HasPrefix(p, "403 "), "login page: %s", p)
	}
	run(t, b,
		chromedp.SendKeys("#email", "admin@example.com", chromedp.ByID),
		chromedp.SendKeys("#password", "Admin123!!", chromedp.ByID),
		chromedp.Click(`//button[normalize-space(.)="Sign In" and not(@disabled)]`, chromedp.BySearch))
	waitPage(t, b, w, "login", `location.pathname.includes('/tenants/')`)
	run(t, b, chromedp.Location(&loc))
	_, rest, ok := strings.Cut(loc, "/tenants/")
	require.True(t, ok, loc)
	tenant, _, _ := strings.Cut(rest, "/")
	tenantURL := base + "/tenants/" + tenant

	// checkPage waits until the page shows what it should, then until it
	// has loaded its data, and fails on anything that went wrong meanwhile.
	checkPage := func(page, cond string) {
		t.Helper()
		waitPage(t, b, w, page, cond)
		w.settle(t, page)
		require.Empty(t, w.take(), "%s: errors in the browser or failed API calls", page)
	}
	visit := func(page, path, cond string) {
		t.Helper()
		run(t, b, chromedp.Navigate(tenantURL+path))
		checkPage(page, cond)
	}
	text := `document.body.innerText`
	rows := func(sub string) string {
		return fmt.Sprintf(`[...document.querySelectorAll('tbody tr')].filter(r => r.innerText.includes(%s)).length`, js(sub))
	}
	filter := func(key string, v any) string { return "?" + url.Values{key: {js(v)}}.Encode() }

	visit("Overview", "/overview", text+`.includes('Set up your local environment')`)

	// The runs list, filtered on the run's metadata: the pipeline and one
	// TrackProcessing run per track.
	visit("Runs list", "/runs"+filter("workflow-runs-main-workflow-runs-filters", map[string]any{"m": []string{"transcript_id:" + acc.TranscriptID}}),
		fmt.Sprintf(`%s === 1 && %s === %d`, rows(pipeline.WorkflowPipeline), rows(pipeline.WorkflowTrack), len(names)))

	// The run: its DAG has every task of DiarizationPipeline (the step
	// table minus TrackProcessing's steps and the on-failure handler, which
	// Hatchet draws as "on-failure").
	var tasks []string
	for _, spec := range pipeline.StepTable {
		if spec.Workflow == pipeline.WorkflowPipeline && spec.Phase != pipeline.PhaseFailure {
			tasks = append(tasks, spec.Name)
		}
	}
	require.Contains(t, tasks, "process_tracks")
	leafTexts := `new Set([...document.querySelectorAll('body *')].filter(e => e.children.length === 0).map(e => e.textContent.trim()))`
	visit("Run detail", "/runs/"+runID, fmt.Sprintf(`(() => { const seen = %s; return %s.every(n => seen.has(n)); })()`, leafTexts, js(tasks)))
	var missing []string
	run(t, b, chromedp.Evaluate(fmt.Sprintf(`(() => { const seen = %s; return %s.filter(n => !seen.has(n)); })()`, leafTexts, js(tasks)), &missing))
	require.Empty(t, missing, "tasks missing from the run's DAG")
	var png []byte
	run(t, b, chromedp.FullScreenshot(&png, 100))
	require.NoError(t, os.WriteFile(filepath.Join(artifacts(t), "hatchet-run.png"), png, 0o644))

	tab := func(name string) string {
		return fmt.Sprintf(`//button[@role="tab" and starts-with(normalize-space(.), %s)]`, js(name))
	}
	panel := `[...document.querySelectorAll('[role=tabpanel][data-state=active]')].map(p => p.innerText).join('\n')`
	// Input and output of the run.
	run(t, b, chromedp.Click(tab("Input"), chromedp.BySearch))
	checkPage("Run input", fmt.Sprintf(`%s.includes(%s)`, panel, js(acc.TranscriptID)))
	run(t, b, chromedp.Click(tab("Output"), chromedp.BySearch))
	checkPage("Run output", panel+`.includes('{')`)
	// Its logs (Parley sends none to Hatchet yet: the empty state, with its
	// link into the docs index).
	run(t, b, chromedp.Click(tab("Logs"), chromedp.BySearch))
	checkPage("Run logs", panel+`.includes('No logs found for this run') || document.querySelectorAll('[role=tabpanel][data-state=active] tbody tr').length > 0`)
	// The TrackProcessing children of process_tracks.
	run(t, b, chromedp.Click(tab("Overview"), chromedp.BySearch),
		chromedp.Click(fmt.Sprintf(`//*[text()=%s]`, js("process_tracks")), chromedp.BySearch),
		chromedp.Click(tab(fmt.Sprintf("Children (%d)", len(names))), chromedp.BySearch))
	checkPage("Child runs", fmt.Sprintf(`%s === %d`, rows(pipeline.WorkflowTrack), len(names)))
	run(t, b, chromedp.FullScreenshot(&png, 100))
	require.NoError(t, os.WriteFile(filepath.Join(artifacts(t), "hatchet-children.png"), png, 0o644))

	visit("Workflows", "/workflows"+filter("workflows-workflows-table", map[string]any{"s": s.Namespace}),
		fmt.Sprintf(`%s === 1 && %s === 1`, rows(s.Namespace+"_"+pipeline.WorkflowPipeline), rows(s.Namespace+"_"+pipeline.WorkflowTrack)))
	visit("Workers", "/workers", rows("parley-worker")+` > 0`)
	// Cron jobs, newest first: this test's worker registered DailyPolling's.
	visit("Cron jobs", "/cron-jobs", rows(s.Namespace+"_"+pipeline.WorkflowDailyPolling)+` === 1`)
	visit("Rate limits", "/rate-limits", text+`.includes('No rate limits found') || document.querySelectorAll('tbody tr').length > 0`)
	// The other pages of the menu: empty or not, they render.
	listed := `/No [a-z ]+ found/i.test(` + text + `) || document.querySelectorAll('tbody tr').length > 0`
	for _, p := range []string{"events", "scheduled", "logs", "webhooks", "filters"} {
		visit(p, "/"+p, listed)
	}
}

// TestPageWatch: what the dashboard test counts as a failure.
func TestPageWatch(t *testing.T) {
	t.Parallel()
	resp := func(id string, status int64, u string) *network.EventResponseReceived {
		return &network.EventResponseReceived{RequestID: network.RequestID(id), Response: &network.Response{URL: u, Status: status}}
	}
	for _, c := range []struct {
		name    string
		ev      any
		problem string
	}{
		{"api 200", resp("1", 200, "http://localhost:8888/api/v1/meta"), ""},
		{"api 404", resp("1", 404, "http://localhost:8888/api/v1/stable/tasks/x"), ""},
		{"api 403", resp("1", 403, "http://localhost:8888/api/v1/tenants/x/workflows"), "403 http://localhost:8888/api/v1/tenants/x/workflows"},
		{"api 500", resp("1", 500, "http://localhost:8888/api/v1/tenants/x"), "500 http://localhost:8888/api/v1/tenants/x"},
		{"api 502", resp("1", 502, "http://localhost:8888/api/v1/x?y=1"), "502 http://localhost:8888/api/v1/x?y=1"},
		{"control plane 403", resp("1", 403, "http://localhost:8888/api/v1/control-plane/metadata"), ""},
		{"control plane 500", resp("1", 500, "http://localhost:8888/api/v1/control-plane/metadata"), "500 http://localhost:8888/api/v1/control-plane/metadata"},
		{"other control plane 403", resp("1", 403, "http://localhost:8888/api/v1/control-plane/organizations"), "403 http://localhost:8888/api/v1/control-plane/organizations"},
		{"asset 500", resp("1", 500, "http://localhost:8888/assets/x.js"), ""},
		{"exception", &runtime.EventExceptionThrown{ExceptionDetails: &runtime.ExceptionDetails{Text: "Uncaught",
			Exception: &runtime.RemoteObject{Description: "TypeError: Cannot read properties of undefined (reading 'workers')"}}},
			"uncaught: TypeError: Cannot read properties of undefined (reading 'workers')"},
		{"console.error", &runtime.EventConsoleAPICalled{Type: runtime.APITypeError, Args: []*runtime.RemoteObject{{Value: []byte(`"boom"`)}}}, `console.error: "boom"`},
		{"console.log", &runtime.EventConsoleAPICalled{Type: runtime.APITypeLog, Args: []*runtime.RemoteObject{{Value: []byte(`"hi"`)}}}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := &pageWatch{inflight: map[network.RequestID]request{}}
			w.handle(c.ev)
			if c.problem == "" {
				require.Empty(t, w.take())
			} else {
				require.Equal(t, []string{c.problem}, w.take())
			}
		})
	}
	t.Run("in flight", func(t *testing.T) {
		t.Parallel()
		w := &pageWatch{inflight: map[network.RequestID]request{}}
		send := func(id, u string, loader cdp.LoaderID) {
			w.handle(&network.EventRequestWillBeSent{RequestID: network.RequestID(id), LoaderID: loader, Request: &network.Request{URL: u}})
		}
		send("a", "http://h/api/v1/a", "doc1")
		send("b", "http://h/api/v1/b", "doc1")
		send("c", "http://h/assets/c.js", "doc1")
		require.Len(t, w.inflight, 2)
		w.handle(resp("a", 200, "http://h/api/v1/a"))
		w.handle(&network.EventLoadingFailed{RequestID: "b"})
		require.Empty(t, w.inflight)
		// A new document drops what the old one still waited for.
		send("d", "http://h/api/v1/d", "doc1")
		w.handle(&page.EventFrameNavigated{Frame: &cdp.Frame{ID: "f", LoaderID: "doc2"}})
		send("e", "http://h/api/v1/e", "doc2")
		w.handle(&page.EventFrameNavigated{Frame: &cdp.Frame{ID: "child", ParentID: "f", LoaderID: "doc3"}})
		require.Equal(t, []string{"http://h/api/v1/e"}, []string{w.inflight["e"].url})
		require.Len(t, w.inflight, 1)
	})
}
