package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley/notify"
	"github.com/parley-dev/parley/pipeline"
	"github.com/parley-dev/parley/store"
)

// envOf is an Env whose environment is vars.
func envOf(vars map[string]string) *Env {
	return &Env{
		Getenv: func(k string) string { return vars[k] },
		Environ: func() []string {
			var out []string
			for k, v := range vars {
				out = append(out, k+"="+v)
			}
			return out
		},
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	t.Parallel()
	c, err := loadConfig(envOf(nil))
	require.NoError(t, err)
	require.Equal(t, store.DefaultDatabaseURL, c.DatabaseURL)
	require.Equal(t, "127.0.0.1:1250", c.HTTPAddr)
	require.Equal(t, "http://127.0.0.1:1250", c.APIURL)
	require.Equal(t, "http://127.0.0.1:1250", c.UIBaseURL)
	require.Equal(t, 60, c.WorkerSlots)
	require.Equal(t, 10, c.MaxRuns)
	require.True(t, c.ReuseOriginals)
	require.True(t, c.SplitGaps)
	require.Equal(t, time.Minute, c.DrainTimeout)
	require.Equal(t, "info", c.LogLevel)
	require.Equal(t, "parley", c.S3.Bucket)
	require.Equal(t, "parley", c.S3.DailyBucket, "DAILY_BUCKET defaults to S3_BUCKET")
	require.Equal(t, "us-east-1", c.S3.Region)
	require.Nil(t, c.S3.UseTLS)
	require.Equal(t, int64(2<<30), c.MaxUploadBytes)
	require.Equal(t, 8, c.MaxConcurrentUploads)
	require.Equal(t, time.Hour, c.UploadTimeout)
	require.Equal(t, 30*24*time.Hour, c.TrashRetention)
	require.Equal(t, "https://api.daily.co/v1", c.DailyAPIURL)
	require.Equal(t, "*/3 * * * *", c.DailyPollCron)
	require.Empty(t, c.DailyAPIKey)
	require.Equal(t, pipeline.DefaultPolicies(), c.Policies)
	require.Equal(t, "gpt-4o-mini", c.Providers.LLMModel)
	require.Equal(t, 1024, c.MaxConnections)
	require.Equal(t, [2]int{pipeline.DefaultLLMRate, pipeline.DefaultLLMConcurrency}, [2]int{c.LLMRate, c.LLMConcurrency})
	require.Equal(t, FailedRunsConfig{Topic: "failed runs", Cron: "0 * * * *", Window: time.Hour}, c.FailedRuns, "the monitor is off")
}

func TestLoadConfigReadsEveryVariable(t *testing.T) {
	t.Parallel()
	c, err := loadConfig(envOf(map[string]string{
		"DATABASE_URL": "postgresql://db.example:5433/p", "HATCHET_DEBUG": "true", "HATCHET_CLIENT_NAMESPACE": "ns",
		"S3_ENDPOINT": "127.0.0.1:9000", "S3_USE_TLS": "false", "S3_BUCKET": "work", "DAILY_BUCKET": "raw",
		"PARLEY_HTTP_ADDR": "0.0.0.0:8080", "PARLEY_API_TOKEN": "tok", "PARLEY_API_URL": "https://p.example/",
		"PARLEY_WORKER_SLOTS": "4", "PARLEY_MAX_RUNS": "2", "PARLEY_DRAIN_TIMEOUT": "5s", "PARLEY_LOG_LEVEL": "WARN",
		"DAILY_API_KEY": "k", "DAILY_API_URL": "http://sim:9999/v1/", "DAILY_WEBHOOK_SECRET": "c2VjcmV0",
		"PARLEY_DAILY_POLL_CRON": "*/5 * * * *", "ZULIP_REALM": "chat.example", "ZULIP_BOT_EMAIL": "b@example.com", "ZULIP_API_KEY": "z",
		"PARLEY_STEP_FINALIZE_RETRIES": "7", "LLM_MODEL": "qwen", "PARLEY_TRASH_RETENTION": "12h",
		"PARLEY_PROCESS_PREFIXES": "recordings/, uploads/", "PARLEY_LLM_RATE": "3", "PARLEY_LLM_CONCURRENCY": "12",
		"SMTP_HOST": "smtp.example.com", "SMTP_PORT": "2525", "SMTP_USERNAME": "u", "SMTP_PASSWORD": " pw ",
		"SMTP_FROM": "parley@example.com", "SMTP_TIMEOUT": "5s",
		"PARLEY_FAILED_RUNS_ZULIP_STREAM": "ops", "PARLEY_FAILED_RUNS_ZULIP_TOPIC": "pipeline", "PARLEY_FAILED_RUNS_CRON": "5 */2 * * *",
		"PARLEY_FAILED_RUNS_WINDOW": "2h", "PARLEY_SPLIT_GAPS": "false",
	}))
	require.NoError(t, err)
	require.Equal(t, "postgresql://db.example:5433/p", c.DatabaseURL)
	require.True(t, c.HatchetDebug)
	require.Equal(t, "debug", c.LogLevel, "HATCHET_DEBUG turns the logs to debug")
	require.Equal(t, "ns", c.HatchetNamespace)
	require.False(t, *c.S3.UseTLS)
	require.Equal(t, "raw", c.S3.DailyBucket)
	require.Equal(t, "https://p.example", c.APIURL)
	require.Equal(t, [2]int{4, 2}, [2]int{c.WorkerSlots, c.MaxRuns})
	require.Equal(t, [2]bool{true, false}, [2]bool{c.ReuseOriginals, c.SplitGaps})
	require.Equal(t, 5*time.Second, c.DrainTimeout)
	require.Equal(t, "http://sim:9999/v1", c.DailyAPIURL)
	require.Equal(t, [3]string{"chat.example", "b@example.com", "z"}, [3]string{c.ZulipRealm, c.ZulipBotEmail, c.ZulipAPIKey})
	require.Equal(t, 7, c.Policies["finalize"].Retries)
	require.Equal(t, "qwen", c.Providers.LLMModel)
	require.Equal(t, 12*time.Hour, c.TrashRetention)
	require.Equal(t, []string{"recordings/", "uploads/"}, c.ProcessPrefixes)
	require.Equal(t, [2]int{3, 12}, [2]int{c.LLMRate, c.LLMConcurrency})
	require.Equal(t, notify.EmailConfig{Host: "smtp.example.com", Port: 2525, Username: "u", Password: " pw ",
		From: "parley@example.com", Timeout: 5 * time.Second, Egress: c.EgressAllow}, c.Email, "the password is taken as it is")
	require.Equal(t, FailedRunsConfig{Stream: "ops", Topic: "pipeline", Cron: "5 */2 * * *", Window: 2 * time.Hour}, c.FailedRuns)
}

func TestLoadConfigNamesWhatIsWrong(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, value, want string
	}{
		{"DATABASE_URL", "mysql://x", "must be a postgres:// URL"},
		{"HATCHET_DEBUG", "sometimes", "is not true or false"},
		{"PARLEY_HTTP_ADDR", "1250", "is not host:port"},
		{"PARLEY_API_URL", "ftp://x", "is not an http(s) URL"},
		{"UI_BASE_URL", "example.com", "is not an http(s) URL"},
		{"S3_ENDPOINT", "http://127.0.0.1:9000", "without a scheme"},
		{"PARLEY_WORKER_SLOTS", "0", "must be a positive number"},
		{"PARLEY_MAX_RUNS", "many", "must be a positive number"},
		{"PARLEY_LLM_RATE", "0", "must be a positive number"},
		{"PARLEY_LLM_CONCURRENCY", "lots", "must be a positive number"},
		{"PARLEY_MAX_UPLOAD_BYTES", "-1", "must be a whole number"},
		{"PARLEY_UPLOAD_TIMEOUT", "forever", "positive duration"},
		{"PARLEY_DRAIN_TIMEOUT", "soon", "must be a duration"},
		{"PARLEY_LOG_LEVEL", "loud", "must be debug, info, warn or error"},
		{"PARLEY_TRASH_RETENTION", "0d", "positive duration"},
		{"PARLEY_TRASH_PURGE_CRON", "hourly", "five fields"},
		{"PARLEY_DAILY_POLL_CRON", "* *", "five fields"},
		{"PARLEY_FAILED_RUNS_CRON", "hourly", "five fields"},
		{"PARLEY_FAILED_RUNS_WINDOW", "0s", "positive duration"},
		{"PARLEY_FAILED_RUNS_ZULIP_STREAM", "ops", "needs Zulip"},
		{"DAILY_WEBHOOK_SECRET", "not base64!", "is not base64"},
		{"DAILY_API_URL", "daily", "is not an http(s) URL"},
		{"PARLEY_STEP_FINALIZE_TIMEOUT", "1 minute", "PARLEY_STEP_FINALIZE_TIMEOUT"},
		{"LLM_CONTEXT_WINDOW", "big", "LLM_CONTEXT_WINDOW"},
		{"PARLEY_PROCESS_PREFIXES", "../etc", "is not a key prefix"},
		{"SMTP_HOST", "smtp.example.com", "SMTP_FROM: required when SMTP_HOST is set"},
		{"SMTP_PORT", "0", "must be a whole number of at least 1"},
		{"SMTP_TIMEOUT", "long", "positive duration"},
		{"SMTP_CA_FILE", "/nonexistent/ca.pem", "no such file"},
		{"PARLEY_WORKER_POOL", "gpu", "is not a pool"},
		{"PARLEY_MIXDOWN_CONCURRENCY", "-1", "must be a whole number of at least 0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadConfig(envOf(map[string]string{tt.name: tt.value}))
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.name)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestLoadConfigReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	_, err := loadConfig(envOf(map[string]string{"PARLEY_WORKER_SLOTS": "x", "PARLEY_LOG_LEVEL": "x", "PARLEY_STEP_NOPE_TIMEOUT": "1m"}))
	require.Error(t, err)
	for _, name := range []string{"PARLEY_WORKER_SLOTS", "PARLEY_LOG_LEVEL", "PARLEY_STEP_NOPE_TIMEOUT"} {
		require.Contains(t, err.Error(), name)
	}
	require.True(t, strings.HasPrefix(err.Error(), "invalid configuration:"))
}

func TestParseDays(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{{"30d", 30 * 24 * time.Hour, true}, {"0.5d", 12 * time.Hour, true}, {"90m", 90 * time.Minute, true},
		{"d", 0, false}, {"-1d", 0, false}, {"99999d", 0, false}, {"soon", 0, false}} {
		got, err := parseDays(tt.in)
		require.Equal(t, tt.ok, err == nil, tt.in)
		if tt.ok {
			require.Equal(t, tt.want, got, tt.in)
		}
	}
}

func TestLoopback(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{"127.0.0.1:1250": true, "localhost:80": true, "[::1]:1": true,
		"0.0.0.0:1250": false, "10.0.0.1:80": false, ":1250": false, "nonsense": false} {
		require.Equal(t, want, loopback(addr), addr)
	}
}

// TestLoadConfigMixdownAndPool: the worker's pool, the mixdown's cap and
// its timeout, declared as the bound of the largest meeting (which follows
// PARLEY_MEDIA_MAX_DURATION) unless PARLEY_STEP_MIXDOWN_TRACKS_TIMEOUT
// fixes it.
func TestLoadConfigMixdownAndPool(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		env      map[string]string
		pool     string
		declared time.Duration
		fixed    time.Duration
		cap      int
	}{
		{"Defaults", nil, "", pipeline.DefaultMixdownTimeout, 0, 0},
		{"CPUPoolAndCap", map[string]string{"PARLEY_WORKER_POOL": "CPU", "PARLEY_MIXDOWN_CONCURRENCY": "2"}, "cpu", pipeline.DefaultMixdownTimeout, 0, 2},
		{"LongerTracks", map[string]string{"PARLEY_MEDIA_MAX_DURATION": "12h"}, "", pipeline.MixdownTimeout(64, 12*time.Hour), 0, 0},
		{"FixedTimeout", map[string]string{"PARLEY_STEP_MIXDOWN_TRACKS_TIMEOUT": "45m", "PARLEY_MEDIA_MAX_DURATION": "12h"}, "", 45 * time.Minute, 45 * time.Minute, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := loadConfig(envOf(tt.env))
			require.NoError(t, err)
			require.Equal(t, tt.pool, c.WorkerPool)
			mix := c.Policies["mixdown_tracks"]
			require.Equal(t, tt.declared, mix.Timeout)
			require.Equal(t, tt.fixed, c.MixdownTimeout)
			require.Equal(t, tt.cap, mix.MaxConcurrent)
			require.Equal(t, pipeline.PoolCPU, mix.Pool, "the mixdown prefers the CPU pool whatever this worker's pool")
		})
	}
}
