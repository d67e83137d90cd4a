package daily

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/parley-dev/parley"
)

// Defaults of Config and of the page walks.
const (
	// DefaultBaseURL is Daily's REST API.
	DefaultBaseURL = "https://api.daily.co/v1"
	// DefaultTimeout bounds one request (as the reference client does).
	DefaultTimeout = 10 * time.Second
	// DefaultMaxPages bounds a walk over the recordings' pages.
	DefaultMaxPages = 50
	// PageSize is the page size asked for: Daily's maximum.
	PageSize = 100
	// maxParticipantPages bounds ListParticipants (100 000 participants).
	maxParticipantPages = 1000
	// maxAnswerBytes bounds what is read of one answer.
	maxAnswerBytes = 8 << 20
)

// Config configures the Daily REST client. The zero value of every field
// except APIKey is usable.
type Config struct {
	// BaseURL (DAILY_API_URL) is the API's base, with the /v1. Defaults to
	// DefaultBaseURL.
	BaseURL string
	// APIKey (DAILY_API_KEY) is sent as a bearer token. Never logged or
	// shown in errors. Without it every call fails with EINVALID.
	APIKey string
	// WebhookSecret (DAILY_WEBHOOK_SECRET) is the base64 secret Daily
	// signs webhooks with (see Client.VerifyWebhook). Never logged.
	WebhookSecret string
	// HTTPClient sends the requests. Defaults to a client of its own
	// (http.DefaultTransport).
	HTTPClient *http.Client
	// Timeout bounds each request, whatever HTTPClient is. Defaults to
	// DefaultTimeout.
	Timeout time.Duration
	// Logger receives warnings (a walk cut short by its page bound).
	// Defaults to slog.Default(). The API key is never logged.
	Logger *slog.Logger
}

// String describes the configuration with its secrets redacted, so that
// printing a Config never leaks them.
func (c Config) String() string {
	return fmt.Sprintf("daily.Config{BaseURL:%q APIKey:%s WebhookSecret:%s Timeout:%s}",
		c.BaseURL, redacted(c.APIKey), redacted(c.WebhookSecret), c.Timeout)
}

// GoString is String, for %#v.
func (c Config) GoString() string { return c.String() }

// LogValue implements slog.LogValuer with the secrets redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("base_url", c.BaseURL), slog.String("api_key", redacted(c.APIKey)),
		slog.String("webhook_secret", redacted(c.WebhookSecret)), slog.Duration("timeout", c.Timeout))
}

func redacted(secret string) string {
	if secret == "" {
		return "unset"
	}
	return "REDACTED"
}

// Client is Daily's REST API. It is safe for concurrent use.
type Client struct {
	cfg  Config
	http *http.Client
	log  *slog.Logger
}

// New returns a client; zero fields of cfg get their defaults.
func New(cfg Config) *Client {
	cfg.BaseURL = strings.TrimRight(cmp.Or(cfg.BaseURL, DefaultBaseURL), "/")
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultTimeout)
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Client{cfg: cfg, http: hc, log: log.With("component", "daily")}
}

// Track is one track of a raw-tracks recording.
type Track struct {
	// Type is "audio" or "video".
	Type string `json:"type"`
	// S3Key is the track's object key in the recordings bucket.
	S3Key string `json:"s3Key"`
	// Size is the object's size in bytes.
	Size int64 `json:"size"`
}

// Recording is Daily's recording resource.
type Recording struct {
	// ID is Daily's recording id.
	ID string `json:"id"`
	// RoomName is the room's name, often with a "-YYYYMMDDHHMMSS" suffix
	// (see RoomName).
	RoomName string `json:"room_name"`
	// StartTS is the start, unix seconds.
	StartTS int64 `json:"start_ts"`
	// Status is "in-progress" or "finished".
	Status string `json:"status"`
	// Duration in seconds, nil while unknown.
	Duration *int `json:"duration"`
	// MtgSessionID is the meeting session (for ListParticipants).
	MtgSessionID string `json:"mtgSessionId"`
	// Tracks are the raw tracks (raw-tracks recordings).
	Tracks []Track `json:"tracks"`
	// S3Key is the single file of a cloud recording.
	S3Key string `json:"s3key"`
	// Type is "raw-tracks" or "cloud"; usually empty (see RecordingType).
	Type string `json:"type"`
}

// RecordingType infers a recording's type as the reference does: Type when
// Daily set it, else tracks mean raw-tracks and an s3key without tracks
// means cloud; "" when neither.
func (r Recording) RecordingType() string {
	switch {
	case r.Type != "":
		return r.Type
	case len(r.Tracks) > 0:
		return "raw-tracks"
	case r.S3Key != "":
		return "cloud"
	}
	return ""
}

// String describes a recording for logs.
func (r Recording) String() string { return fmt.Sprintf("recording %s (%s)", r.ID, r.RoomName) }

// Participant is one participant of a meeting session.
type Participant struct {
	// ParticipantID is the per-session id, also in the track file names.
	ParticipantID string `json:"participant_id"`
	// UserID is the user_id of the meeting token, if any.
	UserID string `json:"user_id"`
	// UserName is the name the participant joined with, if any.
	UserName string `json:"user_name"`
	// JoinTime is when the participant joined, unix seconds.
	JoinTime int64 `json:"join_time"`
	// Duration is how long the participant stayed, seconds.
	Duration float64 `json:"duration"`
}

// GetRecording returns one recording: GET /recordings/{id}.
//
// Errors: EINVALID without an API key or id, EUNAUTHORIZED when Daily
// refuses the key, ENOTFOUND for an unknown id, ETRANSIENT for network
// errors, timeouts, 429 and 5xx.
func (c *Client) GetRecording(ctx context.Context, id string) (Recording, error) {
	if id == "" {
		return Recording{}, parley.Errorf(parley.EINVALID, "daily: get recording: no recording id")
	}
	var r Recording
	err := c.get(ctx, "/recordings/"+url.PathEscape(id), nil, &r)
	return r, err
}

// ListRecordingsOptions selects a page of recordings.
type ListRecordingsOptions struct {
	// Limit is the page size. Defaults to PageSize (Daily's maximum).
	Limit int
	// RoomName keeps one room's recordings.
	RoomName string
	// StartingAfter and EndingBefore are recording ids: the page after
	// (older than) or before (newer than) that recording.
	StartingAfter string
	EndingBefore  string
}

// ListRecordings returns one page of recordings, newest first: GET
// /recordings. Errors as GetRecording (except ENOTFOUND). WalkRecordings
// reads every page.
func (c *Client) ListRecordings(ctx context.Context, o ListRecordingsOptions) ([]Recording, error) {
	q := url.Values{"limit": {strconv.Itoa(cmp.Or(o.Limit, PageSize))}}
	if o.RoomName != "" {
		q.Set("room_name", o.RoomName)
	}
	if o.StartingAfter != "" {
		q.Set("starting_after", o.StartingAfter)
	}
	if o.EndingBefore != "" {
		q.Set("ending_before", o.EndingBefore)
	}
	var page struct {
		Data []Recording `json:"data"`
	}
	if err := c.get(ctx, "/recordings", q, &page); err != nil {
		return nil, err
	}
	return page.Data, nil
}

// ErrPageLimit ends a walk that stopped at its page bound while Daily may
// have more pages.
var ErrPageLimit = errors.New("daily: page limit reached")

// WalkOptions bounds WalkRecordings.
type WalkOptions struct {
	// RoomName keeps one room's recordings.
	RoomName string
	// Since stops the walk at the first recording that started before it
	// (recordings come newest first). Zero: no time bound. Recordings
	// without a start time are kept.
	Since time.Time
	// MaxPages bounds the pages read. Defaults to DefaultMaxPages.
	MaxPages int
}

// WalkRecordings iterates over every recording, newest first, page after
// page (each page starting after the last id of the previous one) until an
// empty page, a recording older than o.Since, or o.MaxPages pages. It
// yields a non-nil error at most once, as its last element: the error of
// a page request (see ListRecordings), an EINTERNAL error when Daily's
// cursor does not advance, or one wrapping ErrPageLimit when the page
// bound cut the walk short.
func (c *Client) WalkRecordings(ctx context.Context, o WalkOptions) iter.Seq2[Recording, error] {
	maxPages := cmp.Or(o.MaxPages, DefaultMaxPages)
	return func(yield func(Recording, error) bool) {
		after := ""
		for range maxPages {
			recs, err := c.ListRecordings(ctx, ListRecordingsOptions{RoomName: o.RoomName, StartingAfter: after})
			if err != nil {
				yield(Recording{}, err)
				return
			}
			if len(recs) == 0 {
				return
			}
			for _, r := range recs {
				if !o.Since.IsZero() && r.StartTS > 0 && time.Unix(r.StartTS, 0).Before(o.Since) {
					return
				}
				if !yield(r, nil) {
					return
				}
			}
			next := recs[len(recs)-1].ID
			if next == "" || next == after {
				yield(Recording{}, parley.Errorf(parley.EINTERNAL, "daily GET /recordings: the page cursor does not advance (%q)", next))
				return
			}
			after = next
		}
		yield(Recording{}, parley.WrapError(parley.EINTERNAL, ErrPageLimit,
			"daily GET /recordings: stopped after %d pages", maxPages))
	}
}

// RecentRecordings returns every recording that started at or after since,
// newest first, reading up to maxPages pages (0: DefaultMaxPages). The
// polling fallback uses it. Reaching the page bound is not an error: it is
// logged and what was read is returned.
func (c *Client) RecentRecordings(ctx context.Context, since time.Time, maxPages int) ([]Recording, error) {
	var out []Recording
	for r, err := range c.WalkRecordings(ctx, WalkOptions{Since: since, MaxPages: maxPages}) {
		if errors.Is(err, ErrPageLimit) {
			c.log.WarnContext(ctx, "daily: listing recordings stopped at the page bound; older ones are not seen",
				slog.Int("recordings", len(out)), slog.Int("max_pages", cmp.Or(maxPages, DefaultMaxPages)))
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("list recordings since %s: %w", since.UTC().Format(time.RFC3339), err)
		}
		out = append(out, r)
	}
	return out, nil
}

// ListParticipants returns every participant of a meeting session: GET
// /meetings/{id}/participants, page after page (limit 100, starting_after
// the last participant_id) until an empty page or Daily's 404 past the
// last page.
//
// Errors as GetRecording; ENOTFOUND when the first page is 404 (an unknown
// meeting).
func (c *Client) ListParticipants(ctx context.Context, mtgSessionID string) ([]Participant, error) {
	if mtgSessionID == "" {
		return nil, parley.Errorf(parley.EINVALID, "daily: list participants: no meeting session id")
	}
	path := "/meetings/" + url.PathEscape(mtgSessionID) + "/participants"
	var out []Participant
	after := ""
	for page := range maxParticipantPages {
		q := url.Values{"limit": {strconv.Itoa(PageSize)}}
		if after != "" {
			q.Set("starting_after", after)
		}
		var resp struct {
			Data []Participant `json:"data"`
		}
		err := c.get(ctx, path, q, &resp)
		if page > 0 && parley.ErrorCode(err) == parley.ENOTFOUND {
			return out, nil // Daily's way of saying there are no more pages
		}
		if err != nil {
			return nil, err
		}
		if len(resp.Data) == 0 {
			return out, nil
		}
		out = append(out, resp.Data...)
		next := resp.Data[len(resp.Data)-1].ParticipantID
		if next == "" || next == after {
			return nil, parley.Errorf(parley.EINTERNAL, "daily GET %s: the page cursor does not advance (%q)", path, next)
		}
		after = next
	}
	return nil, parley.Errorf(parley.EINTERNAL, "daily GET %s: more than %d pages of participants", path, maxParticipantPages)
}

// get fetches path (with query q) into out. Errors carry a code and name
// the method and path, never the key.
func (c *Client) get(ctx context.Context, path string, q url.Values, out any) error {
	op := "daily GET " + path
	if c.cfg.APIKey == "" {
		return parley.Errorf(parley.EINVALID, "%s: Daily is not configured: set DAILY_API_KEY", op)
	}
	u := c.cfg.BaseURL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	rctx, cancel := context.WithTimeoutCause(ctx, c.cfg.Timeout, errTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u, nil)
	if err != nil {
		return parley.Errorf(parley.EINVALID, "%s: bad DAILY_API_URL %q", op, c.cfg.BaseURL)
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return transportError(ctx, rctx, op, c.cfg.Timeout, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return transportError(ctx, rctx, op, c.cfg.Timeout, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return statusError(op, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return parley.WrapError(parley.ETRANSIENT, err, "%s: the answer is not the expected JSON", op)
	}
	return nil
}

// errTimeout is the cause of a request's own deadline.
var errTimeout = errors.New("request timeout")

// transportError classifies a failure to send or to read an answer: the
// caller's cancellation, the request's own timeout, or a network error;
// all of them transient. The URL is left out of the message.
func transportError(parent, rctx context.Context, op string, timeout time.Duration, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case parent.Err() != nil:
		return parley.WrapError(parley.ETRANSIENT, parent.Err(), "%s: cancelled", op)
	case errors.Is(context.Cause(rctx), errTimeout):
		return parley.WrapError(parley.ETRANSIENT, context.DeadlineExceeded, "%s: no answer within %s", op, timeout)
	}
	return parley.WrapError(parley.ETRANSIENT, err, "%s: network error", op)
}

// statusError classifies an HTTP error answer.
func statusError(op string, status int, body []byte) error {
	msg := strings.Join(nonEmpty(errorText(body)...), ": ")
	if msg == "" {
		msg = http.StatusText(status)
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return parley.Errorf(parley.EUNAUTHORIZED, "%s: HTTP %d: %s (check DAILY_API_KEY)", op, status, msg)
	case status == http.StatusNotFound:
		return parley.Errorf(parley.ENOTFOUND, "%s: HTTP 404: %s", op, msg)
	case status == http.StatusTooManyRequests || status >= 500:
		return parley.Errorf(parley.ETRANSIENT, "%s: HTTP %d: %s", op, status, msg)
	}
	return parley.Errorf(parley.EINVALID, "%s: HTTP %d: %s", op, status, msg)
}

func nonEmpty(s ...string) []string {
	var out []string
	for _, x := range s {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// errorText reads an error answer: Daily's {"error": "...", "info":
// "..."}, or {"error": {"message": "..."}} as proxies and simulators send.
// What it returns is bounded and never holds the request's credentials.
func errorText(body []byte) []string {
	var e struct {
		Error json.RawMessage `json:"error"`
		Info  string          `json:"info"`
	}
	if json.Unmarshal(body, &e) != nil {
		return nil
	}
	var code string
	if json.Unmarshal(e.Error, &code) != nil {
		var obj struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(e.Error, &obj)
		code = obj.Message
	}
	return []string{truncate(code, 200), truncate(e.Info, 300)}
}
