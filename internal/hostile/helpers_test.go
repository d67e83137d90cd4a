package hostile_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley/internal/e2e"
)

// maxRSS is what serve and the worker may reach (peak resident memory,
// /proc/<pid>/status VmHWM) whatever a caller sends.
const maxRSS = 300 << 20

// peakRSS reads a process's peak resident set size in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	require.NoError(t, sc.Err())
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// requireBounded checks, at the end of a test, that every process stayed
// under maxRSS and is still the same process (it did not crash).
func requireBounded(t *testing.T, procs ...*e2e.Proc) {
	t.Helper()
	for _, p := range procs {
		rss := peakRSS(t, p.Pid())
		t.Logf("%s (pid %d): peak RSS %.1f MiB", p.Name, p.Pid(), float64(rss)/(1<<20))
		require.Less(t, rss, int64(maxRSS), "%s peak RSS", p.Name)
		require.True(t, p.Running(), "%s is still running", p.Name)
	}
}

// readiness polls /readyz until stopped. serve must answer every poll
// (within 10 s); a 503 — a dependency slow to answer its 5 s ping — is
// tolerated once in a row on this shared machine, not twice.
type readiness struct {
	ok, unanswered, notReady, twice atomic.Int64
	last                            atomic.Value // string
	stop                            chan struct{}
	done                            chan struct{}
}

func watchReady(t *testing.T, base string) *readiness {
	r := &readiness{stop: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second}
	go func() {
		defer close(r.done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		prevFailed := false
		for {
			resp, err := client.Get(base + "/readyz")
			failed := true
			switch {
			case err != nil:
				r.unanswered.Add(1)
				r.last.Store(err.Error())
			default:
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					r.ok.Add(1)
					failed = false
				} else {
					r.notReady.Add(1)
					r.last.Store(fmt.Sprintf("%d %s", resp.StatusCode, b))
				}
			}
			if failed && prevFailed {
				r.twice.Add(1)
			}
			prevFailed = failed
			select {
			case <-r.stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { r.finish() })
	return r
}

func (r *readiness) finish() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
}

// requireAlwaysReady stops the watcher and checks that /readyz answered
// every time, 200 but for single hiccups.
func (r *readiness) requireAlwaysReady(t *testing.T) {
	t.Helper()
	r.finish()
	last, _ := r.last.Load().(string)
	t.Logf("/readyz: %d ok, %d not ready, %d unanswered (last failure: %s)", r.ok.Load(), r.notReady.Load(), r.unanswered.Load(), last)
	require.Zero(t, r.unanswered.Load(), "/readyz did not answer (last: %s)", last)
	require.Zero(t, r.twice.Load(), "/readyz failed twice in a row (last: %s)", last)
	require.Positive(t, r.ok.Load())
}

// hostileWAV is a WAV file whose header claims what the caller says
// (format tag, channels, rate, block_align), then n bytes of data.
func hostileWAV(format, channels uint16, rate uint32, blockAlign, bits uint16, n int) []byte {
	var b bytes.Buffer
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, uint32(36+n))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), format, channels, rate, rate * uint32(blockAlign), blockAlign, bits} {
		_ = binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	_ = binary.Write(&b, binary.LittleEndian, uint32(n))
	for i := range n {
		b.WriteByte(byte(i * 37))
	}
	return b.Bytes()
}

// wavHeader is the header of a valid 16 kHz mono 16-bit WAV with n bytes
// of samples.
func wavHeader(n int) []byte {
	h := hostileWAV(1, 1, 16000, 2, 16, 0)
	binary.LittleEndian.PutUint32(h[4:], uint32(36+n))
	binary.LittleEndian.PutUint32(h[40:], uint32(n))
	return h
}

// listener is a local HTTP server that counts the requests it gets: the
// address a hostile input points Parley at.
type listener struct {
	URL  string
	Host string
	n    atomic.Int64
}

func newListener(t *testing.T) *listener {
	l := &listener{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.n.Add(1)
		w.WriteHeader(http.StatusForbidden)
	}))
	t.Cleanup(srv.Close)
	l.URL, l.Host = srv.URL, srv.Listener.Addr().String()
	return l
}

func (l *listener) Requests() int64 { return l.n.Load() }

// request sends one request and returns the status and body.
func request(t *testing.T, method, url string, body io.Reader, headers map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, body)
	require.NoError(t, err)
	for k, v := range headers {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// upload posts a track body to a transcript; status 0 and the error when
// there was no answer. It asserts nothing, so goroutines may call it.
func upload(s *e2e.Stack, id, name string, body io.Reader, size int64) (int, string) {
	req, err := http.NewRequest("POST", s.APIURL+"/v1/transcripts/"+id+"/tracks", body)
	if err != nil {
		return 0, err.Error()
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	if s.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// parallel runs fn(i) for i in [0, n) at once and waits.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(i)
		}()
	}
	wg.Wait()
}
