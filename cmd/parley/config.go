package main

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/parley-dev/parley/store"
)

// Config is everything the parley binary reads from the environment
// (contract section 2). Providers (ASR, LLM) are configured by llm.FromEnv.
type Config struct {
	// DatabaseURL (DATABASE_URL) is the application database, never the
	// Hatchet one. Default store.DefaultDatabaseURL.
	DatabaseURL string
	// HatchetDebug (HATCHET_DEBUG=true) turns on debug logs of the Hatchet
	// SDK and of the task adapter.
	HatchetDebug bool
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
	// runs at once. Default 20.
	WorkerSlots int
	// MaxRuns (PARLEY_MAX_RUNS) is how many pipelines run at once across
	// all workers; more queue. Keep it at most half the total worker
	// slots. Default 10.
	MaxRuns int
	// DrainTimeout (PARLEY_DRAIN_TIMEOUT) bounds how long a stopping
	// worker waits for running tasks. Default 60s.
	DrainTimeout time.Duration
	// LogLevel (PARLEY_LOG_LEVEL: debug, info, warn, error). Default info.
	LogLevel string
}

// loadConfig reads and validates the configuration. Errors name the
// variable and what is wrong with it.
func loadConfig(getenv func(string) string) (Config, error) {
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
	if n, err := strconv.Atoi(get("PARLEY_WORKER_SLOTS", "20")); err != nil || n < 1 {
		bad("PARLEY_WORKER_SLOTS", "must be a positive number")
	} else {
		c.WorkerSlots = n
	}
	if n, err := strconv.Atoi(get("PARLEY_MAX_RUNS", "10")); err != nil || n < 1 {
		bad("PARLEY_MAX_RUNS", "must be a positive number")
	} else {
		c.MaxRuns = n
	}
	if d, err := time.ParseDuration(get("PARLEY_DRAIN_TIMEOUT", "60s")); err != nil || d < 0 {
		bad("PARLEY_DRAIN_TIMEOUT", "must be a duration such as 60s")
	} else {
		c.DrainTimeout = d
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

// environ returns the process environment as KEY=VALUE pairs via getenv's
// source (os.Environ in production).
func environ(env *Env) []string {
	if env.Environ != nil {
		return env.Environ()
	}
	return nil
}
