package notify

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/parley-dev/parley"
)

// Defaults of WebhookSender and of signature checks.
const (
	// DefaultWebhookTimeout bounds one delivery.
	DefaultWebhookTimeout = 30 * time.Second
	// DefaultUserAgent is the User-Agent of deliveries.
	DefaultUserAgent = "Parley-Webhook/1.0"
	// DefaultSignatureTolerance is how far a signature's t may be from now
	// in VerifyWebhookSignature when no tolerance is given.
	DefaultSignatureTolerance = 5 * time.Minute
)

// Outbound webhook events.
const (
	EventCompleted = "transcript.completed"
	EventFailed    = "transcript.failed"
)

// WebhookSender delivers signed outbound webhooks (contract section 6).
// The zero value is ready to use; it is safe for concurrent use.
type WebhookSender struct {
	// HTTPClient sends the deliveries. Defaults to a client that does not
	// follow redirects (a redirect would carry the signed body elsewhere,
	// or turn the POST into a GET): a 3xx answer is a rejection.
	HTTPClient *http.Client
	// Timeout bounds each delivery, whatever HTTPClient is. Defaults to
	// DefaultWebhookTimeout.
	Timeout time.Duration
	// UserAgent defaults to DefaultUserAgent.
	UserAgent string
	// Now stamps signatures. Defaults to time.Now.
	Now func() time.Time
}

// noRedirects is the default delivery client.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// Send posts body to target with the headers Content-Type:
// application/json, User-Agent, X-Webhook-Event: event, X-Webhook-Retry:
// attempt and, when secret is not empty, X-Webhook-Signature (see
// SignWebhook). It returns the answer's status (0 when there was none).
//
// Errors: ETRANSIENT for network errors, timeouts, 429 and 5xx (the
// pipeline step retries with backoff); EINVALID for other non-2xx answers
// and for a target that is not an http(s) URL (never retried). Error
// messages name the target's host and the status, never its path, query
// or the secret.
func (s *WebhookSender) Send(ctx context.Context, target, secret, event string, body []byte, attempt int) (int, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return 0, parley.Errorf(parley.EINVALID, "webhook: the room's webhook_url is not an http(s) URL")
	}
	op := "webhook " + event + " to " + u.Host
	hc := cmp.Or(s.HTTPClient, noRedirects)
	timeout := cmp.Or(s.Timeout, DefaultWebhookTimeout)
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	rctx, cancel := context.WithTimeoutCause(ctx, timeout, errTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, parley.Errorf(parley.EINVALID, "%s: the webhook_url cannot be requested", op)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", cmp.Or(s.UserAgent, DefaultUserAgent))
	req.Header.Set("X-Webhook-Event", event)
	req.Header.Set("X-Webhook-Retry", strconv.Itoa(attempt))
	if secret != "" {
		req.Header.Set("X-Webhook-Signature", SignWebhook(secret, now(), body))
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, transportError(ctx, rctx, op, timeout, err)
	}
	defer resp.Body.Close()
	// Drain (bounded) so that the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch st := resp.StatusCode; {
	case st >= 200 && st <= 299:
		return st, nil
	case st == http.StatusTooManyRequests || st >= 500:
		return st, parley.Errorf(parley.ETRANSIENT, "%s: HTTP %d", op, st)
	case st >= 300 && st <= 399:
		return st, parley.Errorf(parley.EINVALID, "%s: HTTP %d (redirects are not followed; set the final URL)", op, st)
	}
	return resp.StatusCode, parley.Errorf(parley.EINVALID, "%s: rejected with HTTP %d", op, resp.StatusCode)
}

// SignWebhook returns the X-Webhook-Signature value of a delivery:
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the
// UTF-8 secret>".
func SignWebhook(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(webhookMAC(secret, ts, body))
}

func webhookMAC(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return m.Sum(nil)
}

// VerifyWebhookSignature checks an X-Webhook-Signature header against the
// raw body, for receivers and tests: one of its v1 values must match (in
// constant time), and t must be within tolerance of now either way
// (tolerance <= 0 means DefaultSignatureTolerance).
//
// Errors: EINVALID for an empty secret; EUNAUTHORIZED for a missing or
// malformed header, a mismatch or a stale t.
func VerifyWebhookSignature(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if secret == "" {
		return parley.Errorf(parley.EINVALID, "webhook signature: no secret to check it with")
	}
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return parley.Errorf(parley.EUNAUTHORIZED, "webhook signature: malformed header (want t=<unix>,v1=<hex>)")
	}
	want := webhookMAC(secret, ts, body)
	ok := false
	for _, sig := range sigs {
		ok = hmac.Equal(sig, want) || ok // no early exit: constant time
	}
	if !ok {
		return parley.Errorf(parley.EUNAUTHORIZED, "webhook signature: mismatch")
	}
	tolerance = cmp.Or(max(tolerance, 0), DefaultSignatureTolerance)
	if skew := now.Sub(time.Unix(sec, 0)); skew > tolerance || skew < -tolerance {
		return parley.Errorf(parley.EUNAUTHORIZED, "webhook signature: stale timestamp (%s from now, more than %s)",
			skew.Abs().Round(time.Second), tolerance)
	}
	return nil
}

// VerifySignature is VerifyWebhookSignature.
//
// Deprecated: use VerifyWebhookSignature; kept for existing callers.
func VerifySignature(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	return VerifyWebhookSignature(secret, header, body, now, tolerance)
}

// The payload's parts, in the reference's field order. Pointers and
// json.RawMessage give null where the transcript has no value.
type (
	payload struct {
		Event         string            `json:"event"`
		EventID       string            `json:"event_id"`
		Timestamp     string            `json:"timestamp"`
		Transcript    payloadTranscript `json:"transcript"`
		Room          *payloadRoom      `json:"room"`
		CalendarEvent *struct{}         `json:"calendar_event"`
	}
	payloadTranscript struct {
		ID             string               `json:"id"`
		RoomID         *string              `json:"room_id"`
		CreatedAt      *string              `json:"created_at"`
		Duration       int64                `json:"duration"`
		Title          *string              `json:"title"`
		ShortSummary   *string              `json:"short_summary"`
		LongSummary    *string              `json:"long_summary"`
		WebVTT         string               `json:"webvtt"`
		SourceLanguage *string              `json:"source_language"`
		TargetLanguage *string              `json:"target_language"`
		Status         parley.Status        `json:"status"`
		ActionItems    parley.ActionItems   `json:"action_items"`
		Topics         []payloadTopic       `json:"topics"`
		Participants   []payloadParticipant `json:"participants"`
		FrontendURL    string               `json:"frontend_url"`
		// Error is only in transcript.failed: the failure, or null.
		Error json.RawMessage `json:"error,omitempty"`
	}
	payloadTopic struct {
		Title     string  `json:"title"`
		Summary   string  `json:"summary"`
		Timestamp float64 `json:"timestamp"`
		Duration  float64 `json:"duration"`
		WebVTT    string  `json:"webvtt"`
	}
	payloadParticipant struct {
		ID      string `json:"id"`
		Name    string `json:"name"`
		Speaker int    `json:"speaker"`
	}
	payloadRoom struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
)

// WebhookPayload builds the body of an outbound webhook (contract section
// 6, reference 5.4): compact JSON with every key present (null where
// there is no value) — event, event_id, timestamp (UTC ISO 8601),
// transcript {id, room_id, created_at, duration (ms), title,
// short_summary, long_summary, webvtt, source_language, target_language,
// status, action_items, topics [{title, summary, timestamp, duration,
// webvtt}], participants [{id, name, speaker}], frontend_url}, room {id,
// name} (null without a room) and calendar_event (null). For
// transcript.failed the transcript also has error {step, message}.
//
// words are the transcript's words (its webvtt); each topic's webvtt comes
// from the topic's own words, "" when it has none. The title is the
// user's name for the transcript, else the generated title.
func WebhookPayload(event string, t *parley.Transcript, topics []parley.Topic, words []parley.Word, room *parley.Room,
	uiBaseURL, eventID string, now time.Time) ([]byte, error) {
	if t == nil {
		return nil, parley.Errorf(parley.EINTERNAL, "webhook payload: no transcript")
	}
	pt := payloadTranscript{
		ID:             t.ID,
		RoomID:         t.RoomID,
		Duration:       int64(math.Round(max(t.DurationSeconds, 0) * 1000)),
		Title:          orNull(cmp.Or(t.Name, t.Title)),
		ShortSummary:   orNull(t.ShortSummary),
		LongSummary:    orNull(t.LongSummary),
		WebVTT:         vttOrEmpty(words, t.Participants),
		SourceLanguage: orNull(t.SourceLanguage),
		TargetLanguage: orNull(t.TargetLanguage),
		Status:         t.Status,
		ActionItems:    t.ActionItems,
		Topics:         make([]payloadTopic, 0, len(topics)),
		Participants:   make([]payloadParticipant, 0, len(t.Participants)),
		FrontendURL:    strings.TrimRight(uiBaseURL, "/") + "/transcripts/" + url.PathEscape(t.ID),
	}
	if !t.CreatedAt.IsZero() {
		pt.CreatedAt = orNull(t.CreatedAt.UTC().Format(time.RFC3339Nano))
	}
	// Empty lists, not null, as the reference's pydantic defaults.
	if pt.ActionItems.Decisions == nil {
		pt.ActionItems.Decisions = []parley.Decision{}
	}
	if pt.ActionItems.NextSteps == nil {
		pt.ActionItems.NextSteps = []parley.NextStep{}
	}
	if event == EventFailed {
		pt.Error = json.RawMessage("null")
		if t.Error != nil {
			b, err := json.Marshal(t.Error)
			if err != nil {
				return nil, parley.WrapError(parley.EINTERNAL, err, "webhook payload: error")
			}
			pt.Error = b
		}
	}
	for _, tp := range topics {
		pt.Topics = append(pt.Topics, payloadTopic{Title: tp.Title, Summary: tp.Summary, Timestamp: tp.Timestamp,
			Duration: tp.Duration, WebVTT: vttOrEmpty(tp.Words, t.Participants)})
	}
	for _, p := range t.Participants {
		pt.Participants = append(pt.Participants, payloadParticipant{ID: p.ID, Name: p.Name, Speaker: p.Speaker})
	}
	out := payload{Event: event, EventID: eventID, Timestamp: now.UTC().Format(time.RFC3339Nano), Transcript: pt}
	if room != nil {
		out.Room = &payloadRoom{ID: room.ID, Name: room.Name}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep "<v Ana>" readable in the webvtt
	if err := enc.Encode(out); err != nil {
		return nil, parley.WrapError(parley.EINTERNAL, err, "webhook payload")
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func orNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// vttOrEmpty is WebVTT, or "" when there are no words (as the reference's
// per-topic webvtt).
func vttOrEmpty(words []parley.Word, participants []parley.Participant) string {
	if len(words) == 0 {
		return ""
	}
	return WebVTT(words, participants)
}
