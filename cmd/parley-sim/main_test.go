package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley/sim"
)

// syncBuffer is a bytes.Buffer safe for the server's and the test's
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunServesUntilCancelled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fixtures := filepath.Join(dir, "daily.json")
	require.NoError(t, os.WriteFile(fixtures, []byte(`{"recording":{"id":"r1","mtgSessionId":"m1"},"participants":[]}`), 0o644))
	logPath := filepath.Join(dir, "requests.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	baseCh := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-log", logPath, "-daily-fixtures", fixtures,
			"-asr-fail-next", "2", "-asr-error-status", "503", "-llm-malformed-once", "-webhook-latency", "10ms",
			"-asr-audio-speed", "60", "-asr-url-audio-speed", "30", "-llm-latency", "1500ms", "-llm-ms-per-100-tokens", "20"},
			&stderr, func(base string) { baseCh <- base })
	}()
	var base string
	select {
	case base = <-baseCh:
	case err := <-done:
		t.Fatalf("run ended: %v\n%s", err, stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("parley-sim did not start")
	}
	out := stderr.String()
	require.Contains(t, out, "SIMULATOR")
	require.Contains(t, out, "not a real")
	for _, v := range []string{"TRANSCRIPT_URL=" + base + "/v1", "LLM_URL=" + base + "/v1", "DAILY_API_URL=" + base + "/v1",
		"ZULIP_REALM=" + base} {
		require.Contains(t, out, v)
	}

	c := &sim.Client{Base: base}
	faults, err := c.Faults(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]sim.Fault{
		sim.EndpointASR:     {FailNext: 2, ErrorStatus: 503, AudioSpeed: 60},
		sim.EndpointASRURL:  {AudioSpeed: 30, ErrorStatus: 500},
		sim.EndpointLLM:     {MalformedOnce: true, ErrorStatus: 500, LatencyMS: 1500, MSPer100Tokens: 20},
		sim.EndpointWebhook: {LatencyMS: 10, ErrorStatus: 500},
	}, faults)
	recs, err := c.DailyRecordings(ctx)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	resp, err := http.Get(base + "/_sim/health")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	resp, err = http.Post(base+"/webhook/x", "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	resp.Body.Close()
	log, err := os.ReadFile(logPath)
	require.NoError(t, err)
	require.Contains(t, string(log), `"endpoint":"webhook"`)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err, "graceful shutdown")
	case <-time.After(10 * time.Second):
		t.Fatal("parley-sim did not stop")
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-llm-error-rate", "2"}, "-llm-error-rate 2 is not between 0 and 1"},
		{[]string{"-asr-error-status", "200"}, "-asr-error-status 200 is not a 4xx or 5xx status"},
		{[]string{"-daily-fixtures", "/nonexistent.json"}, "daily fixtures"},
		{[]string{"-nope"}, "flag provided but not defined"},
		{[]string{"-asr-audio-speed", "-1"}, "must not be negative"},
		{[]string{"extra"}, "unexpected arguments"},
	} {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			var stderr syncBuffer
			err := run(context.Background(), append([]string{"-addr", "127.0.0.1:0"}, tt.args...), &stderr, nil)
			require.ErrorContains(t, err, tt.want)
		})
	}
}
