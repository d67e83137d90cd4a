package sim_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley/sim"
)

// start runs the simulator as a real HTTP server for one test.
func start(t *testing.T, cfg sim.Config) (*sim.Server, string) {
	t.Helper()
	s, err := sim.New(cfg)
	require.NoError(t, err)
	hs := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); hs.Close() })
	return s, hs.URL
}

// track writes an Opus file with 440 Hz bursts (what the simulator hears
// as speech) and, optionally, the text tag.
func track(t *testing.T, dir, name string, bursts [][2]float64, text string, dur float64) string {
	t.Helper()
	expr := "0"
	var terms []string
	for _, b := range bursts {
		terms = append(terms, fmt.Sprintf("0.4*sin(2*PI*440*t)*between(t,%g,%g)", b[0], b[1]))
	}
	if len(terms) > 0 {
		expr = strings.Join(terms, "+")
	}
	p := filepath.Join(dir, name)
	args := []string{"-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
		fmt.Sprintf("aevalsrc='%s':s=16000:d=%g", expr, dur), "-c:a", "libopus", "-b:a", "24k"}
	if text != "" {
		args = append(args, "-metadata", sim.TextTag+"="+text)
	}
	out, err := exec.Command("ffmpeg", append(args, p)...).CombinedOutput()
	require.NoError(t, err, string(out))
	return p
}

// upload posts a file to the OpenAI-compatible transcription endpoint.
func upload(t *testing.T, base, path string, fields map[string][]string, auth string) (int, []byte) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", filepath.Base(path))
	require.NoError(t, err)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	_, err = fw.Write(b)
	require.NoError(t, err)
	for k, vs := range fields {
		for _, v := range vs {
			require.NoError(t, mw.WriteField(k, v))
		}
	}
	require.NoError(t, mw.Close())
	req, err := http.NewRequest(http.MethodPost, base+"/v1/audio/transcriptions", &body)
	require.NoError(t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

func call(t *testing.T, method, u, contentType string, body []byte, hdr map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return do(t, req)
}

type verbose struct {
	Text     string  `json:"text"`
	Language string  `json:"language"`
	Duration float64 `json:"duration"`
	Words    []struct {
		Word  string  `json:"word"`
		Start float64 `json:"start"`
		End   float64 `json:"end"`
	} `json:"words"`
	Segments []struct {
		Start float64 `json:"start"`
		End   float64 `json:"end"`
		Text  string  `json:"text"`
	} `json:"segments"`
}

var wordFields = map[string][]string{"model": {"whisper-1"}, "response_format": {"verbose_json"},
	"timestamp_granularities[]": {"word"}, "language": {"en"}}

func TestTranscriptionsFollowTheAudio(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bursts := [][2]float64{{1, 2}, {4, 5.5}}
	tagged := track(t, dir, "tagged.ogg", bursts, "hello there | good morning everyone", 7)
	untagged := track(t, dir, "untagged.ogg", bursts, "", 7)
	silent := track(t, dir, "silent.ogg", nil, "", 3)
	s, base := start(t, sim.Config{})

	t.Run("TextTagOverVoicedRegions", func(t *testing.T) {
		t.Parallel()
		status, b := upload(t, base, tagged, wordFields, "Bearer k")
		require.Equal(t, 200, status, string(b))
		var v verbose
		require.NoError(t, json.Unmarshal(b, &v))
		require.Equal(t, "hello there good morning everyone", v.Text)
		require.Equal(t, "en", v.Language)
		require.InDelta(t, 7, v.Duration, 0.1)
		require.Len(t, v.Words, 5)
		for i, w := range v.Words {
			inside := false
			for _, r := range bursts {
				inside = inside || (w.Start >= r[0]-0.06 && w.End <= r[1]+0.06)
			}
			require.True(t, inside, "word %d %q at %.2f-%.2f is outside the speech", i, w.Word, w.Start, w.End)
		}
		require.InDelta(t, 1, v.Words[0].Start, 0.06, "the first utterance starts with its burst")
		require.InDelta(t, 4, v.Words[2].Start, 0.06, "the second utterance starts with its burst")
	})
	t.Run("PseudoWordsAreDeterministic", func(t *testing.T) {
		t.Parallel()
		_, b1 := upload(t, base, untagged, wordFields, "")
		_, b2 := upload(t, base, untagged, wordFields, "")
		require.Equal(t, string(b1), string(b2))
		var v verbose
		require.NoError(t, json.Unmarshal(b1, &v))
		require.NotEmpty(t, v.Words)
	})
	t.Run("SilenceHasNoWords", func(t *testing.T) {
		t.Parallel()
		status, b := upload(t, base, silent, wordFields, "")
		require.Equal(t, 200, status)
		var v verbose
		require.NoError(t, json.Unmarshal(b, &v))
		require.Empty(t, v.Words)
		require.Empty(t, v.Text)
	})
	t.Run("WordsOnlyWhenAskedFor", func(t *testing.T) {
		t.Parallel()
		status, b := upload(t, base, tagged, map[string][]string{"model": {"whisper-1"}, "response_format": {"verbose_json"}}, "")
		require.Equal(t, 200, status)
		var v verbose
		require.NoError(t, json.Unmarshal(b, &v))
		require.Empty(t, v.Words)
		require.Len(t, v.Segments, 2)
		require.Equal(t, " hello there", v.Segments[0].Text)
	})
	t.Run("PlainFormats", func(t *testing.T) {
		t.Parallel()
		status, b := upload(t, base, tagged, map[string][]string{"model": {"whisper-1"}}, "")
		require.Equal(t, 200, status)
		require.JSONEq(t, `{"text":"hello there good morning everyone"}`, string(b))
		status, b = upload(t, base, tagged, map[string][]string{"model": {"whisper-1"}, "response_format": {"text"}}, "")
		require.Equal(t, 200, status)
		require.Equal(t, "hello there good morning everyone\n", string(b))
	})
	t.Run("ErrNoModel", func(t *testing.T) {
		t.Parallel()
		status, b := upload(t, base, tagged, nil, "")
		require.Equal(t, 400, status)
		require.Contains(t, string(b), "model")
	})
	t.Run("LoggedWithFields", func(t *testing.T) {
		t.Parallel()
		_, _ = upload(t, base, tagged, wordFields, "Bearer secret")
		found := false
		for _, r := range s.Requests(sim.EndpointASR) {
			if r.Auth == "bearer" {
				found = true
				require.Equal(t, "whisper-1", r.Fields["model"])
				require.Equal(t, "word", r.Fields["timestamp_granularities[]"])
				require.Equal(t, "tagged.ogg", r.Fields["file"])
				require.Contains(t, r.Headers["Content-Type"], "multipart/form-data")
				b, err := json.Marshal(r)
				require.NoError(t, err)
				require.NotContains(t, string(b), "secret", "credentials are not logged")
			}
		}
		require.True(t, found)
	})
}

func TestTranscriptionUploadLimit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := track(t, dir, "a.ogg", [][2]float64{{0.5, 1}}, "", 2)
	st, err := os.Stat(p)
	require.NoError(t, err)
	_, base := start(t, sim.Config{MaxUploadBytes: st.Size() - 1})
	status, b := upload(t, base, p, wordFields, "")
	require.Equal(t, http.StatusRequestEntityTooLarge, status)
	require.Contains(t, string(b), "Maximum content size limit")
}

func TestTranscriptionsFromURL(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	track(t, dir, "a.ogg", [][2]float64{{0.5, 1.5}}, "hello world", 2)
	files := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer files.Close()
	s, base := start(t, sim.Config{})
	body := fmt.Sprintf(`{"audio_file_url":%q,"language":"en","batch":true}`, files.URL+"/a.ogg")
	status, b := call(t, "POST", base+"/v1/audio/transcriptions-from-url", "application/json", []byte(body),
		map[string]string{"Authorization": "Bearer k"})
	require.Equal(t, 200, status, string(b))
	var v verbose
	require.NoError(t, json.Unmarshal(b, &v))
	require.Equal(t, "hello world", v.Text)
	require.Len(t, v.Words, 2)
	require.Equal(t, " hello", v.Words[0].Word, "the reference service keeps a leading space")
	r := s.Requests(sim.EndpointASRURL)[0]
	require.Equal(t, "bearer", r.Auth)
	require.Equal(t, map[string]string{"language": "en", "batch": "true", "has_url": "true"}, r.Fields)

	status, _ = call(t, "POST", base+"/v1/audio/transcriptions-from-url", "application/json", []byte(`{}`), nil)
	require.Equal(t, 422, status)
	status, b = call(t, "POST", base+"/v1/audio/transcriptions-from-url", "application/json",
		[]byte(fmt.Sprintf(`{"audio_file_url":%q}`, files.URL+"/missing.ogg")), nil)
	require.Equal(t, 400, status)
	require.Contains(t, string(b), "404")
}

// chatRequest builds a chat request for a schema name (or none).
func chatRequest(schema, system, user string) []byte {
	req := map[string]any{"model": "m", "temperature": 0.4, "messages": []map[string]any{
		{"role": "system", "content": system}, {"role": "user", "content": user}}}
	if schema != "" {
		req["response_format"] = map[string]any{"type": "json_schema", "json_schema": map[string]any{
			"name": schema, "strict": true, "schema": map[string]any{"type": "object", "required": []string{"x"}}}}
	}
	b, _ := json.Marshal(req)
	return b
}

type completion struct {
	ID      string `json:"id"`
	Choices []struct {
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

const meeting = `<transcript>
Ana: Good morning. Let's review the budget for the launch.
Ben: The budget is ten percent over. I'll send the new budget sheet on Friday.
Ana: Then let's cut design costs. The launch timeline stays.
</transcript>`

func TestChatAnswersEachPromptKind(t *testing.T) {
	t.Parallel()
	_, base := start(t, sim.Config{})
	for _, tt := range []struct {
		schema, user string
		check        func(t *testing.T, answer map[string]any)
	}{
		{"topic", meeting, func(t *testing.T, a map[string]any) {
			require.Equal(t, "Budget, Launch and Review", a["title"], "from the most frequent words")
			require.Contains(t, a["summary"], "Good morning.")
		}},
		{"title", "Topics:\n\n- Budget review\n- Launch timeline\n", func(t *testing.T, a map[string]any) {
			require.Equal(t, "Budget review and Launch timeline", a["title"])
		}},
		{"subjects", meeting, func(t *testing.T, a map[string]any) {
			require.Equal(t, []any{"Budget", "Launch", "Review", "Percent"}, a["subjects"])
		}},
		{"subject_detail", "Subject: Budget\n\n" + meeting, func(t *testing.T, a map[string]any) {
			require.Contains(t, a["detailed_summary"], "Ben noted: The budget is ten percent over.")
		}},
		{"subject_paragraph", "Subject: Budget\n\nDetailed analysis:\nBen noted: it is over. Ana agreed.", func(t *testing.T, a map[string]any) {
			require.Equal(t, "About budget, Ben noted: it is over. Ana agreed.", a["paragraph_summary"])
		}},
		{"recap", "Budget: It is over.\n\nLaunch: It stays.", func(t *testing.T, a map[string]any) {
			require.Equal(t, "The meeting covered budget and launch. It is over. It stays.", a["recap"])
		}},
		{"action_items", meeting, func(t *testing.T, a map[string]any) {
			steps := a["next_steps"].([]any)
			require.Len(t, steps, 1)
			require.Equal(t, "Ben", steps[0].(map[string]any)["assigned_to"])
			require.Equal(t, "friday", steps[0].(map[string]any)["deadline"])
			decisions := a["decisions"].([]any)
			require.Len(t, decisions, 2)
			require.Equal(t, "Ana", decisions[0].(map[string]any)["decided_by"])
		}},
		{"combine", "Combine:\n\n## Part 1\n\nFirst. More.\n\n## Part 2\n\nSecond.", func(t *testing.T, a map[string]any) {
			require.Equal(t, "First. More. Second.", a["summary"])
		}},
	} {
		t.Run(tt.schema, func(t *testing.T) {
			t.Parallel()
			body := chatRequest(tt.schema, "system", tt.user)
			status, b := call(t, "POST", base+"/v1/chat/completions", "application/json", body, nil)
			require.Equal(t, 200, status, string(b))
			var c completion
			require.NoError(t, json.Unmarshal(b, &c))
			require.Positive(t, c.Usage.PromptTokens)
			require.Positive(t, c.Usage.CompletionTokens)
			var answer map[string]any
			require.NoError(t, json.Unmarshal([]byte(c.Choices[0].Message.Content), &answer), c.Choices[0].Message.Content)
			tt.check(t, answer)
			_, again := call(t, "POST", base+"/v1/chat/completions", "application/json", body, nil)
			require.Equal(t, string(b), string(again), "deterministic")
		})
	}
}

func TestChatGuessesTheKindWithoutASchema(t *testing.T) {
	t.Parallel()
	s, base := start(t, sim.Config{})
	for system, want := range map[string]string{
		`Answer matching {"properties":{"detailed_summary":{}}}`: "subject_detail",
		`{"properties":{"title":{},"summary":{}}}`:               "topic",
		`{"properties":{"decisions":{},"next_steps":{}}}`:        "action_items",
		"You write the title of a meeting.":                      "title",
		"Write a recap.":                                         "recap",
	} {
		status, _ := call(t, "POST", base+"/v1/chat/completions", "application/json", chatRequest("", system, "x"), nil)
		require.Equal(t, 200, status)
		reqs := s.Requests(sim.EndpointLLM)
		require.Equal(t, want, reqs[len(reqs)-1].Schema, system)
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hook := func(t *testing.T, base string) int {
		t.Helper()
		status, _ := call(t, "POST", base+"/webhook/x", "application/json", []byte(`{}`), nil)
		return status
	}
	t.Run("FailNextThenHealthy", func(t *testing.T) {
		t.Parallel()
		_, base := start(t, sim.Config{})
		c := &sim.Client{Base: base}
		require.NoError(t, c.SetFaults(ctx, map[string]sim.Fault{sim.EndpointWebhook: {FailNext: 2, ErrorStatus: 503}}))
		require.Equal(t, []int{503, 503, 200}, []int{hook(t, base), hook(t, base), hook(t, base)})
	})
	t.Run("ErrorRateWith4xxUntilFixed", func(t *testing.T) {
		t.Parallel()
		_, base := start(t, sim.Config{Faults: map[string]sim.Fault{sim.EndpointWebhook: {ErrorRate: 1, ErrorStatus: 400}}})
		c := &sim.Client{Base: base}
		require.Equal(t, 400, hook(t, base))
		faults, err := c.Faults(ctx)
		require.NoError(t, err)
		require.Equal(t, map[string]sim.Fault{sim.EndpointWebhook: {ErrorRate: 1, ErrorStatus: 400}}, faults)
		require.NoError(t, c.ClearFaults(ctx))
		require.Equal(t, 200, hook(t, base))
		faults, err = c.Faults(ctx)
		require.NoError(t, err)
		require.Empty(t, faults)
	})
	t.Run("Latency", func(t *testing.T) {
		t.Parallel()
		_, base := start(t, sim.Config{Faults: map[string]sim.Fault{sim.EndpointWebhook: {LatencyMS: 200}}})
		t0 := time.Now()
		require.Equal(t, 200, hook(t, base))
		require.GreaterOrEqual(t, time.Since(t0), 200*time.Millisecond)
	})
	t.Run("HangUntilTheClientGivesUp", func(t *testing.T) {
		t.Parallel()
		s, base := start(t, sim.Config{})
		s.SetFault(sim.EndpointWebhook, sim.Fault{HangNext: 1})
		cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		req, err := http.NewRequestWithContext(cctx, "POST", base+"/webhook/x", strings.NewReader("{}"))
		require.NoError(t, err)
		_, err = http.DefaultClient.Do(req)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Eventually(t, func() bool { return len(s.Requests(sim.EndpointWebhook)) == 1 }, 5*time.Second, 10*time.Millisecond)
		r := s.Requests(sim.EndpointWebhook)[0]
		require.Equal(t, 499, r.Status)
		require.True(t, r.Faulted)
		require.Equal(t, 200, hook(t, base), "only the next request hung")
	})
	t.Run("TogetherReleasesAGroupAtOnce", func(t *testing.T) {
		t.Parallel()
		s, base := start(t, sim.Config{})
		s.SetFault(sim.EndpointWebhook, sim.Fault{Together: 3})
		codes := make(chan int, 3)
		for range 3 {
			go func() {
				resp, err := http.Post(base+"/webhook/x", "application/json", strings.NewReader("{}"))
				if err != nil {
					codes <- 0
					return
				}
				resp.Body.Close()
				codes <- resp.StatusCode
			}()
		}
		for range 3 {
			require.Equal(t, 200, <-codes)
		}
		require.Equal(t, 200, hook(t, base), "later requests pass through")
	})
	t.Run("TogetherGivesUpOnAGroupThatNeverFills", func(t *testing.T) {
		t.Parallel()
		s, base := start(t, sim.Config{})
		s.SetFault(sim.EndpointWebhook, sim.Fault{Together: 2, TogetherWaitMS: 50})
		require.Equal(t, 503, hook(t, base))
		r := s.Requests(sim.EndpointWebhook)[0]
		require.True(t, r.Faulted)
	})
	t.Run("ErrorRateIsReproducible", func(t *testing.T) {
		t.Parallel()
		run := func() []int {
			_, base := start(t, sim.Config{Seed: 7, Faults: map[string]sim.Fault{sim.EndpointWebhook: {ErrorRate: 0.5, ErrorStatus: 502}}})
			var out []int
			for i := 0; i < 20; i++ {
				out = append(out, hook(t, base))
			}
			return out
		}
		first := run()
		require.Equal(t, first, run())
		require.Contains(t, first, 502)
		require.Contains(t, first, 200)
	})
	t.Run("LLMFaultsPerSchema", func(t *testing.T) {
		t.Parallel()
		s, base := start(t, sim.Config{})
		s.SetFault(sim.EndpointLLM, sim.Fault{FailNext: 1, ErrorStatus: 500, Schema: "recap"})
		status, _ := call(t, "POST", base+"/v1/chat/completions", "application/json", chatRequest("title", "s", "- A"), nil)
		require.Equal(t, 200, status, "another schema is not faulted")
		status, _ = call(t, "POST", base+"/v1/chat/completions", "application/json", chatRequest("recap", "s", "A: b."), nil)
		require.Equal(t, 500, status)
	})
	t.Run("LLMFaultsForOnePrompt", func(t *testing.T) {
		t.Parallel()
		s, base := start(t, sim.Config{})
		s.SetFault(sim.EndpointLLM, sim.Fault{ErrorRate: 1, ErrorStatus: 400, Schema: "topic", Contains: "Item 137."})
		post := func(schema, user string) int {
			status, _ := call(t, "POST", base+"/v1/chat/completions", "application/json", chatRequest(schema, "s", user), nil)
			return status
		}
		require.Equal(t, 200, post("topic", "A: Item 136. The budget."), "another chunk")
		require.Equal(t, 200, post("topic", "A: Item 1370. The budget."), "a longer number is another turn")
		require.Equal(t, 200, post("subjects", "A: Item 137. The budget."), "another schema")
		require.Equal(t, 400, post("topic", "A: Item 137. The budget."))
		require.Equal(t, 400, post("topic", "A: Item 137. The budget."), "until the fault is cleared")
		reqs := s.Requests(sim.EndpointLLM)
		require.Len(t, reqs, 5)
		require.Equal(t, reqs[3].Fields["prompt_sha256"], reqs[4].Fields["prompt_sha256"], "the same question has the same hash")
		require.NotEqual(t, reqs[0].Fields["prompt_sha256"], reqs[3].Fields["prompt_sha256"])
		require.Len(t, reqs[3].Fields["prompt_sha256"], 64)
	})
	t.Run("MalformedOncePerSchema", func(t *testing.T) {
		t.Parallel()
		_, base := start(t, sim.Config{Faults: map[string]sim.Fault{sim.EndpointLLM: {MalformedOnce: true}}})
		content := func(schema string) string {
			_, b := call(t, "POST", base+"/v1/chat/completions", "application/json", chatRequest(schema, "s", "- A"), nil)
			var c completion
			require.NoError(t, json.Unmarshal(b, &c))
			return c.Choices[0].Message.Content
		}
		require.False(t, json.Valid([]byte(content("title"))))
		require.True(t, json.Valid([]byte(content("title"))))
		require.False(t, json.Valid([]byte(content("subjects"))), "once per schema")
	})
	t.Run("ErrUnknownEndpoint", func(t *testing.T) {
		t.Parallel()
		_, base := start(t, sim.Config{})
		err := (&sim.Client{Base: base}).SetFaults(ctx, map[string]sim.Fault{"transcribe": {FailNext: 1}})
		require.ErrorContains(t, err, `unknown endpoint "transcribe"`)
		_, err = sim.New(sim.Config{Faults: map[string]sim.Fault{"nope": {}}})
		require.Error(t, err)
	})
}

func TestDaily(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fixtures := filepath.Join(t.TempDir(), "daily.json")
	require.NoError(t, os.WriteFile(fixtures, []byte(`[
		{"recording":{"id":"r1","room_name":"a","start_ts":100,"mtgSessionId":"m1","tracks":[]},
		 "participants":[{"participant_id":"p1","user_name":"Ana"},{"participant_id":"p2","user_name":"Ben"},{"participant_id":"p3"}]},
		{"recording":{"id":"r2","room_name":"b","start_ts":200,"mtgSessionId":"m2"},"participants":[]}]`), 0o644))
	recs, err := sim.LoadDailyFixtures(fixtures)
	require.NoError(t, err)
	s, base := start(t, sim.Config{Daily: recs})
	c := &sim.Client{Base: base}
	require.NoError(t, c.AddRecording(ctx, sim.DailyRecording{Recording: map[string]any{"id": "r3", "room_name": "a", "start_ts": 300}}))
	auth := map[string]string{"Authorization": "Bearer daily"}
	get := func(path string) (int, map[string]any) {
		t.Helper()
		status, b := call(t, "GET", base+"/v1"+path, "", nil, auth)
		var v map[string]any
		require.NoError(t, json.Unmarshal(b, &v), string(b))
		return status, v
	}
	ids := func(v map[string]any, key string) []string {
		var out []string
		for _, x := range v["data"].([]any) {
			out = append(out, x.(map[string]any)[key].(string))
		}
		return out
	}

	status, v := get("/recordings/r1")
	require.Equal(t, 200, status)
	require.Equal(t, "m1", v["mtgSessionId"])
	status, _ = get("/recordings/nope")
	require.Equal(t, 404, status)
	status, _ = call(t, "GET", base+"/v1/recordings/r1", "", nil, nil)
	require.Equal(t, 401, status, "Daily needs the API key")

	_, v = get("/recordings?limit=2")
	require.Equal(t, []string{"r3", "r2"}, ids(v, "id"), "newest first")
	_, v = get("/recordings?limit=2&starting_after=r2")
	require.Equal(t, []string{"r1"}, ids(v, "id"))
	_, v = get("/recordings?limit=1&ending_before=r1")
	require.Equal(t, []string{"r2"}, ids(v, "id"))
	_, v = get("/recordings?room_name=a")
	require.Equal(t, []string{"r3", "r1"}, ids(v, "id"))

	_, v = get("/meetings/m1/participants?limit=2")
	require.Equal(t, []string{"p1", "p2"}, ids(v, "participant_id"))
	_, v = get("/meetings/m1/participants?limit=2&starting_after=p2")
	require.Equal(t, []string{"p3"}, ids(v, "participant_id"))
	status, _ = get("/meetings/m1/participants?limit=2&starting_after=p3")
	require.Equal(t, 404, status, "404 past the last page, like Daily")
	status, _ = get("/meetings/unknown/participants")
	require.Equal(t, 404, status)

	all, err := c.DailyRecordings(ctx)
	require.NoError(t, err)
	require.Len(t, all, 3)
	require.Len(t, s.Requests(sim.EndpointDaily), 11)

	// One recording alone is a fixture file too; a bad one is refused.
	one := filepath.Join(t.TempDir(), "one.json")
	require.NoError(t, os.WriteFile(one, []byte(`{"recording":{"id":"x"},"participants":[]}`), 0o644))
	recs, err = sim.LoadDailyFixtures(one)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	_, err = sim.New(sim.Config{Daily: []sim.DailyRecording{{Recording: map[string]any{}}}})
	require.ErrorContains(t, err, "recording.id is required")
}

func TestZulip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, base := start(t, sim.Config{})
	basic := map[string]string{"Authorization": "Basic Ym90OmtleQ=="}
	form := url.Values{"type": {"stream"}, "to": {"meetings"}, "topic": {"Weekly"}, "content": {"# Title"}}
	status, b := call(t, "POST", base+"/api/v1/messages", "application/x-www-form-urlencoded", []byte(form.Encode()), basic)
	require.Equal(t, 200, status, string(b))
	var res struct {
		Result string `json:"result"`
		ID     int64  `json:"id"`
	}
	require.NoError(t, json.Unmarshal(b, &res))
	require.Equal(t, "success", res.Result)
	require.Positive(t, res.ID)

	edit := url.Values{"topic": {"Weekly 2"}, "content": {"# Edited"}}
	status, _ = call(t, "PATCH", fmt.Sprintf("%s/api/v1/messages/%d", base, res.ID), "application/x-www-form-urlencoded",
		[]byte(edit.Encode()), basic)
	require.Equal(t, 200, status)
	status, _ = call(t, "PATCH", base+"/api/v1/messages/999999", "application/x-www-form-urlencoded", []byte(edit.Encode()), basic)
	require.Equal(t, 404, status)
	status, _ = call(t, "POST", base+"/api/v1/messages", "application/x-www-form-urlencoded", []byte(form.Encode()), nil)
	require.Equal(t, 401, status, "basic auth is required")

	msgs, err := (&sim.Client{Base: base}).ZulipMessages(ctx)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	require.Equal(t, sim.ZulipMessage{ID: res.ID, Stream: "meetings", Topic: "Weekly 2", Content: "# Edited", Edits: 1,
		Time: msgs[0].Time}, msgs[0])
	require.Equal(t, map[string]string{"type": "stream", "to": "meetings", "topic": "Weekly"}, s.Requests(sim.EndpointZulip)[0].Fields)
}

func TestWebhookSinkAndRequestLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	logPath := filepath.Join(t.TempDir(), "requests.jsonl")
	s, base := start(t, sim.Config{LogPath: logPath})
	c := &sim.Client{Base: base}
	status, _ := call(t, "POST", base+"/webhook/room-1", "application/json", []byte(`{"event":"transcript.completed"}`),
		map[string]string{"X-Webhook-Event": "transcript.completed", "X-Webhook-Signature": "t=1,v1=ab", "User-Agent": "Parley-Webhook/1.0",
			"Authorization": "Bearer secret"})
	require.Equal(t, 200, status)
	status, _ = call(t, "POST", base+"/api/v1/messages", "", nil, nil)
	require.Equal(t, 401, status)

	hooks, err := c.Requests(ctx, sim.EndpointWebhook)
	require.NoError(t, err)
	require.Len(t, hooks, 1)
	h := hooks[0]
	require.JSONEq(t, `{"event":"transcript.completed"}`, h.Body)
	require.Equal(t, "room-1", h.Fields["name"])
	require.Equal(t, "transcript.completed", h.Headers["X-Webhook-Event"])
	require.Equal(t, "t=1,v1=ab", h.Headers["X-Webhook-Signature"])
	require.Equal(t, "Parley-Webhook/1.0", h.Headers["User-Agent"])
	require.Equal(t, "present", h.Headers["Authorization"])

	all, err := c.Requests(ctx, "")
	require.NoError(t, err)
	require.Len(t, all, 2)
	require.Equal(t, 401, all[1].Status)

	f, err := os.Open(logPath)
	require.NoError(t, err)
	defer f.Close()
	var lines []sim.Request
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r sim.Request
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r))
		lines = append(lines, r)
	}
	require.Len(t, lines, 2)
	require.Equal(t, sim.EndpointZulip, lines[1].Endpoint)

	require.NoError(t, c.ClearRequests(ctx))
	require.Empty(t, s.Requests(""))
}

func TestScript(t *testing.T) {
	t.Parallel()
	t.Run("ParseAndString", func(t *testing.T) {
		t.Parallel()
		sc := sim.Script{Minutes: 95, Speakers: 3, Speaker: 1}
		got, err := sim.ParseScript(sc.String())
		require.NoError(t, err)
		require.Equal(t, sim.Script{Minutes: 95, Speakers: 3, Speaker: 1, WPM: 150, TurnSeconds: 20, SectionMinutes: 15}, got)
		for v, msg := range map[string]string{
			"minutes=0":                       "minutes must be in",
			"minutes=10 speakers=2 speaker=2": "speaker 2 of 2",
			"minutes=10 pace=3":               `unknown key "pace"`,
			"minutes=ten":                     `minutes="ten" is not`,
			"minutes":                         "not key=value",
		} {
			_, err := sim.ParseScript(v)
			require.ErrorContains(t, err, msg, v)
		}
	})
	t.Run("LongMeetingFromAShortFile", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		_, base := start(t, sim.Config{})
		var all []struct {
			Word       string
			Start, End float64
		}
		for i := 0; i < 3; i++ {
			p := filepath.Join(dir, fmt.Sprintf("s%d.webm", i))
			out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
				"sine=d=1", "-c:a", "libopus", "-metadata",
				sim.ScriptTag+"="+sim.Script{Minutes: 95, Speakers: 3, Speaker: i}.String(), p).CombinedOutput()
			require.NoError(t, err, string(out))
			status, b := upload(t, base, p, wordFields, "Bearer k")
			require.Equal(t, 200, status, string(b))
			var v verbose
			require.NoError(t, json.Unmarshal(b, &v))
			require.InDelta(t, 95*60, v.Duration, 0.001, "the script's duration, not the file's")
			for _, w := range v.Words {
				all = append(all, struct {
					Word       string
					Start, End float64
				}{w.Word, w.Start, w.End})
			}
		}
		require.InDelta(t, 95*150, len(all), 95*150/50, "about 150 words a minute")
		last := 0.0
		items := map[string]bool{}
		for i, w := range all {
			require.Less(t, w.Start, w.End)
			last = max(last, w.End)
			if w.Word == "Item" {
				n := all[i+1].Word
				require.False(t, items[n], "item %s is unique", n)
				items[n] = true
			}
		}
		require.Greater(t, last, 94.5*60, "words span the 95 minutes")
		require.Len(t, items, 95*3, "one item per 20 s turn")
		require.True(t, items["137."])
	})
}

// TestLatencyModels: the benchmark's provider models. The recogniser
// answers no sooner than audio_seconds / AudioSpeed after the request
// arrived, the LLM no sooner than LatencyMS + MSPer100Tokens per 100
// tokens of its own usage count.
func TestLatencyModels(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	long := track(t, dir, "long.ogg", [][2]float64{{1, 2}, {6, 8}}, "", 12)
	t.Run("ASRAudioSpeed", func(t *testing.T) {
		t.Parallel()
		s, base := start(t, sim.Config{Faults: map[string]sim.Fault{sim.EndpointASR: {AudioSpeed: 20}}})
		t0 := time.Now()
		status, b := upload(t, base, long, wordFields, "")
		took := time.Since(t0)
		require.Equal(t, 200, status, string(b))
		var v verbose
		require.NoError(t, json.Unmarshal(b, &v))
		require.InDelta(t, 12, v.Duration, 0.1)
		require.GreaterOrEqual(t, took, 600*time.Millisecond, "12 s of audio at 20x")
		require.Equal(t, 200, s.Requests(sim.EndpointASR)[0].Status)
	})
	t.Run("ASRAudioSpeedClientGivesUp", func(t *testing.T) {
		t.Parallel()
		s, base := start(t, sim.Config{Faults: map[string]sim.Fault{sim.EndpointASR: {AudioSpeed: 0.01}}})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		b, err := os.ReadFile(long)
		require.NoError(t, err)
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, err := mw.CreateFormFile("file", "long.ogg")
		require.NoError(t, err)
		_, err = fw.Write(b)
		require.NoError(t, err)
		require.NoError(t, mw.WriteField("model", "whisper-1"))
		require.NoError(t, mw.Close())
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/audio/transcriptions", &body)
		require.NoError(t, err)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		_, err = http.DefaultClient.Do(req)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Eventually(t, func() bool { return len(s.Requests(sim.EndpointASR)) == 1 }, 10*time.Second, 10*time.Millisecond)
		require.Equal(t, 499, s.Requests(sim.EndpointASR)[0].Status)
	})
	t.Run("ASRFromURLAudioSpeed", func(t *testing.T) {
		t.Parallel()
		files := httptest.NewServer(http.FileServer(http.Dir(dir)))
		t.Cleanup(files.Close)
		_, base := start(t, sim.Config{Faults: map[string]sim.Fault{sim.EndpointASRURL: {AudioSpeed: 24}}})
		body, err := json.Marshal(map[string]any{"audio_file_url": files.URL + "/long.ogg"})
		require.NoError(t, err)
		t0 := time.Now()
		status, b := call(t, "POST", base+"/v1/audio/transcriptions-from-url", "application/json", body, nil)
		require.Equal(t, 200, status, string(b))
		require.GreaterOrEqual(t, time.Since(t0), 500*time.Millisecond, "12 s of audio at 24x")
	})
	t.Run("LLMPerToken", func(t *testing.T) {
		t.Parallel()
		_, base := start(t, sim.Config{Faults: map[string]sim.Fault{sim.EndpointLLM: {LatencyMS: 100, MSPer100Tokens: 20}}})
		user := strings.Repeat("Ana: We review the budget today. ", 300) // ~2,500 tokens
		t0 := time.Now()
		status, b := call(t, "POST", base+"/v1/chat/completions", "application/json", chatRequest("topic", "system", user), nil)
		took := time.Since(t0)
		require.Equal(t, 200, status, string(b))
		var c completion
		require.NoError(t, json.Unmarshal(b, &c))
		tokens := c.Usage.PromptTokens + c.Usage.CompletionTokens
		require.Greater(t, tokens, 2000)
		want := 100*time.Millisecond + time.Duration(tokens)*20*time.Millisecond/100
		require.GreaterOrEqual(t, took, want, "%d tokens", tokens)
	})
}
