package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/daily"
	"github.com/parley-dev/parley/internal/e2e"
	"github.com/parley-dev/parley/internal/testenv"
	"github.com/parley-dev/parley/sim"
	"github.com/parley-dev/parley/store"
)

// call sends a request with an optional raw body and headers and returns
// the status and body.
func call(t *testing.T, method, url string, body io.Reader, headers map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	require.NoError(t, err)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

func errorOf(t *testing.T, b []byte) (code, message string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	require.NoError(t, json.Unmarshal(b, &e), string(b))
	return e.Error.Code, e.Error.Message
}

func meetingFile(t *testing.T, name string) string {
	return filepath.Join(testenv.Root(t), "testdata", "meeting", name)
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := e2e.New(t, e2e.Options{})
	s.Token = "test-token-0123456789"
	s.StartServe()
	auth := map[string]string{"Authorization": "Bearer " + s.Token}
	jsonAuth := map[string]string{"Authorization": "Bearer " + s.Token, "Content-Type": "application/json"}
	u := s.APIURL

	t.Run("Health", func(t *testing.T) {
		status, _ := call(t, "GET", u+"/healthz", nil, nil)
		require.Equal(t, 200, status)
		status, b := call(t, "GET", u+"/readyz", nil, nil)
		require.Equal(t, 200, status, string(b))
		require.JSONEq(t, `{"database":"ok","hatchet":"ok","storage":"ok"}`, string(b))
	})
	t.Run("Auth", func(t *testing.T) {
		for _, h := range []map[string]string{nil, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic dGVzdA=="}} {
			status, b := call(t, "GET", u+"/v1/transcripts", nil, h)
			require.Equal(t, 401, status)
			code, _ := errorOf(t, b)
			require.Equal(t, "unauthorized", code)
		}
		status, _ := call(t, "GET", u+"/v1/transcripts", nil, auth)
		require.Equal(t, 200, status)
	})

	var tr parley.Transcript
	t.Run("CreateTranscript", func(t *testing.T) {
		status, b := call(t, "POST", u+"/v1/transcripts", strings.NewReader(`{"name":"Weekly","language":"en"}`), jsonAuth)
		require.Equal(t, 201, status, string(b))
		require.NoError(t, json.Unmarshal(b, &tr))
		require.Equal(t, parley.StatusIdle, tr.Status)
		for body, want := range map[string]string{
			`{"nmae":"x"}`:        `unknown field "nmae"`,
			`{"name":5}`:          `field "name": expected a string`,
			`{"name":"x"} {}`:     "data after the JSON object",
			`{"name":`:            "invalid JSON",
			`{"room_id":"nope"}`:  `room_id: room "nope" does not exist`,
			`{"language":"e n!"}`: "language",
			`[1,2]`:               "must be a JSON object",
		} {
			status, b := call(t, "POST", u+"/v1/transcripts", strings.NewReader(body), jsonAuth)
			require.Equal(t, 400, status, body)
			code, msg := errorOf(t, b)
			require.Equal(t, "invalid", code)
			require.Contains(t, msg, want, body)
		}
		status, _ = call(t, "POST", u+"/v1/transcripts", strings.NewReader(`{}`), map[string]string{"Authorization": "Bearer " + s.Token, "Content-Type": "text/plain"})
		require.Equal(t, 415, status)
		status, _ = call(t, "POST", u+"/v1/transcripts", strings.NewReader(`{"name":"`+strings.Repeat("x", 2<<20)+`"}`), jsonAuth)
		require.Equal(t, 413, status)
	})
	t.Run("GetAndList", func(t *testing.T) {
		status, b := call(t, "GET", u+"/v1/transcripts/"+tr.ID+"?include=topics,words", nil, auth)
		require.Equal(t, 200, status)
		var doc map[string]any
		require.NoError(t, json.Unmarshal(b, &doc))
		require.Equal(t, []any{}, doc["topics"])
		require.Equal(t, []any{}, doc["words"])
		for _, k := range []string{"id", "name", "status", "title", "short_summary", "long_summary", "action_items", "duration_seconds",
			"source_language", "room_id", "recording_id", "workflow_run_id", "participants", "progress", "error", "created_at", "updated_at"} {
			require.Contains(t, doc, k)
		}
		status, b = call(t, "GET", u+"/v1/transcripts/"+tr.ID, nil, auth)
		require.Equal(t, 200, status)
		require.NotContains(t, string(b), `"topics"`, "topics only when asked for")
		status, _ = call(t, "GET", u+"/v1/transcripts/00000000-0000-4000-8000-000000000000", nil, auth)
		require.Equal(t, 404, status)
		status, b = call(t, "GET", u+"/v1/transcripts/..%2F..%2Fetc", nil, auth)
		require.Equal(t, 400, status, string(b))
		status, b = call(t, "GET", u+"/v1/transcripts?limit=1", nil, auth)
		require.Equal(t, 200, status)
		var page struct {
			Items []parley.Transcript `json:"items"`
		}
		require.NoError(t, json.Unmarshal(b, &page))
		require.Len(t, page.Items, 1)
		status, _ = call(t, "GET", u+"/v1/transcripts?limit=0", nil, auth)
		require.Equal(t, 400, status)
		status, _ = call(t, "GET", u+"/v1/transcripts/"+tr.ID+"?include=secrets", nil, auth)
		require.Equal(t, 400, status)
	})
	t.Run("Upload", func(t *testing.T) {
		f, err := os.ReadFile(meetingFile(t, "alice.webm"))
		require.NoError(t, err)
		h := map[string]string{"Authorization": "Bearer " + s.Token, "Content-Type": "audio/webm", "Content-Disposition": `attachment; filename="alice.webm"`}
		status, b := call(t, "POST", u+"/v1/transcripts/"+tr.ID+"/tracks", bytes.NewReader(f), h)
		require.Equal(t, 201, status, string(b))
		var up map[string]any
		require.NoError(t, json.Unmarshal(b, &up))
		require.Equal(t, float64(0), up["index"])
		require.Contains(t, up["s3_key"], tr.ID+"/uploads/")

		var mp bytes.Buffer
		mw := multipart.NewWriter(&mp)
		fw, err := mw.CreateFormFile("file", "bob.webm")
		require.NoError(t, err)
		bob, err := os.ReadFile(meetingFile(t, "bob.webm"))
		require.NoError(t, err)
		_, _ = fw.Write(bob)
		require.NoError(t, mw.Close())
		status, b = call(t, "POST", u+"/v1/transcripts/"+tr.ID+"/tracks", &mp, map[string]string{"Authorization": "Bearer " + s.Token, "Content-Type": mw.FormDataContentType()})
		require.Equal(t, 201, status, string(b))

		status, b = call(t, "POST", u+"/v1/transcripts/"+tr.ID+"/tracks", strings.NewReader("{}"), map[string]string{"Authorization": "Bearer " + s.Token, "Content-Type": "application/json"})
		require.Equal(t, 415, status, "wrong content type")
		_, msg := errorOf(t, b)
		require.Contains(t, msg, "not audio")
		status, b = call(t, "POST", u+"/v1/transcripts/"+tr.ID+"/tracks", strings.NewReader("this is not audio at all, just text"),
			map[string]string{"Authorization": "Bearer " + s.Token, "Content-Type": "audio/webm", "Content-Disposition": `attachment; filename="notes.webm"`})
		require.Equal(t, 400, status, "corrupt audio")
		_, msg = errorOf(t, b)
		require.Contains(t, msg, "notes.webm")
		status, _ = call(t, "POST", u+"/v1/transcripts/"+tr.ID+"/tracks", bytes.NewReader(nil), h)
		require.Equal(t, 400, status, "empty body")
		keys, err := s.S3.List(ctx, s.S3.Bucket(), tr.ID+"/uploads/")
		require.NoError(t, err)
		require.Len(t, keys, 2, "rejected uploads leave nothing behind")
		got, err := s.DB.GetTranscript(ctx, tr.ID)
		require.NoError(t, err)
		require.Equal(t, parley.StatusUploaded, got.Status)
	})
	t.Run("ResultsBeforeProcessing", func(t *testing.T) {
		for path, want := range map[string]int{"/topics": 200, "/steps": 200, "/audio/waveform": 404, "/audio/mp3": 404, "/webvtt": 200} {
			status, b := call(t, "GET", u+"/v1/transcripts/"+tr.ID+path, nil, auth)
			require.Equal(t, want, status, path+": "+string(b))
		}
		status, _ := call(t, "GET", u+"/v1/transcripts/"+tr.ID+"/audio/waveform?token="+s.Token, nil, nil)
		require.Equal(t, 404, status, "the audio routes accept the token as a query parameter")
		status, _ = call(t, "GET", u+"/v1/transcripts/"+tr.ID+"/steps?token="+s.Token, nil, nil)
		require.Equal(t, 401, status, "other routes do not")
	})
	t.Run("Rooms", func(t *testing.T) {
		status, b := call(t, "POST", u+"/v1/rooms", strings.NewReader(`{"name":"standup","webhook_url":"http://hooks.example/x","webhook_secret":"shh"}`), jsonAuth)
		require.Equal(t, 201, status, string(b))
		require.NotContains(t, string(b), "shh", "the secret is never sent back")
		var room map[string]any
		require.NoError(t, json.Unmarshal(b, &room))
		require.Equal(t, true, room["has_webhook_secret"])
		status, _ = call(t, "POST", u+"/v1/rooms", strings.NewReader(`{"name":"standup"}`), jsonAuth)
		require.Equal(t, 409, status)
		status, _ = call(t, "POST", u+"/v1/rooms", strings.NewReader(`{"name":"x","webhook_url":"file:///etc/passwd"}`), jsonAuth)
		require.Equal(t, 400, status)
		status, b = call(t, "PATCH", u+"/v1/rooms/"+room["id"].(string), strings.NewReader(`{"zulip_stream":"meetings","zulip_auto_post":true}`), jsonAuth)
		require.Equal(t, 200, status, string(b))
		require.Contains(t, string(b), `"zulip_auto_post":true`)
		require.Contains(t, string(b), `"webhook_url":"http://hooks.example/x"`)
		status, _ = call(t, "PATCH", u+"/v1/rooms/missing", strings.NewReader(`{}`), jsonAuth)
		require.Equal(t, 404, status)
		status, b = call(t, "GET", u+"/v1/rooms", nil, auth)
		require.Equal(t, 200, status)
		require.Contains(t, string(b), "standup")
	})
	t.Run("Consent", func(t *testing.T) {
		status, b := call(t, "POST", u+"/v1/transcripts/"+tr.ID+"/consent", strings.NewReader(`{"participant_id":"p1"}`), jsonAuth)
		require.Equal(t, 400, status)
		_, msg := errorOf(t, b)
		require.Contains(t, msg, "consent_given")
		status, _ = call(t, "POST", u+"/v1/transcripts/"+tr.ID+"/consent", strings.NewReader(`{"participant_id":"p1","consent_given":true}`), jsonAuth)
		require.Equal(t, 200, status)
	})
	t.Run("ProcessValidation", func(t *testing.T) {
		key := s.Upload(ctx, meetingFile(t, "carol.webm"), "daily/room/carol.webm")
		for body, want := range map[string]string{
			`{}`:                                    "tracks: at least one track",
			`{"tracks":[{"s3_key":"../secret"}]}`:   "path traversal",
			`{"tracks":[{"s3_key":"/etc/passwd"}]}`: "absolute keys",
			`{"tracks":[{"s3_key":"a"}],"bucket_name":"someone-elses"}`: `"someone-elses" is not a configured bucket`,
			`{"tracks":[{"s3_key":"daily/room/missing.webm"}]}`:         "does not exist",
			`{"tracks":[{"s3_key":"s3://bucket/key"}]}`:                 "not a URL",
			`{"tracks":[{"s3_key":"` + key + `"}],"room_id":"nope"}`:    `room "nope" does not exist`,
			`{"tracks":[{"s3_key":"` + key + `","extra":1}]}`:           `unknown field "extra"`,
		} {
			status, b := call(t, "POST", u+"/v1/process", strings.NewReader(body), jsonAuth)
			require.Equal(t, 400, status, body+": "+string(b))
			_, msg := errorOf(t, b)
			require.Contains(t, msg, want, body)
		}
		empty, err := s.DB.CreateTranscript(ctx, store.NewTranscript{})
		require.NoError(t, err)
		status, b := call(t, "POST", u+"/v1/transcripts/"+empty.ID+"/process", nil, jsonAuth)
		require.Equal(t, 400, status)
		_, msg := errorOf(t, b)
		require.Contains(t, msg, "has no tracks")
		status, b = call(t, "GET", u+"/v1/nothing-here", nil, auth)
		require.Equal(t, 404, status)
		code, _ := errorOf(t, b)
		require.Equal(t, "not_found", code)
	})
	t.Run("Page", func(t *testing.T) {
		for path, want := range map[string]int{"/": 200, "/transcripts/" + tr.ID: 200, "/static/app.js": 200, "/static/transcript/page.js": 200, "/static/style.css": 200, "/nope": 404} {
			status, _ := call(t, "GET", u+path, nil, nil)
			require.Equal(t, want, status, path)
		}
	})
}

func TestServeRefusesPublicAddressWithoutToken(t *testing.T) {
	t.Parallel()
	s := e2e.New(t, e2e.Options{Env: map[string]string{"PARLEY_HTTP_ADDR": "0.0.0.0:0"}})
	_, stderr, code := s.Run(context.Background(), "serve")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "PARLEY_API_TOKEN")
}

const webhookSecret = "c2VjcmV0LWZvci10ZXN0cw==" // the e2e stack's DAILY_WEBHOOK_SECRET

// postDaily sends body to the Daily webhook, signed at ts (with sig, or
// with the stack's secret when sig is empty).
func postDaily(t *testing.T, url string, body []byte, ts time.Time, sig string) (int, []byte) {
	t.Helper()
	status, b, err := sendDaily(url, body, ts, sig)
	require.NoError(t, err)
	return status, b
}

// sendDaily is postDaily for other goroutines: it returns its error
// instead of failing the test.
func sendDaily(url string, body []byte, ts time.Time, sig string) (int, []byte, error) {
	stamp := strconv.FormatInt(ts.Unix(), 10)
	if sig == "" {
		var err error
		if sig, err = daily.SignWebhook(webhookSecret, stamp, body); err != nil {
			return 0, nil, err
		}
	}
	req, err := http.NewRequest("POST", url+"/v1/daily/webhook", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-Webhook-Signature", sig)
	req.Header.Set("X-Webhook-Timestamp", stamp)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func TestDailyWebhook(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := e2e.New(t, e2e.Options{})
	s.Token = "api-token-is-not-needed-by-daily"
	s.StartServe()
	var keys []any
	for i, n := range []string{"alice", "bob"} {
		key := fmt.Sprintf("standup-20261122090000/1763800000000-%08d-0000-4000-8000-000000000000-cam-audio-1763800001000", i)
		s.Upload(ctx, meetingFile(t, n+".webm"), key)
		keys = append(keys, map[string]any{"type": "audio", "s3Key": key})
	}
	keys = append(keys, map[string]any{"type": "audio", "s3Key": "standup-20261122090000/1-screen-audio-2"})
	body, _ := json.Marshal(map[string]any{"version": "1.0.0", "type": "recording.ready-to-download", "id": "evt1",
		"payload": map[string]any{"recording_id": "rec-dup", "room_name": "standup-20261122090000", "type": "raw-tracks", "tracks": keys}})

	status, _ := postDaily(t, s.APIURL, []byte(`{"test":"test"}`), time.Now(), "")
	require.Equal(t, 200, status, "Daily's test ping")
	status, b := postDaily(t, s.APIURL, body, time.Now(), "bm90IGEgc2lnbmF0dXJl")
	require.Equal(t, 401, status, string(b))
	status, b = postDaily(t, s.APIURL, body, time.Now().Add(-10*time.Minute), "")
	require.Equal(t, 401, status, "stale")
	_, msg := errorOf(t, b)
	require.Contains(t, msg, "stale")
	status, _ = postDaily(t, s.APIURL, []byte(`{"type":`), time.Now(), "")
	require.Equal(t, 422, status)
	// No worker yet: the engine does not know the workflow. Daily gets a
	// retryable answer saying why, and the retry below reuses the transcript.
	status, b = postDaily(t, s.APIURL, body, time.Now(), "")
	require.Equal(t, 503, status, string(b))
	_, msg = errorOf(t, b)
	require.Contains(t, msg, "parley worker")
	s.StartWorker()

	// The same event five times, concurrently: one transcript, one run.
	// The goroutines only send; the answers are checked here.
	type answer struct {
		status int
		body   []byte
		err    error
	}
	answers := make([]answer, 5)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Go(func() {
			a := &answers[i]
			a.status, a.body, a.err = sendDaily(s.APIURL, body, time.Now(), "")
		})
	}
	wg.Wait()
	results := make([]map[string]string, len(answers))
	for i, a := range answers {
		require.NoError(t, a.err)
		require.Equal(t, 200, a.status, string(a.body))
		require.NoError(t, json.Unmarshal(a.body, &results[i]))
	}
	id := results[0]["transcript_id"]
	for _, r := range results {
		require.Equal(t, id, r["transcript_id"])
	}
	tr, err := s.DB.GetTranscript(ctx, id)
	require.NoError(t, err)
	require.NotNil(t, tr.WorkflowRunID)
	for _, r := range results {
		if r["workflow_run_id"] != "" {
			require.Equal(t, *tr.WorkflowRunID, r["workflow_run_id"], "one run")
		}
	}
	tracks, err := s.DB.ListTracks(ctx, id)
	require.NoError(t, err)
	require.Len(t, tracks, 2, "cam-audio tracks only")
	require.Equal(t, "00000001-0000-4000-8000-000000000000", tracks[1].ParticipantID)
	// And once more later: still the same run.
	status, b = postDaily(t, s.APIURL, body, time.Now(), "")
	require.Equal(t, 200, status)
	var again map[string]string
	require.NoError(t, json.Unmarshal(b, &again))
	require.Equal(t, *tr.WorkflowRunID, again["workflow_run_id"])
}

// TestEventsWebSocket connects mid-run, gets the stored events then the
// live ones in order, disconnects, and resumes after the last id with no
// gap and no duplicate.
func TestEventsWebSocket(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s := e2e.New(t, e2e.Options{})
	require.NoError(t, (&sim.Client{Base: s.SimURL}).SetFaults(ctx, map[string]sim.Fault{sim.EndpointASR: {LatencyMS: 1500}}))
	s.StartWorker()
	s.StartServe()
	var tracks []map[string]string
	for _, n := range []string{"alice", "bob", "carol"} {
		tracks = append(tracks, map[string]string{"s3_key": s.Upload(ctx, meetingFile(t, n+".webm"), "ws/"+n+".webm")})
	}
	var acc struct {
		TranscriptID string `json:"transcript_id"`
	}
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/process", map[string]any{"tracks": tracks}, &acc))
	s.WaitFor("events stored before connecting", time.Minute, func() bool { return len(s.Events(ctx, acc.TranscriptID)) >= 3 })

	url := strings.Replace(s.APIURL, "http", "ws", 1) + "/v1/transcripts/" + acc.TranscriptID + "/events"
	type msg struct {
		ID    int64           `json:"id"`
		Event string          `json:"event"`
		Data  json.RawMessage `json:"data"`
	}
	read := func(conn *websocket.Conn) msg {
		_, b, err := conn.Read(ctx)
		require.NoError(t, err)
		var m msg
		require.NoError(t, json.Unmarshal(b, &m))
		return m
	}
	conn, _, err := websocket.Dial(ctx, url, nil)
	require.NoError(t, err)
	var got []msg
	for len(got) < 10 {
		got = append(got, read(conn))
	}
	conn.Close(websocket.StatusNormalClosure, "")
	last := got[len(got)-1].ID

	conn, _, err = websocket.Dial(ctx, fmt.Sprintf("%s?after=%d", url, last), nil)
	require.NoError(t, err)
	defer func() { _ = conn.CloseNow() }()
	for {
		m := read(conn)
		got = append(got, m)
		if m.Event == parley.EventStatus && strings.Contains(string(m.Data), "ended") {
			break
		}
	}
	for i, m := range got {
		require.Equal(t, int64(i+1), m.ID, "events arrive in order without gaps or duplicates")
	}
	stored := s.Events(ctx, acc.TranscriptID)
	require.GreaterOrEqual(t, len(stored), len(got))
	for i := range got {
		require.Equal(t, stored[i].Name, got[i].Event)
	}
}
