package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley/internal/e2e"
	"github.com/parley-dev/parley/pipeline"
)

// lockedBuffer collects the server's logs from its goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestMainServes drives `parley serve` in process, on port 0, against the
// real stack (its own schema, bucket and Hatchet namespace), and stops it.
func TestMainServes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := e2e.New(t, e2e.Options{Env: map[string]string{"PARLEY_HTTP_ADDR": "127.0.0.1:0", "PARLEY_API_TOKEN": "main-test-token"}})
	vars := map[string]string{}
	for _, kv := range s.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	env := envOf(vars)
	logs := &lockedBuffer{}
	env.Stdout, env.Stderr = io.Discard, logs
	cfg, err := loadConfig(env)
	require.NoError(t, err)

	m := &Main{Config: cfg, Env: env}
	require.Empty(t, m.Addr())
	require.NoError(t, m.Run(ctx))
	base := "http://" + m.Addr()
	require.NotEqual(t, "http://127.0.0.1:0", base, "port 0 gets a real port")

	get := func(path, token string) (int, []byte) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, b
	}
	status, body := get("/healthz", "")
	require.Equal(t, http.StatusOK, status, string(body))
	status, body = get("/readyz", "")
	require.Equal(t, http.StatusOK, status, "database, Hatchet and storage answer: %s", body)
	status, _ = get("/v1/pipeline", "")
	require.Equal(t, http.StatusUnauthorized, status, "PARLEY_API_TOKEN protects /v1")
	status, body = get("/v1/pipeline", "main-test-token")
	require.Equal(t, http.StatusOK, status, string(body))
	var table struct {
		Steps []pipeline.StepInfo `json:"steps"`
	}
	require.NoError(t, json.Unmarshal(body, &table))
	require.Len(t, table.Steps, len(pipeline.StepTable))
	status, _ = get("/", "")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, logs.String(), "serving")

	require.NoError(t, m.Close())
	_, err = http.Get(base + "/healthz")
	require.Error(t, err, "nothing listens after Close")
	require.NoError(t, m.Close(), "Close twice is harmless")
}

func TestMainRefusesAPublicAddressWithoutToken(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(envOf(map[string]string{"PARLEY_HTTP_ADDR": "0.0.0.0:0"}))
	require.NoError(t, err)
	m := &Main{Config: cfg, Env: envOf(nil)}
	err = m.Run(context.Background())
	require.ErrorContains(t, err, "PARLEY_API_TOKEN")
	require.Empty(t, m.Addr())
	require.NoError(t, m.Close())
}
