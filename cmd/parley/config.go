package main

import (
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/llm"
	"github.com/parley-dev/parley/media"
	"github.com/parley-dev/parley/media/mediaproc"
	"github.com/parley-dev/parley/notify"
	"github.com/parley-dev/parley/pipeline"
	"github.com/parley-dev/parley/store"
)

// Config is everything the parley binary reads from the environment
// (contract section 2), read and checked once by loadConfig; nothing else
// in the binary reads the environment. Each field names its variable and
// default.
type Config struct {
	// DatabaseURL (DATABASE_URL) is the application database, never the
	// Hatchet one. Default store.DefaultDatabaseURL.
	DatabaseURL string
	// HatchetDebug (HATCHET_DEBUG=true) turns on debug logs of the Hatchet
	// SDK and of the task adapter. Default false.
	HatchetDebug bool
	// HatchetNamespace (HATCHET_CLIENT_NAMESPACE) prefixes workflow names.
	// The SDK reads its other settings itself, under their own names:
	// HATCHET_CLIENT_TOKEN (required by serve and worker),
	// HATCHET_CLIENT_HOST_PORT, HATCHET_CLIENT_SERVER_URL,
	// HATCHET_CLIENT_TLS_STRATEGY. Default none.
	HatchetNamespace string
	// Providers are the ASR and LLM endpoints (TRANSCRIPT_*, LLM_*; see
	// llm.Config for each variable and default).
	Providers llm.Config
	// Policies are the steps' timeouts, retries and backoff
	// (PARLEY_STEP_<STEP>_{TIMEOUT,RETRIES,BACKOFF,BACKOFF_MAX}). Default
	// pipeline.DefaultPolicies().
	Policies pipeline.Policies
	// DailyAPIURL (DAILY_API_URL) is Daily's REST API. Default
	// https://api.daily.co/v1.
	DailyAPIURL string
	// DailyAPIKey (DAILY_API_KEY) turns on the Daily REST calls
	// (recording metadata, participants) and the polling fallback. Default
	// none: uploads still work.
	DailyAPIKey string
	// DailyWebhookSecret (DAILY_WEBHOOK_SECRET, base64) verifies Daily's
	// webhooks. Default none: every Daily webhook is refused.
	DailyWebhookSecret string
	// DailyPollCron (PARLEY_DAILY_POLL_CRON) is when the polling fallback
	// looks for recordings whose webhook was missed (with DAILY_API_KEY).
	// Default "*/3 * * * *".
	DailyPollCron string
	// Zulip (ZULIP_REALM, ZULIP_BOT_EMAIL, ZULIP_API_KEY) posts summaries
	// to rooms' streams; off unless all three are set. The realm is a host
	// or a base URL.
	ZulipRealm, ZulipBotEmail, ZulipAPIKey string
	// S3 is object storage: S3_ENDPOINT, S3_USE_TLS, S3_BUCKET,
	// DAILY_BUCKET, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION.
	S3 store.S3Config
	// HTTPAddr (PARLEY_HTTP_ADDR) is where serve listens. Default
	// 127.0.0.1:1250.
	HTTPAddr string
	// APIToken (PARLEY_API_TOKEN) protects /v1/*; without it serve refuses
	// a non-loopback address.
	APIToken string
	// APIURL (PARLEY_API_URL) is the server the CLI talks to. Default
	// http://127.0.0.1:1250.
	APIURL string
	// UIBaseURL (UI_BASE_URL) prefixes links in Zulip posts and webhooks.
	// Default http://127.0.0.1:1250.
	UIBaseURL string
	// WorkerHealthAddr (PARLEY_WORKER_HEALTH_ADDR) serves the worker's
	// /healthz when set.
	WorkerHealthAddr string
	// WorkerSlots (PARLEY_WORKER_SLOTS) is the number of tasks one worker
	// runs at once. A run holds a slot per running step: while it
	// transcribes, process_tracks and mixdown_tracks (which wait and mix)
	// and one per track; in its LLM fan-out, the parent and up to
	// PARLEY_LLM_CONCURRENCY children. The tasks mostly wait on providers
	// (media work runs in child processes, mixdowns at a low priority), so
	// slots are cheap; too few, and transcription queues behind the slots
	// waiting parents and mixdowns hold. Default 60 (PARLEY_MAX_RUNS'
	// 10 runs of 4 tracks).
	WorkerSlots int
	// MaxRuns (PARLEY_MAX_RUNS) is how many pipelines run at once across
	// all workers; more queue. Keep the total worker slots at about
	// MaxRuns × (2 + the usual number of tracks). Default 10.
	MaxRuns int
	// LLMRate (PARLEY_LLM_RATE) is the Hatchet rate limit `llm` shared by
	// every worker: units per second that the LLM fan-out's children take
	// before they start (a topic chunk 1, its one call; a subject 2, its
	// detailed and paragraph summary). The engine counts in one-second
	// windows. `parley worker` sets it in the engine at start (the last
	// worker started wins). Default pipeline.DefaultLLMRate (10).
	LLMRate int
	// LLMConcurrency (PARLEY_LLM_CONCURRENCY) is how many of one
	// transcript's TopicChunkProcessing (or SubjectProcessing) children run
	// at once; the rest queue. Default pipeline.DefaultLLMConcurrency (4).
	LLMConcurrency int
	// DrainTimeout (PARLEY_DRAIN_TIMEOUT) bounds how long a stopping
	// worker waits for running tasks. Default 60s.
	DrainTimeout time.Duration
	// WorkerPool (PARLEY_WORKER_POOL) puts the worker in a pool: "cpu"
	// makes it the first choice for the CPU-heavy steps (pad_track,
	// mixdown_tracks: worker label pool=cpu, which those tasks prefer with
	// a weight, not require). It still runs every other step, and without
	// any cpu worker every worker runs them. Default none.
	WorkerPool string
	// MixdownConcurrency (PARLEY_MIXDOWN_CONCURRENCY) caps the mixdowns
	// running at once across all workers (a Hatchet concurrency limit on
	// mixdown_tracks; more wait in its queue). Set it to the number of cpu
	// workers for one mixdown each. Every worker must have the same value.
	// Default 0: no cap (one worker runs as many as its slots allow).
	MixdownConcurrency int
	// MixdownTimeout is mixdown_tracks' fixed deadline when
	// PARLEY_STEP_MIXDOWN_TRACKS_TIMEOUT is set; zero (the default) derives
	// each meeting's from its size: 300 s + 60 s per track + a tenth of its
	// duration (pipeline.MixdownTimeout), the step's declared timeout then
	// being that of the largest meeting accepted (64 tracks of
	// PARLEY_MEDIA_MAX_DURATION).
	MixdownTimeout time.Duration
	// LogLevel (PARLEY_LOG_LEVEL: debug, info, warn, error). Default info.
	LogLevel string

	// Limits on what callers send (SECURITY.md lists them all).

	// MaxUploadBytes (PARLEY_MAX_UPLOAD_BYTES) caps one uploaded track;
	// larger bodies are answered 413. Default 2 GiB (2147483648).
	MaxUploadBytes int64
	// MaxConcurrentUploads (PARLEY_MAX_CONCURRENT_UPLOADS) caps uploads in
	// progress at once; one more is answered 429. Each holds one 5 MiB part
	// in memory. Default 8.
	MaxConcurrentUploads int
	// UploadTimeout (PARLEY_UPLOAD_TIMEOUT) is the deadline of one upload's
	// body. Default 1h.
	UploadTimeout time.Duration
	// ReadTimeout (PARLEY_HTTP_READ_TIMEOUT) is the deadline of every
	// other request's headers and body. Default 30s.
	ReadTimeout time.Duration
	// WebhookBodyTimeout (PARLEY_WEBHOOK_BODY_TIMEOUT) is the deadline of
	// the Daily webhook's body, read only after its headers passed.
	// Default 10s.
	WebhookBodyTimeout time.Duration
	// IdleTimeout (PARLEY_HTTP_IDLE_TIMEOUT) closes idle keep-alive
	// connections. Default 120s.
	IdleTimeout time.Duration
	// EgressAllow (PARLEY_EGRESS_ALLOW) lists the non-public hosts, addresses
	// and CIDRs that room webhooks and Zulip may reach (notify.EgressPolicy);
	// every other loopback, private, link-local or unique-local address is
	// refused. Default: none. The local stack lists parley-sim.
	EgressAllow *notify.EgressPolicy
	// ProcessPrefixes (PARLEY_PROCESS_PREFIXES, comma-separated) are the key
	// prefixes POST /v1/process accepts in S3_BUCKET when it differs from
	// DAILY_BUCKET (keys in DAILY_BUCKET are always accepted, keys under a
	// transcript's own "<id>/" prefix never). Default: none.
	ProcessPrefixes []string
	// Media holds the limits of the `parley media exec` children that
	// check, pad and mix untrusted audio: PARLEY_MEDIA_MAX_MEMORY (bytes,
	// default 1 GiB), PARLEY_MEDIA_MAX_CPU (CPU time per operation,
	// default 1h), PARLEY_MEDIA_MAX_DURATION (length of one track, default
	// 8h).
	Media mediaproc.Limits
	// ReuseOriginals (PARLEY_REUSE_ORIGINALS) lets pad_track send a track
	// to the speech recogniser as it is when it needs no gap filling and
	// its container, codec and size are ones the backend takes (WebM/Ogg
	// Opus, MP3, FLAC, WAV, M4A, at most TRANSCRIPT_MAX_UPLOAD_BYTES);
	// word times are then shifted by the track's offset. false pads every
	// track. Default true.
	ReuseOriginals bool
	// SplitGaps (PARLEY_SPLIT_GAPS), with ReuseOriginals, lets pad_track
	// split a WebM/Ogg Opus track whose only timestamp jumps are mute gaps
	// (media.MinSplitGap and up) into gapless segments by stream copy
	// instead of re-encoding it, each segment at most
	// TRANSCRIPT_MAX_UPLOAD_BYTES and transcribed on its own. false pads
	// such tracks (for a recogniser that does poorly on short pieces).
	// Default true.
	SplitGaps bool
	// MaxConnections (PARLEY_HTTP_MAX_CONNECTIONS) caps the connections
	// serve holds open; more wait to be accepted. Default 1024.
	MaxConnections int
	// TrashRetention (PARLEY_TRASH_RETENTION: "30d", "12h", ...) is how
	// long a transcript stays in the trash before the TrashPurge workflow
	// deletes it for good. Default 30 days.
	TrashRetention time.Duration
	// TrashPurgeCron (PARLEY_TRASH_PURGE_CRON) is when TrashPurge runs.
	// Default hourly ("17 * * * *").
	TrashPurgeCron string
	// FailedRuns configures the failed-runs monitor, which reuses the Zulip
	// settings above (ZULIP_*) and the egress policy:
	// PARLEY_FAILED_RUNS_ZULIP_STREAM is the stream its reports go to
	// (default none: `parley worker` does not register FailedRunsMonitor);
	// PARLEY_FAILED_RUNS_ZULIP_TOPIC their topic (default "failed runs");
	// PARLEY_FAILED_RUNS_CRON when it runs (default hourly, "0 * * * *");
	// PARLEY_FAILED_RUNS_WINDOW the interval GET /v1/runs/failed lists
	// without ?since= (default 1h; keep it at the cron's interval), a tick
	// looking back twice as far so that a late tick loses nothing.
	FailedRuns FailedRunsConfig
	// Email is SMTP: SMTP_HOST (unset: email off), SMTP_PORT (587),
	// SMTP_USERNAME, SMTP_PASSWORD, SMTP_FROM (required with a host),
	// SMTP_CA_FILE (PEM certificates to trust instead of the system's, e.g.
	// a private relay's or parley-sim's), SMTP_TIMEOUT (30s per message).
	// STARTTLS is always required; the host goes through EgressAllow.
	Email notify.EmailConfig
}

// FailedRunsConfig is Config.FailedRuns.
type FailedRunsConfig struct {
	Stream, Topic, Cron string
	Window              time.Duration
}

// loadConfig reads and validates the configuration of env. Every problem
// is reported at once, each naming its variable and what is wrong.
func loadConfig(env *Env) (Config, error) {
	getenv := env.Getenv
	var errs []string
	bad := func(name, format string, args ...any) {
		errs = append(errs, name+": "+fmt.Sprintf(format, args...))
	}
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	boolVar := func(name string, def bool) bool {
		v := get(name, "")
		if v == "" {
			return def
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad(name, "%q is not true or false", v)
		}
		return b
	}
	c := Config{
		DatabaseURL:      get("DATABASE_URL", store.DefaultDatabaseURL),
		HatchetDebug:     boolVar("HATCHET_DEBUG", false),
		HatchetNamespace: get("HATCHET_CLIENT_NAMESPACE", ""),
		DailyAPIURL:      strings.TrimRight(get("DAILY_API_URL", "https://api.daily.co/v1"), "/"),
		DailyAPIKey:      get("DAILY_API_KEY", ""),
		DailyPollCron:    get("PARLEY_DAILY_POLL_CRON", "*/3 * * * *"),
		ZulipRealm:       get("ZULIP_REALM", ""),
		ZulipBotEmail:    get("ZULIP_BOT_EMAIL", ""),
		ZulipAPIKey:      get("ZULIP_API_KEY", ""),
		HTTPAddr:         get("PARLEY_HTTP_ADDR", "127.0.0.1:1250"),
		APIToken:         get("PARLEY_API_TOKEN", ""),
		APIURL:           strings.TrimRight(get("PARLEY_API_URL", "http://127.0.0.1:1250"), "/"),
		UIBaseURL:        strings.TrimRight(get("UI_BASE_URL", "http://127.0.0.1:1250"), "/"),
		WorkerHealthAddr: get("PARLEY_WORKER_HEALTH_ADDR", ""),
		LogLevel:         strings.ToLower(get("PARLEY_LOG_LEVEL", "info")),
		S3: store.S3Config{
			Endpoint:  get("S3_ENDPOINT", ""),
			Bucket:    get("S3_BUCKET", "parley"),
			AccessKey: get("AWS_ACCESS_KEY_ID", ""),
			SecretKey: get("AWS_SECRET_ACCESS_KEY", ""),
			Region:    get("AWS_REGION", "us-east-1"),
		},
	}
	c.S3.DailyBucket = get("DAILY_BUCKET", c.S3.Bucket)
	if v := get("S3_USE_TLS", ""); v != "" {
		b := boolVar("S3_USE_TLS", true)
		c.S3.UseTLS = &b
	}
	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		bad("DATABASE_URL", "must be a postgres:// URL")
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		bad("PARLEY_HTTP_ADDR", "%q is not host:port", c.HTTPAddr)
	}
	for name, v := range map[string]string{"PARLEY_API_URL": c.APIURL, "UI_BASE_URL": c.UIBaseURL} {
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(name, "%q is not an http(s) URL", v)
		}
	}
	if c.S3.Endpoint != "" && strings.Contains(c.S3.Endpoint, "://") {
		bad("S3_ENDPOINT", "give host:port without a scheme (e.g. 127.0.0.1:9000); use S3_USE_TLS for https")
	}
	if n, err := strconv.Atoi(get("PARLEY_WORKER_SLOTS", "60")); err != nil || n < 1 {
		bad("PARLEY_WORKER_SLOTS", "must be a positive number")
	} else {
		c.WorkerSlots = n
	}
	if n, err := strconv.Atoi(get("PARLEY_MAX_RUNS", "10")); err != nil || n < 1 {
		bad("PARLEY_MAX_RUNS", "must be a positive number")
	} else {
		c.MaxRuns = n
	}
	if n, err := strconv.Atoi(get("PARLEY_LLM_RATE", strconv.Itoa(pipeline.DefaultLLMRate))); err != nil || n < 1 {
		bad("PARLEY_LLM_RATE", "must be a positive number (LLM fan-out units per second)")
	} else {
		c.LLMRate = n
	}
	if n, err := strconv.Atoi(get("PARLEY_LLM_CONCURRENCY", strconv.Itoa(pipeline.DefaultLLMConcurrency))); err != nil || n < 1 {
		bad("PARLEY_LLM_CONCURRENCY", "must be a positive number")
	} else {
		c.LLMConcurrency = n
	}
	intVar := func(name string, def, minimum int64) int64 {
		v := get(name, "")
		if v == "" {
			return def
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < minimum {
			bad(name, "%q must be a whole number of at least %d", v, minimum)
			return def
		}
		return n
	}
	durVar := func(name string, def time.Duration) time.Duration {
		v := get(name, "")
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			bad(name, "%q must be a positive duration such as 30s", v)
			return def
		}
		return d
	}
	c.MaxUploadBytes = intVar("PARLEY_MAX_UPLOAD_BYTES", 2<<30, 1)
	if c.MaxUploadBytes > 10000*store.PartSize {
		bad("PARLEY_MAX_UPLOAD_BYTES", "at most %d (10000 parts of %d bytes)", 10000*store.PartSize, store.PartSize)
	}
	c.MaxConcurrentUploads = int(intVar("PARLEY_MAX_CONCURRENT_UPLOADS", 8, 1))
	c.UploadTimeout = durVar("PARLEY_UPLOAD_TIMEOUT", time.Hour)
	c.ReadTimeout = durVar("PARLEY_HTTP_READ_TIMEOUT", 30*time.Second)
	c.WebhookBodyTimeout = durVar("PARLEY_WEBHOOK_BODY_TIMEOUT", 10*time.Second)
	c.IdleTimeout = durVar("PARLEY_HTTP_IDLE_TIMEOUT", 120*time.Second)
	if p, err := notify.ParseEgressAllow(get("PARLEY_EGRESS_ALLOW", "")); err != nil {
		bad("PARLEY_EGRESS_ALLOW", "%v", err)
	} else {
		c.EgressAllow = p
	}
	for _, p := range strings.Split(get("PARLEY_PROCESS_PREFIXES", ""), ",") {
		if p = strings.TrimSpace(p); p != "" {
			if strings.HasPrefix(p, "/") || strings.Contains(p, "..") {
				bad("PARLEY_PROCESS_PREFIXES", "%q is not a key prefix such as recordings/", p)
			}
			c.ProcessPrefixes = append(c.ProcessPrefixes, p)
		}
	}
	c.Media = mediaproc.Limits{
		MaxMemory:   intVar("PARLEY_MEDIA_MAX_MEMORY", mediaproc.DefaultMaxMemory, 256<<20),
		MaxCPU:      durVar("PARLEY_MEDIA_MAX_CPU", mediaproc.DefaultMaxCPU),
		MaxDuration: durVar("PARLEY_MEDIA_MAX_DURATION", media.DefaultMaxTrackDuration),
	}
	if c.Media.MaxCPU < time.Second {
		bad("PARLEY_MEDIA_MAX_CPU", "at least 1s")
	}
	c.ReuseOriginals = boolVar("PARLEY_REUSE_ORIGINALS", true)
	c.SplitGaps = boolVar("PARLEY_SPLIT_GAPS", true)
	c.MaxConnections = int(intVar("PARLEY_HTTP_MAX_CONNECTIONS", 1024, 1))
	if d, err := time.ParseDuration(get("PARLEY_DRAIN_TIMEOUT", "60s")); err != nil || d < 0 {
		bad("PARLEY_DRAIN_TIMEOUT", "must be a duration such as 60s")
	} else {
		c.DrainTimeout = d
	}
	if d, err := parseDays(get("PARLEY_TRASH_RETENTION", "30d")); err != nil || d <= 0 {
		bad("PARLEY_TRASH_RETENTION", "must be a positive duration such as 30d or 12h")
	} else {
		c.TrashRetention = d
	}
	c.TrashPurgeCron = get("PARLEY_TRASH_PURGE_CRON", pipeline.DefaultTrashPurgeCron)
	if len(strings.Fields(c.TrashPurgeCron)) != 5 {
		bad("PARLEY_TRASH_PURGE_CRON", "%q is not a cron expression of five fields", c.TrashPurgeCron)
	}
	c.FailedRuns = FailedRunsConfig{Stream: get("PARLEY_FAILED_RUNS_ZULIP_STREAM", ""),
		Topic:  get("PARLEY_FAILED_RUNS_ZULIP_TOPIC", pipeline.DefaultFailedRunsTopic),
		Cron:   get("PARLEY_FAILED_RUNS_CRON", pipeline.DefaultFailedRunsCron),
		Window: durVar("PARLEY_FAILED_RUNS_WINDOW", pipeline.DefaultFailedRunsWindow)}
	if len(strings.Fields(c.FailedRuns.Cron)) != 5 {
		bad("PARLEY_FAILED_RUNS_CRON", "%q is not a cron expression of five fields", c.FailedRuns.Cron)
	}
	if c.FailedRuns.Stream != "" && c.ZulipRealm == "" {
		bad("PARLEY_FAILED_RUNS_ZULIP_STREAM", "needs Zulip: set ZULIP_REALM, ZULIP_BOT_EMAIL and ZULIP_API_KEY")
	}
	c.DailyWebhookSecret = get("DAILY_WEBHOOK_SECRET", "")
	if c.DailyWebhookSecret != "" {
		if _, err := base64.StdEncoding.DecodeString(c.DailyWebhookSecret); err != nil {
			bad("DAILY_WEBHOOK_SECRET", "is not base64 (Daily gives it base64-encoded)")
		}
	}
	if u, err := url.Parse(c.DailyAPIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("DAILY_API_URL", "%q is not an http(s) URL", c.DailyAPIURL)
	}
	if len(strings.Fields(c.DailyPollCron)) != 5 {
		bad("PARLEY_DAILY_POLL_CRON", "%q is not a cron expression of five fields", c.DailyPollCron)
	}
	c.WorkerPool = strings.ToLower(get("PARLEY_WORKER_POOL", ""))
	if c.WorkerPool != "" && c.WorkerPool != pipeline.PoolCPU {
		bad("PARLEY_WORKER_POOL", "%q is not a pool: cpu, or unset for none", c.WorkerPool)
	}
	c.MixdownConcurrency = int(intVar("PARLEY_MIXDOWN_CONCURRENCY", 0, 0))
	if p, err := pipeline.LoadPolicies(env.environ()); err != nil {
		errs = append(errs, err.Error())
	} else {
		c.Policies = p
		mix := p["mixdown_tracks"]
		if get("PARLEY_STEP_MIXDOWN_TRACKS_TIMEOUT", "") != "" {
			c.MixdownTimeout = mix.Timeout
		} else {
			mix.Timeout = pipeline.MixdownTimeout(pipeline.MaxTracks, c.Media.MaxDuration)
		}
		mix.MaxConcurrent = c.MixdownConcurrency
		p["mixdown_tracks"] = mix
	}
	if pc, err := llm.FromEnv(getenv); err != nil {
		errs = append(errs, err.Error())
	} else {
		c.Providers = pc
	}
	c.Email = notify.EmailConfig{Host: get("SMTP_HOST", ""), Username: get("SMTP_USERNAME", ""),
		Password: getenv("SMTP_PASSWORD"), From: get("SMTP_FROM", ""), Timeout: durVar("SMTP_TIMEOUT", notify.DefaultEmailTimeout),
		Egress: c.EgressAllow}
	c.Email.Port = int(intVar("SMTP_PORT", notify.DefaultSMTPPort, 1))
	if path := get("SMTP_CA_FILE", ""); path != "" {
		if pem, err := os.ReadFile(path); err != nil {
			bad("SMTP_CA_FILE", "%v", err)
		} else if pool := x509.NewCertPool(); !pool.AppendCertsFromPEM(pem) {
			bad("SMTP_CA_FILE", "%s has no PEM certificate", path)
		} else {
			c.Email.RootCAs = pool
		}
	}
	if _, err := notify.NewMailer(c.Email); err != nil {
		bad("SMTP", "%s", parley.ErrorMessage(err))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("PARLEY_LOG_LEVEL", "must be debug, info, warn or error")
	}
	if c.HatchetDebug {
		c.LogLevel = "debug"
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("invalid configuration:\n  %s", strings.Join(errs, "\n  "))
	}
	return c, nil
}

// parseDays parses a Go duration, or a number of days written "30d".
func parseDays(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.ParseFloat(n, 64)
		if err != nil || days < 0 || days > 36500 {
			return 0, fmt.Errorf("%q is not a number of days", v)
		}
		return time.Duration(days * float64(24*time.Hour)), nil
	}
	return time.ParseDuration(v)
}

// needsS3Credentials reports the missing storage settings for commands
// that use storage.
func (c Config) checkS3() error {
	var missing []string
	if c.S3.AccessKey == "" {
		missing = append(missing, "AWS_ACCESS_KEY_ID")
	}
	if c.S3.SecretKey == "" {
		missing = append(missing, "AWS_SECRET_ACCESS_KEY")
	}
	if len(missing) > 0 {
		return fmt.Errorf("storage is not configured: set %s (make up writes them into .stack/env)", strings.Join(missing, " and "))
	}
	return nil
}

// environ returns the environment as KEY=VALUE pairs (os.Environ in
// production), for prefixed settings such as PARLEY_STEP_*.
func (env *Env) environ() []string {
	if env.Environ != nil {
		return env.Environ()
	}
	return nil
}
