package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode"
	"unicode/utf8"

	mail "github.com/wneessen/go-mail"

	"github.com/parley-dev/parley"
)

// Email limits and defaults.
const (
	// DefaultSMTPPort is the submission port (STARTTLS).
	DefaultSMTPPort = 587
	// DefaultEmailTimeout bounds one message: connection, STARTTLS,
	// authentication and delivery.
	DefaultEmailTimeout = 30 * time.Second
	// MaxEmailLength is the longest address accepted (RFC 5321's path
	// limit less the brackets); the local part may have 64 characters, the
	// domain 253.
	MaxEmailLength = 254
	// maxSubjectRunes bounds the subject line.
	maxSubjectRunes = 150
)

// EmailConfig configures the Mailer (SMTP_* variables).
type EmailConfig struct {
	// Host (SMTP_HOST) is the submission server. Empty turns email off.
	Host string
	// Port (SMTP_PORT). Defaults to DefaultSMTPPort.
	Port int
	// Username (SMTP_USERNAME) and Password (SMTP_PASSWORD) authenticate
	// after STARTTLS (the best mechanism the server offers); without a
	// username nothing is authenticated. The password is never logged or
	// shown in errors.
	Username, Password string
	// From (SMTP_FROM) is the sender address; required with Host.
	From string
	// RootCAs verifies the server's certificate. Defaults to the system's
	// roots (SMTP_CA_FILE adds to nothing else: it replaces them).
	RootCAs *x509.CertPool
	// Timeout bounds each message. Defaults to DefaultEmailTimeout.
	Timeout time.Duration
	// Egress is checked on the address each connection is opened to (see
	// EgressPolicy): a loopback or private SMTP host must be listed in
	// PARLEY_EGRESS_ALLOW. Nil allows public addresses only.
	Egress *EgressPolicy
	// HELO is the name given in EHLO. Defaults to the From address's
	// domain.
	HELO string
}

// Enabled reports whether email is configured (SMTP_HOST is set).
func (c EmailConfig) Enabled() bool { return strings.TrimSpace(c.Host) != "" }

// String describes the configuration with the password redacted.
func (c EmailConfig) String() string {
	return fmt.Sprintf("notify.EmailConfig{Host:%q Port:%d Username:%q Password:%s From:%q Timeout:%s}",
		c.Host, c.Port, c.Username, redacted(c.Password), c.From, c.Timeout)
}

// GoString is String, for %#v.
func (c EmailConfig) GoString() string { return c.String() }

// LogValue implements slog.LogValuer with the password redacted.
func (c EmailConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("host", c.Host), slog.Int("port", c.Port), slog.String("username", c.Username),
		slog.String("password", redacted(c.Password)), slog.String("from", c.From))
}

// Mailer sends email over SMTP with mandatory STARTTLS, one connection per
// message. It is safe for concurrent use.
type Mailer struct {
	cfg EmailConfig
}

// NewMailer checks cfg and returns a Mailer, or nil (and no error) when
// email is off (no Host).
func NewMailer(cfg EmailConfig) (*Mailer, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	cfg.Host = strings.TrimSpace(cfg.Host)
	if cfg.Port == 0 {
		cfg.Port = DefaultSMTPPort
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, parley.Errorf(parley.EINVALID, "SMTP_PORT: %d is not a port", cfg.Port)
	}
	if strings.ContainsAny(cfg.Host, "/@ \r\n") {
		return nil, parley.Errorf(parley.EINVALID, "SMTP_HOST: %q is not a host name or address", cfg.Host)
	}
	if cfg.From == "" {
		return nil, parley.Errorf(parley.EINVALID, "SMTP_FROM: required when SMTP_HOST is set")
	}
	if err := ValidateEmail(cfg.From); err != nil {
		return nil, parley.Errorf(parley.EINVALID, "SMTP_FROM: %s", parley.ErrorMessage(err))
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultEmailTimeout
	}
	if cfg.HELO == "" {
		cfg.HELO = cfg.From[strings.LastIndexByte(cfg.From, '@')+1:]
	}
	return &Mailer{cfg: cfg}, nil
}

// From is the sender address.
func (m *Mailer) From() string { return m.cfg.From }

// Email is one message to one recipient.
type Email struct {
	To      string
	Subject string
	// Text and HTML are the two alternative bodies (HTML may be empty).
	Text, HTML string
	// MessageID, without angle brackets, makes a re-sent message
	// recognisable as the same one. Defaults to a random id.
	MessageID string
}

// SendResult is what the server said when it took a message.
type SendResult struct {
	MessageID string
	// Response is the server's answer to the message's data (e.g. "250
	// 2.0.0 Ok: queued as 1234").
	Response string
}

// Send delivers msg. Errors:
//   - EINVALID for what no retry can fix: an address that is not valid, a
//     5xx answer (permanent), the egress policy refusing the host, a server
//     without STARTTLS or with a certificate that does not verify;
//   - EUNAUTHORIZED when the server refuses the credentials (5xx to AUTH);
//   - ETRANSIENT for 4xx answers (temporary), network errors, timeouts and
//     cancellation: the caller retries.
//
// Messages name the SMTP host and the server's reply code and text, never
// the credentials.
func (m *Mailer) Send(ctx context.Context, msg Email) (SendResult, error) {
	op := "smtp " + net.JoinHostPort(m.cfg.Host, strconv.Itoa(m.cfg.Port))
	if err := ValidateEmail(msg.To); err != nil {
		return SendResult{}, err
	}
	em := mail.NewMsg(mail.WithNoDefaultUserAgent())
	if err := em.From(m.cfg.From); err != nil {
		return SendResult{}, parley.WrapError(parley.EINVALID, err, "%s: SMTP_FROM is not a valid address", op)
	}
	if err := em.To(msg.To); err != nil {
		return SendResult{}, parley.WrapError(parley.EINVALID, err, "%s: %q is not a valid address", op, msg.To)
	}
	em.Subject(cleanSubject(msg.Subject))
	if msg.MessageID != "" {
		em.SetMessageIDWithValue(msg.MessageID)
	} else {
		em.SetMessageID()
	}
	em.SetDate()
	em.SetGenHeader(mail.HeaderUserAgent, "Parley")
	em.SetBodyString(mail.TypeTextPlain, msg.Text)
	if msg.HTML != "" {
		em.AddAlternativeString(mail.TypeTextHTML, msg.HTML)
	}
	rctx, cancel := context.WithTimeoutCause(ctx, m.cfg.Timeout, errTimeout)
	defer cancel()
	opts := []mail.Option{
		mail.WithPort(m.cfg.Port),
		mail.WithTLSPolicy(mail.TLSMandatory),
		mail.WithTLSConfig(&tls.Config{ServerName: m.cfg.Host, RootCAs: m.cfg.RootCAs, MinVersion: tls.VersionTLS12}),
		mail.WithTimeout(m.cfg.Timeout),
		mail.WithHELO(m.cfg.HELO),
		mail.WithDialContextFunc(m.cfg.Egress.DialContext),
	}
	if m.cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(m.cfg.Username),
			mail.WithPassword(m.cfg.Password))
	}
	c, err := mail.NewClient(m.cfg.Host, opts...)
	if err != nil {
		return SendResult{}, parley.WrapError(parley.EINVALID, err, "%s: cannot configure the client", op)
	}
	err = c.DialAndSendWithContext(rctx, em)
	res := SendResult{MessageID: strings.Trim(em.GetMessageID(), "<>"), Response: em.ServerResponse()}
	if em.IsDelivered() {
		// The server took it; a failure after that (RSET, QUIT) changes
		// nothing, and must not make a retry send it twice.
		return res, nil
	}
	if err == nil {
		return res, parley.Errorf(parley.ETRANSIENT, "%s: the message was not confirmed", op)
	}
	return res, m.classify(ctx, rctx, op, err)
}

// classify maps a failed delivery to Parley's error codes.
func (m *Mailer) classify(parent, rctx context.Context, op string, err error) error {
	var se *mail.SendError
	code := 0
	if errors.As(err, &se) {
		code = se.ErrorCode()
	}
	if code == 0 {
		code = replyCode(err)
	}
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	switch {
	case errors.Is(err, ErrEgressRefused):
		return parley.Errorf(parley.EINVALID, "%s: refused by egress policy (a loopback, private or link-local address; "+
			"PARLEY_EGRESS_ALLOW can allow it)", op)
	case code >= 400 && code < 500:
		return parley.WrapError(parley.ETRANSIENT, err, "%s: temporary failure %s", op, serverReply(err, code))
	case code >= 500 && code < 600 && isAuthFailure(err):
		return parley.WrapError(parley.EUNAUTHORIZED, err, "%s: authentication refused %s (SMTP_USERNAME, SMTP_PASSWORD)", op,
			serverReply(err, code))
	case code >= 500 && code < 600:
		return parley.WrapError(parley.EINVALID, err, "%s: refused %s", op, serverReply(err, code))
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr):
		return parley.WrapError(parley.EINVALID, err, "%s: the server's TLS certificate does not verify (SMTP_CA_FILE can add a CA)", op)
	case strings.Contains(err.Error(), "STARTTLS"):
		return parley.WrapError(parley.EINVALID, err, "%s: the server does not offer STARTTLS, which is required", op)
	case parent.Err() != nil:
		return parley.WrapError(parley.ETRANSIENT, parent.Err(), "%s: cancelled", op)
	case errors.Is(context.Cause(rctx), errTimeout):
		return parley.WrapError(parley.ETRANSIENT, context.DeadlineExceeded, "%s: no answer within %s", op, m.cfg.Timeout)
	}
	cause := "network error"
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		cause = oe.Err.Error()
	}
	return parley.WrapError(parley.ETRANSIENT, err, "%s: connection failed (%s)", op, truncate(oneLine(cause), 120))
}

// replyCode finds an SMTP reply code at the start of an error in err's
// chain (the dial and AUTH errors are not SendErrors).
func replyCode(err error) int {
	for e := err; e != nil; e = errors.Unwrap(e) {
		s := e.Error()
		if len(s) >= 4 && (s[0] == '4' || s[0] == '5') && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9' &&
			(s[3] == ' ' || s[3] == '-') {
			n, _ := strconv.Atoi(s[:3])
			return n
		}
	}
	return 0
}

func isAuthFailure(err error) bool {
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "auth") || strings.Contains(s, " 535 ") || strings.HasPrefix(s, "535")
}

// serverReply quotes the server's reply: its code and text, on one line,
// at most 200 characters.
func serverReply(err error, code int) string {
	var se *mail.SendError
	text := err.Error()
	if errors.As(err, &se) {
		text = se.Error()
	}
	if i := strings.Index(text, strconv.Itoa(code)); i >= 0 {
		text = text[i:]
	}
	text, _, _ = strings.Cut(text, ", affected ")
	text = strings.ReplaceAll(text, `"`, "")
	text = strings.Join(strings.FieldsFunc(text, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	return "(" + truncate(text, 200) + ")"
}

// ValidateEmail checks an address strictly: a bare addr-spec
// (local@domain, no display name, comments or quoting) of at most
// MaxEmailLength characters, a dot-atom local part of at most 64 printable
// ASCII characters, and a domain of letters, digits and hyphens in labels
// of 1–63 characters with at least one dot (or an IP literal such as
// [192.0.2.1]). Anything else, notably CR, LF, spaces, commas, angle
// brackets and non-ASCII characters (which could add headers or
// recipients), is refused with an EINVALID error naming the problem.
func ValidateEmail(addr string) error {
	bad := func(format string, args ...any) error {
		return parley.Errorf(parley.EINVALID, "email: %s", fmt.Sprintf(format, args...))
	}
	if addr == "" {
		return bad("required")
	}
	if !utf8.ValidString(addr) {
		return bad("not valid UTF-8")
	}
	if len(addr) > MaxEmailLength {
		return bad("at most %d characters (got %d)", MaxEmailLength, len(addr))
	}
	for _, r := range addr {
		if r < 0x21 || r > 0x7e {
			return bad("%q has a space, control or non-ASCII character (use the punycode form of international domains)", addr)
		}
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return bad("%q has no @", addr)
	}
	local, domain := addr[:at], addr[at+1:]
	if local == "" || len(local) > 64 {
		return bad("%q: the part before @ must have 1 to 64 characters", addr)
	}
	if strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return bad("%q: the part before @ may not start or end with a dot or have two in a row", addr)
	}
	for _, r := range local {
		if !isAtext(r) && r != '.' {
			return bad("%q: %q is not allowed before @", addr, r)
		}
	}
	if strings.HasPrefix(domain, "[") && strings.HasSuffix(domain, "]") {
		if ip := net.ParseIP(domain[1 : len(domain)-1]); ip == nil || ip.To4() == nil {
			return bad("%q: the domain literal is not an IPv4 address", addr)
		}
		return nil
	}
	if len(domain) > 253 || !strings.Contains(domain, ".") {
		return bad("%q: the domain must have a dot and at most 253 characters", addr)
	}
	for _, label := range strings.Split(domain, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return bad("%q: the domain's labels must have 1 to 63 letters, digits or hyphens, not at either end", addr)
		}
		for _, r := range label {
			if !isLDH(r) {
				return bad("%q: %q is not allowed in the domain", addr, r)
			}
		}
	}
	return nil
}

// isLDH reports whether r may be in a domain label (letter, digit, hyphen).
func isLDH(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-'
}

// isAtext reports whether r is an RFC 5322 atext character.
func isAtext(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)
}

// cleanSubject keeps a subject on one line (control characters become
// spaces) and at most maxSubjectRunes long.
func cleanSubject(s string) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	if utf8.RuneCountInString(s) > maxSubjectRunes {
		s = string([]rune(s)[:maxSubjectRunes-1]) + "…"
	}
	return s
}

// TranscriptEmail renders the message sent when a transcript is ready:
// the subject ("Meeting notes: {title}"), a plain-text and an HTML body
// with the title, date, duration, summary, decisions and next steps, and
// the link to {uiBaseURL}/transcripts/{id}. Everything from the transcript
// is escaped in the HTML.
func TranscriptEmail(t *parley.Transcript, uiBaseURL string) (subject, text, html string, err error) {
	link := strings.TrimRight(uiBaseURL, "/") + "/transcripts/" + url.PathEscape(t.ID)
	v := emailView{Title: oneLine(t.DisplayTitle()), Date: t.CreatedAt.UTC().Format("Mon 2 Jan 2006 15:04 MST"),
		Duration: clock(t.DurationSeconds), Link: link, Summary: strings.TrimSpace(t.ShortSummary),
		Details: strings.TrimSpace(t.LongSummary)}
	if v.Summary == "" {
		v.Summary, v.Details = v.Details, ""
	}
	for _, d := range t.ActionItems.Decisions {
		v.Decisions = append(v.Decisions, item{Text: oneLine(d.Decision), Who: oneLine(d.DecidedBy)})
	}
	for _, n := range t.ActionItems.NextSteps {
		v.NextSteps = append(v.NextSteps, item{Text: oneLine(n.Task), Who: oneLine(n.AssignedTo), When: oneLine(n.Deadline)})
	}
	var tb, hb bytes.Buffer
	if err := textTmpl.Execute(&tb, v); err != nil {
		return "", "", "", parley.WrapError(parley.EINTERNAL, err, "email text")
	}
	if err := htmlTmpl.Execute(&hb, v); err != nil {
		return "", "", "", parley.WrapError(parley.EINTERNAL, err, "email html")
	}
	return cleanSubject("Meeting notes: " + v.Title), tb.String(), hb.String(), nil
}

type emailView struct {
	Title, Date, Duration, Link string
	Summary, Details            string
	Decisions, NextSteps        []item
}

type item struct{ Text, Who, When string }

var textTmpl = texttemplate.Must(texttemplate.New("text").Parse(`{{.Title}}
{{.Date}} · {{.Duration}}

Summary
{{if .Summary}}{{.Summary}}{{else}}No summary available.{{end}}
{{if .Details}}
{{.Details}}
{{end}}{{if or .Decisions .NextSteps}}
Action items
{{range .Decisions}}- Decision: {{.Text}}{{if .Who}} ({{.Who}}){{end}}
{{end}}{{range .NextSteps}}- {{.Text}}{{if .Who}} ({{.Who}}{{if .When}}, {{.When}}{{end}}){{else if .When}} ({{.When}}){{end}}
{{end}}{{end}}
Transcript: {{.Link}}
`))

var htmlTmpl = template.Must(template.New("html").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body style="font-family: sans-serif; line-height: 1.4; max-width: 40em">
<h1 style="font-size: 1.3em">{{.Title}}</h1>
<p style="color: #555">{{.Date}} · {{.Duration}}</p>
<h2 style="font-size: 1.1em">Summary</h2>
<p>{{if .Summary}}{{.Summary}}{{else}}No summary available.{{end}}</p>
{{if .Details}}<div style="white-space: pre-wrap">{{.Details}}</div>
{{end}}{{if or .Decisions .NextSteps}}<h2 style="font-size: 1.1em">Action items</h2>
<ul>
{{range .Decisions}}<li>Decision: {{.Text}}{{if .Who}} ({{.Who}}){{end}}</li>
{{end}}{{range .NextSteps}}<li>{{.Text}}{{if .Who}} ({{.Who}}{{if .When}}, {{.When}}{{end}}){{else if .When}} ({{.When}}){{end}}</li>
{{end}}</ul>
{{end}}<p><a href="{{.Link}}">Open the transcript</a></p>
</body></html>
`))
