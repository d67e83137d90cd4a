package notify_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/notify"
	"github.com/parley-dev/parley/sim"
)

const zulipKey = "zulip-key-5ec12e7-never-shown"

func newZulip(t *testing.T, base string) *notify.Zulip {
	t.Helper()
	z := notify.NewZulip(notify.ZulipConfig{Realm: base + "/", BotEmail: "bot@example.com", APIKey: zulipKey, Timeout: 2 * time.Second})
	require.NotNil(t, z)
	return z
}

func TestZulipPostAndUpdate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, base := startSim(t)
	z := newZulip(t, base)
	c := &sim.Client{Base: base}

	id, err := z.Post(ctx, "meetings", "Budget", "first")
	require.NoError(t, err)
	id2, err := z.Post(ctx, "meetings", "Other", "another")
	require.NoError(t, err)
	require.NotEqual(t, id, id2)
	require.NoError(t, z.Update(ctx, id, "Budget (final)", "second"))

	msgs, err := c.ZulipMessages(ctx)
	require.NoError(t, err)
	require.Len(t, msgs, 2)
	require.Equal(t, id, msgs[0].ID)
	require.Equal(t, "meetings", msgs[0].Stream)
	require.Equal(t, "Budget (final)", msgs[0].Topic)
	require.Equal(t, "second", msgs[0].Content)
	require.Equal(t, 1, msgs[0].Edits)
	require.Equal(t, "another", msgs[1].Content, "the other message is untouched")

	reqs := s.Requests(sim.EndpointZulip)
	require.Len(t, reqs, 3)
	require.Equal(t, "POST", reqs[0].Method)
	require.Equal(t, "/api/v1/messages", reqs[0].Path)
	require.Equal(t, map[string]string{"type": "stream", "to": "meetings", "topic": "Budget"}, reqs[0].Fields)
	require.Equal(t, "PATCH", reqs[2].Method)
	require.Equal(t, fmt.Sprintf("/api/v1/messages/%d", id), reqs[2].Path)
	for _, r := range reqs {
		require.Equal(t, "basic", r.Auth)
		require.Equal(t, "application/x-www-form-urlencoded", r.Headers["Content-Type"])
	}

	require.NoError(t, z.Update(ctx, id, "", ""), "nothing to change: nothing sent")
	require.Len(t, s.Requests(sim.EndpointZulip), 3)
}

func TestZulipErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault sim.Fault
		call  func(ctx context.Context, z *notify.Zulip) error
		code  string
		msg   string
	}{
		{"ErrUnknownMessage", sim.Fault{}, func(ctx context.Context, z *notify.Zulip) error {
			return z.Update(ctx, 99999, "x", "y")
		}, parley.ENOTFOUND, "Invalid message(s)"},
		{"ErrRefused", sim.Fault{}, func(ctx context.Context, z *notify.Zulip) error {
			_, err := z.Post(ctx, "meetings", "t", "")
			return err
		}, parley.EINVALID, "HTTP 400: to and content are required"},
		{"ErrUnauthorized", sim.Fault{FailNext: 1, ErrorStatus: 401}, post, parley.EUNAUTHORIZED, "ZULIP_API_KEY"},
		{"ErrForbidden", sim.Fault{FailNext: 1, ErrorStatus: 403}, post, parley.EUNAUTHORIZED, "HTTP 403"},
		{"ErrBadRequest", sim.Fault{FailNext: 1, ErrorStatus: 400}, post, parley.EINVALID, "HTTP 400"},
		{"ErrRateLimited", sim.Fault{FailNext: 1, ErrorStatus: 429}, post, parley.ETRANSIENT, "HTTP 429"},
		{"ErrServer", sim.Fault{FailNext: 1, ErrorStatus: 500}, post, parley.ETRANSIENT, "HTTP 500"},
		{"ErrUnavailable", sim.Fault{FailNext: 1, ErrorStatus: 503}, post, parley.ETRANSIENT, "HTTP 503"},
		{"ErrTimeout", sim.Fault{HangNext: 1}, post, parley.ETRANSIENT, "no answer within 300ms"},
		{"ErrUpdateServer", sim.Fault{FailNext: 1, ErrorStatus: 502}, func(ctx context.Context, z *notify.Zulip) error {
			return z.Update(ctx, 1001, "x", "y")
		}, parley.ETRANSIENT, "zulip PATCH /api/v1/messages/1001: HTTP 502"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, base := startSim(t)
			s.SetFault(sim.EndpointZulip, tt.fault)
			z := notify.NewZulip(notify.ZulipConfig{Realm: base, BotEmail: "bot@example.com", APIKey: zulipKey, Timeout: 300 * time.Millisecond})
			err := tt.call(context.Background(), z)
			require.Equal(t, tt.code, parley.ErrorCode(err), "%v", err)
			require.Contains(t, err.Error(), tt.msg)
			require.Contains(t, err.Error(), "zulip ", "errors name the operation")
			require.NotContains(t, fmt.Sprintf("%+v", err), zulipKey)
		})
	}

	t.Run("ErrNetwork", func(t *testing.T) {
		t.Parallel()
		_, base := startSim(t)
		z := newZulip(t, base)
		_, err := z.Post(context.Background(), "s", "t", "c")
		require.NoError(t, err)
		z = notify.NewZulip(notify.ZulipConfig{Realm: "http://127.0.0.1:1", BotEmail: "bot@example.com", APIKey: zulipKey})
		_, err = z.Post(context.Background(), "s", "t", "c")
		require.Equal(t, parley.ETRANSIENT, parley.ErrorCode(err))
		require.Contains(t, err.Error(), "network error")
		require.NotContains(t, err.Error(), zulipKey)
	})

	t.Run("ErrCancelled", func(t *testing.T) {
		t.Parallel()
		s, base := startSim(t)
		s.SetFault(sim.EndpointZulip, sim.Fault{Hang: true})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		_, err := newZulip(t, base).Post(ctx, "s", "t", "c")
		require.ErrorIs(t, err, context.Canceled)
	})

	t.Run("ErrNotConfigured", func(t *testing.T) {
		t.Parallel()
		require.False(t, notify.ZulipConfig{}.Enabled())
		z := notify.NewZulip(notify.ZulipConfig{})
		require.Nil(t, z, "no realm: Zulip is off")
		_, err := z.Post(context.Background(), "s", "t", "c")
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
		require.Contains(t, err.Error(), "ZULIP_REALM")
		require.Equal(t, parley.EINVALID, parley.ErrorCode(z.Update(context.Background(), 1, "t", "c")))
	})

	t.Run("ErrNoCredentials", func(t *testing.T) {
		t.Parallel()
		s, base := startSim(t)
		z := notify.NewZulip(notify.ZulipConfig{Realm: base})
		_, err := z.Post(context.Background(), "s", "t", "c")
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
		require.Contains(t, err.Error(), "ZULIP_API_KEY")
		require.Empty(t, s.Requests(sim.EndpointZulip))
	})

	t.Run("ErrNoStream", func(t *testing.T) {
		t.Parallel()
		_, base := startSim(t)
		_, err := newZulip(t, base).Post(context.Background(), "", "t", "c")
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
	})
}

func post(ctx context.Context, z *notify.Zulip) error {
	_, err := z.Post(ctx, "meetings", "Budget", "content")
	return err
}

// errNoNetwork stops a request before it leaves the process.
var errNoNetwork = errors.New("test: no network")

func TestZulipRealm(t *testing.T) {
	t.Parallel()
	tests := []struct{ realm, want string }{
		{"chat.example.com", "https://chat.example.com/api/v1/messages"},
		{" chat.example.com/ ", "https://chat.example.com/api/v1/messages"},
		{"http://127.0.0.1:9999", "http://127.0.0.1:9999/api/v1/messages"},
		{"https://example.com/zulip/", "https://example.com/zulip/api/v1/messages"},
	}
	for _, tt := range tests {
		t.Run(tt.realm, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var got string
			hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				mu.Lock()
				defer mu.Unlock()
				got = r.URL.String()
				return nil, errNoNetwork
			})}
			z := notify.NewZulip(notify.ZulipConfig{Realm: tt.realm, BotEmail: "b", APIKey: "k", HTTPClient: hc})
			_, err := z.Post(context.Background(), "s", "t", "c")
			require.ErrorIs(t, err, errNoNetwork)
			mu.Lock()
			defer mu.Unlock()
			require.Equal(t, tt.want, got)
		})
	}
}

// roundTripFunc lets a test see requests before they leave.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestZulipConfigRedactsKey(t *testing.T) {
	t.Parallel()
	cfg := notify.ZulipConfig{Realm: "chat.example.com", BotEmail: "bot@example.com", APIKey: zulipKey}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "zulip", cfg)
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), logs.String()} {
		require.NotContains(t, s, zulipKey)
		require.Contains(t, s, "REDACTED")
	}
}

func TestZulipMessage(t *testing.T) {
	t.Parallel()
	tr, topics, _ := fixture()

	t.Run("OKGolden", func(t *testing.T) {
		t.Parallel()
		golden(t, "zulip.md", notify.ZulipMessage(tr, topics, "https://parley.example.com/"))
	})

	t.Run("OKBare", func(t *testing.T) {
		t.Parallel()
		bare := &parley.Transcript{ID: "t1", CreatedAt: tr.CreatedAt, DurationSeconds: 65.4}
		require.Equal(t, "# Parley – Unnamed recording\n\n"+
			"**Date**: <time:2026-11-22T09:00:00Z>\n"+
			"**Link**: [127.0.0.1:1250](http://127.0.0.1:1250/transcripts/t1)\n"+
			"**Duration**: 01:05\n\n"+
			"```spoiler Summary\nNo summary available\n```\n\n"+
			"-----\n", notify.ZulipMessage(bare, nil, "http://127.0.0.1:1250"))
	})

	durations := []struct {
		seconds float64
		want    string
	}{{0, "00:00"}, {59.4, "00:59"}, {59.6, "01:00"}, {3599, "59:59"}, {3600, "1:00:00"}, {36000 + 61, "10:01:01"}, {-3, "00:00"}}
	for _, d := range durations {
		t.Run(fmt.Sprintf("OKDuration%v", d.seconds), func(t *testing.T) {
			t.Parallel()
			msg := notify.ZulipMessage(&parley.Transcript{ID: "t", DurationSeconds: d.seconds}, nil, "http://x")
			require.Contains(t, msg, "**Duration**: "+d.want+"\n")
		})
	}

	t.Run("OKNameFirst", func(t *testing.T) {
		t.Parallel()
		named := *tr
		named.Name = "Weekly\nsync"
		require.True(t, strings.HasPrefix(notify.ZulipMessage(&named, nil, "http://x"), "# Parley – Weekly sync\n"))
	})

	t.Run("OKFenceInSummary", func(t *testing.T) {
		t.Parallel()
		code := *tr
		code.LongSummary = "Run:\n```sh\nmake up\n```"
		msg := notify.ZulipMessage(&code, nil, "http://x")
		require.Contains(t, msg, "````spoiler Summary\nRun:\n```sh\nmake up\n```\n````\n", "a longer fence keeps the block whole")
	})
}
