package llm

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Backends of TRANSCRIPT_BACKEND.
const (
	// BackendOpenAI uploads the audio to an OpenAI-compatible
	// POST /v1/audio/transcriptions (verbose_json, word timestamps).
	BackendOpenAI = "openai"
	// BackendReflector sends a presigned URL to the reference GPU
	// service's POST /v1/audio/transcriptions-from-url.
	BackendReflector = "reflector"
)

// Config configures the speech-to-text and chat providers (contract
// section 2). FromEnv reads it from the environment; DefaultConfig returns
// the defaults. In a Config built in code, zero durations, sizes, models
// and the context window take their defaults; JSONSchema and
// ParseMaxRetries are taken as written (start from DefaultConfig to get
// true and 3).
type Config struct {
	// Backend (TRANSCRIPT_BACKEND) is BackendOpenAI or BackendReflector.
	// Default "openai".
	Backend string
	// TranscriptURL (TRANSCRIPT_URL) is the ASR base URL, including /v1
	// for OpenAI-compatible servers (a trailing /v1 is optional for the
	// reflector backend). Default https://api.openai.com/v1.
	TranscriptURL string
	// TranscriptAPIKey (TRANSCRIPT_API_KEY) is sent as a bearer token when
	// set. Default none.
	TranscriptAPIKey string
	// TranscriptModel (TRANSCRIPT_MODEL). Default whisper-1.
	TranscriptModel string
	// TranscriptTimeout (TRANSCRIPT_TIMEOUT) bounds one ASR request.
	// Default 10m.
	TranscriptTimeout time.Duration
	// MaxUploadBytes (TRANSCRIPT_MAX_UPLOAD_BYTES): larger files are split
	// at silences and sent in pieces (openai backend). Default 25 MiB,
	// OpenAI's limit.
	MaxUploadBytes int64

	// LLMURL (LLM_URL) is the chat base URL, including /v1. Default
	// https://api.openai.com/v1.
	LLMURL string
	// LLMAPIKey (LLM_API_KEY) is sent as a bearer token when set. Default
	// none.
	LLMAPIKey string
	// LLMModel (LLM_MODEL). Default gpt-4o-mini.
	LLMModel string
	// ContextWindow (LLM_CONTEXT_WINDOW) is the model's context in tokens
	// (estimated at four characters a token). Longer transcripts are read
	// in parts whose results are combined; nothing is truncated. Default
	// 16000.
	ContextWindow int
	// ParseMaxRetries (LLM_PARSE_MAX_RETRIES) is how often an answer that
	// is not valid JSON for the step's schema is re-asked with the
	// validation errors. Default 3; 0 gives up at the first invalid
	// answer.
	ParseMaxRetries int
	// JSONSchema (LLM_JSON_SCHEMA) sends response_format json_schema
	// (structured outputs); false sends json_object with the schema in the
	// prompt, for endpoints without structured outputs. Default true.
	JSONSchema bool
	// LLMTimeout (LLM_TIMEOUT) bounds one chat request. Default 2m.
	LLMTimeout time.Duration
}

// Defaults of Config.
const (
	DefaultTranscriptURL     = "https://api.openai.com/v1"
	DefaultTranscriptModel   = "whisper-1"
	DefaultTranscriptTimeout = 10 * time.Minute
	DefaultMaxUploadBytes    = 25 << 20
	DefaultLLMURL            = "https://api.openai.com/v1"
	DefaultLLMModel          = "gpt-4o-mini"
	DefaultContextWindow     = 16000
	DefaultParseMaxRetries   = 3
	DefaultLLMTimeout        = 2 * time.Minute
)

// DefaultConfig returns the configuration with every default (no API
// keys).
func DefaultConfig() Config {
	return Config{
		Backend: BackendOpenAI, TranscriptURL: DefaultTranscriptURL, TranscriptModel: DefaultTranscriptModel,
		TranscriptTimeout: DefaultTranscriptTimeout, MaxUploadBytes: DefaultMaxUploadBytes,
		LLMURL: DefaultLLMURL, LLMModel: DefaultLLMModel, ContextWindow: DefaultContextWindow,
		ParseMaxRetries: DefaultParseMaxRetries, JSONSchema: true, LLMTimeout: DefaultLLMTimeout,
	}
}

// FromEnv reads the configuration through getenv (os.Getenv in
// production). Unset or blank variables take their defaults. All problems
// are reported at once, each naming its variable.
func FromEnv(getenv func(string) string) (Config, error) {
	var errs []string
	get := func(k, def string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return def
	}
	dur := func(k string, def time.Duration) time.Duration {
		v := get(k, "")
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Sprintf("%s: %q is not a positive duration such as 90s or 10m", k, v))
			return def
		}
		return d
	}
	num := func(k string, def, lo int) int {
		v := get(k, "")
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo {
			errs = append(errs, fmt.Sprintf("%s: %q must be a whole number >= %d", k, v, lo))
			return def
		}
		return n
	}
	d := DefaultConfig()
	c := Config{
		Backend:           strings.ToLower(get("TRANSCRIPT_BACKEND", d.Backend)),
		TranscriptURL:     strings.TrimRight(get("TRANSCRIPT_URL", d.TranscriptURL), "/"),
		TranscriptAPIKey:  get("TRANSCRIPT_API_KEY", ""),
		TranscriptModel:   get("TRANSCRIPT_MODEL", d.TranscriptModel),
		TranscriptTimeout: dur("TRANSCRIPT_TIMEOUT", d.TranscriptTimeout),
		MaxUploadBytes:    int64(num("TRANSCRIPT_MAX_UPLOAD_BYTES", int(d.MaxUploadBytes), 1<<16)),
		LLMURL:            strings.TrimRight(get("LLM_URL", d.LLMURL), "/"),
		LLMAPIKey:         get("LLM_API_KEY", ""),
		LLMModel:          get("LLM_MODEL", d.LLMModel),
		ContextWindow:     num("LLM_CONTEXT_WINDOW", d.ContextWindow, 1000),
		ParseMaxRetries:   num("LLM_PARSE_MAX_RETRIES", d.ParseMaxRetries, 0),
		LLMTimeout:        dur("LLM_TIMEOUT", d.LLMTimeout),
		JSONSchema:        d.JSONSchema,
	}
	if v := get("LLM_JSON_SCHEMA", ""); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("LLM_JSON_SCHEMA: %q is not true or false", v))
		} else {
			c.JSONSchema = b
		}
	}
	if c.Backend != BackendOpenAI && c.Backend != BackendReflector {
		errs = append(errs, fmt.Sprintf("TRANSCRIPT_BACKEND: %q is not %s or %s", c.Backend, BackendOpenAI, BackendReflector))
	}
	for _, kv := range [][2]string{{"TRANSCRIPT_URL", c.TranscriptURL}, {"LLM_URL", c.LLMURL}} {
		if u, err := url.Parse(kv[1]); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Sprintf("%s: %q is not an http(s) URL", kv[0], kv[1]))
		}
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("invalid provider configuration:\n  %s", strings.Join(errs, "\n  "))
	}
	return c, nil
}

// withDefaults fills zero fields (for configs built in code).
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Backend == "" {
		c.Backend = d.Backend
	}
	if c.TranscriptURL == "" {
		c.TranscriptURL = d.TranscriptURL
	}
	if c.TranscriptModel == "" {
		c.TranscriptModel = d.TranscriptModel
	}
	if c.TranscriptTimeout <= 0 {
		c.TranscriptTimeout = d.TranscriptTimeout
	}
	if c.MaxUploadBytes <= 0 {
		c.MaxUploadBytes = d.MaxUploadBytes
	}
	if c.LLMURL == "" {
		c.LLMURL = d.LLMURL
	}
	if c.LLMModel == "" {
		c.LLMModel = d.LLMModel
	}
	if c.ContextWindow <= 0 {
		c.ContextWindow = d.ContextWindow
	}
	if c.ParseMaxRetries < 0 {
		c.ParseMaxRetries = 0
	}
	if c.LLMTimeout <= 0 {
		c.LLMTimeout = d.LLMTimeout
	}
	c.TranscriptURL = strings.TrimRight(c.TranscriptURL, "/")
	c.LLMURL = strings.TrimRight(c.LLMURL, "/")
	return c
}
