// Package sim is parley-sim: a local simulator of every outside service
// Parley talks to (OpenAI-compatible ASR and chat, the reference GPU
// service, Daily, Zulip, webhook receivers, an SMTP server), for
// development, demos, tests and benchmarks. Answers are deterministic and derived from the input
// (words are placed where the audio has energy), every endpoint can be
// slowed down, made to fail or to hang, and every request is logged.
package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// Endpoint names, for faults and the request log.
const (
	EndpointASR     = "asr"     // POST /v1/audio/transcriptions
	EndpointASRURL  = "asr_url" // POST /v1/audio/transcriptions-from-url
	EndpointLLM     = "llm"     // POST /v1/chat/completions
	EndpointDaily   = "daily"   // GET /v1/recordings..., /v1/meetings/.../participants
	EndpointZulip   = "zulip"   // POST/PATCH /api/v1/messages
	EndpointWebhook = "webhook" // POST /webhook/{name}
	// EndpointSMTP is the SMTP sink (Server.ListenSMTP): one entry per
	// message; its faults answer the message with an SMTP code.
	EndpointSMTP = "smtp"
	// EndpointOther logs requests to routes the simulator does not have
	// (answered 404; no faults apply).
	EndpointOther = "other"
)

// Endpoints lists every endpoint name.
var Endpoints = []string{EndpointASR, EndpointASRURL, EndpointLLM, EndpointDaily, EndpointZulip, EndpointWebhook, EndpointSMTP}

func knownEndpoint(name string) bool {
	for _, e := range Endpoints {
		if e == name {
			return true
		}
	}
	return false
}

// Fault makes an endpoint misbehave. The zero Fault is a healthy
// endpoint. Faults are set per endpoint by Config.Faults, by
// Server.SetFault, or at runtime with PUT /_sim/faults.
type Fault struct {
	// LatencyMS is added to every answer.
	LatencyMS int `json:"latency_ms,omitempty"`
	// AudioSpeed (asr and asr_url only) models a recogniser that takes
	// audio_seconds / AudioSpeed to answer (60: a fast GPU Whisper does an
	// hour in a minute). The time is counted from the request's arrival
	// and includes the simulator's own decoding; LatencyMS comes on top.
	// 0 = answer as soon as the words are made.
	AudioSpeed float64 `json:"audio_speed,omitempty"`
	// MSPer100Tokens (llm only) models generation time: every answer
	// takes LatencyMS + MSPer100Tokens per 100 tokens (prompt and
	// completion, as the answer's usage counts them), from the request's
	// arrival.
	MSPer100Tokens float64 `json:"ms_per_100_tokens,omitempty"`
	// ErrorRate (0..1) answers that share of requests with ErrorStatus
	// (drawn from the seeded generator, so a run is reproducible).
	ErrorRate float64 `json:"error_rate,omitempty"`
	// ErrorStatus is the status of injected errors (5xx or 4xx; for smtp
	// an SMTP reply code such as 451 or 550). Default 500.
	ErrorStatus int `json:"error_status,omitempty"`
	// FailNext answers the next N requests with ErrorStatus, then the
	// endpoint is healthy again.
	FailNext int `json:"fail_next,omitempty"`
	// Hang never answers (until the client gives up or the simulator
	// closes).
	Hang bool `json:"hang,omitempty"`
	// HangNext hangs only the next N requests.
	HangNext int `json:"hang_next,omitempty"`
	// Together holds each request until this many requests of the
	// endpoint are in flight at once, then lets them all go on: a test's
	// proof that calls run in parallel, with no clock involved. A request
	// that waits longer than TogetherWaitMS (default 120000) is answered
	// 503 and marked faulted. It applies to the first Together requests
	// after it is set; later ones pass through.
	Together int `json:"together,omitempty"`
	// TogetherWaitMS bounds a Together wait. Default 120000.
	TogetherWaitMS int `json:"together_wait_ms,omitempty"`
	// MalformedOnce (llm only) answers malformed JSON once per schema
	// name, then well-formed answers.
	MalformedOnce bool `json:"malformed_once,omitempty"`
	// Malformed (llm only) always answers malformed JSON.
	Malformed bool `json:"malformed,omitempty"`
	// InvalidOnce (llm only) answers, once per schema name, well-formed
	// JSON that lacks the schema's fields ({}).
	InvalidOnce bool `json:"invalid_once,omitempty"`
	// NoWords (asr only) answers verbose_json without word timestamps,
	// with segments only, like servers that ignore
	// timestamp_granularities.
	NoWords bool `json:"no_words,omitempty"`
	// Schema (llm only) limits the fault to chat requests whose
	// response_format schema has this name (e.g. "recap").
	Schema string `json:"schema,omitempty"`
	// Contains (llm only) limits the fault to chat requests whose messages
	// contain this text (e.g. "Item 137.", to fail the one topic chunk
	// that holds a generated meeting's turn 137). With Schema, both must
	// match.
	Contains string `json:"contains,omitempty"`
}

// Request is one logged request.
type Request struct {
	// Time the request arrived (UTC).
	Time time.Time `json:"time"`
	// Endpoint is one of the Endpoint constants.
	Endpoint string `json:"endpoint"`
	// Method and Path of the request (no query string: it may hold
	// secrets).
	Method string `json:"method"`
	Path   string `json:"path"`
	// Status answered (499 when the client gave up first).
	Status int `json:"status"`
	// Auth is the scheme of the Authorization header: "bearer", "basic"
	// or "" (none); the credentials themselves are not logged.
	Auth string `json:"auth,omitempty"`
	// Fields are the request's parameters: multipart form fields (and
	// file, file_size, file_sha256) for ASR uploads; language, batch for
	// transcriptions-from-url; model, response_format, strict,
	// schema_required, messages, temperature, prompt_chars and
	// prompt_sha256 (of the messages' text: equal for the same question) for
	// chat; type, to, topic
	// for Zulip; name for webhooks.
	Fields map[string]string `json:"fields,omitempty"`
	// Schema is the chat request's response_format schema name, or the
	// prompt kind guessed from its text when it has none.
	Schema string `json:"schema,omitempty"`
	// Faulted is set when an injected fault answered.
	Faulted bool `json:"faulted,omitempty"`
	// Body is the raw body (webhook sink only).
	Body string `json:"body,omitempty"`
	// Headers holds Content-Type and User-Agent of every request, and for
	// the webhook sink every header (Authorization as "present").
	Headers map[string]string `json:"headers,omitempty"`
}

// DefaultMaxUploadBytes is the simulated ASR upload limit, OpenAI's.
const DefaultMaxUploadBytes = 25 << 20

// Config configures the simulator.
type Config struct {
	// Faults per endpoint at start.
	Faults map[string]Fault
	// LogPath, when set, appends every request as a JSON line.
	LogPath string
	// Seed makes error rates reproducible. Default 1.
	Seed int64
	// MaxUploadBytes is the largest audio file POST
	// /v1/audio/transcriptions accepts; larger ones are answered 413 like
	// OpenAI. Default DefaultMaxUploadBytes; negative means no limit.
	MaxUploadBytes int64
	// Daily holds the recordings (with participants) Daily knows at
	// start; more can be added with POST /_sim/daily/recordings.
	Daily []DailyRecording
	// Log receives the simulator's own logs. Default: discarded.
	Log *slog.Logger
}

// Server is the simulator (an http.Handler).
type Server struct {
	mu        sync.Mutex
	faults    map[string]Fault
	malformed map[string]bool
	rng       *rand.Rand
	requests  []Request
	logFile   *os.File
	log       *slog.Logger
	daily     *dailyStore
	zulip     *zulipStore
	mux       *http.ServeMux
	hang      chan struct{}
	maxUpload int64
	smtp      *smtpSink // nil until ListenSMTP
	// together holds each endpoint's current Together group.
	together map[string]*togetherGroup
}

// togetherGroup is one Together barrier: open is closed when want
// requests have arrived.
type togetherGroup struct {
	want, arrived int
	open          chan struct{}
}

// New returns a simulator.
func New(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.MaxUploadBytes == 0 {
		cfg.MaxUploadBytes = DefaultMaxUploadBytes
	}
	s := &Server{faults: map[string]Fault{}, malformed: map[string]bool{}, rng: rand.New(rand.NewSource(cfg.Seed)),
		log: cfg.Log, daily: newDailyStore(), zulip: &zulipStore{}, mux: http.NewServeMux(), hang: make(chan struct{}),
		together:  map[string]*togetherGroup{},
		maxUpload: cfg.MaxUploadBytes}
	for k, v := range cfg.Faults {
		if !knownEndpoint(k) {
			return nil, fmt.Errorf("sim: fault for unknown endpoint %q (one of %s)", k, strings.Join(Endpoints, ", "))
		}
		s.faults[k] = v
	}
	for _, rec := range cfg.Daily {
		if err := s.daily.add(rec); err != nil {
			return nil, fmt.Errorf("sim: daily fixture: %w", err)
		}
	}
	if cfg.LogPath != "" {
		f, err := os.OpenFile(cfg.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("sim: request log: %w", err)
		}
		s.logFile = f
	}
	s.routes()
	return s, nil
}

// Close releases hung requests, stops the SMTP sink and closes the log
// file.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.hang:
	default:
		close(s.hang)
	}
	s.closeSMTP()
	if s.logFile != nil {
		s.logFile.Close()
		s.logFile = nil
	}
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("POST /v1/audio/transcriptions", s.edge(EndpointASR, s.transcriptions))
	m.HandleFunc("POST /v1/audio/transcriptions-from-url", s.edge(EndpointASRURL, s.transcriptionsFromURL))
	m.HandleFunc("POST /v1/chat/completions", s.edge(EndpointLLM, s.chat))
	m.HandleFunc("GET /v1/recordings/{id}", s.edge(EndpointDaily, s.dailyRecording))
	m.HandleFunc("GET /v1/recordings", s.edge(EndpointDaily, s.dailyRecordings))
	m.HandleFunc("GET /v1/meetings/{id}/participants", s.edge(EndpointDaily, s.dailyParticipants))
	m.HandleFunc("POST /api/v1/messages", s.edge(EndpointZulip, s.zulipPost))
	m.HandleFunc("PATCH /api/v1/messages/{id}", s.edge(EndpointZulip, s.zulipPatch))
	m.HandleFunc("POST /webhook/{name}", s.edge(EndpointWebhook, s.webhookSink))

	m.HandleFunc("/", s.edge(EndpointOther, func(w http.ResponseWriter, r *http.Request, _ *Request) {
		openAIError(w, http.StatusNotFound, fmt.Sprintf("parley-sim does not simulate %s %s", r.Method, r.URL.Path),
			"invalid_request_error")
	}))
	m.HandleFunc("GET /_sim/health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]string{"status": "ok", "kind": "parley-sim"})
	})
	m.HandleFunc("GET /_sim/faults", s.getFaults)
	m.HandleFunc("PUT /_sim/faults", s.putFaults)
	m.HandleFunc("DELETE /_sim/faults", s.deleteFaults)
	m.HandleFunc("GET /_sim/requests", s.getRequests)
	m.HandleFunc("DELETE /_sim/requests", s.deleteRequests)
	m.HandleFunc("POST /_sim/daily/recordings", s.addRecording)
	m.HandleFunc("GET /_sim/daily/recordings", s.listRecordings)
	m.HandleFunc("GET /_sim/zulip/messages", s.zulipMessages)
	m.HandleFunc("GET /_sim/smtp/messages", s.smtpMessages)
	m.HandleFunc("DELETE /_sim/smtp/messages", s.deleteSMTPMessages)
	m.HandleFunc("GET /_sim/smtp/cert", s.smtpCert)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// statusWriter remembers the status of an answer for the log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

// WriteHeader remembers the status and sends it.
func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// handlerFunc handles a simulated endpoint; it fills the log entry.
type handlerFunc func(w http.ResponseWriter, r *http.Request, entry *Request)

// edge wraps an endpoint with faults and logging.
func (s *Server) edge(name string, h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		entry := &Request{Time: t0.UTC(), Endpoint: name, Method: r.Method, Path: r.URL.Path,
			Headers: map[string]string{}}
		for _, h := range []string{"Content-Type", "User-Agent"} {
			if v := r.Header.Get(h); v != "" {
				entry.Headers[h] = v
			}
		}
		switch auth := r.Header.Get("Authorization"); {
		case strings.HasPrefix(auth, "Bearer "):
			entry.Auth = "bearer"
		case strings.HasPrefix(auth, "Basic "):
			entry.Auth = "basic"
		}
		sw := &statusWriter{ResponseWriter: w, status: 200}
		defer func() { s.record(*entry, sw.status) }()

		var chat chatRequest
		if name == EndpointLLM {
			// Peek at the request without consuming the body: faults may
			// target a schema or a prompt, and a faulted request is logged
			// with its kind and prompt hash too.
			body, _ := io.ReadAll(io.LimitReader(r.Body, 32<<20))
			r.Body = io.NopCloser(bytes.NewReader(body))
			_ = json.Unmarshal(body, &chat)
			entry.Schema, entry.Fields = chat.kind(), map[string]string{"prompt_sha256": chat.promptSHA256()}
		}
		s.mu.Lock()
		f := s.faults[name]
		applies := true
		if (f.Schema != "" || f.Contains != "") && name == EndpointLLM {
			match := f.Schema == "" ||
				chat.ResponseFormat != nil && chat.ResponseFormat.JSONSchema != nil && chat.ResponseFormat.JSONSchema.Name == f.Schema
			if f.Contains != "" {
				match = match && strings.Contains(chat.text(), f.Contains)
			}
			if !match {
				f, applies = Fault{}, false
			}
		}
		status := 0
		hang := f.Hang
		if f.HangNext > 0 {
			f.HangNext--
			hang = true
		}
		if f.FailNext > 0 {
			f.FailNext--
			status = cmpOr(f.ErrorStatus, 500)
		} else if f.ErrorRate > 0 && s.rng.Float64() < f.ErrorRate {
			status = cmpOr(f.ErrorStatus, 500)
		}
		var group *togetherGroup
		if f.Together > 0 && status == 0 {
			group = s.together[name]
			if group == nil || group.want != f.Together {
				group = &togetherGroup{want: f.Together, open: make(chan struct{})}
				s.together[name] = group
			}
			group.arrived++
			if group.arrived == group.want {
				close(group.open)
				f.Together = 0 // one group per setting; later requests pass
				delete(s.together, name)
			}
		}
		if applies {
			s.faults[name] = f
		}
		hangCh := s.hang
		s.mu.Unlock()

		if group != nil {
			wait := time.NewTimer(time.Duration(cmpOr(f.TogetherWaitMS, 120000)) * time.Millisecond)
			select {
			case <-group.open:
				wait.Stop()
			case <-wait.C:
				entry.Faulted = true
				_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
				writeJSON(sw, http.StatusServiceUnavailable, map[string]any{"error": map[string]any{
					"message": fmt.Sprintf("parley-sim: %d of %d requests arrived together on %s", group.arrived, group.want, name),
					"type":    "simulated_error"}})
				return
			case <-r.Context().Done():
				wait.Stop()
				entry.Faulted = true
				sw.status = 499
				return
			case <-hangCh:
				wait.Stop()
				sw.status = 499
				return
			}
		}

		if f.LatencyMS > 0 {
			select {
			case <-time.After(time.Duration(f.LatencyMS) * time.Millisecond):
			case <-r.Context().Done():
				entry.Faulted = true
				sw.status = 499
				return
			}
		}
		if hang {
			entry.Faulted = true
			sw.status = 499
			// Read the body: only then does net/http watch the connection
			// and cancel the request's context when the client gives up.
			_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
			select {
			case <-r.Context().Done():
			case <-hangCh:
			}
			return
		}
		if status != 0 {
			entry.Faulted = true
			_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
			writeJSON(sw, status, map[string]any{"error": map[string]any{"message": fmt.Sprintf("parley-sim: injected %d on %s", status, name),
				"type": "simulated_error"}})
			return
		}
		h(sw, r.WithContext(context.WithValue(r.Context(), modelKey{}, model{arrival: t0, fault: f})), entry)
	}
}

// modelKey carries a request's model (arrival, fault) to its handler.
type modelKey struct{}

type model struct {
	arrival time.Time
	fault   Fault
}

// modelOf returns the request's arrival and the fault that applies to it.
func modelOf(r *http.Request) model {
	m, _ := r.Context().Value(modelKey{}).(model)
	if m.arrival.IsZero() {
		m.arrival = time.Now()
	}
	return m
}

// answerAfter holds the answer until d after the request arrived, plus
// the fault's LatencyMS (already spent before the handler ran). It
// reports false, with the entry marked 499, when the client gave up.
func answerAfter(w http.ResponseWriter, r *http.Request, e *Request, d time.Duration) bool {
	m := modelOf(r)
	wait := time.Until(m.arrival.Add(time.Duration(m.fault.LatencyMS)*time.Millisecond + d))
	if wait <= 0 {
		return true
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		e.Faulted = true
		if sw, ok := w.(*statusWriter); ok {
			sw.status = 499
		}
		return false
	}
}

func cmpOr(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

func (s *Server) record(e Request, status int) {
	e.Status = status
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, e)
	if s.logFile != nil {
		b, _ := json.Marshal(e)
		_, _ = s.logFile.Write(append(b, '\n'))
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) getFaults(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, s.Faults())
}

// putFaults replaces the faults of the endpoints named in the body (an
// empty object for an endpoint clears its faults); it answers all faults.
func (s *Server) putFaults(w http.ResponseWriter, r *http.Request) {
	var in map[string]Fault
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeJSON(w, 400, map[string]string{"error": "expected {endpoint: fault}: " + err.Error()})
		return
	}
	for k := range in {
		if !knownEndpoint(k) {
			writeJSON(w, 400, map[string]string{"error": fmt.Sprintf("unknown endpoint %q (one of %s)", k, strings.Join(Endpoints, ", "))})
			return
		}
	}
	for k, v := range in {
		s.SetFault(k, v)
	}
	writeJSON(w, 200, s.Faults())
}

// deleteFaults makes every endpoint healthy.
func (s *Server) deleteFaults(w http.ResponseWriter, r *http.Request) {
	s.ClearFaults()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) getRequests(w http.ResponseWriter, r *http.Request) {
	ep := r.URL.Query().Get("endpoint")
	s.mu.Lock()
	out := []Request{}
	for _, e := range s.requests {
		if ep == "" || e.Endpoint == ep {
			out = append(out, e)
		}
	}
	s.mu.Unlock()
	writeJSON(w, 200, out)
}

func (s *Server) deleteRequests(w http.ResponseWriter, r *http.Request) {
	s.ClearRequests()
	w.WriteHeader(http.StatusNoContent)
}

// Requests returns the logged requests of an endpoint ("" = all).
func (s *Server) Requests(endpoint string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, e := range s.requests {
		if endpoint == "" || e.Endpoint == endpoint {
			out = append(out, e)
		}
	}
	return out
}

// SetFault sets one endpoint's faults (replacing what it had). Setting
// MalformedOnce or InvalidOnce again re-arms them for every schema.
func (s *Server) SetFault(endpoint string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[endpoint] = f
	if f.MalformedOnce || f.InvalidOnce {
		s.malformed = map[string]bool{}
	}
}

// ClearFaults makes every endpoint healthy.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = map[string]Fault{}
	s.malformed = map[string]bool{}
}

// Faults returns the current faults of the endpoints that have any.
func (s *Server) Faults() map[string]Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Fault{}
	for k, v := range s.faults {
		if v != (Fault{}) {
			out[k] = v
		}
	}
	return out
}

// ClearRequests empties the request log.
func (s *Server) ClearRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}
