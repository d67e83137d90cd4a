//go:build chaos

package hostile_test

// The heavy hostile cases (make chaos): gigabytes of uploads and hundreds
// of connections, too slow for make test on a 2-core machine.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/internal/e2e"
)

// zeros is an endless reader of zero bytes (silence, after a WAV header).
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestChaosHostileParallelUploads sends 12 chunked uploads of 200 MB at
// once (the length unknown to the server, as curl -F or a chunked body
// sends it). serve streams each to storage in 5 MiB parts and turns away
// what is over its concurrency cap with 429: its memory stays bounded.
func TestChaosHostileParallelUploads(t *testing.T) {
	ctx := context.Background()
	s := e2e.New(t, e2e.Options{})
	serve := s.StartServe()
	ready := watchReady(t, s.APIURL)
	var tr parley.Transcript
	require.Equal(t, 201, s.API(ctx, "POST", "/v1/transcripts", map[string]any{}, &tr))
	const size = 200 << 20
	statuses := make([]int, 12)
	bodies := make([]string, 12)
	t0 := time.Now()
	parallel(len(statuses), func(i int) {
		body := io.MultiReader(strings.NewReader(string(wavHeader(size))), io.LimitReader(zeros{}, size))
		statuses[i], bodies[i] = upload(s, tr.ID, fmt.Sprintf("big-%d.wav", i), body, -1)
	})
	t.Logf("12 × 200 MB chunked uploads in %s: %v", time.Since(t0).Round(time.Millisecond), statuses)
	created := 0
	for i, st := range statuses {
		switch st {
		case 201:
			created++
			var up struct {
				Size int64 `json:"size"`
			}
			require.NoError(t, json.Unmarshal([]byte(bodies[i]), &up))
			require.Equal(t, int64(size+44), up.Size)
		case 429:
			require.Contains(t, bodies[i], "too many uploads at once")
		default:
			t.Fatalf("upload %d: %d %s", i, st, bodies[i])
		}
	}
	require.Positive(t, created)
	keys, err := s.S3.List(ctx, s.S3.Bucket(), tr.ID+"/uploads/")
	require.NoError(t, err)
	require.Len(t, keys, created)
	for _, k := range keys {
		require.NoError(t, s.S3.Delete(ctx, s.S3.Bucket(), k))
	}
	ready.requireAlwaysReady(t)
	requireBounded(t, serve)
}

// TestChaosHostileSlowWebhookConnections opens 500 connections to the
// unauthenticated Daily webhook at once. Half send no signature: they are
// answered 401 before their body is read. Half send well-formed headers
// and then a body one byte a second: they are cut at the body deadline
// with 408. serve keeps answering /readyz and other requests meanwhile.
func TestChaosHostileSlowWebhookConnections(t *testing.T) {
	s := e2e.New(t, e2e.Options{Env: map[string]string{"PARLEY_WEBHOOK_BODY_TIMEOUT": "5s"}})
	serve := s.StartServe()
	ready := watchReady(t, s.APIURL)
	addr := strings.TrimPrefix(s.APIURL, "http://")
	const n = 500
	var unauthorized, timedOut, other atomic.Int64
	var slowest atomic.Int64
	t0 := time.Now()
	errs := make([]error, n)
	parallel(n, func(i int) {
		errs[i] = func() error {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return err
			}
			defer c.Close()
			start := time.Now()
			head := "POST /v1/daily/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n" +
				"X-Webhook-Timestamp: " + strconv.FormatInt(time.Now().Unix(), 10) + "\r\n"
			if i%2 == 1 {
				head += "X-Webhook-Signature: " + strings.Repeat("A", 43) + "=\r\n"
			}
			if _, err := io.WriteString(c, head+"\r\n{"); err != nil {
				return err
			}
			answered := make(chan struct{})
			go func() { // one byte a second until answered
				for {
					select {
					case <-answered:
						return
					case <-time.After(time.Second):
						if _, err := c.Write([]byte(" ")); err != nil {
							return
						}
					}
				}
			}()
			defer close(answered)
			_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
			buf := make([]byte, 12)
			if _, err := io.ReadFull(c, buf); err != nil {
				return fmt.Errorf("connection %d: no answer: %w", i, err)
			}
			took := time.Since(start)
			for {
				old := slowest.Load()
				if int64(took) <= old || slowest.CompareAndSwap(old, int64(took)) {
					break
				}
			}
			switch string(buf[9:12]) {
			case "401":
				unauthorized.Add(1)
			case "408":
				timedOut.Add(1)
			default:
				other.Add(1)
			}
			return nil
		}()
	})
	for _, err := range errs {
		require.NoError(t, err)
	}
	t.Logf("%d connections in %s: %d answered 401, %d answered 408, %d other; slowest answer after %s",
		n, time.Since(t0).Round(time.Millisecond), unauthorized.Load(), timedOut.Load(), other.Load(), time.Duration(slowest.Load()).Round(time.Millisecond))
	require.Equal(t, int64(n/2), unauthorized.Load())
	require.Equal(t, int64(n/2), timedOut.Load())
	require.Less(t, time.Duration(slowest.Load()), 20*time.Second)
	status, _ := request(t, "GET", s.APIURL+"/v1/transcripts", nil, nil)
	require.Equal(t, 200, status)
	ready.requireAlwaysReady(t)
	requireBounded(t, serve)
}
