package api_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/internal/e2e"
	"github.com/parley-dev/parley/pipeline"
	"github.com/parley-dev/parley/store"
)

type searchHit struct {
	TranscriptID string   `json:"transcript_id"`
	Title        string   `json:"title"`
	Start        *float64 `json:"start"`
	End          *float64 `json:"end"`
	Speaker      *int     `json:"speaker"`
	SpeakerName  *string  `json:"speaker_name"`
	Snippet      string   `json:"snippet"`
}

func searchAPI(t *testing.T, s *e2e.Stack, q string) []searchHit {
	t.Helper()
	var res struct {
		Results []searchHit `json:"results"`
	}
	require.Equal(t, 200, s.API(context.Background(), "GET", "/v1/search?q="+url.QueryEscape(q), nil, &res), q)
	require.NotNil(t, res.Results, "results is a list, never null")
	return res.Results
}

// startMeeting starts the pipeline on the sample meeting's tracks (given
// by speaker name) and returns the transcript id.
func startMeeting(t *testing.T, s *e2e.Stack, name string, speakers ...string) string {
	t.Helper()
	ctx := context.Background()
	var tracks []map[string]string
	for _, n := range speakers {
		tracks = append(tracks, map[string]string{"s3_key": s.Upload(ctx, meetingFile(t, n+".webm"), fmt.Sprintf("lib-%s/%s.webm", strings.ToLower(strings.Fields(name)[0]), n))})
	}
	var acc struct {
		TranscriptID string `json:"transcript_id"`
	}
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/process", map[string]any{"tracks": tracks, "name": name}, &acc))
	return acc.TranscriptID
}

func getRaw(t *testing.T, s *e2e.Stack, path string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", s.APIURL+path, nil)
	require.NoError(t, err)
	if s.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

// saidAt reports whether a segment of the speaker from start to end holds
// word.
func saidAt(words []parley.Word, speaker int, word string, start, end float64) bool {
	for _, seg := range parley.Segments(words) {
		if seg.Speaker == speaker && strings.Contains(strings.ToLower(seg.Text), word) &&
			math.Abs(seg.Start-start) < 1e-6 && math.Abs(seg.End-end) < 1e-6 {
			return true
		}
	}
	return false
}

var cueTime = regexp.MustCompile(`^(\d\d):(\d\d):(\d\d)[,.](\d\d\d) --> (\d\d):(\d\d):(\d\d)[,.](\d\d\d)$`)

// checkCues validates the cue timings of an SRT or WebVTT file: every cue
// has a well-formed time line, starts are in order, 0 <= start <= end <=
// duration.
func checkCues(t *testing.T, body string, duration float64) int {
	t.Helper()
	n, last := 0, 0.0
	for _, line := range strings.Split(body, "\n") {
		if !strings.Contains(line, "-->") {
			continue
		}
		m := cueTime.FindStringSubmatch(line)
		require.NotNil(t, m, "malformed cue time %q", line)
		num := func(p []string) float64 {
			h, _ := strconv.Atoi(p[0])
			mi, _ := strconv.Atoi(p[1])
			sec, _ := strconv.Atoi(p[2])
			ms, _ := strconv.Atoi(p[3])
			return float64(h*3600+mi*60+sec) + float64(ms)/1000
		}
		start, end := num(m[1:5]), num(m[5:9])
		require.GreaterOrEqual(t, start, last, "cues in order: %q", line)
		require.GreaterOrEqual(t, end, start, line)
		require.LessOrEqual(t, end, duration+0.001, "within the meeting: %q", line)
		last = start
		n++
	}
	require.Positive(t, n, "cues present")
	return n
}

// TestLibrary drives search, speaker rename, exports, trash and permanent
// delete through the API and the CLI, on transcripts made by the real
// pipeline.
func TestLibrary(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local stack")
	}
	t.Parallel()
	ctx := context.Background()
	s := e2e.New(t, e2e.Options{Env: map[string]string{"PARLEY_TRASH_RETENTION": "1s"}})
	s.StartWorker()
	s.StartServe()
	launch := startMeeting(t, s, "Launch planning", "alice", "bob", "carol")
	followUp := startMeeting(t, s, `Budget <img src=x onerror=alert(1)> follow-up`, "bob")

	t.Run("NoDeleteWhileRunning", func(t *testing.T) {
		var e map[string]any
		require.Equal(t, 409, s.API(ctx, "DELETE", "/v1/transcripts/"+launch, nil, &e))
		require.Contains(t, fmt.Sprint(e), "run in progress")
		require.Equal(t, 409, s.API(ctx, "DELETE", "/v1/transcripts/"+launch+"?permanent=true", nil, nil))
	})
	for _, id := range []string{launch, followUp} {
		tr := s.WaitStatus(ctx, id, 4*time.Minute, parley.StatusEnded, parley.StatusError)
		require.Equal(t, parley.StatusEnded, tr.Status, "%+v", tr.Error)
		waitRunDone(t, s, tr)
	}
	var doc struct {
		parley.Transcript
		Words []parley.Word `json:"words"`
	}
	require.Equal(t, 200, s.API(ctx, "GET", "/v1/transcripts/"+launch+"?include=words", nil, &doc))
	var doc2 struct {
		parley.Transcript
		Words []parley.Word `json:"words"`
	}
	require.Equal(t, 200, s.API(ctx, "GET", "/v1/transcripts/"+followUp+"?include=words", nil, &doc2))

	t.Run("Search", func(t *testing.T) {
		hits := searchAPI(t, s, "budget")
		found := map[string]bool{}
		speakers := map[string]bool{}
		for _, h := range hits {
			found[h.TranscriptID] = true
			if h.Start == nil {
				continue // a title hit ("Budget ... follow-up")
			}
			words := doc.Words
			if h.TranscriptID == followUp {
				words = doc2.Words
			}
			require.True(t, saidAt(words, *h.Speaker, "budget", *h.Start, *h.End),
				"the hit's start and end are those of a segment of that speaker that says it: %+v", h)
			ps := doc.Participants
			if h.TranscriptID == followUp {
				ps = doc2.Participants
			}
			require.Equal(t, parley.SpeakerName(ps, *h.Speaker), *h.SpeakerName)
			speakers[h.TranscriptID+"/"+*h.SpeakerName] = true
		}
		require.Equal(t, map[string]bool{launch + "/Alice": true, launch + "/Bob": true, followUp + "/Bob": true}, speakers)
		require.True(t, found[launch] && found[followUp], "both meetings: %+v", hits)

		// Quotes: only adjacent words. Alice says "budget for", Bob "budget review".
		n := 0
		for _, h := range searchAPI(t, s, `"budget review"`) {
			require.Contains(t, h.Snippet, "<mark>budget</mark> <mark>review</mark>")
			if h.Start != nil {
				require.Equal(t, "Bob", *h.SpeakerName)
				n++
			}
		}
		require.Equal(t, 2, n, "Bob's line in each meeting")
		for _, h := range searchAPI(t, s, "budget -review") {
			require.NotContains(t, h.Snippet, "review")
		}

		// The hostile title comes back escaped.
		hits = searchAPI(t, s, "follow-up")
		require.NotEmpty(t, hits)
		require.Equal(t, followUp, hits[0].TranscriptID)
		require.Nil(t, hits[0].Start, "title hits have no start")
		require.Contains(t, hits[0].Snippet, "&lt;img src=x onerror=alert(1)&gt;")
		require.NotContains(t, strings.NewReplacer("<mark>", "", "</mark>", "").Replace(hits[0].Snippet), "<")
		require.Equal(t, `Budget <img src=x onerror=alert(1)> follow-up`, hits[0].Title, "the title field is plain text (the page escapes it)")

		for q, msg := range map[string]string{"q=": "q: a search query is required", "limit=0&q=x": "limit",
			"q=x&from=yesterday": "from", "q=x&from=2026-11-22&to=2026-11-21": "from: must be before to",
			"q=" + strings.Repeat("x", 501): "at most 500"} {
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			require.Equal(t, 400, s.API(ctx, "GET", "/v1/search?"+q, nil, &e), q)
			require.Contains(t, e.Error.Message, msg)
		}
		var res struct {
			Results []searchHit `json:"results"`
		}
		require.Equal(t, 200, s.API(ctx, "GET", "/v1/search?q=budget&from=2000-01-01&to="+time.Now().UTC().Format("2006-01-02")+"&limit=1", nil, &res))
		require.Len(t, res.Results, 1)
		require.Equal(t, 200, s.API(ctx, "GET", "/v1/search?q=budget&to=2000-01-01", nil, &res))
		require.Empty(t, res.Results)
	})

	bob := ""
	for _, p := range doc.Participants {
		if p.Name == "Bob" {
			bob = p.ID
		}
	}
	require.NotEmpty(t, bob, "%+v", doc.Participants)
	const newName = "Roberto Díaz"

	t.Run("Rename", func(t *testing.T) {
		var e map[string]any
		require.Equal(t, 400, s.API(ctx, "PATCH", "/v1/transcripts/"+launch+"/participants/"+bob, map[string]any{}, &e))
		require.Equal(t, 400, s.API(ctx, "PATCH", "/v1/transcripts/"+launch+"/participants/"+bob, map[string]any{"name": "a\nb"}, &e))
		require.Equal(t, 404, s.API(ctx, "PATCH", "/v1/transcripts/"+launch+"/participants/nobody", map[string]any{"name": "X"}, &e))
		before := doc.Transcript
		var got parley.Transcript
		require.Equal(t, 200, s.API(ctx, "PATCH", "/v1/transcripts/"+launch+"/participants/"+bob, map[string]any{"name": newName}, &got))
		var renamed parley.Participant
		for _, p := range got.Participants {
			if p.ID == bob {
				renamed = p
			}
			require.NotEqual(t, "Bob", p.Name)
		}
		require.Equal(t, newName, renamed.Name)
		require.Equal(t, "Bob", renamed.DefaultName, "Daily's name stays the default")
		// The generated texts that named Bob now name him so.
		all := before.ShortSummary + before.LongSummary + fmt.Sprint(before.ActionItems)
		require.Contains(t, all, "Bob", "the simulated LLM names the speakers: %s", all)
		after := got.ShortSummary + got.LongSummary + fmt.Sprint(got.ActionItems)
		require.NotRegexp(t, `\bBob\b`, after)
		require.Contains(t, after, newName)
		require.Contains(t, before.LongSummary, "Bob noted")
		require.Contains(t, got.LongSummary, newName+" noted", "the summary uses the new name")
		for _, h := range searchAPI(t, s, `"budget review"`) {
			if h.Start != nil && h.TranscriptID == launch {
				require.Equal(t, newName, *h.SpeakerName, "search shows the new name")
			}
		}
	})

	t.Run("Exports", func(t *testing.T) {
		var tr parley.Transcript
		require.Equal(t, 200, s.API(ctx, "GET", "/v1/transcripts/"+launch, nil, &tr))
		files := map[string][]byte{}
		for _, f := range []string{"srt", "vtt", "txt", "md", "json"} {
			resp, b := getRaw(t, s, "/v1/transcripts/"+launch+"/export?format="+f)
			require.Equal(t, 200, resp.StatusCode, "%s: %s", f, b)
			_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
			require.NoError(t, err)
			require.Equal(t, "Launch-planning."+f, params["filename"])
			require.Contains(t, string(b), newName, "%s uses the new name", f)
			if f != "json" { // the document keeps Daily's name as default_name
				require.NotRegexp(t, `\bBob\b`, string(b), f)
			}
			files[f] = b
		}
		require.True(t, strings.HasPrefix(string(files["vtt"]), "WEBVTT\n"))
		segs := len(parley.Segments(doc.Words))
		require.Equal(t, segs, checkCues(t, string(files["srt"]), tr.DurationSeconds))
		require.Equal(t, segs, checkCues(t, string(files["vtt"]), tr.DurationSeconds))
		require.Contains(t, string(files["txt"]), "] "+newName+": ")
		require.Regexp(t, `(?m)^\[\d\d:\d\d:\d\d\] Alice: `, string(files["txt"]))
		require.Contains(t, string(files["md"]), "# Launch planning\n")
		var j struct {
			ID     string         `json:"id"`
			Words  []parley.Word  `json:"words"`
			Topics []parley.Topic `json:"topics"`
		}
		require.NoError(t, json.Unmarshal(files["json"], &j))
		require.Equal(t, launch, j.ID)
		require.Len(t, j.Words, len(doc.Words))
		require.NotEmpty(t, j.Topics)

		resp, b := getRaw(t, s, "/v1/transcripts/"+launch+"/export?format=zip")
		require.Equal(t, 200, resp.StatusCode, string(b))
		require.Equal(t, "application/zip", resp.Header.Get("Content-Type"))
		require.Contains(t, resp.Header.Get("Content-Disposition"), `filename="Launch-planning.zip"`)
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		require.NoError(t, err, "the zip opens")
		_, mp3 := getRaw(t, s, "/v1/transcripts/"+launch+"/audio/mp3")
		got := map[string][]byte{}
		for _, f := range zr.File {
			rc, err := f.Open()
			require.NoError(t, err)
			got[f.Name], err = io.ReadAll(rc)
			require.NoError(t, err, "%s reads whole (CRC checked)", f.Name)
		}
		require.Len(t, got, 6)
		for f, want := range files {
			if f == "json" {
				require.JSONEq(t, string(want), string(got["transcript.json"]))
				continue
			}
			require.Equal(t, string(want), string(got["transcript."+f]), f)
		}
		require.NotEmpty(t, mp3)
		require.Equal(t, mp3, got["audio.mp3"], "the mixed audio, whole")

		resp, b = getRaw(t, s, "/v1/transcripts/"+followUp+"/export?format=md")
		require.Equal(t, 200, resp.StatusCode)
		_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
		require.NoError(t, err)
		require.Equal(t, "Budget-img-src-x-onerror-alert-1-follow-up.md", params["filename"], "a safe file name from a hostile title")
		require.Contains(t, string(b), "# Budget <img src=x onerror=alert(1)> follow-up", "markdown is not HTML: the title as is")
		resp, _ = getRaw(t, s, "/v1/transcripts/"+launch+"/export?format=exe")
		require.Equal(t, 400, resp.StatusCode)
		resp, _ = getRaw(t, s, "/v1/transcripts/"+launch+"/export")
		require.Equal(t, 400, resp.StatusCode)
	})

	t.Run("TrashAndRestore", func(t *testing.T) {
		var whole map[string]any
		require.Equal(t, 200, s.API(ctx, "GET", "/v1/transcripts/"+followUp+"?include=topics,words", nil, &whole))
		var trashed parley.Transcript
		require.Equal(t, 200, s.API(ctx, "DELETE", "/v1/transcripts/"+followUp, nil, &trashed))
		require.NotNil(t, trashed.DeletedAt)
		for _, h := range searchAPI(t, s, "budget") {
			require.NotEqual(t, followUp, h.TranscriptID, "a trashed transcript is not found")
		}
		list := func(q string) []string {
			var page struct {
				Items []parley.Transcript `json:"items"`
			}
			require.Equal(t, 200, s.API(ctx, "GET", "/v1/transcripts"+q, nil, &page))
			var out []string
			for _, it := range page.Items {
				out = append(out, it.ID)
			}
			return out
		}
		require.Equal(t, []string{launch}, list(""))
		require.Equal(t, []string{followUp}, list("?trashed=true"))
		var e map[string]any
		require.Equal(t, 409, s.API(ctx, "POST", "/v1/transcripts/"+followUp+"/process", map[string]any{"force": true}, &e))
		require.Contains(t, fmt.Sprint(e), "trash")

		var restored map[string]any
		require.Equal(t, 200, s.API(ctx, "POST", "/v1/transcripts/"+followUp+"/restore", nil, &restored))
		require.Nil(t, restored["deleted_at"])
		var back map[string]any
		require.Equal(t, 200, s.API(ctx, "GET", "/v1/transcripts/"+followUp+"?include=topics,words", nil, &back))
		for _, k := range []string{"updated_at", "progress"} {
			delete(whole, k)
			delete(back, k)
		}
		require.Equal(t, whole, back, "the transcript comes back whole")
		require.Equal(t, []string{followUp, launch}, list(""))
		require.Empty(t, list("?trashed=true"))
		found := false
		for _, h := range searchAPI(t, s, "budget") {
			found = found || h.TranscriptID == followUp
		}
		require.True(t, found, "searchable again")
	})

	t.Run("PermanentDelete", func(t *testing.T) {
		keysOf := func(prefix string) []string {
			keys, err := s.S3.List(ctx, s.S3.Bucket(), prefix)
			require.NoError(t, err)
			return keys
		}
		require.NotEmpty(t, keysOf(followUp+"/"), "the mix is stored under the transcript's prefix")
		require.Equal(t, []string{"lib-budget/bob.webm"}, keysOf("lib-budget/"), "its raw track")
		// Another transcript of the same raw track (Daily's raw tracks are
		// shared by recordings).
		other, err := s.DB.CreateTranscript(ctx, store.NewTranscript{Name: "same recording"})
		require.NoError(t, err)
		require.NoError(t, s.DB.SetTracks(ctx, other.ID, []parley.Track{{Bucket: s.S3.Bucket(), Key: "lib-budget/bob.webm"}}))
		// The provider results it used (its ASR words, its summaries): those
		// only it used go, those the other meeting used too (Bob's track is
		// the same audio in both) stay.
		cacheKeys := func(q string) []string {
			rows, err := s.DB.Pool().Query(ctx, q, followUp, launch)
			require.NoError(t, err)
			defer rows.Close()
			var keys []string
			for rows.Next() {
				var k string
				require.NoError(t, rows.Scan(&k))
				keys = append(keys, k)
			}
			return keys
		}
		own := cacheKeys(`SELECT key FROM cache_owners o WHERE transcript_id = $1 AND NOT EXISTS
			(SELECT 1 FROM cache_owners x WHERE x.key = o.key AND x.transcript_id = $2)`)
		shared := cacheKeys(`SELECT key FROM cache_owners o WHERE transcript_id = $1 AND EXISTS
			(SELECT 1 FROM cache_owners x WHERE x.key = o.key AND x.transcript_id = $2)`)
		require.NotEmpty(t, own, "its own LLM results")
		require.NotEmpty(t, shared, "Bob's ASR result, used by both meetings")
		var res map[string]any
		require.Equal(t, 200, s.API(ctx, "DELETE", "/v1/transcripts/"+followUp+"?permanent=true", nil, &res))
		require.Equal(t, true, res["permanent"])
		var n int
		require.NoError(t, s.DB.Pool().QueryRow(ctx, `SELECT count(*) FROM cache WHERE key = ANY($1)`, own).Scan(&n))
		require.Zero(t, n, "the cached results only it used are gone")
		require.NoError(t, s.DB.Pool().QueryRow(ctx, `SELECT count(*) FROM cache WHERE key = ANY($1)`, shared).Scan(&n))
		require.Equal(t, len(shared), n, "the shared ones stay")
		require.Empty(t, keysOf(followUp+"/"), "nothing under its prefix")
		require.Equal(t, []string{"lib-budget/bob.webm"}, keysOf("lib-budget/"), "the raw track another transcript needs stays")
		require.Equal(t, 200, s.API(ctx, "DELETE", "/v1/transcripts/"+other.ID+"?permanent=true", nil, &res))
		require.Empty(t, keysOf("lib-budget/"), "deleted with the last transcript that needed it")
		requireNoRows(t, s, other.ID)
		require.NotEmpty(t, keysOf(launch+"/"), "the other transcript keeps its objects")
		require.NotEmpty(t, keysOf("lib-launch/"))
		requireNoRows(t, s, followUp)
		require.Equal(t, 404, s.API(ctx, "GET", "/v1/transcripts/"+followUp, nil, nil))
		require.Equal(t, 404, s.API(ctx, "DELETE", "/v1/transcripts/"+followUp+"?permanent=true", nil, nil))
		for _, h := range searchAPI(t, s, "budget") {
			require.NotEqual(t, followUp, h.TranscriptID)
		}
	})

	t.Run("DeletedRecordingStaysDeleted", func(t *testing.T) {
		rec := "rec-gone"
		tr, err := s.DB.CreateTranscript(ctx, store.NewTranscript{Name: "daily meeting", RecordingID: &rec})
		require.NoError(t, err)
		key := "standup-20261122090000/1763800000000-00000000-0000-4000-8000-000000000000-cam-audio-1763800001000"
		require.NoError(t, s.DB.UpsertRecording(ctx, store.Recording{ID: rec, Bucket: s.S3.Bucket(), TrackKeys: []string{key}, TranscriptID: &tr.ID}))
		require.Equal(t, 200, s.API(ctx, "DELETE", "/v1/transcripts/"+tr.ID+"?permanent=true", nil, nil))
		r, err := s.DB.GetRecording(ctx, rec)
		require.NoError(t, err)
		require.Empty(t, r.TrackKeys, "the recording is remembered without its tracks")
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		require.Equal(t, 409, s.API(ctx, "POST", "/v1/process", map[string]any{"recording_id": rec,
			"tracks": []map[string]string{{"s3_key": "lib-launch/alice.webm"}}}, &e))
		require.Contains(t, e.Error.Message, "not processed again")
		body, err := json.Marshal(map[string]any{"version": "1.0.0", "type": "recording.ready-to-download", "id": "evt-gone",
			"payload": map[string]any{"recording_id": rec, "room_name": "standup-20261122090000", "type": "raw-tracks",
				"tracks": []map[string]any{{"type": "audio", "s3Key": key}}}})
		require.NoError(t, err)
		status, b := postDaily(t, s.APIURL, body, time.Now(), "")
		require.Equal(t, 200, status, "Daily must not retry: %s", b)
		require.Contains(t, string(b), `"status":"ignored"`)
		var n int
		require.NoError(t, s.DB.Pool().QueryRow(ctx, `SELECT count(*) FROM transcripts WHERE recording_id = $1`, rec).Scan(&n))
		require.Zero(t, n, "the deleted recording did not come back")
	})

	t.Run("CLI", func(t *testing.T) {
		out, stderr, code := s.Run(ctx, "search", `"budget review"`)
		require.Equal(t, 0, code, stderr)
		require.Contains(t, out, launch)
		require.Contains(t, out, newName)
		require.Contains(t, out, "*budget* *review*")
		_, _, code = s.Run(ctx, "search", "zebra")
		require.Equal(t, 1, code, "no match")

		dir := t.TempDir()
		_, stderr, code = s.Run(ctx, "export", launch, "--format", "zip", "-o", dir)
		require.Equal(t, 0, code, stderr)
		b, err := os.ReadFile(filepath.Join(dir, "Launch-planning.zip"))
		require.NoError(t, err)
		_, err = zip.NewReader(bytes.NewReader(b), int64(len(b)))
		require.NoError(t, err)
		out, stderr, code = s.Run(ctx, "export", launch, "--format", "txt")
		require.Equal(t, 0, code, stderr)
		require.Contains(t, out, newName+": ")
		_, stderr, code = s.Run(ctx, "export", launch, "--format", "doc", "-o", filepath.Join(dir, "x.doc"))
		require.Equal(t, 1, code)
		require.Contains(t, stderr, "not one of")
		_, err = os.Stat(filepath.Join(dir, "x.doc"))
		require.True(t, os.IsNotExist(err), "no file for a failed export")

		// An upload-only transcript: rm, restore, rm --permanent.
		var created parley.Transcript
		require.Equal(t, 201, s.API(ctx, "POST", "/v1/transcripts", map[string]any{"name": "scratch"}, &created))
		f, err := os.Open(meetingFile(t, "carol.webm"))
		require.NoError(t, err)
		defer f.Close()
		status, body := call(t, "POST", s.APIURL+"/v1/transcripts/"+created.ID+"/tracks", f,
			map[string]string{"Content-Type": "audio/webm", "Content-Disposition": `attachment; filename="carol.webm"`})
		require.Equal(t, 201, status, string(body))
		out, stderr, code = s.Run(ctx, "rm", created.ID)
		require.Equal(t, 0, code, stderr)
		require.Contains(t, out, "trash")
		out, stderr, code = s.Run(ctx, "restore", created.ID)
		require.Equal(t, 0, code, stderr)
		require.Contains(t, out, "restored")
		out, stderr, code = s.Run(ctx, "rm", created.ID, "--permanent")
		require.Equal(t, 0, code, stderr)
		require.Contains(t, out, "for good (1 stored objects)")
		keys, err := s.S3.List(ctx, s.S3.Bucket(), created.ID+"/")
		require.NoError(t, err)
		require.Empty(t, keys)
		requireNoRows(t, s, created.ID)
	})

	t.Run("PurgeAfterRetention", func(t *testing.T) {
		var created parley.Transcript
		require.Equal(t, 201, s.API(ctx, "POST", "/v1/transcripts", map[string]any{"name": "old"}, &created))
		f, err := os.Open(meetingFile(t, "alice.webm"))
		require.NoError(t, err)
		defer f.Close()
		status, body := call(t, "POST", s.APIURL+"/v1/transcripts/"+created.ID+"/tracks", f,
			map[string]string{"Content-Type": "audio/webm"})
		require.Equal(t, 201, status, string(body))
		require.Equal(t, 200, s.API(ctx, "DELETE", "/v1/transcripts/"+created.ID, nil, nil))
		// Trashed two seconds ago: older than the worker's 1s retention.
		_, err = s.DB.Pool().Exec(ctx, `UPDATE transcripts SET deleted_at = now() - interval '2 seconds' WHERE id = $1`, created.ID)
		require.NoError(t, err)
		hc := s.Hatchet()
		runID, err := hc.Start(ctx, pipeline.WorkflowTrashPurge, map[string]any{}, nil)
		require.NoError(t, err)
		s.WaitFor("the purge run", 2*time.Minute, func() bool {
			st, err := hc.State(ctx, runID)
			return err == nil && st.Done
		})
		st, err := hc.State(ctx, runID)
		require.NoError(t, err)
		require.Equal(t, "COMPLETED", st.Status)
		requireNoRows(t, s, created.ID)
		keys, err := s.S3.List(ctx, s.S3.Bucket(), created.ID+"/")
		require.NoError(t, err)
		require.Empty(t, keys)
		require.Equal(t, 200, s.API(ctx, "GET", "/v1/transcripts/"+launch, nil, nil), "a transcript not in the trash stays")
	})
}

// waitRunDone waits until the engine reports the transcript's run done
// (the delivery steps run on for a moment after the status is ended; until
// then the transcript cannot be deleted).
func waitRunDone(t *testing.T, s *e2e.Stack, tr *parley.Transcript) {
	t.Helper()
	require.NotNil(t, tr.WorkflowRunID)
	hc := s.Hatchet()
	s.WaitFor("the run to be done", 2*time.Minute, func() bool {
		st, err := hc.State(context.Background(), *tr.WorkflowRunID)
		return err == nil && st.Done
	})
}

// requireNoRows checks that no table holds a row of the transcript.
func requireNoRows(t *testing.T, s *e2e.Stack, id string) {
	t.Helper()
	ctx := context.Background()
	rows, err := s.DB.Pool().Query(ctx, `SELECT table_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND column_name = 'transcript_id'`)
	require.NoError(t, err)
	var tables []string
	for rows.Next() {
		var tn string
		require.NoError(t, rows.Scan(&tn))
		tables = append(tables, tn)
	}
	rows.Close()
	require.Contains(t, tables, "words")
	require.Contains(t, tables, "search_segments")
	for _, tn := range tables {
		var n int
		require.NoError(t, s.DB.Pool().QueryRow(ctx, `SELECT count(*) FROM `+tn+` WHERE transcript_id::text = $1`, id).Scan(&n))
		require.Zero(t, n, "rows of %s left in %s", id, tn)
	}
	var n int
	require.NoError(t, s.DB.Pool().QueryRow(ctx, `SELECT count(*) FROM transcripts WHERE id::text = $1`, id).Scan(&n))
	require.Zero(t, n)
}
