package api_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley/internal/e2e"
	"github.com/parley-dev/parley/internal/testenv"
	"github.com/parley-dev/parley/sim"
)

// browser starts headless Chromium (Debian's package) for one test.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	require.NoError(t, err, "chromium is needed for the browser test (make test installs it)")
	profile, err := os.MkdirTemp("", "parley-chromium-")
	require.NoError(t, err)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile), chromedp.WindowSize(1280, 2200))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(func() {
		_ = chromedp.Cancel(ctx) // closes the browser and waits for it
		cancel2()
		cancel()
		_ = os.RemoveAll(profile)
	})
	// Start the browser on this context: a first Run on a derived one
	// would tie the tab to it, and its end would close the tab.
	require.NoError(t, chromedp.Run(ctx))
	return ctx
}

// run runs browser actions for at most two minutes; when they fail, it
// saves the page's HTML and a screenshot next to the other artifacts and
// fails the test saying where.
func run(t *testing.T, b context.Context, actions ...chromedp.Action) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b, 2*time.Minute)
	defer cancel()
	err := chromedp.Run(ctx, actions...)
	if err == nil {
		return
	}
	dctx, dcancel := context.WithTimeout(b, 20*time.Second)
	defer dcancel()
	var html string
	var png []byte
	if derr := chromedp.Run(dctx, chromedp.OuterHTML("html", &html, chromedp.ByQuery), chromedp.FullScreenshot(&png, 90)); derr == nil {
		base := filepath.Join(artifacts(t), t.Name())
		_ = os.WriteFile(base+".html", []byte(html), 0o644)
		_ = os.WriteFile(base+".png", png, 0o644)
		t.Fatalf("browser: %v (the page is saved as %s.html and .png)", err, base)
	}
	t.Fatalf("browser: %v", err)
}

// artifacts is where screenshots are kept for review
// (PARLEY_ARTIFACTS_DIR, default .stack/artifacts).
func artifacts(t *testing.T) string {
	dir := os.Getenv("PARLEY_ARTIFACTS_DIR")
	if dir == "" {
		dir = filepath.Join(testenv.Root(t), ".stack", "artifacts")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

func TestBrowserShowsProgressAndResult(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := e2e.New(t, e2e.Options{})
	require.NoError(t, (&sim.Client{Base: s.SimURL}).SetFaults(ctx, map[string]sim.Fault{sim.EndpointASR: {LatencyMS: 2500}}))
	s.StartWorker()
	s.StartServe()
	var tracks []map[string]string
	for _, n := range []string{"alice", "bob", "carol"} {
		tracks = append(tracks, map[string]string{"s3_key": s.Upload(ctx, meetingFile(t, n+".webm"), "ui/"+n+".webm")})
	}
	var acc struct {
		TranscriptID string `json:"transcript_id"`
	}
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/process", map[string]any{"tracks": tracks, "name": "Launch planning"}, &acc))

	b := browser(t)
	run(t, b, chromedp.Navigate(s.APIURL+"/transcripts/"+acc.TranscriptID),
		chromedp.WaitVisible("#progress-bar", chromedp.ByID))
	// The progress bar advances while the run goes on.
	var seen []int
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var v string
		var ok bool
		run(t, b, chromedp.AttributeValue("#progress-bar", "aria-valuenow", &v, &ok, chromedp.ByID))
		n, _ := strconv.Atoi(v)
		if len(seen) == 0 || n != seen[len(seen)-1] {
			seen = append(seen, n)
		}
		if n == 100 {
			break
		}
		require.True(t, time.Now().Before(deadline), "progress stuck at %v", seen)
		run(t, b, chromedp.Sleep(200*time.Millisecond))
	}
	require.GreaterOrEqual(t, len(seen), 3, "the bar moved through several values: %v", seen)
	for i := 1; i < len(seen); i++ {
		require.Greater(t, seen[i], seen[i-1], "the bar only moves forward: %v", seen)
	}

	var title, status, points string
	var speakers, topics []string
	var ok bool
	run(t, b,
		chromedp.WaitVisible("#topics li", chromedp.ByQuery),
		chromedp.Text("#title", &title, chromedp.ByID),
		chromedp.Text("#status", &status, chromedp.ByID),
		chromedp.Evaluate(`[...document.querySelectorAll("#speakers li")].map(e => e.textContent)`, &speakers),
		chromedp.Evaluate(`[...document.querySelectorAll("#topics .topic-title")].map(e => e.textContent)`, &topics),
	)
	s.WaitFor("the waveform on the page", time.Minute, func() bool {
		run(t, b, chromedp.AttributeValue("#waveform", "data-points", &points, &ok, chromedp.ByID))
		return points == "255"
	})
	require.Equal(t, "Launch planning", title)
	require.Equal(t, "ended", status)
	require.Equal(t, []string{"Alice", "Bob", "Carol"}, speakers)
	require.NotEmpty(t, topics)

	var png []byte
	run(t, b, chromedp.FullScreenshot(&png, 100))
	shot := filepath.Join(artifacts(t), "transcript-page.png")
	require.NoError(t, os.WriteFile(shot, png, 0o644))
	t.Logf("screenshot: %s", shot)
}

func TestBrowserShowsTheFailingStep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := e2e.New(t, e2e.Options{})
	require.NoError(t, (&sim.Client{Base: s.SimURL}).SetFaults(ctx, map[string]sim.Fault{sim.EndpointLLM: {ErrorRate: 1, ErrorStatus: 400}}))
	s.StartWorker()
	s.StartServe()
	key := s.Upload(ctx, meetingFile(t, "alice.webm"), "ui/alice.webm")
	var acc struct {
		TranscriptID string `json:"transcript_id"`
	}
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/process", map[string]any{"tracks": []map[string]string{{"s3_key": key}}}, &acc))
	b := browser(t)
	var step, msg, state string
	var ok bool
	run(t, b, chromedp.Navigate(s.APIURL+"/transcripts/"+acc.TranscriptID),
		chromedp.WaitVisible("#error-step", chromedp.ByID),
		chromedp.Text("#error-step", &step, chromedp.ByID),
		chromedp.Text("#error-message", &msg, chromedp.ByID),
		chromedp.WaitVisible(`#steps li[data-step="detect_topics"][data-state="failed"]`, chromedp.ByQuery),
		chromedp.AttributeValue(`#steps li[data-step="detect_topics"]`, "data-state", &state, &ok, chromedp.ByQuery))
	require.Equal(t, "detect_chunk_topic", step, "the topic chunk's step failed; its parent detect_topics shows failed")
	require.Contains(t, msg, "HTTP 400")
	require.Equal(t, "failed", state)
	var png []byte
	run(t, b, chromedp.FullScreenshot(&png, 100))
	require.NoError(t, os.WriteFile(filepath.Join(artifacts(t), "failed-page.png"), png, 0o644))
}
