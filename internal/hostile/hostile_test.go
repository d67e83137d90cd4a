package hostile_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/daily"
	"github.com/parley-dev/parley/internal/e2e"
)

// The e2e stack's DAILY_WEBHOOK_SECRET.
const webhookSecret = "c2VjcmV0LWZvci10ZXN0cw=="

// TestHostileHTTP attacks serve's HTTP surface without a token (the
// loopback mode): DNS rebinding, cross-site requests, media bombs and
// playlists at the upload check, too many tracks, oversize bodies, a slow
// Daily webhook.
func TestHostileHTTP(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := e2e.New(t, e2e.Options{Env: map[string]string{"PARLEY_MAX_UPLOAD_BYTES": strconv.Itoa(8 << 20),
		"PARLEY_WEBHOOK_BODY_TIMEOUT": "2s", "PARLEY_HTTP_READ_TIMEOUT": "4s"}})
	serve := s.StartServe()
	ready := watchReady(t, s.APIURL)
	u := s.APIURL
	jsonCT := map[string]string{"Content-Type": "application/json"}
	newTranscript := func(t *testing.T) string {
		var tr parley.Transcript
		require.Equal(t, 201, s.API(ctx, "POST", "/v1/transcripts", map[string]any{}, &tr))
		return tr.ID
	}
	count := func(t *testing.T) int {
		var n int
		require.NoError(t, s.DB.Pool().QueryRow(ctx, `SELECT count(*) FROM transcripts`).Scan(&n))
		return n
	}

	t.Run("RebindingHost", func(t *testing.T) {
		// A page at attacker.example whose name now resolves to 127.0.0.1.
		for _, host := range []string{"attacker.example", "attacker.example:80", "127.0.0.1.nip.io", "0x7f000001.example"} {
			status, body := request(t, "GET", u+"/v1/transcripts", nil, map[string]string{"Host": host})
			require.Equal(t, 403, status, host)
			require.Contains(t, body, "is not a loopback name", host)
		}
		for _, host := range []string{"localhost", "127.0.0.1", "[::1]:1250", "app.localhost"} {
			status, body := request(t, "GET", u+"/v1/transcripts", nil, map[string]string{"Host": host})
			require.Equal(t, 200, status, "%s: %s", host, body)
		}
	})
	t.Run("CrossSiteRequests", func(t *testing.T) {
		before := count(t)
		// What a page on another site can send without a preflight.
		for name, h := range map[string]map[string]string{
			"TextPlain": {"Content-Type": "text/plain"},
			"Form":      {"Content-Type": "application/x-www-form-urlencoded"},
			"NoType":    {},
		} {
			status, body := request(t, "POST", u+"/v1/transcripts", strings.NewReader(`{"name":"csrf"}`), h)
			require.Equal(t, 415, status, name)
			require.Contains(t, body, "Content-Type must be application/json", name)
			status, _ = request(t, "POST", u+"/v1/process", strings.NewReader(`{"tracks":[{"s3_key":"x"}]}`), h)
			require.Equal(t, 415, status, name)
		}
		status, body := request(t, "POST", u+"/v1/transcripts", strings.NewReader(`{"name":"csrf"}`),
			map[string]string{"Content-Type": "application/json", "Origin": "https://attacker.example"})
		require.Equal(t, 403, status)
		require.Contains(t, body, "attacker.example")
		require.Equal(t, before, count(t), "nothing was created")
		status, _ = request(t, "POST", u+"/v1/transcripts", strings.NewReader(`{}`),
			map[string]string{"Content-Type": "application/json; charset=utf-8", "Origin": u})
		require.Equal(t, 201, status, "the page's own origin")
	})
	t.Run("MediaBombsAtUpload", func(t *testing.T) {
		target := newListener(t)
		playlist := fmt.Sprintf("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n%s/latest/meta-data/?x.ts\n#EXT-X-ENDLIST\n", target.URL)
		concat := fmt.Sprintf("ffconcat version 1.0\nfile '%s/a.wav'\nfile '/etc/passwd'\n", target.URL)
		for _, tc := range []struct{ name, file, msg string }{
			{"OneHertz", "onehz.wav", "a sample rate of 1 Hz is outside 8000 to 192000 Hz"},
			{"BlockAlignBomb", "bomb.wav", "a sample rate of 1 Hz"},
			{"HLSPlaylist", "meeting.bin", "not a supported audio file"},
			{"ConcatList", "list.webm", "not a supported audio file"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				id := newTranscript(t)
				var b []byte
				switch tc.name {
				case "OneHertz":
					b = hostileWAV(1, 1, 1, 2, 16, 4096)
				case "BlockAlignBomb":
					b = hostileWAV(1, 1, 1, 16384, 16, 16384)
				case "HLSPlaylist":
					b = []byte(playlist)
				case "ConcatList":
					b = []byte(concat)
				}
				status, body := upload(s, id, tc.file, bytes.NewReader(b), int64(len(b)))
				require.Equal(t, 400, status, body)
				require.Contains(t, body, tc.file+": ")
				require.Contains(t, body, tc.msg)
				keys, err := s.S3.List(ctx, s.S3.Bucket(), id+"/")
				require.NoError(t, err)
				require.Empty(t, keys, "the refused upload is deleted")
			})
		}
		require.Zero(t, target.Requests(), "no request reached the URLs in the files")
	})
	t.Run("SixtyFiveTracks", func(t *testing.T) {
		id := newTranscript(t)
		for i := range 62 {
			_, err := s.DB.AddTrack(ctx, id, parley.Track{Bucket: s.S3.Bucket(), Key: fmt.Sprintf("%s/uploads/pre-%d.wav", id, i)}, 0)
			require.NoError(t, err)
		}
		wav := append(wavHeader(32000), make([]byte, 32000)...)
		statuses := make([]int, 5)
		parallel(len(statuses), func(i int) {
			statuses[i], _ = upload(s, id, fmt.Sprintf("p%d.wav", i), bytes.NewReader(wav), int64(len(wav)))
		})
		created, refused := 0, 0
		for _, st := range statuses {
			switch st {
			case 201:
				created++
			case 400:
				refused++
			}
		}
		require.Equal(t, 2, created, "%v: uploads beyond 64 tracks are refused, even at once", statuses)
		require.Equal(t, 3, refused, "%v", statuses)
		n, err := s.DB.CountTracks(ctx, id)
		require.NoError(t, err)
		require.Equal(t, 64, n)
		keys, err := s.S3.List(ctx, s.S3.Bucket(), id+"/uploads/")
		require.NoError(t, err)
		require.Len(t, keys, 2, "refused uploads leave nothing behind")
		status, body := upload(s, id, "65th.wav", bytes.NewReader(wav), int64(len(wav)))
		require.Equal(t, 400, status)
		require.Contains(t, body, "already has 64 tracks")

		var tracks []map[string]string
		for i := range 65 {
			tracks = append(tracks, map[string]string{"s3_key": fmt.Sprintf("room/%d.webm", i)})
		}
		status, body = request(t, "POST", u+"/v1/process", strings.NewReader(mustJSON(t, map[string]any{"tracks": tracks})), jsonCT)
		require.Equal(t, 400, status)
		require.Contains(t, body, "at most 64 tracks")
	})
	t.Run("OversizeUpload", func(t *testing.T) {
		id := newTranscript(t)
		big := append(wavHeader(9<<20), make([]byte, 9<<20)...)
		status, body := upload(s, id, "big.wav", bytes.NewReader(big), int64(len(big)))
		require.Equal(t, 413, status, "declared length over the cap: %s", body)
		// Chunked: the length is unknown until the cap is passed.
		status, body = upload(s, id, "big.wav", io.MultiReader(bytes.NewReader(big)), -1)
		require.Equal(t, 413, status, body)
		require.Contains(t, body, "larger than")
		keys, err := s.S3.List(ctx, s.S3.Bucket(), id+"/")
		require.NoError(t, err)
		require.Empty(t, keys, "nothing is left in storage")
	})
	t.Run("SlowJSONBody", func(t *testing.T) {
		// Headers sent, the body never finishes: cut at the read deadline.
		status, after := rawRequest(t, s.APIURL, "POST /v1/transcripts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"+
			"Content-Length: 1000\r\n\r\n{\"name\":", 30*time.Second)
		require.Equal(t, 408, status)
		require.Less(t, after, 10*time.Second)
	})
	t.Run("DailyWebhookHeadersFirst", func(t *testing.T) {
		// Bad or missing headers are refused before the body is read: the
		// answer comes while the body has not been sent.
		for name, h := range map[string]string{
			"NoSignature": "X-Webhook-Timestamp: " + strconv.FormatInt(time.Now().Unix(), 10) + "\r\n",
			"Stale": "X-Webhook-Timestamp: " + strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10) + "\r\n" +
				"X-Webhook-Signature: " + strings.Repeat("A", 43) + "=\r\n",
			"NotBase64": "X-Webhook-Timestamp: " + strconv.FormatInt(time.Now().Unix(), 10) + "\r\nX-Webhook-Signature: !!\r\n",
		} {
			status, after := rawRequest(t, s.APIURL, "POST /v1/daily/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"+
				h+"Content-Length: 1000000\r\n\r\n{", 5*time.Second)
			require.Equal(t, 401, status, name)
			require.Less(t, after, 2*time.Second, name)
		}
		// Good headers, a body that never finishes: cut at the body deadline.
		sig := strings.Repeat("A", 43) + "="
		status, after := rawRequest(t, s.APIURL, "POST /v1/daily/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"+
			"X-Webhook-Timestamp: "+strconv.FormatInt(time.Now().Unix(), 10)+"\r\nX-Webhook-Signature: "+sig+"\r\n"+
			"Content-Length: 1000\r\n\r\n{", 30*time.Second)
		require.Equal(t, 408, status)
		require.Less(t, after, 10*time.Second)
		// And a signed one still works.
		body := []byte(`{"test":"test"}`)
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		good, err := daily.SignWebhook(webhookSecret, ts, body)
		require.NoError(t, err)
		status, _ = request(t, "POST", u+"/v1/daily/webhook", bytes.NewReader(body),
			map[string]string{"X-Webhook-Timestamp": ts, "X-Webhook-Signature": good, "Content-Type": "application/json"})
		require.Equal(t, 200, status)
	})
	t.Cleanup(func() {
		ready.requireAlwaysReady(t)
		requireBounded(t, serve)
	})
}

// TestHostileConcurrentUploads holds the allowed number of uploads open;
// one more is answered 429 at once, and a slot frees when one ends.
func TestHostileConcurrentUploads(t *testing.T) {
	t.Parallel()
	s := e2e.New(t, e2e.Options{Env: map[string]string{"PARLEY_MAX_CONCURRENT_UPLOADS": "2"}})
	serve := s.StartServe()
	var tr parley.Transcript
	require.Equal(t, 201, s.API(context.Background(), "POST", "/v1/transcripts", map[string]any{}, &tr))
	type slow struct {
		w    *io.PipeWriter
		done chan [2]string
	}
	var open []slow
	for range 2 {
		r, w := io.Pipe()
		sl := slow{w: w, done: make(chan [2]string, 1)}
		go func() {
			st, body := upload(s, tr.ID, "slow.wav", r, -1)
			sl.done <- [2]string{strconv.Itoa(st), body}
		}()
		// More than the socket buffers hold: once the write returns, serve
		// has been reading this body, so its handler holds a slot.
		_, err := w.Write(append(wavHeader(32<<20), make([]byte, 16<<20)...))
		require.NoError(t, err)
		open = append(open, sl)
	}
	// Once both are in, the third is refused without waiting.
	s.WaitFor("two uploads in progress", time.Minute, func() bool {
		for _, sl := range open {
			select {
			case got := <-sl.done:
				t.Fatalf("a slow upload ended early: %s %s", got[0], got[1])
			default:
			}
		}
		st, body := upload(s, tr.ID, "third.wav", bytes.NewReader(wavHeader(0)), 44)
		if st != 429 {
			t.Logf("third upload: %d %s", st, body)
		}
		if st == 429 {
			require.Contains(t, body, "too many uploads at once (2")
			return true
		}
		return false
	})
	for _, sl := range open {
		_, _ = sl.w.Write(make([]byte, 16<<20))
		require.NoError(t, sl.w.Close())
		got := <-sl.done
		require.Equal(t, "201", got[0], got[1])
	}
	wav := append(wavHeader(32000), make([]byte, 32000)...)
	status, body := upload(s, tr.ID, "after.wav", bytes.NewReader(wav), int64(len(wav)))
	require.Equal(t, 201, status, body)
	requireBounded(t, serve)
}

// rawRequest writes a raw request on a new connection and returns the
// answer's status and how long it took to come.
func rawRequest(t *testing.T, base, raw string, timeout time.Duration) (int, time.Duration) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	defer c.Close()
	t0 := time.Now()
	_, err = io.WriteString(c, raw)
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(timeout)))
	buf := make([]byte, 64)
	n, err := io.ReadAtLeast(c, buf, 12)
	require.NoError(t, err, "no answer")
	status, err := strconv.Atoi(string(buf[9:12]))
	require.NoError(t, err, string(buf[:n]))
	return status, time.Since(t0)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
