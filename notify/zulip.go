package notify

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/parley-dev/parley"
)

// DefaultZulipTimeout bounds one Zulip request.
const DefaultZulipTimeout = 15 * time.Second

// ZulipConfig configures the Zulip client.
type ZulipConfig struct {
	// Realm (ZULIP_REALM) is a host ("chat.example.com", reached over
	// https) or a base URL ("http://127.0.0.1:9999"). Empty turns Zulip
	// off.
	Realm string
	// BotEmail (ZULIP_BOT_EMAIL) and APIKey (ZULIP_API_KEY) authenticate
	// (HTTP basic auth). The key is never logged or shown in errors.
	BotEmail, APIKey string
	// HTTPClient sends the requests. Defaults to a client of its own
	// (http.DefaultTransport).
	HTTPClient *http.Client
	// Timeout bounds each request, whatever HTTPClient is. Defaults to
	// DefaultZulipTimeout.
	Timeout time.Duration
}

// Enabled reports whether Zulip is configured (ZULIP_REALM is set).
func (c ZulipConfig) Enabled() bool { return strings.TrimSpace(c.Realm) != "" }

// String describes the configuration with the API key redacted.
func (c ZulipConfig) String() string {
	return fmt.Sprintf("notify.ZulipConfig{Realm:%q BotEmail:%q APIKey:%s Timeout:%s}", c.Realm, c.BotEmail, redacted(c.APIKey), c.Timeout)
}

// GoString is String, for %#v.
func (c ZulipConfig) GoString() string { return c.String() }

// LogValue implements slog.LogValuer with the API key redacted.
func (c ZulipConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("realm", c.Realm), slog.String("bot_email", c.BotEmail),
		slog.String("api_key", redacted(c.APIKey)), slog.Duration("timeout", c.Timeout))
}

func redacted(secret string) string {
	if secret == "" {
		return "unset"
	}
	return "REDACTED"
}

// realmBase turns ZULIP_REALM into a base URL: a bare host gets https.
func realmBase(realm string) string {
	base := strings.TrimRight(strings.TrimSpace(realm), "/")
	if !strings.Contains(base, "://") {
		base = "https://" + base
	}
	return base
}

// Zulip posts and edits stream messages. It is safe for concurrent use.
type Zulip struct {
	base string
	cfg  ZulipConfig
	http *http.Client
}

// NewZulip returns a client, or nil when Zulip is not configured (see
// ZulipConfig.Enabled); zero fields of cfg get their defaults.
func NewZulip(cfg ZulipConfig) *Zulip {
	if !cfg.Enabled() {
		return nil
	}
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultZulipTimeout)
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	return &Zulip{base: realmBase(cfg.Realm), cfg: cfg, http: hc}
}

// zulipAnswer is every Zulip API answer.
type zulipAnswer struct {
	Result string `json:"result"`
	Msg    string `json:"msg"`
	Code   string `json:"code"`
	ID     *int64 `json:"id"`
}

// Post sends a stream message (POST /api/v1/messages) and returns its id.
//
// Errors: EINVALID when Zulip is not configured or refuses the message
// (an unknown stream...), EUNAUTHORIZED when it refuses the credentials,
// ETRANSIENT for network errors, timeouts, 429 and 5xx. Zulip's own
// message is part of the error.
func (z *Zulip) Post(ctx context.Context, stream, topic, content string) (int64, error) {
	const op = "zulip POST /api/v1/messages"
	if stream == "" {
		return 0, parley.Errorf(parley.EINVALID, "%s: no stream", op)
	}
	ans, err := z.do(ctx, op, http.MethodPost, "/api/v1/messages",
		url.Values{"type": {"stream"}, "to": {stream}, "topic": {topic}, "content": {content}})
	if err != nil {
		return 0, err
	}
	if ans.ID == nil {
		// Not retried: the message may well be posted, and a retry would
		// post it twice.
		return 0, parley.Errorf(parley.EINVALID, "%s: the answer has no message id", op)
	}
	return *ans.ID, nil
}

// Update edits a message's topic and content (PATCH
// /api/v1/messages/{id}); an empty topic or content is left unchanged.
// Errors as Post; ENOTFOUND or EINVALID when the message is gone (Zulip
// answers 400 "Invalid message(s)").
func (z *Zulip) Update(ctx context.Context, id int64, topic, content string) error {
	path := "/api/v1/messages/" + strconv.FormatInt(id, 10)
	op := "zulip PATCH " + path
	form := url.Values{}
	if topic != "" {
		form.Set("topic", topic)
	}
	if content != "" {
		form.Set("content", content)
	}
	if len(form) == 0 {
		return nil
	}
	_, err := z.do(ctx, op, http.MethodPatch, path, form)
	return err
}

// do sends a form and classifies the answer.
func (z *Zulip) do(ctx context.Context, op, method, path string, form url.Values) (zulipAnswer, error) {
	if z == nil {
		return zulipAnswer{}, parley.Errorf(parley.EINVALID, "%s: Zulip is not configured: set ZULIP_REALM", op)
	}
	if z.cfg.BotEmail == "" || z.cfg.APIKey == "" {
		return zulipAnswer{}, parley.Errorf(parley.EINVALID, "%s: set ZULIP_BOT_EMAIL and ZULIP_API_KEY", op)
	}
	rctx, cancel := context.WithTimeoutCause(ctx, z.cfg.Timeout, errTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, method, z.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return zulipAnswer{}, parley.Errorf(parley.EINVALID, "%s: bad ZULIP_REALM %q", op, z.cfg.Realm)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(z.cfg.BotEmail, z.cfg.APIKey)
	resp, err := z.http.Do(req)
	if err != nil {
		return zulipAnswer{}, transportError(ctx, rctx, op, z.cfg.Timeout, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return zulipAnswer{}, transportError(ctx, rctx, op, z.cfg.Timeout, err)
	}
	var ans zulipAnswer
	jsonErr := json.Unmarshal(body, &ans)
	msg := truncate(strings.TrimSpace(ans.Msg), 300)
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	switch s := resp.StatusCode; {
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		return ans, parley.Errorf(parley.EUNAUTHORIZED, "%s: HTTP %d: %s (check ZULIP_BOT_EMAIL and ZULIP_API_KEY)", op, s, msg)
	case s == http.StatusNotFound:
		return ans, parley.Errorf(parley.ENOTFOUND, "%s: HTTP 404: %s", op, msg)
	case s == http.StatusTooManyRequests || s >= 500:
		return ans, parley.Errorf(parley.ETRANSIENT, "%s: HTTP %d: %s", op, s, msg)
	case s < 200 || s > 299:
		return ans, parley.Errorf(parley.EINVALID, "%s: HTTP %d: %s", op, s, msg)
	case jsonErr != nil:
		return ans, parley.WrapError(parley.ETRANSIENT, jsonErr, "%s: the answer is not Zulip's JSON", op)
	case ans.Result != "success":
		return ans, parley.Errorf(parley.EINVALID, "%s: %s", op, cmp.Or(msg, "result "+ans.Result))
	}
	return ans, nil
}

// errTimeout is the cause of a request's own deadline.
var errTimeout = errors.New("request timeout")

// transportError classifies a failure to send or to read an answer: the
// caller's cancellation, the request's own timeout or a network error; all
// transient. The URL (which may hold a secret) is left out.
func transportError(parent, rctx context.Context, op string, timeout time.Duration, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case errors.Is(err, ErrEgressRefused):
		// Permanent, and silent about what is at the address.
		return parley.Errorf(parley.EINVALID, "%s: refused by egress policy (a loopback, private or link-local address; "+
			"PARLEY_EGRESS_ALLOW can allow it)", op)
	case parent.Err() != nil:
		return parley.WrapError(parley.ETRANSIENT, parent.Err(), "%s: cancelled", op)
	case errors.Is(context.Cause(rctx), errTimeout):
		return parley.WrapError(parley.ETRANSIENT, context.DeadlineExceeded, "%s: no answer within %s", op, timeout)
	}
	return parley.WrapError(parley.ETRANSIENT, err, "%s: network error", op)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ZulipMessage renders a transcript's summary post (markdown, as the
// reference's, headed "Parley – {title}"): date, a link to
// {uiBaseURL}/transcripts/{id} labelled with its host, the duration
// (H:MM:SS without a leading "0:"), then spoiler blocks with the long
// summary and the numbered topics ("[MM:SS] title"), and a "-----" footer.
func ZulipMessage(t *parley.Transcript, topics []parley.Topic, uiBaseURL string) string {
	var b strings.Builder
	link := strings.TrimRight(uiBaseURL, "/") + "/transcripts/" + url.PathEscape(t.ID)
	label := link
	if u, err := url.Parse(link); err == nil && u.Host != "" {
		label = u.Host
	}
	fmt.Fprintf(&b, "# Parley – %s\n\n", oneLine(t.DisplayTitle()))
	fmt.Fprintf(&b, "**Date**: <time:%s>\n", t.CreatedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "**Link**: [%s](%s)\n", label, link)
	fmt.Fprintf(&b, "**Duration**: %s\n\n", clock(t.DurationSeconds))
	summary := strings.TrimSpace(t.LongSummary)
	if summary == "" {
		summary = "No summary available"
	}
	spoiler(&b, "Summary", summary)
	if len(topics) > 0 {
		var lines strings.Builder
		for i, tp := range topics {
			s := int(max(tp.Timestamp, 0))
			fmt.Fprintf(&lines, "%d. [%02d:%02d] %s\n", i+1, s/60, s%60, oneLine(tp.Title))
		}
		spoiler(&b, "Topics", strings.TrimSuffix(lines.String(), "\n"))
	}
	b.WriteString("-----\n")
	return b.String()
}

// spoiler writes a Zulip spoiler block whose fence is longer than any
// backtick run inside, so that code in the text cannot close it early.
func spoiler(b *strings.Builder, title, text string) {
	fence := strings.Repeat("`", max(3, longestRun(text, '`')+1))
	fmt.Fprintf(b, "%sspoiler %s\n%s\n%s\n\n", fence, title, text, fence)
}

func longestRun(s string, c byte) int {
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}

// oneLine keeps a title on its line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// clock formats seconds as H:MM:SS, without a leading "0:" (so "05:07"
// under an hour).
func clock(sec float64) string {
	s := int64(math.Round(max(sec, 0)))
	return strings.TrimPrefix(fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60), "0:")
}
