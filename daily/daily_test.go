package daily_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/daily"
	"github.com/parley-dev/parley/sim"
)

const apiKey = "daily-key-c0ffee-never-shown"

// now anchors the recordings' start times.
var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// testBundle is a simulator with Daily fixtures and a client pointed at it.
type testBundle struct {
	sim    *sim.Server
	base   string
	client *daily.Client
	// queries records the query string of every request the client sent.
	queries *queryLog
	// logs receives the client's log lines.
	logs *syncBuffer
}

type queryLog struct {
	mu      sync.Mutex
	queries []string
}

func (q *queryLog) all() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]string(nil), q.queries...)
}

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

// roundTripFunc lets a test watch the requests on their way to the
// simulator.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// fixtures: 130 recordings one minute apart (rec000 newest) in two rooms;
// rec000's meeting has 250 participants, rec001's exactly 200, rec002's
// none.
func fixtures() []sim.DailyRecording {
	var recs []sim.DailyRecording
	for i := range 130 {
		room := "standup-20261122090000"
		if i%2 == 1 {
			room = "retro-20261122090000"
		}
		rec := map[string]any{"id": fmt.Sprintf("rec%03d", i), "room_name": room, "status": "finished",
			"start_ts": float64(now.Add(-time.Duration(i) * time.Minute).Unix()), "duration": float64(60 + i),
			"mtgSessionId": fmt.Sprintf("mtg%03d", i), "s3key": nil, "type": nil,
			"tracks": []any{
				map[string]any{"type": "audio", "s3Key": fmt.Sprintf("%s/1763800000000-0a1b2c3d-0000-4000-8000-%012d-cam-audio-1763800001000", room, i), "size": float64(1000)},
				map[string]any{"type": "video", "s3Key": room + "/x-cam-video", "size": float64(5000)},
			}}
		n := map[int]int{0: 250, 1: 200}[i]
		var parts []map[string]any
		for j := range n {
			parts = append(parts, map[string]any{"participant_id": fmt.Sprintf("p%03d", j), "user_id": fmt.Sprintf("u%d", j),
				"user_name": fmt.Sprintf("User %d", j), "join_time": float64(now.Unix()), "duration": 12.5})
		}
		recs = append(recs, sim.DailyRecording{Recording: rec, Participants: parts})
	}
	return recs
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	s, err := sim.New(sim.Config{Daily: fixtures()})
	require.NoError(t, err)
	hs := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); hs.Close() })
	b := &testBundle{sim: s, base: hs.URL, queries: &queryLog{}, logs: &syncBuffer{}}
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		b.queries.mu.Lock()
		b.queries.queries = append(b.queries.queries, r.URL.RawQuery)
		b.queries.mu.Unlock()
		return http.DefaultTransport.RoundTrip(r)
	})}
	b.client = daily.New(daily.Config{BaseURL: hs.URL + "/v1/", APIKey: apiKey, HTTPClient: hc, Timeout: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(b.logs, nil))})
	return b
}

// requireNoSecret fails when err's text holds the API key.
func requireNoSecret(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		require.NotContains(t, err.Error(), apiKey)
		require.NotContains(t, fmt.Sprintf("%+v", err), apiKey)
	}
}

func TestGetRecording(t *testing.T) {
	t.Parallel()

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		rec, err := b.client.GetRecording(context.Background(), "rec003")
		require.NoError(t, err)
		require.Equal(t, "rec003", rec.ID)
		require.Equal(t, "retro-20261122090000", rec.RoomName)
		require.Equal(t, now.Add(-3*time.Minute).Unix(), rec.StartTS)
		require.Equal(t, "finished", rec.Status)
		require.NotNil(t, rec.Duration)
		require.Equal(t, 63, *rec.Duration)
		require.Equal(t, "mtg003", rec.MtgSessionID)
		require.Len(t, rec.Tracks, 2)
		require.Equal(t, daily.Track{Type: "audio", S3Key: "retro-20261122090000/1763800000000-0a1b2c3d-0000-4000-8000-000000000003-cam-audio-1763800001000", Size: 1000}, rec.Tracks[0])
		require.Equal(t, "raw-tracks", rec.RecordingType())
		reqs := b.sim.Requests(sim.EndpointDaily)
		require.Len(t, reqs, 1)
		require.Equal(t, "/v1/recordings/rec003", reqs[0].Path)
		require.Equal(t, "bearer", reqs[0].Auth)
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.client.GetRecording(context.Background(), "missing")
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		require.Contains(t, err.Error(), "/recordings/missing")
		require.Contains(t, err.Error(), "recording not found", "Daily's message is kept")
	})

	t.Run("ErrNoID", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.client.GetRecording(context.Background(), "")
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
		require.Empty(t, b.sim.Requests(sim.EndpointDaily))
	})

	t.Run("ErrNoAPIKey", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := daily.New(daily.Config{BaseURL: b.base + "/v1"}).GetRecording(context.Background(), "rec000")
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
		require.Contains(t, parley.ErrorMessage(err), "DAILY_API_KEY")
		require.Empty(t, b.sim.Requests(sim.EndpointDaily), "nothing is sent without a key")
	})
}

func TestErrorClassification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault sim.Fault
		code  string
		msg   string
	}{
		{"ErrUnauthorized", sim.Fault{FailNext: 1, ErrorStatus: 401}, parley.EUNAUTHORIZED, "DAILY_API_KEY"},
		{"ErrForbidden", sim.Fault{FailNext: 1, ErrorStatus: 403}, parley.EUNAUTHORIZED, "HTTP 403"},
		{"ErrNotFound", sim.Fault{FailNext: 1, ErrorStatus: 404}, parley.ENOTFOUND, "HTTP 404"},
		{"ErrBadRequest", sim.Fault{FailNext: 1, ErrorStatus: 400}, parley.EINVALID, "parley-sim: injected 400"},
		{"ErrUnprocessable", sim.Fault{FailNext: 1, ErrorStatus: 422}, parley.EINVALID, "HTTP 422"},
		{"ErrRateLimited", sim.Fault{FailNext: 1, ErrorStatus: 429}, parley.ETRANSIENT, "HTTP 429"},
		{"ErrServer", sim.Fault{FailNext: 1, ErrorStatus: 500}, parley.ETRANSIENT, "HTTP 500"},
		{"ErrBadGateway", sim.Fault{FailNext: 1, ErrorStatus: 502}, parley.ETRANSIENT, "HTTP 502"},
		{"ErrUnavailable", sim.Fault{FailNext: 1, ErrorStatus: 503}, parley.ETRANSIENT, "HTTP 503"},
		{"ErrTimeout", sim.Fault{HangNext: 1}, parley.ETRANSIENT, "no answer within 300ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.sim.SetFault(sim.EndpointDaily, tt.fault)
			c := daily.New(daily.Config{BaseURL: b.base + "/v1", APIKey: apiKey, Timeout: 300 * time.Millisecond})
			_, err := c.GetRecording(context.Background(), "rec000")
			require.Equal(t, tt.code, parley.ErrorCode(err), "%v", err)
			require.Contains(t, err.Error(), tt.msg)
			require.Contains(t, err.Error(), "daily GET /recordings/rec000", "errors name the operation")
			requireNoSecret(t, err)
			_, err = c.GetRecording(context.Background(), "rec000")
			require.NoError(t, err, "the fault was for one request only")
		})
	}

	t.Run("ErrNetwork", func(t *testing.T) {
		t.Parallel()
		hs := httptest.NewServer(http.NotFoundHandler())
		hs.Close()
		_, err := daily.New(daily.Config{BaseURL: hs.URL, APIKey: apiKey}).GetRecording(context.Background(), "rec000")
		require.Equal(t, parley.ETRANSIENT, parley.ErrorCode(err))
		require.Contains(t, err.Error(), "network error")
		requireNoSecret(t, err)
	})

	t.Run("ErrCancelled", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.sim.SetFault(sim.EndpointDaily, sim.Fault{Hang: true})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		_, err := b.client.GetRecording(ctx, "rec000")
		require.ErrorIs(t, err, context.Canceled)
		require.Contains(t, err.Error(), "cancelled")
	})

	t.Run("ErrNotJSON", func(t *testing.T) {
		t.Parallel()
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("<html>captive portal</html>"))
		}))
		t.Cleanup(hs.Close)
		_, err := daily.New(daily.Config{BaseURL: hs.URL, APIKey: apiKey}).GetRecording(context.Background(), "rec000")
		require.Equal(t, parley.ETRANSIENT, parley.ErrorCode(err))
		require.Contains(t, err.Error(), "not the expected JSON")
	})
}

func TestListRecordings(t *testing.T) {
	t.Parallel()

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		page, err := b.client.ListRecordings(context.Background(), daily.ListRecordingsOptions{})
		require.NoError(t, err)
		require.Len(t, page, 100)
		require.Equal(t, "rec000", page[0].ID, "newest first")
		require.Equal(t, "limit=100", b.queries.all()[0])
	})

	t.Run("OKRoomAndCursor", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		page, err := b.client.ListRecordings(context.Background(),
			daily.ListRecordingsOptions{Limit: 3, RoomName: "retro-20261122090000", StartingAfter: "rec001"})
		require.NoError(t, err)
		require.Equal(t, []string{"rec003", "rec005", "rec007"}, ids(page))
		require.Equal(t, "limit=3&room_name=retro-20261122090000&starting_after=rec001", b.queries.all()[0])
		page, err = b.client.ListRecordings(context.Background(), daily.ListRecordingsOptions{Limit: 2, EndingBefore: "rec005"})
		require.NoError(t, err)
		require.Equal(t, []string{"rec003", "rec004"}, ids(page))
	})
}

func ids(recs []daily.Recording) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func TestWalkRecordings(t *testing.T) {
	t.Parallel()

	t.Run("OKEveryPage", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		var got []string
		for r, err := range b.client.WalkRecordings(context.Background(), daily.WalkOptions{}) {
			require.NoError(t, err)
			got = append(got, r.ID)
		}
		require.Len(t, got, 130, "pages past the first 100 are read")
		require.Equal(t, "rec129", got[129])
		require.Equal(t, []string{"limit=100", "limit=100&starting_after=rec099", "limit=100&starting_after=rec129"}, b.queries.all(),
			"each page starts after the last id of the previous one; an empty page ends the walk")
	})

	t.Run("OKSince", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		recs, err := b.client.RecentRecordings(context.Background(), now.Add(-110*time.Minute), 0)
		require.NoError(t, err)
		require.Len(t, recs, 111, "rec000..rec110 started in the window")
		require.Len(t, b.queries.all(), 2, "no page past the first older recording")
	})

	t.Run("OKRoom", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		n := 0
		for r, err := range b.client.WalkRecordings(context.Background(), daily.WalkOptions{RoomName: "retro-20261122090000"}) {
			require.NoError(t, err)
			require.Equal(t, "retro", daily.RoomName(r.RoomName))
			n++
		}
		require.Equal(t, 65, n)
	})

	t.Run("OKBreak", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		for r, err := range b.client.WalkRecordings(context.Background(), daily.WalkOptions{}) {
			require.NoError(t, err)
			if r.ID == "rec005" {
				break
			}
		}
		require.Len(t, b.queries.all(), 1, "stopping early reads no more pages")
	})

	t.Run("ErrPageLimit", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		var got []string
		var last error
		for r, err := range b.client.WalkRecordings(context.Background(), daily.WalkOptions{MaxPages: 1}) {
			if err != nil {
				last = err
				continue
			}
			got = append(got, r.ID)
		}
		require.Len(t, got, 100)
		require.ErrorIs(t, last, daily.ErrPageLimit)

		recs, err := b.client.RecentRecordings(context.Background(), now.Add(-24*time.Hour), 1)
		require.NoError(t, err, "the polling helper returns what it read")
		require.Len(t, recs, 100)
		require.Contains(t, b.logs.String(), "page bound", "and says that it stopped")
	})

	t.Run("ErrPageFails", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		c := failSecondRequest(t, b, 503)
		recs, err := c.RecentRecordings(context.Background(), now.Add(-24*time.Hour), 0)
		require.Equal(t, parley.ETRANSIENT, parley.ErrorCode(err))
		require.Contains(t, err.Error(), "list recordings since")
		require.Len(t, recs, 100, "what was read before the failure")
	})
}

// failSecondRequest returns a client whose second request the simulator
// answers with status.
func failSecondRequest(t *testing.T, b *testBundle, status int) *daily.Client {
	t.Helper()
	var n atomic.Int32
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if n.Add(1) == 2 {
			b.sim.SetFault(sim.EndpointDaily, sim.Fault{FailNext: 1, ErrorStatus: status})
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	return daily.New(daily.Config{BaseURL: b.base + "/v1", APIKey: apiKey, HTTPClient: hc})
}

func TestListParticipants(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		meeting  string
		want     int
		requests int
	}{
		// Pages are read until Daily answers 404 past the last one (or an
		// empty page): a short page is not taken as the end, in case Daily
		// caps the page size below the limit asked for.
		{"OKThreePages", "mtg000", 250, 4},
		{"OKFullLastPage", "mtg001", 200, 3},
		{"OKNobody", "mtg002", 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			got, err := b.client.ListParticipants(context.Background(), tt.meeting)
			require.NoError(t, err)
			require.Len(t, got, tt.want)
			if tt.want > 0 {
				require.Equal(t, daily.Participant{ParticipantID: "p000", UserID: "u0", UserName: "User 0", JoinTime: now.Unix(), Duration: 12.5}, got[0])
				require.Equal(t, fmt.Sprintf("User %d", tt.want-1), got[tt.want-1].UserName)
			}
			qs := b.queries.all()
			require.Len(t, qs, tt.requests)
			require.Equal(t, "limit=100", qs[0])
			for i, q := range qs[1:] {
				last := min(100*(i+1), tt.want) - 1
				require.Equal(t, fmt.Sprintf("limit=100&starting_after=p%03d", last), q, "each page starts after the last id")
			}
		})
	}

	t.Run("ErrUnknownMeeting", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.client.ListParticipants(context.Background(), "nope")
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err), "a 404 on the first page is an unknown meeting")
		require.Contains(t, err.Error(), "/meetings/nope/participants")
	})

	t.Run("ErrSecondPage", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		got, err := failSecondRequest(t, b, 500).ListParticipants(context.Background(), "mtg000")
		require.Equal(t, parley.ETRANSIENT, parley.ErrorCode(err))
		require.Nil(t, got, "no partial list: speakers would silently lose their names")
	})

	t.Run("ErrNoMeeting", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.client.ListParticipants(context.Background(), "")
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
	})
}

func TestConfigRedactsSecrets(t *testing.T) {
	t.Parallel()
	cfg := daily.Config{BaseURL: "https://api.daily.co/v1", APIKey: apiKey, WebhookSecret: "c2VjcmV0LWZvci10ZXN0cw=="}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "daily", cfg)
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), logs.String()} {
		require.NotContains(t, s, apiKey)
		require.NotContains(t, s, cfg.WebhookSecret)
		require.Contains(t, s, "REDACTED")
	}
}

func TestParseTrackKey(t *testing.T) {
	t.Parallel()
	const uuid = "0a1b2c3d-0000-4000-8000-000000000001"
	tests := []struct {
		name string
		key  string
		want daily.TrackKeyInfo
		ok   bool
	}{
		{"OKBare", "1763800000000-" + uuid + "-cam-audio-1763800001000", daily.TrackKeyInfo{uuid, "cam-audio", 1763800001000}, true},
		{"OKFolder", "standup-20261122090000/1763800000000-" + uuid + "-cam-audio-1763800001000", daily.TrackKeyInfo{uuid, "cam-audio", 1763800001000}, true},
		{"OKExtension", "a/b/1763800000000-" + uuid + "-cam-audio-1763800001000.webm", daily.TrackKeyInfo{uuid, "cam-audio", 1763800001000}, true},
		{"OKScreen", "1763800000000-" + uuid + "-screen-audio-1763800002000", daily.TrackKeyInfo{uuid, "screen-audio", 1763800002000}, true},
		{"OKVideo", "1763800000000-" + uuid + "-cam-video-1763800002000", daily.TrackKeyInfo{uuid, "cam-video", 1763800002000}, true},
		{"OKUpperCase", "1763800000000-0A1B2C3D-0000-4000-8000-00000000000F-cam-audio-1763800001000",
			daily.TrackKeyInfo{"0A1B2C3D-0000-4000-8000-00000000000F", "cam-audio", 1763800001000}, true},
		{"ErrUpload", "uploads/alice.webm", daily.TrackKeyInfo{}, false},
		{"ErrShortUUID", "1763800000000-0a1b-cam-audio-1763800001000", daily.TrackKeyInfo{}, false},
		{"ErrShortTimestamp", "176380000-" + uuid + "-cam-audio-1763800001000", daily.TrackKeyInfo{}, false},
		{"ErrNoKind", "1763800000000-" + uuid + "-1763800001000", daily.TrackKeyInfo{}, false},
		{"ErrHugeNumber", "1763800000000-" + uuid + "-cam-audio-99999999999999999999999", daily.TrackKeyInfo{}, false},
		{"ErrEmpty", "", daily.TrackKeyInfo{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := daily.ParseTrackKey(tt.key)
			require.Equal(t, tt.ok, ok)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.want.ParticipantID, daily.ParticipantID(tt.key))
		})
	}
}

func TestCamAudioKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		tracks []daily.Track
		want   []string
	}{
		{"OKOrderKept", []daily.Track{
			{Type: "audio", S3Key: "r/2-cam-audio-9"}, {Type: "audio", S3Key: "r/1-screen-audio-9"},
			{Type: "video", S3Key: "r/1-cam-video-9"}, {Type: "video", S3Key: "r/odd-cam-audio-as-video"},
			{Type: "audio", S3Key: "r/1-cam-audio-9"},
		}, []string{"r/2-cam-audio-9", "r/1-cam-audio-9"}},
		{"OKNone", []daily.Track{{Type: "audio", S3Key: "r/1-screen-audio-9"}}, nil},
		{"OKNil", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, daily.CamAudioKeys(tt.tracks))
		})
	}
}

func TestRoomName(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"standup-20261122090000", "standup"},
		{"my-room-20261122090000", "my-room"},
		{"standup-2026", "standup-2026"},
		{"standup-2026112209000x", "standup-2026112209000x"},
		{"standup", "standup"},
		{"-20261122090000", "-20261122090000"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, daily.RoomName(tt.in))
		})
	}
}

func TestVerifyWebhook(t *testing.T) {
	t.Parallel()
	const secret = "c2VjcmV0LWZvci10ZXN0cw==" // base64("secret-for-tests")
	body := []byte(`{"type":"recording.ready-to-download"}`)
	at := time.Unix(1_800_000_000, 0)
	ts := strconv.FormatInt(at.Unix(), 10)
	sig := mustSign(t, secret, ts, body)
	tests := []struct {
		name      string
		secret    string
		ts, sig   string
		body      []byte
		now       time.Time
		tolerance time.Duration
		code, msg string
	}{
		{"OK", secret, ts, sig, body, at, 5 * time.Minute, "", ""},
		{"OKEdgeOfWindow", secret, ts, sig, body, at.Add(5 * time.Minute), 5 * time.Minute, "", ""},
		{"OKDefaultTolerance", secret, ts, sig, body, at.Add(4 * time.Minute), 0, "", ""},
		{"OKMilliseconds", secret, ts + "000", mustSign(t, secret, ts+"000", body), body, at.Add(time.Minute), 5 * time.Minute, "", ""},
		{"OKUnpaddedSecret", strings.TrimRight(secret, "="), ts, sig, body, at, time.Minute, "", ""},
		{"OKSpaces", secret, " " + ts + " ", sig + " ", body, at, time.Minute, "", ""},
		{"ErrBadSignature", secret, ts, sig[:len(sig)-4] + "AAA=", body, at, time.Minute, parley.EUNAUTHORIZED, "bad webhook signature"},
		{"ErrSignatureNotBase64", secret, ts, "!!!", body, at, time.Minute, parley.EUNAUTHORIZED, "bad webhook signature"},
		{"ErrTamperedBody", secret, ts, sig, []byte(`{"type":"x"}`), at, time.Minute, parley.EUNAUTHORIZED, "bad webhook signature"},
		{"ErrTamperedTimestamp", secret, strconv.FormatInt(at.Unix()+1, 10), sig, body, at, time.Minute, parley.EUNAUTHORIZED, "bad webhook signature"},
		{"ErrOtherSecret", "b3RoZXI=", ts, sig, body, at, time.Minute, parley.EUNAUTHORIZED, "bad webhook signature"},
		{"ErrStale", secret, ts, sig, body, at.Add(6 * time.Minute), 5 * time.Minute, parley.EUNAUTHORIZED, "stale webhook timestamp"},
		{"ErrStaleDefault", secret, ts, sig, body, at.Add(6 * time.Minute), 0, parley.EUNAUTHORIZED, "stale webhook timestamp"},
		{"ErrFuture", secret, ts, sig, body, at.Add(-6 * time.Minute), 5 * time.Minute, parley.EUNAUTHORIZED, "stale webhook timestamp"},
		{"ErrBadTimestamp", secret, "soon", mustSign(t, secret, "soon", body), body, at, time.Minute, parley.EUNAUTHORIZED, "bad webhook timestamp"},
		{"ErrNaNTimestamp", secret, "NaN", mustSign(t, secret, "NaN", body), body, at, time.Minute, parley.EUNAUTHORIZED, "bad webhook timestamp"},
		{"ErrMissingSignature", secret, ts, "", body, at, time.Minute, parley.EUNAUTHORIZED, "missing X-Webhook-Signature"},
		{"ErrMissingTimestamp", secret, "", sig, body, at, time.Minute, parley.EUNAUTHORIZED, "missing X-Webhook-Timestamp"},
		{"ErrSecretNotBase64", "not base64!", ts, sig, body, at, time.Minute, parley.EINVALID, "DAILY_WEBHOOK_SECRET is not base64"},
		{"ErrNoSecret", "", ts, sig, body, at, time.Minute, parley.EINVALID, "DAILY_WEBHOOK_SECRET is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := daily.VerifyWebhook(tt.secret, tt.ts, tt.body, tt.sig, tt.now, tt.tolerance)
			require.Equal(t, tt.code, parley.ErrorCode(err), "%v", err)
			if err != nil {
				require.Contains(t, err.Error(), tt.msg)
				require.NotContains(t, err.Error(), secret)
				require.NotContains(t, err.Error(), "secret-for-tests")
			}
		})
	}

	t.Run("OKClient", func(t *testing.T) {
		t.Parallel()
		c := daily.New(daily.Config{WebhookSecret: secret})
		require.NoError(t, c.VerifyWebhook(ts, body, sig, at.Add(time.Minute)))
		require.Error(t, c.VerifyWebhook(ts, body, sig, at.Add(time.Hour)))
	})
}

func mustSign(t *testing.T, secret, ts string, body []byte) string {
	t.Helper()
	s, err := daily.SignWebhook(secret, ts, body)
	require.NoError(t, err)
	return s
}

func TestSignWebhookKnownAnswer(t *testing.T) {
	t.Parallel()
	// echo -n '1800000000.{}' | openssl dgst -sha256 -hmac 'secret-for-tests' -binary | base64
	sig, err := daily.SignWebhook("c2VjcmV0LWZvci10ZXN0cw==", "1800000000", []byte("{}"))
	require.NoError(t, err)
	require.Equal(t, "xmKEkyPa2kxOONjax2fz7VDDiuknVbL7z/XPItR2T20=", sig)
}

func TestParseWebhook(t *testing.T) {
	t.Parallel()
	const ready = `{"version":"1.0.0","type":"recording.ready-to-download","id":"ev1","event_ts":1763800100.5,
		"payload":{"recording_id":"r1","room_name":"standup-20261122090000","start_ts":1763800000,"type":"raw-tracks",
		"duration":61.5,"s3_key":"","tracks":[{"type":"audio","s3Key":"a/1-cam-audio-2","size":10},
		{"type":"audio","s3Key":"a/1-screen-audio-2","size":11},{"type":"video","s3Key":"a/1-cam-video-2","size":12}]}}`
	tests := []struct {
		name string
		body string
		want daily.Event
		code string
		msg  string
	}{
		{"OKTest", `{"test":"test"}`, daily.Event{IsTest: true}, "", ""},
		{"OKReady", ready, daily.Event{Version: "1.0.0", Type: "recording.ready-to-download", ID: "ev1", EventTS: 1763800100.5}, "", ""},
		{"OKOtherEvent", `{"type":"participant.joined","payload":{"x":1}}`, daily.Event{Type: "participant.joined"}, "", ""},
		{"ErrNotJSON", `nope`, daily.Event{}, parley.EINVALID, "not valid JSON"},
		{"ErrCutShort", `{"type":"recording`, daily.Event{}, parley.EINVALID, "cut short"},
		{"ErrEmpty", ``, daily.Event{}, parley.EINVALID, "webhook body"},
		{"ErrArray", `[1,2]`, daily.Event{}, parley.EINVALID, "expected an object"},
		{"ErrWrongType", `{"type":"x","event_ts":"yesterday"}`, daily.Event{}, parley.EINVALID, `field "event_ts"`},
		{"ErrNoType", `{"payload":{}}`, daily.Event{}, parley.EINVALID, `no "type"`},
		{"ErrTestNotTest", `{"test":"nope"}`, daily.Event{}, parley.EINVALID, `no "type"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := daily.ParseWebhook([]byte(tt.body))
			require.Equal(t, tt.code, parley.ErrorCode(err), "%v", err)
			if err != nil {
				require.Contains(t, parley.ErrorMessage(err), tt.msg)
				return
			}
			ev.Payload = nil
			require.Equal(t, tt.want, ev)
		})
	}

	t.Run("OKRecordingReady", func(t *testing.T) {
		t.Parallel()
		ev, err := daily.ParseWebhook([]byte(ready))
		require.NoError(t, err)
		r, err := ev.RecordingReady()
		require.NoError(t, err)
		require.Equal(t, daily.RecordingReady{RecordingID: "r1", RoomName: "standup-20261122090000", StartTS: 1763800000,
			Type: "raw-tracks", Duration: 61.5, Tracks: []daily.Track{{"audio", "a/1-cam-audio-2", 10},
				{"audio", "a/1-screen-audio-2", 11}, {"video", "a/1-cam-video-2", 12}}}, r)
		require.Equal(t, []string{"a/1-cam-audio-2"}, daily.CamAudioKeys(r.Tracks))
	})

	readyTests := []struct {
		name, body, msg string
	}{
		{"ErrOtherEvent", `{"type":"recording.started","payload":{"recording_id":"r1"}}`, "has no recording.ready-to-download payload"},
		{"ErrNoPayload", `{"type":"recording.ready-to-download"}`, "payload is missing"},
		{"ErrNullPayload", `{"type":"recording.ready-to-download","payload":null}`, "payload is missing"},
		{"ErrNoRecordingID", `{"type":"recording.ready-to-download","payload":{"type":"raw-tracks"}}`, "has no recording_id"},
		{"ErrBadTracks", `{"type":"recording.ready-to-download","payload":{"recording_id":"r1","tracks":"all"}}`, `field "tracks"`},
	}
	for _, tt := range readyTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := daily.ParseWebhook([]byte(tt.body))
			require.NoError(t, err)
			_, err = ev.RecordingReady()
			require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
			require.Contains(t, parley.ErrorMessage(err), tt.msg)
		})
	}

	t.Run("OKNullTracks", func(t *testing.T) {
		t.Parallel()
		ev, err := daily.ParseWebhook([]byte(`{"type":"recording.ready-to-download","payload":{"recording_id":"r1","tracks":null}}`))
		require.NoError(t, err)
		r, err := ev.RecordingReady()
		require.NoError(t, err)
		require.Nil(t, r.Tracks)
		require.Empty(t, daily.CamAudioKeys(r.Tracks))
	})
}
