package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/notify"
	"github.com/parley-dev/parley/sim"
)

const webhookSecret = "whsec-9f8e7d-never-shown"

func TestWebhookSend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	at := time.Unix(1_800_000_000, 0)
	sender := &notify.WebhookSender{Now: func() time.Time { return at }}
	body := []byte(`{"event":"transcript.completed","transcript":{"webvtt":"<v Ana>hi"}}`)

	t.Run("OKSigned", func(t *testing.T) {
		t.Parallel()
		s, base := startSim(t)
		status, err := sender.Send(ctx, base+"/webhook/acme?token=abc", webhookSecret, notify.EventCompleted, body, 2)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, status)
		reqs := s.Requests(sim.EndpointWebhook)
		require.Len(t, reqs, 1)
		r := reqs[0]
		require.Equal(t, "POST", r.Method)
		require.Equal(t, "/webhook/acme", r.Path)
		require.Equal(t, string(body), r.Body, "the body is sent as given")
		require.Equal(t, "application/json", r.Headers["Content-Type"])
		require.Equal(t, "Parley-Webhook/1.0", r.Headers["User-Agent"])
		require.Equal(t, "transcript.completed", r.Headers["X-Webhook-Event"])
		require.Equal(t, "2", r.Headers["X-Webhook-Retry"])
		require.Equal(t, notify.SignWebhook(webhookSecret, at, body), r.Headers["X-Webhook-Signature"])
		require.NoError(t, notify.VerifyWebhookSignature(webhookSecret, r.Headers["X-Webhook-Signature"], []byte(r.Body), at, time.Minute))
	})

	t.Run("OKUnsigned", func(t *testing.T) {
		t.Parallel()
		s, base := startSim(t)
		status, err := (&notify.WebhookSender{UserAgent: "Custom/2"}).Send(ctx, base+"/webhook/x", "", notify.EventFailed, body, 0)
		require.NoError(t, err)
		require.Equal(t, 200, status)
		r := s.Requests(sim.EndpointWebhook)[0]
		require.NotContains(t, r.Headers, "X-Webhook-Signature", "no secret, no signature")
		require.Equal(t, "0", r.Headers["X-Webhook-Retry"])
		require.Equal(t, "transcript.failed", r.Headers["X-Webhook-Event"])
		require.Equal(t, "Custom/2", r.Headers["User-Agent"])
	})

	tests := []struct {
		name   string
		fault  sim.Fault
		code   string
		status int
		msg    string
	}{
		{"ErrServer", sim.Fault{FailNext: 1, ErrorStatus: 500}, parley.ETRANSIENT, 500, "HTTP 500"},
		{"ErrBadGateway", sim.Fault{FailNext: 1, ErrorStatus: 502}, parley.ETRANSIENT, 502, "HTTP 502"},
		{"ErrUnavailable", sim.Fault{FailNext: 1, ErrorStatus: 503}, parley.ETRANSIENT, 503, "HTTP 503"},
		{"ErrTooMany", sim.Fault{FailNext: 1, ErrorStatus: 429}, parley.ETRANSIENT, 429, "HTTP 429"},
		{"ErrBadRequest", sim.Fault{FailNext: 1, ErrorStatus: 400}, parley.EINVALID, 400, "rejected with HTTP 400"},
		{"ErrUnauthorized", sim.Fault{FailNext: 1, ErrorStatus: 401}, parley.EINVALID, 401, "rejected with HTTP 401"},
		{"ErrGone", sim.Fault{FailNext: 1, ErrorStatus: 410}, parley.EINVALID, 410, "rejected with HTTP 410"},
		{"ErrTimeout", sim.Fault{HangNext: 1}, parley.ETRANSIENT, 0, "no answer within 300ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, base := startSim(t)
			s.SetFault(sim.EndpointWebhook, tt.fault)
			sender := &notify.WebhookSender{Timeout: 300 * time.Millisecond}
			status, err := sender.Send(ctx, base+"/webhook/acme?token=query-secret", webhookSecret, notify.EventCompleted, body, 1)
			require.Equal(t, tt.status, status)
			require.Equal(t, tt.code, parley.ErrorCode(err), "%v", err)
			require.Contains(t, err.Error(), tt.msg)
			requireSafeWebhookError(t, err, base)
			status, err = sender.Send(ctx, base+"/webhook/acme", webhookSecret, notify.EventCompleted, body, 2)
			require.NoError(t, err, "the fault was for one delivery")
			require.Equal(t, 200, status)
		})
	}

	t.Run("ErrUnreachable", func(t *testing.T) {
		t.Parallel()
		status, err := sender.Send(ctx, "http://127.0.0.1:1/hook?token=query-secret", webhookSecret, notify.EventCompleted, body, 0)
		require.Equal(t, 0, status)
		require.Equal(t, parley.ETRANSIENT, parley.ErrorCode(err))
		require.Contains(t, err.Error(), "network error")
		requireSafeWebhookError(t, err, "http://127.0.0.1:1")
	})

	t.Run("ErrCancelled", func(t *testing.T) {
		t.Parallel()
		s, base := startSim(t)
		s.SetFault(sim.EndpointWebhook, sim.Fault{Hang: true})
		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(100*time.Millisecond, cancel)
		_, err := sender.Send(cctx, base+"/webhook/x", "", notify.EventCompleted, body, 0)
		require.ErrorIs(t, err, context.Canceled)
	})

	for _, target := range []string{"", "ftp://example.com/x", "example.com/hook", "http://", "://nope?token=query-secret"} {
		t.Run("ErrURL"+target, func(t *testing.T) {
			t.Parallel()
			_, err := sender.Send(ctx, target, webhookSecret, notify.EventCompleted, body, 0)
			require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
			require.NotContains(t, err.Error(), "query-secret")
		})
	}
}

// requireSafeWebhookError checks that an error names the host but not the
// URL's query or the secret.
func requireSafeWebhookError(t *testing.T, err error, base string) {
	t.Helper()
	host := base[len("http://"):]
	text := fmt.Sprintf("%+v", err)
	require.Contains(t, err.Error(), "webhook transcript.completed to "+host)
	require.NotContains(t, text, "query-secret")
	require.NotContains(t, text, "token=")
	require.NotContains(t, text, webhookSecret)
}

func TestVerifyWebhookSignature(t *testing.T) {
	t.Parallel()
	at := time.Unix(1_800_000_000, 0)
	body := []byte(`{"a":1}`)
	// echo -n '1800000000.{"a":1}' | openssl dgst -sha256 -hmac shh -hex
	const known = "t=1800000000,v1=9bc271939cf22d67d5493bde845408d464f929e20665fcb349b27a18485e9fc9"
	require.Equal(t, known, notify.SignWebhook("shh", at, body))

	other := notify.SignWebhook("old-secret", at, body)
	tests := []struct {
		name, secret, header string
		body                 []byte
		now                  time.Time
		tolerance            time.Duration
		code, msg            string
	}{
		{"OK", "shh", known, body, at, time.Minute, "", ""},
		{"OKSpaces", "shh", "t=1800000000, v1=9bc271939cf22d67d5493bde845408d464f929e20665fcb349b27a18485e9fc9", body, at, time.Minute, "", ""},
		{"OKRotation", "shh", other + ",v1=9bc271939cf22d67d5493bde845408d464f929e20665fcb349b27a18485e9fc9", body, at, time.Minute, "", ""},
		{"OKDefaultTolerance", "shh", known, body, at.Add(4 * time.Minute), 0, "", ""},
		{"ErrWrongSecret", "other", known, body, at, time.Minute, parley.EUNAUTHORIZED, "mismatch"},
		{"ErrTampered", "shh", known, []byte(`{"a":2}`), at, time.Minute, parley.EUNAUTHORIZED, "mismatch"},
		{"ErrStale", "shh", known, body, at.Add(2 * time.Minute), time.Minute, parley.EUNAUTHORIZED, "stale"},
		{"ErrStaleDefault", "shh", known, body, at.Add(6 * time.Minute), 0, parley.EUNAUTHORIZED, "stale"},
		{"ErrFuture", "shh", known, body, at.Add(-2 * time.Minute), time.Minute, parley.EUNAUTHORIZED, "stale"},
		{"ErrEmptyHeader", "shh", "", body, at, time.Minute, parley.EUNAUTHORIZED, "malformed"},
		{"ErrNoV1", "shh", "t=1800000000", body, at, time.Minute, parley.EUNAUTHORIZED, "malformed"},
		{"ErrBadHex", "shh", "t=1800000000,v1=zz", body, at, time.Minute, parley.EUNAUTHORIZED, "malformed"},
		{"ErrBadT", "shh", "t=soon,v1=9bc2", body, at, time.Minute, parley.EUNAUTHORIZED, "malformed"},
		{"ErrNoSecret", "", known, body, at, time.Minute, parley.EINVALID, "no secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := notify.VerifyWebhookSignature(tt.secret, tt.header, tt.body, tt.now, tt.tolerance)
			require.Equal(t, tt.code, parley.ErrorCode(err), "%v", err)
			if err != nil {
				require.Contains(t, err.Error(), tt.msg)
			}
		})
	}
	require.NoError(t, notify.VerifySignature("shh", known, body, at, time.Minute), "the old name still works")
}

func TestWebhookPayload(t *testing.T) {
	t.Parallel()
	tr, topics, words := fixture()
	room := &parley.Room{ID: "room-1", Name: "standup", WebhookSecret: webhookSecret}
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

	t.Run("OKCompleted", func(t *testing.T) {
		t.Parallel()
		b, err := notify.WebhookPayload(notify.EventCompleted, tr, topics, words, room, "https://parley.example.com/", "evt-1", at)
		require.NoError(t, err)
		requireCompact(t, b)
		golden(t, "webhook_completed.json", indent(t, b))
		require.NotContains(t, string(b), webhookSecret, "the room's secret is not sent")
		require.Contains(t, string(b), `<v Ana>Hello there.`, "no HTML escaping")
		m := decode(t, b)
		require.Equal(t, float64(3725400), m["transcript"].(map[string]any)["duration"], "duration in ms")
		require.Nil(t, m["calendar_event"])
		require.NotContains(t, m["transcript"], "error", "error only in transcript.failed")
	})

	t.Run("OKFailed", func(t *testing.T) {
		t.Parallel()
		failed := *tr
		failed.Status = parley.StatusError
		failed.Error = &parley.StepError{Step: "transcribe_track", Message: "The speech service refused the audio."}
		b, err := notify.WebhookPayload(notify.EventFailed, &failed, nil, nil, nil, "https://parley.example.com", "evt-2", at)
		require.NoError(t, err)
		requireCompact(t, b)
		golden(t, "webhook_failed.json", indent(t, b))
		m := decode(t, b)
		require.Nil(t, m["room"], "no room: null")
		require.Equal(t, map[string]any{"step": "transcribe_track", "message": "The speech service refused the audio."},
			m["transcript"].(map[string]any)["error"])
	})

	t.Run("OKEveryKeyPresent", func(t *testing.T) {
		t.Parallel()
		empty := &parley.Transcript{ID: "t1", Status: parley.StatusError}
		b, err := notify.WebhookPayload(notify.EventFailed, empty, []parley.Topic{{Title: "Silent"}}, nil, nil, "http://x", "evt-3", at)
		require.NoError(t, err)
		m := decode(t, b)
		require.Equal(t, []string{"calendar_event", "event", "event_id", "room", "timestamp", "transcript"}, keys(m))
		tm := m["transcript"].(map[string]any)
		require.Equal(t, []string{"action_items", "created_at", "duration", "error", "frontend_url", "id", "long_summary",
			"participants", "room_id", "short_summary", "source_language", "status", "target_language", "title", "topics",
			"webvtt"}, keys(tm))
		for _, k := range []string{"room_id", "created_at", "title", "short_summary", "long_summary", "source_language", "target_language", "error"} {
			require.Nil(t, tm[k], "%s is null when unknown", k)
		}
		require.Empty(t, tm["webvtt"])
		require.Equal(t, []any{}, tm["participants"])
		require.Equal(t, map[string]any{"decisions": []any{}, "next_steps": []any{}}, tm["action_items"])
		topic := tm["topics"].([]any)[0].(map[string]any)
		require.Equal(t, []string{"duration", "summary", "timestamp", "title", "webvtt"}, keys(topic))
		require.Empty(t, topic["webvtt"], "a topic without words has an empty webvtt")
		require.Equal(t, "http://x/transcripts/t1", tm["frontend_url"])
	})

	t.Run("OKNameIsTitle", func(t *testing.T) {
		t.Parallel()
		named := *tr
		named.Name = "Weekly sync"
		b, err := notify.WebhookPayload(notify.EventCompleted, &named, nil, nil, room, "http://x", "evt-4", at)
		require.NoError(t, err)
		require.Equal(t, "Weekly sync", decode(t, b)["transcript"].(map[string]any)["title"])
	})

	t.Run("OKSignedPayloadVerifies", func(t *testing.T) {
		t.Parallel()
		s, base := startSim(t)
		b, err := notify.WebhookPayload(notify.EventCompleted, tr, topics, words, room, "http://x", "evt-5", at)
		require.NoError(t, err)
		_, err = (&notify.WebhookSender{Now: func() time.Time { return at }}).Send(context.Background(), base+"/webhook/acme",
			room.WebhookSecret, notify.EventCompleted, b, 0)
		require.NoError(t, err)
		r := s.Requests(sim.EndpointWebhook)[0]
		require.NoError(t, notify.VerifyWebhookSignature(room.WebhookSecret, r.Headers["X-Webhook-Signature"], []byte(r.Body), at, 0))
		require.Equal(t, "evt-5", decode(t, []byte(r.Body))["event_id"])
	})

	t.Run("ErrNoTranscript", func(t *testing.T) {
		t.Parallel()
		_, err := notify.WebhookPayload(notify.EventCompleted, nil, nil, nil, nil, "http://x", "e", at)
		require.Equal(t, parley.EINTERNAL, parley.ErrorCode(err))
	})
}

func requireCompact(t *testing.T, b []byte) {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, json.Compact(&buf, b))
	require.Equal(t, buf.String(), string(b), "compact JSON")
}

// indent pretty-prints JSON keeping its key order and escaping.
func indent(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, json.Indent(&buf, b, "", "  "))
	return buf.String() + "\n"
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
