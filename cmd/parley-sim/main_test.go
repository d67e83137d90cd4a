package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/smtp"
	"os"
	"path/filepath"
	"regexp"
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
		{[]string{"-smtp-cert", "x.pem"}, "-smtp-cert needs -smtp-addr"},
	} {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			var stderr syncBuffer
			err := run(context.Background(), append([]string{"-addr", "127.0.0.1:0"}, tt.args...), &stderr, nil)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// TestRunSMTPSink: -smtp-addr starts the sink with STARTTLS (its
// certificate in -smtp-cert), and -smtp-fail-next/-smtp-error-status answer
// the first message with that SMTP code.
func TestRunSMTPSink(t *testing.T) {
	t.Parallel()
	certPath := filepath.Join(t.TempDir(), "smtp.pem")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	baseCh := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-smtp-addr", "127.0.0.1:0", "-smtp-cert", certPath,
			"-smtp-fail-next", "1", "-smtp-error-status", "451"}, &stderr, func(base string) { baseCh <- base })
	}()
	var base string
	select {
	case base = <-baseCh:
	case err := <-done:
		t.Fatalf("run ended: %v\n%s", err, stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("parley-sim did not start")
	}
	m := regexp.MustCompile(`SMTP sink on (\S+) `).FindStringSubmatch(stderr.String())
	require.Len(t, m, 2, stderr.String())
	pemBytes, err := os.ReadFile(certPath)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pemBytes))

	send := func() error {
		c, err := smtp.Dial(m[1])
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.StartTLS(&tls.Config{ServerName: "127.0.0.1", RootCAs: pool}); err != nil {
			return err
		}
		if err := c.Mail("parley@example.com"); err != nil {
			return err
		}
		if err := c.Rcpt("ana@example.com"); err != nil {
			return err
		}
		w, err := c.Data()
		if err != nil {
			return err
		}
		if _, err := io.WriteString(w, "Subject: hi\r\n\r\nhello\r\n"); err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
		return c.Quit()
	}
	require.ErrorContains(t, send(), "451")
	require.NoError(t, send())
	msgs, err := (&sim.Client{Base: base}).SMTPMessages(ctx)
	require.NoError(t, err)
	require.Len(t, msgs, 2)
	require.Equal(t, []int{451, 250}, []int{msgs[0].Status, msgs[1].Status})
	require.True(t, msgs[1].TLS)
	require.Equal(t, "hi", msgs[1].Subject)
	require.Equal(t, "hello", strings.TrimSpace(msgs[1].Text))
	cancel()
	require.NoError(t, <-done)
}
