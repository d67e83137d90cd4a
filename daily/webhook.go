package daily

import (
	"bytes"
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/parley-dev/parley"
)

// DefaultWebhookTolerance is how far a webhook's timestamp may be from
// now, either way, before it is refused as a replay.
const DefaultWebhookTolerance = 5 * time.Minute

// Webhook event types Parley reads.
const (
	EventRecordingReady = "recording.ready-to-download"
)

// decodeSecret decodes Daily's base64 webhook secret. Daily issues
// standard base64; unpadded and URL-safe forms are accepted too.
func decodeSecret(secretB64 string) ([]byte, error) {
	s := strings.TrimSpace(secretB64)
	if s == "" {
		return nil, parley.Errorf(parley.EINVALID, "DAILY_WEBHOOK_SECRET is not set")
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(s); err == nil && len(key) > 0 {
			return key, nil
		}
	}
	return nil, parley.Errorf(parley.EINVALID, "DAILY_WEBHOOK_SECRET is not base64")
}

// SignWebhook computes Daily's signature of a webhook: base64 of
// HMAC-SHA256 over timestamp + "." + body, keyed with the base64-decoded
// secret. Errors: EINVALID when the secret is empty or not base64.
func SignWebhook(secretB64, timestamp string, body []byte) (string, error) {
	key, err := decodeSecret(secretB64)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(mac(key, timestamp, body)), nil
}

func mac(key []byte, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return m.Sum(nil)
}

// VerifyWebhook checks a Daily webhook: signature is the
// X-Webhook-Signature header, compared in constant time with
// SignWebhook(secretB64, timestamp, body), and timestamp the
// X-Webhook-Timestamp header (unix seconds, or milliseconds when above
// 1e12), which must be within tolerance of now either way so that a
// captured request cannot be replayed later (reference defect #13).
// tolerance <= 0 means DefaultWebhookTolerance.
//
// Errors: EUNAUTHORIZED for a missing header, a bad signature or a bad or
// stale timestamp; EINVALID when the secret is empty or not base64.
func VerifyWebhook(secretB64, timestamp string, body []byte, signature string, now time.Time, tolerance time.Duration) error {
	key, err := decodeSecret(secretB64)
	if err != nil {
		return err
	}
	timestamp, signature = strings.TrimSpace(timestamp), strings.TrimSpace(signature)
	switch {
	case signature == "":
		return parley.Errorf(parley.EUNAUTHORIZED, "missing X-Webhook-Signature header")
	case timestamp == "":
		return parley.Errorf(parley.EUNAUTHORIZED, "missing X-Webhook-Timestamp header")
	}
	got, err := base64.StdEncoding.DecodeString(signature)
	if err != nil || !hmac.Equal(got, mac(key, timestamp, body)) {
		return parley.Errorf(parley.EUNAUTHORIZED, "bad webhook signature")
	}
	at, err := parseTimestamp(timestamp)
	if err != nil {
		return err
	}
	tolerance = cmp.Or(max(tolerance, 0), DefaultWebhookTolerance)
	if skew := now.Sub(at); skew > tolerance || skew < -tolerance {
		return parley.Errorf(parley.EUNAUTHORIZED, "stale webhook timestamp: %s from now, more than the %s allowed",
			skew.Abs().Round(time.Second), tolerance)
	}
	return nil
}

// CheckWebhookHeaders checks what can be checked of a webhook before its
// body is read: both headers present, the signature a base64 SHA-256
// HMAC, the timestamp fresh (within tolerance of now; <= 0 means
// DefaultWebhookTolerance). A request failing it is refused without
// reading its body. VerifyWebhook still checks everything.
func CheckWebhookHeaders(timestamp, signature string, now time.Time, tolerance time.Duration) error {
	timestamp, signature = strings.TrimSpace(timestamp), strings.TrimSpace(signature)
	switch {
	case signature == "":
		return parley.Errorf(parley.EUNAUTHORIZED, "missing X-Webhook-Signature header")
	case timestamp == "":
		return parley.Errorf(parley.EUNAUTHORIZED, "missing X-Webhook-Timestamp header")
	}
	if got, err := base64.StdEncoding.DecodeString(signature); err != nil || len(got) != sha256.Size {
		return parley.Errorf(parley.EUNAUTHORIZED, "bad webhook signature")
	}
	at, err := parseTimestamp(timestamp)
	if err != nil {
		return err
	}
	tolerance = cmp.Or(max(tolerance, 0), DefaultWebhookTolerance)
	if skew := now.Sub(at); skew > tolerance || skew < -tolerance {
		return parley.Errorf(parley.EUNAUTHORIZED, "stale webhook timestamp: %s from now, more than the %s allowed",
			skew.Abs().Round(time.Second), tolerance)
	}
	return nil
}

// parseTimestamp reads X-Webhook-Timestamp: unix seconds (maybe with a
// fraction), or milliseconds when above 1e12.
func parseTimestamp(s string) (time.Time, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 || f > 1e15 {
		return time.Time{}, parley.Errorf(parley.EUNAUTHORIZED, "bad webhook timestamp %q: expected unix seconds", truncate(s, 32))
	}
	if f > 1e12 {
		f /= 1000
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}

// VerifyWebhook is the package's VerifyWebhook with the configured
// WebhookSecret and DefaultWebhookTolerance.
func (c *Client) VerifyWebhook(timestamp string, body []byte, signature string, now time.Time) error {
	return VerifyWebhook(c.cfg.WebhookSecret, timestamp, body, signature, now, DefaultWebhookTolerance)
}

// Event is a webhook delivery: {version, type, id, payload, event_ts}.
type Event struct {
	// Version of the event format, e.g. "1.0.0".
	Version string `json:"version"`
	// Type is e.g. EventRecordingReady.
	Type string `json:"type"`
	// ID is the delivery's id.
	ID string `json:"id"`
	// EventTS is when the event happened, unix seconds.
	EventTS float64 `json:"event_ts"`
	// Payload is the event's own data (see RecordingReady).
	Payload json.RawMessage `json:"payload"`
	// IsTest is set for Daily's {"test":"test"} ping (nothing else is).
	IsTest bool `json:"-"`
}

// ParseWebhook decodes a webhook body. Errors: EINVALID naming what is
// wrong (not JSON, a field of the wrong type, no type).
func ParseWebhook(body []byte) (Event, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(body, &probe); err != nil {
		return Event{}, jsonError("webhook body", err)
	}
	if t, ok := probe["test"]; ok && probe["type"] == nil && bytes.Equal(bytes.TrimSpace(t), []byte(`"test"`)) {
		return Event{IsTest: true}, nil
	}
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return Event{}, jsonError("webhook body", err)
	}
	if ev.Type == "" {
		return Event{}, parley.Errorf(parley.EINVALID, `webhook body: no "type"`)
	}
	return ev, nil
}

// RecordingReady is the payload of recording.ready-to-download.
type RecordingReady struct {
	// RecordingID is Daily's recording id.
	RecordingID string `json:"recording_id"`
	// RoomName is the room's name (see RoomName).
	RoomName string `json:"room_name"`
	// StartTS is the recording's start, unix seconds.
	StartTS int64 `json:"start_ts"`
	// Type is "raw-tracks" or "cloud".
	Type string `json:"type"`
	// Duration in seconds.
	Duration float64 `json:"duration"`
	// S3Key is a cloud recording's file.
	S3Key string `json:"s3_key"`
	// Tracks are a raw-tracks recording's tracks (see CamAudioKeys); nil
	// when Daily sent none.
	Tracks []Track `json:"tracks"`
}

// RecordingReady decodes the payload of a recording.ready-to-download
// event. Errors: EINVALID for another event type, a payload that does not
// decode, or one without recording_id.
func (e Event) RecordingReady() (RecordingReady, error) {
	const what = EventRecordingReady + " payload"
	var r RecordingReady
	if e.Type != EventRecordingReady {
		return r, parley.Errorf(parley.EINVALID, "webhook: a %q event has no %s", truncate(e.Type, 64), what)
	}
	if len(bytes.TrimSpace(e.Payload)) == 0 || string(bytes.TrimSpace(e.Payload)) == "null" {
		return r, parley.Errorf(parley.EINVALID, "%s is missing", what)
	}
	if err := json.Unmarshal(e.Payload, &r); err != nil {
		return RecordingReady{}, jsonError(what, err)
	}
	if r.RecordingID == "" {
		return r, parley.Errorf(parley.EINVALID, "%s has no recording_id", what)
	}
	return r, nil
}

// jsonError turns a decoding error into EINVALID naming the field and
// what was wrong with it.
func jsonError(what string, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "unexpected end of JSON input"):
		return parley.WrapError(parley.EINVALID, err, "%s is empty or cut short", what)
	case errors.As(err, &syn):
		return parley.WrapError(parley.EINVALID, err, "%s is not valid JSON (at byte %d)", what, syn.Offset)
	case errors.As(err, &typ) && typ.Field != "":
		return parley.WrapError(parley.EINVALID, err, "%s: field %q is a JSON %s, expected %s", what, typ.Field, typ.Value, typ.Type)
	case errors.As(err, &typ):
		return parley.WrapError(parley.EINVALID, err, "%s is a JSON %s, expected an object", what, typ.Value)
	}
	return parley.WrapError(parley.EINVALID, err, "%s: %v", what, err)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
