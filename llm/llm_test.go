package llm_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/llm"
	"github.com/parley-dev/parley/sim"
	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// startSim runs parley-sim as a real HTTP server for one test.
func startSim(t *testing.T) (*sim.Server, string) {
	t.Helper()
	return startSimWith(t, sim.Config{})
}

func startSimWith(t *testing.T, cfg sim.Config) (*sim.Server, string) {
	t.Helper()
	s, err := sim.New(cfg)
	require.NoError(t, err)
	hs := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); hs.Close() })
	return s, hs.URL
}

func config(base string) llm.Config {
	return llm.Config{TranscriptURL: base + "/v1", TranscriptAPIKey: "asr-key", LLMURL: base + "/v1", LLMAPIKey: "llm-key",
		ParseMaxRetries: 2, JSONSchema: true}
}

// testLog writes the clients' logs to the test's log.
func testLog(t *testing.T) *slog.Logger {
	t.Helper()
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// memCache is an in-memory llm.Cache for unit tests (the production one
// is store.Cache, used by TestCacheSavesTheSecondCall).
type memCache struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (c *memCache) Get(_ context.Context, key string) ([]byte, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	return v, ok, nil
}

func (c *memCache) Put(_ context.Context, key, _ string, value []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string][]byte{}
	}
	c.m[key] = value
	return nil
}

var _ llm.Cache = (*memCache)(nil)
var _ llm.Cache = (*store.Cache)(nil)

// speech writes a track with tone bursts (where the simulator hears
// speech) and, optionally, the words it says.
func speech(t *testing.T, dir, name string, bursts [][2]float64, text string, dur float64) string {
	t.Helper()
	var terms []string
	for _, b := range bursts {
		terms = append(terms, fmt.Sprintf("0.4*sin(2*PI*440*t)*between(t,%g,%g)", b[0], b[1]))
	}
	expr := "0"
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

func TestASR(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	audio := speech(t, dir, "a.ogg", [][2]float64{{1, 2}, {4, 5}}, "hello there | good morning", 6)
	silent := speech(t, dir, "silent.ogg", nil, "", 3)
	req := llm.AudioRequest{Path: audio, Speaker: 2, Shift: 10, Duration: 6, Language: "en"}

	for _, backend := range []string{"openai", "reflector"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s, base := startSim(t)
			cfg := config(base)
			cfg.Backend = backend
			asr := llm.NewASR(cfg, nil, nil, nil, testLog(t))
			srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
			defer srv.Close()
			r := req
			r.URL = func(context.Context) (string, error) { return srv.URL + "/a.ogg", nil }
			meter := &parley.UsageMeter{}
			words, err := asr.Transcribe(parley.NewContextWithUsage(ctx, meter), r)
			require.NoError(t, err)
			require.Equal(t, []string{"hello", "there", "good", "morning"}, texts(words))
			for _, w := range words {
				require.Equal(t, 2, w.Speaker)
			}
			require.InDelta(t, 11.0, words[0].Start, 0.05, "shifted onto meeting time")
			require.InDelta(t, 14.0, words[2].Start, 0.05)
			require.Equal(t, 1, meter.Total().ASRCalls)
			require.InDelta(t, 6.0, meter.Total().ASRAudioSeconds, 0.001)

			endpoint := sim.EndpointASR
			if backend == "reflector" {
				endpoint = sim.EndpointASRURL
			}
			reqs := s.Requests(endpoint)
			require.Len(t, reqs, 1)
			require.Equal(t, "bearer", reqs[0].Auth)
			if backend == "openai" {
				require.Equal(t, "whisper-1", reqs[0].Fields["model"])
				require.Equal(t, "verbose_json", reqs[0].Fields["response_format"])
				require.Equal(t, "word", reqs[0].Fields["timestamp_granularities[]"])
				require.Equal(t, "en", reqs[0].Fields["language"])
			} else {
				require.Equal(t, "true", reqs[0].Fields["batch"])
				require.Equal(t, "en", reqs[0].Fields["language"])
			}

			r.Path = silent
			r.URL = func(context.Context) (string, error) { return srv.URL + "/silent.ogg", nil }
			none, err := asr.Transcribe(ctx, r)
			require.NoError(t, err)
			require.Empty(t, none, "silence gives zero words, not an error")
		})
	}
}

func inBurst(t float64, bursts [][2]float64) bool {
	for _, b := range bursts {
		if t >= b[0]-0.06 && t <= b[1] {
			return true
		}
	}
	return false
}

func texts(ws []parley.Word) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.Text
	}
	return out
}

func TestASRSplitsLongTracks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	var bursts [][2]float64
	var words []string
	for at := 0.5; at < 40; at += 4 {
		bursts = append(bursts, [2]float64{at, at + 1.5})
		words = append(words, fmt.Sprintf("w%02d", int(at)))
	}
	audio := speech(t, dir, "long.ogg", bursts, strings.Join(words, " | "), 40)
	st, err := os.Stat(audio)
	require.NoError(t, err)
	limit := st.Size() / 3 // forces pieces of about a third
	// The simulator refuses (413) anything over the same limit, as OpenAI
	// does over 25 MB: every piece must fit.
	s, base := startSimWith(t, sim.Config{MaxUploadBytes: limit})
	cfg := config(base)
	cfg.MaxUploadBytes = limit
	asr := llm.NewASR(cfg, nil, nil, nil, testLog(t))
	meter := &parley.UsageMeter{}
	got, err := asr.Transcribe(parley.NewContextWithUsage(ctx, meter), llm.AudioRequest{Path: audio, Duration: 40})
	require.NoError(t, err)
	reqs := s.Requests(sim.EndpointASR)
	require.GreaterOrEqual(t, len(reqs), 3, "the track went up in pieces")
	require.Equal(t, len(reqs), meter.Total().ASRCalls)
	for _, r := range reqs {
		require.Equal(t, 200, r.Status)
		size, err := strconv.ParseInt(r.Fields["file_size"], 10, 64)
		require.NoError(t, err)
		require.LessOrEqual(t, size, limit)
	}
	// Pieces are cut at silences and stitched on the file's timeline:
	// every burst still starts a word at its own time, and no word falls
	// outside a burst (pieces carry no text tag, so only timing counts).
	for i, b := range bursts {
		found := false
		for _, w := range got {
			require.True(t, inBurst(w.Start, bursts), "word %q at %.2f s is outside every burst", w.Text, w.Start)
			if math.Abs(w.Start-b[0]) < 0.06 {
				found = true
			}
		}
		require.True(t, found, "burst %d at %.1f s has no word", i, b[0])
	}
}

func TestASRErrorsAreClassified(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	audio := speech(t, dir, "a.ogg", [][2]float64{{0.5, 1}}, "", 2)
	tests := []struct {
		status int
		code   string
	}{{500, parley.ETRANSIENT}, {503, parley.ETRANSIENT}, {429, parley.ETRANSIENT}, {400, parley.EINVALID},
		{401, parley.EUNAUTHORIZED}, {403, parley.EUNAUTHORIZED}}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			t.Parallel()
			s, base := startSim(t)
			s.SetFault(sim.EndpointASR, sim.Fault{FailNext: 1, ErrorStatus: tt.status})
			asr := llm.NewASR(config(base), nil, nil, nil, testLog(t))
			_, err := asr.Transcribe(context.Background(), llm.AudioRequest{Path: audio})
			require.Error(t, err)
			require.Equal(t, tt.code, parley.ErrorCode(err), "%v", err)
			require.Contains(t, err.Error(), "injected")
			require.Len(t, s.Requests(sim.EndpointASR), 1, "no retries inside the client: the step's policy retries")
		})
	}
	t.Run("Unreachable", func(t *testing.T) {
		t.Parallel()
		asr := llm.NewASR(config("http://127.0.0.1:1"), nil, nil, nil, testLog(t))
		_, err := asr.Transcribe(context.Background(), llm.AudioRequest{Path: audio})
		require.Equal(t, parley.ETRANSIENT, parley.ErrorCode(err))
	})
}

var ps = []parley.Participant{{ID: "p-ana", Name: "Ana", Speaker: 0}, {ID: "p-ben", Name: "Ben", Speaker: 1}}

const transcript = `Ana: Good morning. Let's review the budget for the launch.
Ben: The budget is ten percent over. I'll send the new budget sheet on Friday.
Ana: Then let's cut design costs. The launch timeline stays.
`

func TestLLMSteps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, base := startSim(t)
	l := llm.NewLLM(config(base), nil, nil, testLog(t))
	meter := &parley.UsageMeter{}
	ctx = parley.NewContextWithUsage(ctx, meter)

	title, summary, err := l.Topic(ctx, transcript, ps)
	require.NoError(t, err)
	require.Contains(t, title, "Budget")
	require.NotEmpty(t, summary)

	mt, err := l.Title(ctx, []string{"budget review", "launch timeline"})
	require.NoError(t, err)
	require.Equal(t, "Budget Review and Launch Timeline", mt)

	subjects, err := l.Subjects(ctx, transcript, ps)
	require.NoError(t, err)
	require.NotEmpty(t, subjects)
	require.LessOrEqual(t, len(subjects), llm.MaxSubjects)

	detailed, paragraph, err := l.SubjectSummary(ctx, "Budget", transcript, ps)
	require.NoError(t, err)
	require.Contains(t, detailed, "Ben")
	require.NotEmpty(t, paragraph)

	recap, err := l.Recap(ctx, []parley.Subject{{Subject: "Budget", Paragraph: paragraph}}, ps)
	require.NoError(t, err)
	require.NotEmpty(t, recap)

	items, err := l.ActionItems(ctx, transcript, ps)
	require.NoError(t, err)
	require.NotEmpty(t, items.NextSteps)
	require.Equal(t, "Ben", items.NextSteps[0].AssignedTo)
	require.Equal(t, "p-ben", items.NextSteps[0].AssignedToParticipantID)
	require.NotEmpty(t, items.Decisions)
	require.Equal(t, "p-ana", items.Decisions[0].DecidedByParticipantID)

	reqs := s.Requests(sim.EndpointLLM)
	schemas := map[string]bool{}
	required := map[string]string{"topic": "summary,title", "title": "title", "subjects": "subjects",
		"subject_detail": "detailed_summary", "subject_paragraph": "paragraph_summary", "recap": "recap",
		"action_items": "decisions,next_steps"}
	for _, r := range reqs {
		require.Equal(t, "bearer", r.Auth)
		require.Equal(t, "gpt-4o-mini", r.Fields["model"])
		require.Equal(t, "json_schema", r.Fields["response_format"])
		require.Equal(t, "true", r.Fields["strict"])
		require.Equal(t, required[r.Schema], r.Fields["schema_required"], r.Schema)
		require.Equal(t, "2", r.Fields["messages"], "system and user")
		require.Equal(t, "application/json", r.Headers["Content-Type"])
		schemas[r.Schema] = true
	}
	require.Equal(t, "0.9", reqs[0].Fields["temperature"], "topics are asked at the reference's temperature")
	require.Equal(t, "0.5", reqs[1].Fields["temperature"], "and the title at its own")
	for _, name := range []string{"topic", "title", "subjects", "subject_detail", "subject_paragraph", "recap", "action_items"} {
		require.True(t, schemas[name], "schema %s sent", name)
	}
	u := meter.Total()
	require.Equal(t, len(reqs), u.LLMCalls)
	require.Positive(t, u.LLMPromptTokens)
	require.Positive(t, u.LLMCompletionTokens)
}

func TestLLMReasksOnInvalidJSON(t *testing.T) {
	t.Parallel()
	s, base := startSim(t)
	s.SetFault(sim.EndpointLLM, sim.Fault{MalformedOnce: true})
	l := llm.NewLLM(config(base), nil, nil, testLog(t))
	title, err := l.Title(context.Background(), []string{"roadmap"})
	require.NoError(t, err)
	require.Equal(t, "Roadmap", title)
	require.Len(t, s.Requests(sim.EndpointLLM), 2, "one malformed answer, one re-ask")
}

func TestLLMGivesUpWithAClearError(t *testing.T) {
	t.Parallel()
	_, base := startSim(t)
	// An endpoint that never answers valid JSON: a webhook sink is not a
	// chat endpoint, so point the client at a path that answers 404.
	cfg := config(base)
	cfg.LLMURL = base + "/nope"
	l := llm.NewLLM(cfg, nil, nil, testLog(t))
	_, err := l.Title(context.Background(), []string{"x"})
	require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
	require.Contains(t, err.Error(), "HTTP 404")
}

func TestLLMErrorsAreClassified(t *testing.T) {
	t.Parallel()
	for status, code := range map[int]string{500: parley.ETRANSIENT, 502: parley.ETRANSIENT, 429: parley.ETRANSIENT,
		400: parley.EINVALID, 404: parley.EINVALID, 401: parley.EUNAUTHORIZED} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			t.Parallel()
			s, base := startSim(t)
			s.SetFault(sim.EndpointLLM, sim.Fault{ErrorRate: 1, ErrorStatus: status})
			l := llm.NewLLM(config(base), nil, nil, testLog(t))
			_, err := l.Title(context.Background(), []string{"x"})
			require.Equal(t, code, parley.ErrorCode(err), "%v", err)
			require.Len(t, s.Requests(sim.EndpointLLM), 1)
		})
	}
}

// TestCacheSavesTheSecondCall uses the real PostgreSQL cache: an identical
// second call makes no HTTP request.
// TestRequestsLeaveTheSchemasAlone: a request must not change the schema
// it sends (the cache key hashes it). Not parallel, so that it sees the
// schemas before any other test's request.
func TestRequestsLeaveTheSchemasAlone(t *testing.T) {
	ctx := context.Background()
	_, base := startSim(t)
	l := llm.NewLLM(config(base), nil, nil, testLog(t))
	before := llm.SchemasJSONForTest()
	_, _, err := l.Topic(ctx, "Alice: the budget is over.", nil)
	require.NoError(t, err)
	_, err = l.Title(ctx, []string{"Budget"})
	require.NoError(t, err)
	require.Equal(t, before, llm.SchemasJSONForTest())
}

func TestCacheSavesTheSecondCall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	s, base := startSim(t)
	cache := store.NewCache(storetest.NewDB(t))
	l := llm.NewLLM(config(base), cache, nil, testLog(t))
	asr := llm.NewASR(config(base), cache, nil, nil, testLog(t))
	audio := speech(t, dir, "a.ogg", [][2]float64{{0.5, 1.2}}, "hello", 2)
	for i := 0; i < 2; i++ {
		meter := &parley.UsageMeter{}
		mctx := parley.NewContextWithUsage(ctx, meter)
		title, err := l.Title(mctx, []string{"budget review"})
		require.NoError(t, err)
		require.Equal(t, "Budget Review", title)
		words, err := asr.Transcribe(mctx, llm.AudioRequest{Path: audio, SHA256: "sha-of-a", Duration: 2, Speaker: 1})
		require.NoError(t, err)
		require.Equal(t, []string{"hello"}, texts(words))
		require.Equal(t, 1, words[0].Speaker)
		if i == 1 {
			require.Equal(t, 2, meter.Total().CacheHits, "both answered from the cache")
			require.Zero(t, meter.Total().LLMCalls)
			require.Zero(t, meter.Total().ASRCalls)
			require.InDelta(t, 2.0, meter.Total().ASRAudioSeconds, 0.001, "the audio answered from the cache")
		}
	}
	require.Len(t, s.Requests(sim.EndpointLLM), 1)
	require.Len(t, s.Requests(sim.EndpointASR), 1)
}

func TestCleanTitle(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`"budget review for the big launch"`:                             "Budget Review for the big Launch",
		"Title: roadmap and hiring.":                                     "Roadmap and Hiring",
		"one two three four five six seven eight nine ten eleven twelve": "One two Three Four Five six Seven Eight Nine ten",
		"API migration plan\nsecond line":                                "API Migration Plan",
		"‘the OKR sync’":                                                 "The OKR Sync",
	} {
		require.Equal(t, want, llm.CleanTitle(in), in)
	}
}

func TestLimitSubjects(t *testing.T) {
	t.Parallel()
	got := llm.LimitSubjects([]string{"Budget", " budget ", "", `"Hiring"`, "A", "B", "C", "D", "E", "F"})
	require.Equal(t, []string{"Budget", "Hiring", "A", "B", "C", "D"}, got)
}

func TestMapParticipants(t *testing.T) {
	t.Parallel()
	items := llm.MapParticipants(parley.ActionItems{
		Decisions: []parley.Decision{{Decision: "x", DecidedBy: " ana "}, {Decision: "y", DecidedBy: "Someone"}},
		NextSteps: []parley.NextStep{{Task: "t", AssignedTo: "BEN"}},
	}, ps)
	require.Equal(t, "p-ana", items.Decisions[0].DecidedByParticipantID)
	require.Empty(t, items.Decisions[1].DecidedByParticipantID)
	require.Equal(t, "p-ben", items.NextSteps[0].AssignedToParticipantID)
}

func TestSplitTextKeepsEverything(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		text  string
		max   int
		parts int
	}{
		{"short", 100, 1},
		{strings.Repeat("line of text\n", 100), 130, 10},
		{strings.Repeat("word ", 100), 50, 10},
	} {
		parts := llm.SplitText(tt.text, tt.max)
		require.GreaterOrEqual(t, len(parts), tt.parts)
		require.Equal(t, tt.text, strings.Join(parts, ""), "nothing dropped")
		for _, p := range parts {
			require.LessOrEqual(t, len(p), tt.max)
		}
	}
}

func TestLongTranscriptIsReadInParts(t *testing.T) {
	t.Parallel()
	s, base := startSim(t)
	cfg := config(base)
	cfg.ContextWindow = 1000 // 2000 characters per part
	l := llm.NewLLM(cfg, nil, nil, testLog(t))
	long := strings.Repeat(transcript, 30) // ~6000 characters
	_, _, err := l.SubjectSummary(context.Background(), "Budget", long, ps)
	require.NoError(t, err)
	calls := map[string]int{}
	for _, r := range s.Requests(sim.EndpointLLM) {
		calls[r.Schema]++
	}
	require.GreaterOrEqual(t, calls["subject_detail"], 3, "every part is read")
	require.Equal(t, 1, calls["combine"], "the parts' analyses are combined")
}

func TestFromEnv(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		c, err := llm.FromEnv(env(nil))
		require.NoError(t, err)
		require.Equal(t, llm.DefaultConfig(), c)
		require.Equal(t, "openai", c.Backend)
		require.Equal(t, "https://api.openai.com/v1", c.TranscriptURL)
		require.Equal(t, "whisper-1", c.TranscriptModel)
		require.Equal(t, "https://api.openai.com/v1", c.LLMURL)
		require.Equal(t, "gpt-4o-mini", c.LLMModel)
		require.Equal(t, 16000, c.ContextWindow)
		require.Equal(t, 3, c.ParseMaxRetries)
		require.True(t, c.JSONSchema)
		require.Equal(t, int64(25<<20), c.MaxUploadBytes)
	})
	t.Run("Set", func(t *testing.T) {
		t.Parallel()
		c, err := llm.FromEnv(env(map[string]string{
			"TRANSCRIPT_BACKEND": "Reflector", "TRANSCRIPT_URL": "http://gpu:8000/", "TRANSCRIPT_API_KEY": "k1",
			"TRANSCRIPT_MODEL": "large-v3", "TRANSCRIPT_TIMEOUT": "90s", "TRANSCRIPT_MAX_UPLOAD_BYTES": "1048576",
			"LLM_URL": "http://127.0.0.1:11434/v1", "LLM_API_KEY": "k2", "LLM_MODEL": "qwen2.5:14b",
			"LLM_CONTEXT_WINDOW": "32000", "LLM_PARSE_MAX_RETRIES": "0", "LLM_JSON_SCHEMA": "false", "LLM_TIMEOUT": "5m",
		}))
		require.NoError(t, err)
		require.Equal(t, llm.Config{Backend: "reflector", TranscriptURL: "http://gpu:8000", TranscriptAPIKey: "k1",
			TranscriptModel: "large-v3", TranscriptTimeout: 90 * time.Second, MaxUploadBytes: 1 << 20,
			LLMURL: "http://127.0.0.1:11434/v1", LLMAPIKey: "k2", LLMModel: "qwen2.5:14b", ContextWindow: 32000,
			ParseMaxRetries: 0, JSONSchema: false, LLMTimeout: 5 * time.Minute}, c)
	})
	t.Run("ErrEveryProblemNamed", func(t *testing.T) {
		t.Parallel()
		_, err := llm.FromEnv(env(map[string]string{"TRANSCRIPT_BACKEND": "modal", "LLM_URL": "ftp://x",
			"LLM_CONTEXT_WINDOW": "ten", "LLM_PARSE_MAX_RETRIES": "-1", "LLM_JSON_SCHEMA": "maybe", "TRANSCRIPT_TIMEOUT": "10",
			"TRANSCRIPT_URL": "api.openai.com"}))
		require.Error(t, err)
		for _, name := range []string{"TRANSCRIPT_BACKEND", "LLM_URL", "LLM_CONTEXT_WINDOW", "LLM_PARSE_MAX_RETRIES",
			"LLM_JSON_SCHEMA", "TRANSCRIPT_TIMEOUT", "TRANSCRIPT_URL"} {
			require.Contains(t, err.Error(), name)
		}
	})
}

func TestPromptsGolden(t *testing.T) {
	t.Parallel()
	for name, text := range llm.RenderPromptsForTest(transcript, ps) {
		path := filepath.Join("testdata", "prompts", name+".golden")
		if *update {
			require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
			require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
			continue
		}
		want, err := os.ReadFile(path)
		require.NoError(t, err, "run go test ./llm -run Golden -update")
		require.Equal(t, string(want), text, name)
	}
}

func TestASRUploadOverTheProviderLimitIsInvalid(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	audio := speech(t, dir, "a.ogg", [][2]float64{{0.5, 1.5}}, "", 3)
	st, err := os.Stat(audio)
	require.NoError(t, err)
	// The client believes in a larger limit than the server has.
	s, base := startSimWith(t, sim.Config{MaxUploadBytes: st.Size() / 2})
	asr := llm.NewASR(config(base), nil, nil, nil, testLog(t))
	_, err = asr.Transcribe(context.Background(), llm.AudioRequest{Path: audio})
	require.Equal(t, parley.EINVALID, parley.ErrorCode(err), "%v", err)
	require.Contains(t, err.Error(), "HTTP 413")
	require.Contains(t, err.Error(), "Maximum content size", "the provider's message is kept")
	require.Len(t, s.Requests(sim.EndpointASR), 1)
}

func TestASRWithoutWordTimestampsUsesSegments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	audio := speech(t, dir, "a.ogg", [][2]float64{{1, 2}, {4, 5}}, "hello there | good morning", 6)
	s, base := startSim(t)
	s.SetFault(sim.EndpointASR, sim.Fault{NoWords: true})
	asr := llm.NewASR(config(base), nil, nil, nil, testLog(t))
	words, err := asr.Transcribe(context.Background(), llm.AudioRequest{Path: audio, Shift: 2})
	require.NoError(t, err)
	require.Equal(t, []string{"hello", "there", "good", "morning"}, texts(words))
	require.InDelta(t, 3.0, words[0].Start, 0.05)
	require.InDelta(t, 6.0, words[2].Start, 0.05)
}

func TestASRHangIsATransientTimeout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	audio := speech(t, dir, "a.ogg", [][2]float64{{0.5, 1}}, "", 2)
	for _, backend := range []string{llm.BackendOpenAI, llm.BackendReflector} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			s, base := startSim(t)
			s.SetFault(sim.EndpointASR, sim.Fault{Hang: true})
			s.SetFault(sim.EndpointASRURL, sim.Fault{Hang: true})
			cfg := config(base)
			cfg.Backend = backend
			cfg.TranscriptTimeout = 300 * time.Millisecond
			asr := llm.NewASR(cfg, nil, nil, nil, testLog(t))
			t0 := time.Now()
			_, err := asr.Transcribe(context.Background(), llm.AudioRequest{Path: audio,
				URL: func(context.Context) (string, error) { return base + "/nowhere.ogg", nil }})
			require.Equal(t, parley.ETRANSIENT, parley.ErrorCode(err), "%v", err)
			require.Contains(t, err.Error(), "did not answer in time")
			require.Less(t, time.Since(t0), 5*time.Second)
		})
	}
}

func TestReflectorBackendErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		fault  sim.Fault
		url    func(base string) string
		code   string
		substr string
	}{
		{"Err5xx", sim.Fault{FailNext: 1, ErrorStatus: 502}, nil, parley.ETRANSIENT, "HTTP 502"},
		{"ErrUnauthorized", sim.Fault{FailNext: 1, ErrorStatus: 401}, nil, parley.EUNAUTHORIZED, "HTTP 401"},
		// The service cannot fetch the audio: its own 400 with its detail.
		{"ErrBadURL", sim.Fault{}, func(base string) string { return base + "/missing.ogg" }, parley.EINVALID, "audio download answered 404"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, base := startSim(t)
			s.SetFault(sim.EndpointASRURL, tt.fault)
			cfg := config(base)
			cfg.Backend = llm.BackendReflector
			asr := llm.NewASR(cfg, nil, nil, nil, testLog(t))
			url := base + "/webhook/unused"
			if tt.url != nil {
				url = tt.url(base)
			}
			_, err := asr.Transcribe(context.Background(), llm.AudioRequest{
				URL: func(context.Context) (string, error) { return url, nil }})
			require.Equal(t, tt.code, parley.ErrorCode(err), "%v", err)
			require.Contains(t, err.Error(), tt.substr)
			require.Len(t, s.Requests(sim.EndpointASRURL), 1, "no retries inside the client")
		})
	}
	t.Run("ErrPresign", func(t *testing.T) {
		t.Parallel()
		s, base := startSim(t)
		cfg := config(base)
		cfg.Backend = llm.BackendReflector
		asr := llm.NewASR(cfg, nil, nil, nil, testLog(t))
		_, err := asr.Transcribe(context.Background(), llm.AudioRequest{
			URL: func(context.Context) (string, error) { return "", parley.Errorf(parley.ETRANSIENT, "storage down") }})
		require.Equal(t, parley.ETRANSIENT, parley.ErrorCode(err))
		require.Contains(t, err.Error(), "presign")
		require.Empty(t, s.Requests(sim.EndpointASRURL))
	})
}

// TestProviderErrorShapes: OpenAI-compatible servers report errors in
// several shapes; each keeps its status class and message.
func TestProviderErrorShapes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		status int
		body   string
		code   string
		msg    string
	}{
		{"OpenAI", 400, `{"error":{"message":"Invalid model","type":"invalid_request_error"}}`, parley.EINVALID, "Invalid model"},
		{"Ollama", 404, `{"error":"model 'llama9' not found, try pulling it first"}`, parley.EINVALID, "model 'llama9' not found"},
		{"VLLM", 400, `{"object":"error","message":"maximum context length is 8192 tokens","type":"BadRequestError","code":400}`, parley.EINVALID, "maximum context length"},
		{"FastAPI", 422, `{"detail":[{"loc":["body","model"],"msg":"field required"}]}`, parley.EINVALID, "field required"},
		{"ProxyHTML", 502, `<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>`, parley.ETRANSIENT, "502 Bad Gateway"},
		{"RateLimit", 429, `{"error":{"message":"Rate limit reached"}}`, parley.ETRANSIENT, "Rate limit reached"},
		{"Forbidden", 403, `{"error":"invalid api key"}`, parley.EUNAUTHORIZED, "invalid api key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			l := llm.NewLLM(config(srv.URL), nil, nil, testLog(t))
			_, err := l.Title(context.Background(), []string{"x"})
			require.Equal(t, tt.code, parley.ErrorCode(err), "%v", err)
			require.Contains(t, err.Error(), fmt.Sprintf("HTTP %d", tt.status))
			require.Contains(t, err.Error(), tt.msg)

			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "a.wav"), []byte("RIFF"), 0o644))
			asr := llm.NewASR(config(srv.URL), nil, nil, nil, testLog(t))
			_, err = asr.Transcribe(context.Background(), llm.AudioRequest{Path: filepath.Join(dir, "a.wav")})
			require.Equal(t, tt.code, parley.ErrorCode(err), "%v", err)
			require.Contains(t, err.Error(), tt.msg)
		})
	}
}

func TestLLMHangIsATransientTimeout(t *testing.T) {
	t.Parallel()
	s, base := startSim(t)
	s.SetFault(sim.EndpointLLM, sim.Fault{Hang: true})
	cfg := config(base)
	cfg.LLMTimeout = 300 * time.Millisecond
	l := llm.NewLLM(cfg, nil, nil, testLog(t))
	_, err := l.Title(context.Background(), []string{"x"})
	require.Equal(t, parley.ETRANSIENT, parley.ErrorCode(err), "%v", err)
	// The simulator logs a hung request once the client has gone.
	require.Eventually(t, func() bool { return len(s.Requests(sim.EndpointLLM)) == 1 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, 499, s.Requests(sim.EndpointLLM)[0].Status)
	time.Sleep(100 * time.Millisecond)
	require.Len(t, s.Requests(sim.EndpointLLM), 1, "a timeout is not re-asked")
}

func TestLLMReask(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		fault    sim.Fault
		requests int
		code     string
		errText  []string
	}{
		{"OKMalformedOnce", sim.Fault{MalformedOnce: true}, 2, "", nil},
		{"OKMissingFieldsOnce", sim.Fault{InvalidOnce: true}, 2, "", nil},
		{"OKOtherSchemaFaulted", sim.Fault{Malformed: true, Schema: "recap"}, 1, "", nil},
		{"ErrAlwaysMalformed", sim.Fault{Malformed: true}, 3, parley.EINVALID,
			[]string{"title request", `"title"`, "after 3 attempts", "not valid JSON"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, base := startSim(t)
			s.SetFault(sim.EndpointLLM, tt.fault)
			l := llm.NewLLM(config(base), nil, nil, testLog(t)) // ParseMaxRetries 2: 3 attempts
			meter := &parley.UsageMeter{}
			title, err := l.Title(parley.NewContextWithUsage(context.Background(), meter), []string{"roadmap"})
			reqs := s.Requests(sim.EndpointLLM)
			require.Len(t, reqs, tt.requests)
			require.Equal(t, tt.requests, meter.Total().LLMCalls, "re-asks are counted")
			if tt.code != "" {
				require.Equal(t, tt.code, parley.ErrorCode(err))
				for _, want := range tt.errText {
					require.Contains(t, err.Error(), want)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, "Roadmap", title)
			for i, r := range reqs {
				// A re-ask carries the bad answer and the errors.
				require.Equal(t, fmt.Sprint(2+2*i), r.Fields["messages"])
			}
		})
	}
}

func TestDecodeAnswer(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, schema, answer string
		want                 map[string]any
		err                  string
	}{
		{"OK", "topic", `{"title":"Budget","summary":"Over."}`, map[string]any{"title": "Budget", "summary": "Over."}, ""},
		{"OKFenced", "title", "```json\n{\"title\": \"Budget\"}\n```", map[string]any{"title": "Budget"}, ""},
		{"OKProse", "title", "Sure! Here it is: {\"title\": \"Budget\"} Hope it helps.", map[string]any{"title": "Budget"}, ""},
		{"OKCapitalisedKeys", "topic", `{"Title":"Budget","Summary":"Over."}`, map[string]any{"title": "Budget", "summary": "Over."}, ""},
		{"OKSpelledKeys", "action_items", `{"Decisions":[],"next steps":[{"task":"Send it"}]}`,
			map[string]any{"decisions": []any{}, "next_steps": []any{map[string]any{"task": "Send it"}}}, ""},
		{"OKNullList", "action_items", `{"decisions":null,"next_steps":[]}`, map[string]any{"decisions": nil, "next_steps": []any{}}, ""},
		{"ErrMissing", "topic", `{"title":"Budget"}`, nil, `missing required field "summary"`},
		{"ErrNullString", "title", `{"title":null}`, nil, `missing required field "title"`},
		{"ErrWrongType", "subjects", `{"subjects":"Budget, Launch"}`, nil, `field "subjects" must be`},
		{"ErrNotJSON", "title", `Budget review`, nil, "not valid JSON"},
		{"ErrNotAnObject", "subjects", `["Budget"]`, nil, "not valid JSON"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out map[string]any
			if tt.schema == "subjects" {
				var typed struct {
					Subjects []string `json:"subjects"`
				}
				err := llm.DecodeAnswerForTest(tt.answer, tt.schema, &typed)
				require.ErrorContains(t, err, tt.err)
				return
			}
			err := llm.DecodeAnswerForTest(tt.answer, tt.schema, &out)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, out)
		})
	}
}

func TestLLMStepsWithoutJSONSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, base := startSim(t)
	cfg := config(base)
	cfg.JSONSchema = false
	l := llm.NewLLM(cfg, nil, nil, testLog(t))
	title, _, err := l.Topic(ctx, transcript, ps)
	require.NoError(t, err)
	require.Contains(t, title, "Budget")
	_, err = l.Title(ctx, []string{"budget review"})
	require.NoError(t, err)
	subjects, err := l.Subjects(ctx, transcript, ps)
	require.NoError(t, err)
	require.NotEmpty(t, subjects)
	_, paragraph, err := l.SubjectSummary(ctx, "Budget", transcript, ps)
	require.NoError(t, err)
	_, err = l.Recap(ctx, []parley.Subject{{Subject: "Budget", Paragraph: paragraph}}, ps)
	require.NoError(t, err)
	items, err := l.ActionItems(ctx, transcript, ps)
	require.NoError(t, err)
	require.NotEmpty(t, items.NextSteps)
	var kinds []string
	for _, r := range s.Requests(sim.EndpointLLM) {
		require.Equal(t, "json_object", r.Fields["response_format"])
		require.Empty(t, r.Fields["strict"], "no json_schema sent")
		kinds = append(kinds, r.Schema)
	}
	// The simulator recognised each prompt from the schema spelled out in
	// it.
	require.Equal(t, []string{"topic", "title", "subjects", "subject_detail", "subject_paragraph", "recap", "action_items"}, kinds)
}

func TestSubjectsOfALongMeetingAreMergedAndCapped(t *testing.T) {
	t.Parallel()
	s, base := startSim(t)
	cfg := config(base)
	cfg.ContextWindow = 1000 // 2000 characters per part
	l := llm.NewLLM(cfg, nil, nil, testLog(t))
	// Each part talks about other things: more than six subjects overall.
	var b strings.Builder
	themes := [][]string{{"budget", "pricing"}, {"hiring", "onboarding"}, {"security", "compliance"}, {"roadmap", "mobile"},
		{"marketing", "branding"}, {"support", "tickets"}}
	for _, th := range themes {
		for i := 0; i < 12; i++ {
			fmt.Fprintf(&b, "Ana: The %s question and the %s plan need work.\n", th[0], th[1])
		}
	}
	subjects, err := l.Subjects(context.Background(), b.String(), ps)
	require.NoError(t, err)
	require.Len(t, subjects, llm.MaxSubjects, "capped in code: the simulator's merge answer lists them all")
	calls := 0
	for _, r := range s.Requests(sim.EndpointLLM) {
		require.Equal(t, "subjects", r.Schema)
		calls++
	}
	parts := len(llm.SplitText(b.String(), 2000))
	require.Greater(t, parts, 1)
	require.Equal(t, parts+1, calls, "one call per part, one to merge")
}

func TestVeryLongTranscriptIsCombinedInRounds(t *testing.T) {
	t.Parallel()
	s, base := startSim(t)
	cfg := config(base)
	cfg.ContextWindow = 1000 // parts of 2000 characters; every prompt under 4000
	l := llm.NewLLM(cfg, nil, nil, testLog(t))
	var b strings.Builder
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&b, "Ben: The budget item %d is discussed again, budget review continues.\n", i)
	}
	detailed, paragraph, err := l.SubjectSummary(context.Background(), "Budget", b.String(), ps)
	require.NoError(t, err)
	require.NotEmpty(t, detailed)
	require.NotEmpty(t, paragraph)
	calls := map[string]int{}
	for _, r := range s.Requests(sim.EndpointLLM) {
		calls[r.Schema]++
		chars, err := strconv.Atoi(r.Fields["prompt_chars"])
		require.NoError(t, err)
		require.LessOrEqual(t, chars, cfg.ContextWindow*4, "%s prompt fits the window", r.Schema)
	}
	require.Equal(t, len(llm.SplitText(b.String(), 2000)), calls["subject_detail"])
	require.Greater(t, calls["combine"], 1, "the analyses did not fit one prompt: combined in rounds")
}

func TestPromptOverTheContextWindowIsRefused(t *testing.T) {
	t.Parallel()
	s, base := startSim(t)
	cfg := config(base)
	cfg.ContextWindow = 1000
	l := llm.NewLLM(cfg, nil, nil, testLog(t))
	_, _, err := l.Topic(context.Background(), strings.Repeat("Ana: a very long chunk of words.\n", 200), ps)
	require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
	require.Contains(t, err.Error(), "LLM_CONTEXT_WINDOW=1000")
	require.Empty(t, s.Requests(sim.EndpointLLM), "nothing is sent truncated")
}

func TestCacheKeyCoversWhatDeterminesTheAnswer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	audio := speech(t, dir, "a.ogg", [][2]float64{{0.5, 1.2}}, "hello", 2)
	cache := &memCache{}
	s1, base1 := startSim(t)
	s2, base2 := startSim(t)
	req := llm.AudioRequest{Path: audio, SHA256: "sha-a", Duration: 2, Language: "en"}
	transcribe := func(base string, mod func(*llm.Config), r llm.AudioRequest) []parley.Word {
		t.Helper()
		cfg := config(base)
		if mod != nil {
			mod(&cfg)
		}
		words, err := llm.NewASR(cfg, cache, nil, nil, testLog(t)).Transcribe(ctx, r)
		require.NoError(t, err)
		return words
	}
	transcribe(base1, nil, req)
	// Same audio, other speaker and shift: answered from the cache, put on
	// the new speaker and time.
	r := req
	r.Speaker, r.Shift = 3, 100
	words := transcribe(base1, nil, r)
	require.Equal(t, 3, words[0].Speaker)
	require.InDelta(t, 100.5, words[0].Start, 0.05)
	require.Len(t, s1.Requests(sim.EndpointASR), 1)
	// Another language, model or endpoint: asked again.
	r = req
	r.Language = "fr"
	transcribe(base1, nil, r)
	transcribe(base1, func(c *llm.Config) { c.TranscriptModel = "whisper-large-v3" }, req)
	require.Len(t, s1.Requests(sim.EndpointASR), 3)
	transcribe(base2, nil, req)
	require.Len(t, s2.Requests(sim.EndpointASR), 1)

	// LLM: the same prompt to another model is asked again.
	l := llm.NewLLM(config(base1), cache, nil, testLog(t))
	_, err := l.Title(ctx, []string{"budget"})
	require.NoError(t, err)
	_, err = l.Title(ctx, []string{"budget"})
	require.NoError(t, err)
	cfg := config(base1)
	cfg.LLMModel = "other-model"
	_, err = llm.NewLLM(cfg, cache, nil, testLog(t)).Title(ctx, []string{"budget"})
	require.NoError(t, err)
	require.Len(t, s1.Requests(sim.EndpointLLM), 2)
}

// TestASRStreamsTheUpload: the request's form reads the file as it is
// sent, with a Content-Length (not chunked), the fields and the file
// intact, and the file's name and type.
func TestASRStreamsTheUpload(t *testing.T) {
	t.Parallel()
	audio := filepath.Join(t.TempDir(), "track \"1\".ogg")
	content := bytes.Repeat([]byte("OggS-bytes-"), 50000)
	require.NoError(t, os.WriteFile(audio, content, 0o600))
	type seen struct {
		length   int64
		chunked  bool
		fields   map[string][]string
		file     []byte
		filename string
		ctype    string
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := seen{length: r.ContentLength, chunked: len(r.TransferEncoding) > 0}
		if err := r.ParseMultipartForm(1 << 20); err == nil {
			s.fields = r.MultipartForm.Value
			if fh := r.MultipartForm.File["file"]; len(fh) == 1 {
				s.filename, s.ctype = fh[0].Filename, fh[0].Header.Get("Content-Type")
				if f, err := fh[0].Open(); err == nil {
					s.file, _ = io.ReadAll(f)
					f.Close()
				}
			}
		}
		got <- s
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"text":"hi","words":[{"word":"hi","start":0.5,"end":0.9}]}`)
	}))
	defer srv.Close()
	cfg := config(srv.URL)
	asr := llm.NewASR(cfg, nil, nil, nil, testLog(t))
	words, err := asr.Transcribe(context.Background(), llm.AudioRequest{Path: audio, Language: "de"})
	require.NoError(t, err)
	require.Equal(t, []string{"hi"}, texts(words))
	s := <-got
	require.False(t, s.chunked, "the upload has a length")
	require.Greater(t, s.length, int64(len(content)))
	require.Equal(t, content, s.file)
	require.Equal(t, `track "1".ogg`, s.filename)
	require.Equal(t, "audio/ogg", s.ctype)
	require.Equal(t, []string{"de"}, s.fields["language"])
	require.Equal(t, []string{"verbose_json"}, s.fields["response_format"])
	require.Equal(t, []string{"whisper-1"}, s.fields["model"])
	require.NotEmpty(t, s.fields["timestamp_granularities[]"])
}
