package api_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/internal/e2e"
)

// TestBrowserSearchRenameTrash: search from the header, open a result
// (the player seeks to the hit), rename a speaker inline and see the name
// in the transcript, move the transcript to the trash and restore it.
func TestBrowserSearchRenameTrash(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local stack and Chromium")
	}
	t.Parallel()
	ctx := context.Background()
	s := e2e.New(t, e2e.Options{})
	s.StartWorker()
	s.StartServe()
	id := startMeeting(t, s, "Launch planning", "alice", "bob", "carol")
	tr := s.WaitStatus(ctx, id, 4*time.Minute, parley.StatusEnded, parley.StatusError)
	require.Equal(t, parley.StatusEnded, tr.Status, "%+v", tr.Error)
	waitRunDone(t, s, tr)

	b := browser(t)
	// Search from the header box.
	var hits []map[string]string
	run(t, b, chromedp.Navigate(s.APIURL+"/"),
		chromedp.WaitVisible("#site-q", chromedp.ByID),
		chromedp.SendKeys("#site-q", `"budget review"`+"\n", chromedp.ByID),
		chromedp.WaitVisible("#search-results li[data-start] a.result-link", chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll("#search-results li")].map(li => ({
			start: li.dataset.start || "", href: li.querySelector("a").getAttribute("href"),
			speaker: (li.querySelector(".hit-speaker") || {}).textContent || "",
			snippet: li.querySelector(".snippet").innerHTML}))`, &hits))
	require.NotEmpty(t, hits)
	var hit map[string]string
	for _, h := range hits {
		if h["start"] != "" {
			hit = h
			break
		}
	}
	require.NotNil(t, hit, "a hit with a moment: %v", hits)
	require.Equal(t, "Bob", hit["speaker"])
	require.Contains(t, hit["snippet"], "<mark>budget</mark> <mark>review</mark>")
	start, err := strconv.ParseFloat(hit["start"], 64)
	require.NoError(t, err)
	require.Greater(t, start, 1.0, "Bob speaks after the start, so a seek is visible")

	// Open it: the page seeks the player to the hit.
	var href string
	var ok bool
	run(t, b, chromedp.AttributeValue("#search-results li[data-start] a.result-link", "href", &href, &ok, chromedp.ByQuery),
		chromedp.Click("#search-results li[data-start] a.result-link", chromedp.ByQuery),
		chromedp.WaitVisible("#speakers li", chromedp.ByQuery))
	require.Contains(t, href, "/transcripts/"+id+"?t=")
	var current float64
	s.WaitFor("the player at the hit", time.Minute, func() bool {
		run(t, b, chromedp.Evaluate(`(() => { const a = document.getElementById("audio"); return a && a.readyState >= 1 ? a.currentTime : -1; })()`, &current))
		return current >= 0 && math.Abs(current-start) < 1
	})
	var hitLine string
	run(t, b, chromedp.Text("#hit .who", &hitLine, chromedp.ByQuery))
	require.Equal(t, "Bob", hitLine, "the line said then is shown")

	// Rename Bob inline.
	const newName = "Roberto <b>Díaz</b>"
	var names, who []string
	run(t, b,
		chromedp.Click(`#speakers button[aria-label="Rename Bob"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#rename-input", chromedp.ByID),
		chromedp.Evaluate(`document.getElementById("rename-input").value = ""`, nil),
		chromedp.SendKeys("#rename-input", newName+"\n", chromedp.ByID),
		chromedp.WaitNotPresent("#rename-input", chromedp.ByID))
	// The list is drawn again when the PATCH has answered, which may be
	// after the input is gone.
	s.WaitFor("the new name in the speaker list", 30*time.Second, func() bool {
		run(t, b, chromedp.Evaluate(`[...document.querySelectorAll("#speakers li")].map(e => e.textContent)`, &names))
		return !slices.Contains(names, "Bob")
	})
	require.Equal(t, []string{"Alice", newName, "Carol"}, names, "the name is text, never markup")
	s.WaitFor("the new name in the transcript", 30*time.Second, func() bool {
		run(t, b, chromedp.Evaluate(`[...document.querySelectorAll("#topics .line .who")].map(e => e.textContent)`, &who))
		return slices.Contains(who, newName) && !slices.Contains(who, "Bob")
	})
	var longSummary string
	run(t, b, chromedp.Text("#long-summary", &longSummary, chromedp.ByID))
	require.Contains(t, longSummary, newName+" noted", "the summary uses the new name")
	var doc parley.Transcript
	require.Equal(t, 200, s.API(ctx, "GET", "/v1/transcripts/"+id, nil, &doc))
	require.Equal(t, newName, doc.Participants[1].Name)

	var shot []byte
	run(t, b, chromedp.FullScreenshot(&shot, 100))
	require.NoError(t, os.WriteFile(filepath.Join(artifacts(t), "renamed-page.png"), shot, 0o644))

	// Delete, find it in the trash, restore.
	var banner string
	run(t, b,
		chromedp.Click("#delete", chromedp.ByID),
		chromedp.WaitVisible("#trash-banner .trash-banner", chromedp.ByQuery),
		chromedp.Text("#trash-banner", &banner, chromedp.ByID))
	require.Contains(t, banner, "in the trash")
	require.Equal(t, 200, s.API(ctx, "GET", "/v1/transcripts/"+id, nil, &doc))
	require.NotNil(t, doc.DeletedAt)
	var listed []string
	run(t, b, chromedp.Navigate(s.APIURL+"/"),
		chromedp.WaitVisible("#list-body .empty", chromedp.ByQuery),
		chromedp.Navigate(s.APIURL+"/trash"),
		chromedp.WaitVisible(`#trash li[data-id="`+id+`"]`, chromedp.ByQuery),
		chromedp.Click(`#trash li[data-id="`+id+`"] button[data-action=restore]`, chromedp.ByQuery),
		chromedp.WaitVisible("#trash-body .empty", chromedp.ByQuery),
		chromedp.Navigate(s.APIURL+"/"),
		chromedp.WaitVisible(`#transcripts li[data-id="`+id+`"]`, chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll("#transcripts li")].map(e => e.dataset.id)`, &listed))
	require.Equal(t, []string{id}, listed)
	require.Equal(t, 200, s.API(ctx, "GET", "/v1/transcripts/"+id, nil, &doc))
	require.Nil(t, doc.DeletedAt, "restored")

	var png []byte
	run(t, b, chromedp.Navigate(s.APIURL+"/search?q="+strings.ReplaceAll("budget -design", " ", "+")),
		chromedp.WaitVisible("#search-results", chromedp.ByID),
		chromedp.FullScreenshot(&png, 100))
	require.NoError(t, os.WriteFile(filepath.Join(artifacts(t), "search-page.png"), png, 0o644))
}
