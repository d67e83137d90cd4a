package api

import (
	"cmp"
	"context"
	"crypto/subtle"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/pipeline"
	"github.com/parley-dev/parley/store"
)

// Dispatcher starts and resumes pipeline runs (package pipeline).
type Dispatcher interface {
	Trigger(ctx context.Context, req pipeline.TriggerRequest) (pipeline.Result, error)
	Process(ctx context.Context, transcriptID string, force bool) (pipeline.Result, error)
	// RunActive reports whether a run of the transcript is in progress.
	RunActive(ctx context.Context, t *parley.Transcript) (bool, error)
}

// Storage is object storage (package store).
type Storage interface {
	Put(ctx context.Context, bucket, key string, r io.Reader, size int64, contentType string) (store.ObjectInfo, error)
	Presign(ctx context.Context, bucket, key string) (string, error)
	Get(ctx context.Context, bucket, key string) (io.ReadSeekCloser, store.ObjectInfo, error)
	Stat(ctx context.Context, bucket, key string) (store.ObjectInfo, error)
	Exists(ctx context.Context, bucket, key string) (bool, error)
	Delete(ctx context.Context, bucket, key string) error
	List(ctx context.Context, bucket, prefix string) ([]string, error)
	Ping(ctx context.Context) error
	Bucket() string
	DailyBucket() string
	AllowedBucket(bucket string) bool
}

// Pinger checks a dependency for /readyz.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Prober checks that an uploaded file is audio Parley can read (package
// media); src is a URL or a path.
type Prober interface {
	CheckAudio(ctx context.Context, src string) error
}

// WebVTTFunc renders words as WebVTT with speaker names (package notify).
type WebVTTFunc func(words []parley.Word, participants []parley.Participant) string

// Config configures the server.
type Config struct {
	// Token is the bearer token /v1/* requires (PARLEY_API_TOKEN); empty
	// means no authentication (serve refuses non-loopback addresses then).
	Token string
	// DailyWebhookSecret (DAILY_WEBHOOK_SECRET, base64) verifies Daily's
	// webhooks; empty rejects every Daily webhook.
	DailyWebhookSecret string
	// DailyWebhookTolerance is the replay window of Daily webhooks.
	// Defaults to 5 minutes.
	DailyWebhookTolerance time.Duration
	// MaxUploadBytes caps one uploaded track (PARLEY_MAX_UPLOAD_BYTES);
	// a larger body is answered 413. Defaults to 2 GiB.
	MaxUploadBytes int64
	// MaxConcurrentUploads caps the uploads in progress at once
	// (PARLEY_MAX_CONCURRENT_UPLOADS); one more is answered 429 with
	// Retry-After. Each holds at most store.PartSize of the body in
	// memory. Defaults to 8.
	MaxConcurrentUploads int
	// UploadTimeout is the body deadline of one upload
	// (PARLEY_UPLOAD_TIMEOUT): the request's body must have arrived by
	// then. Other routes keep the server's ReadTimeout. Defaults to 1 hour.
	UploadTimeout time.Duration
	// WebhookBodyTimeout is the body deadline of the Daily webhook, whose
	// headers are checked first. Defaults to 10 s.
	WebhookBodyTimeout time.Duration
	// ProcessPrefixes (PARLEY_PROCESS_PREFIXES) are the key prefixes that
	// POST /v1/process accepts in the working bucket (S3_BUCKET) when it is
	// not the Daily bucket. Keys in DAILY_BUCKET are accepted; keys under a
	// transcript's own prefix ("<transcript id>/") never.
	ProcessPrefixes []string
	// CheckWebhookURL refuses a room webhook_url the egress policy would
	// refuse (notify.EgressPolicy.CheckURL); nil checks nothing.
	CheckWebhookURL func(url string) error
	// WSWriteTimeout drops WebSocket clients that cannot take an event in
	// this time. Defaults to 10 s.
	WSWriteTimeout time.Duration
	// FailedRunsWindow (PARLEY_FAILED_RUNS_WINDOW) is how far back GET
	// /v1/runs/failed looks without ?since=. Defaults to
	// pipeline.DefaultFailedRunsWindow.
	FailedRunsWindow time.Duration
}

// Server is Parley's HTTP API, WebSocket event stream, Daily webhook and
// web page.
type Server struct {
	cfg        Config
	db         *store.DB
	storage    Storage
	dispatcher Dispatcher
	hatchet    Pinger
	prober     Prober
	webvtt     WebVTTFunc
	hub        *Hub
	log        *slog.Logger
	now        func() time.Time
	mux        *http.ServeMux
	uploads    chan struct{} // one token per upload in progress
	pipeline   []pipeline.StepInfo
	stepRank   map[string]int // a step's row in pipeline: the audit's order
	emailer    Emailer        // nil: email off
	failedRuns FailedRunLister
}

// Deps are the server's collaborators.
type Deps struct {
	DB         *store.DB
	Storage    Storage
	Dispatcher Dispatcher
	Hatchet    Pinger
	Prober     Prober
	WebVTT     WebVTTFunc
	Hub        *Hub
	Log        *slog.Logger
	Now        func() time.Time
	// Pipeline is the step table GET /v1/pipeline serves (the worker's
	// policies applied). Defaults to pipeline.DefaultPolicies().Table().
	Pipeline []pipeline.StepInfo
	// Emailer sends a ready transcript to an address that asks for it;
	// nil when email is off (SMTP_HOST unset): email requests are refused.
	Emailer Emailer
	// FailedRuns lists the failed pipeline runs (GET /v1/runs/failed).
	FailedRuns FailedRunLister
}

// New builds the server. Start d.Hub (Hub.Run) separately.
func New(cfg Config, d Deps) *Server {
	cfg.DailyWebhookTolerance = cmp.Or(cfg.DailyWebhookTolerance, 5*time.Minute)
	cfg.MaxUploadBytes = cmp.Or(cfg.MaxUploadBytes, 2<<30)
	cfg.WSWriteTimeout = cmp.Or(cfg.WSWriteTimeout, 10*time.Second)
	cfg.MaxConcurrentUploads = cmp.Or(cfg.MaxConcurrentUploads, 8)
	cfg.UploadTimeout = cmp.Or(cfg.UploadTimeout, time.Hour)
	cfg.WebhookBodyTimeout = cmp.Or(cfg.WebhookBodyTimeout, 10*time.Second)
	cfg.FailedRunsWindow = cmp.Or(cfg.FailedRunsWindow, pipeline.DefaultFailedRunsWindow)
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Pipeline == nil {
		d.Pipeline = pipeline.DefaultPolicies().Table()
	}
	s := &Server{cfg: cfg, db: d.DB, storage: d.Storage, dispatcher: d.Dispatcher, hatchet: d.Hatchet,
		prober: d.Prober, webvtt: d.WebVTT, hub: d.Hub, log: d.Log, now: d.Now, mux: http.NewServeMux(),
		uploads: make(chan struct{}, cfg.MaxConcurrentUploads), pipeline: d.Pipeline, stepRank: map[string]int{},
		emailer: d.Emailer, failedRuns: d.FailedRuns}
	for i, st := range d.Pipeline {
		s.stepRank[st.Name] = i
	}
	s.routes()
	return s
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	m.HandleFunc("GET /readyz", s.readyz)

	v1 := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		m.Handle(pattern, s.authed(h))
	}
	v1("POST /v1/transcripts", s.createTranscript)
	v1("GET /v1/transcripts", s.listTranscripts)
	v1("GET /v1/transcripts/{id}", s.getTranscript)
	v1("DELETE /v1/transcripts/{id}", s.deleteTranscript)
	v1("POST /v1/transcripts/{id}/restore", s.restoreTranscript)
	v1("PATCH /v1/transcripts/{id}/participants/{participant_id}", s.renameParticipant)
	v1("GET /v1/transcripts/{id}/export", s.exportTranscript)
	v1("GET /v1/search", s.search)
	v1("POST /v1/transcripts/{id}/tracks", s.uploadTrack)
	v1("POST /v1/transcripts/{id}/process", s.processTranscript)
	v1("GET /v1/transcripts/{id}/topics", s.getTopics)
	v1("GET /v1/transcripts/{id}/steps", s.getSteps)
	v1("GET /v1/pipeline", s.getPipeline)
	v1("GET /v1/runs/failed", s.getFailedRuns)
	v1("GET /v1/transcripts/{id}/audio/mp3", s.getAudio)
	v1("GET /v1/transcripts/{id}/audio/waveform", s.getWaveform)
	v1("GET /v1/transcripts/{id}/webvtt", s.getWebVTT)
	v1("POST /v1/transcripts/{id}/consent", s.postConsent)
	v1("POST /v1/transcripts/{id}/email-requests", s.postEmailRequest)
	v1("GET /v1/transcripts/{id}/email-requests", s.getEmailRequests)
	v1("GET /v1/transcripts/{id}/events", s.events)
	v1("POST /v1/process", s.process)
	v1("POST /v1/rooms", s.createRoom)
	v1("GET /v1/rooms", s.listRooms)
	v1("PATCH /v1/rooms/{id}", s.updateRoom)
	// Daily signs its webhooks; no bearer token.
	m.Handle("POST /v1/daily/webhook", s.handle(s.dailyWebhook))
	m.Handle("/v1/", s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return withStatus(http.StatusNotFound, parley.Errorf(parley.ENOTFOUND, "no route %s %s", r.Method, r.URL.Path))
	}))

	web := WebHandler()
	m.Handle("GET /{$}", web)
	m.Handle("GET /transcripts/{id}", web)
	m.Handle("GET /search", web)
	m.Handle("GET /trash", web)
	m.Handle("GET /static/", web)
}

// ServeHTTP implements http.Handler. Without a token the server answers
// only requests whose Host is a loopback name: a page on another site
// cannot reach it through DNS rebinding (its Host would be the attacker's
// name).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if s.cfg.Token == "" {
		if !LoopbackHost(r.Host) {
			s.writeError(w, r, withStatus(http.StatusForbidden, parley.Errorf(parley.EUNAUTHORIZED,
				"Host %q is not a loopback name: without PARLEY_API_TOKEN only localhost, 127.0.0.1 and [::1] are served", truncate(r.Host, 100))))
			return
		}
		// A page of another site may still send simple requests to
		// loopback (CSRF): browsers name it in Origin.
		if o := r.Header.Get("Origin"); o != "" && !loopbackOrigin(o) {
			s.writeError(w, r, withStatus(http.StatusForbidden, parley.Errorf(parley.EUNAUTHORIZED,
				"requests from origin %q are refused: without PARLEY_API_TOKEN only pages served from loopback may call the API", truncate(o, 100))))
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// LoopbackHost reports whether a Host header (name, optionally with a
// port) names this machine's loopback: localhost (or a name under
// .localhost), 127.0.0.0/8 or ::1.
func LoopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

func loopbackOrigin(o string) bool {
	u, err := url.Parse(o)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && LoopbackHost(u.Host)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// handle adapts an error-returning handler.
func (s *Server) handle(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// authed requires the bearer token when one is configured. Browsers cannot
// set headers on WebSockets, so the token is also accepted as the
// subprotocol pair "bearer, <token>".
func (s *Server) authed(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		if s.cfg.Token != "" && !s.tokenOK(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="parley"`)
			return parley.Errorf(parley.EUNAUTHORIZED, "missing or wrong API token (Authorization: Bearer <PARLEY_API_TOKEN>)")
		}
		return h(w, r)
	})
}

func (s *Server) tokenOK(r *http.Request) bool {
	want := []byte(s.cfg.Token)
	if got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), want) == 1
	}
	for _, p := range wsProtocols(r) {
		if p != "bearer" && subtle.ConstantTimeCompare([]byte(p), want) == 1 {
			return true
		}
	}
	// <audio> elements cannot send headers: the audio routes also take the
	// token as a query parameter.
	if q := r.URL.Query().Get("token"); q != "" && r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/audio/") {
		return subtle.ConstantTimeCompare([]byte(q), want) == 1
	}
	return false
}

func wsProtocols(r *http.Request) []string {
	var out []string
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			out = append(out, strings.TrimSpace(p))
		}
	}
	return out
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	res := map[string]string{}
	ok := true
	check := func(name string, p Pinger) {
		if p == nil {
			res[name] = "not configured"
			ok = false
			return
		}
		if err := p.Ping(ctx); err != nil {
			res[name] = parley.ErrorMessage(err)
			ok = false
			return
		}
		res[name] = "ok"
	}
	check("database", s.db)
	check("hatchet", s.hatchet)
	check("storage", s.storage)
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, res)
}
