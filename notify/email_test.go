package notify_test

import (
	"context"
	"crypto/x509"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/notify"
	"github.com/parley-dev/parley/sim"
)

// startSMTP runs parley-sim's SMTP sink for one test and returns the sim
// and a mailer configuration that reaches it (its certificate trusted, its
// address allowed by the egress policy).
func startSMTP(t *testing.T) (*sim.Server, notify.EmailConfig) {
	t.Helper()
	s, err := sim.New(sim.Config{})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	addr, err := s.ListenSMTP("127.0.0.1:0")
	require.NoError(t, err)
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(s.SMTPCertPEM()))
	egress, err := notify.ParseEgressAllow(addr)
	require.NoError(t, err)
	return s, notify.EmailConfig{Host: host, Port: p, Username: "parley", Password: "s3cret-pw", From: "parley@example.com",
		RootCAs: pool, Egress: egress, Timeout: 10 * time.Second}
}

func newMailer(t *testing.T, cfg notify.EmailConfig) *notify.Mailer {
	t.Helper()
	m, err := notify.NewMailer(cfg)
	require.NoError(t, err)
	require.NotNil(t, m)
	return m
}

func TestMailerSends(t *testing.T) {
	t.Parallel()
	s, cfg := startSMTP(t)
	m := newMailer(t, cfg)
	res, err := m.Send(context.Background(), notify.Email{To: "ana@example.com", Subject: "Meeting notes: Budget\r\nBcc: evil@example.com",
		Text: "plain body", HTML: "<p>html body</p>", MessageID: "parley.t1.abc@example.com"})
	require.NoError(t, err)
	require.Equal(t, "parley.t1.abc@example.com", res.MessageID)
	require.Contains(t, res.Response, "OK")

	msgs := s.SMTPMessages()
	require.Len(t, msgs, 1)
	got := msgs[0]
	require.True(t, got.Accepted())
	require.True(t, got.TLS, "STARTTLS before the message")
	require.Equal(t, "parley", got.Username, "authenticated")
	require.Equal(t, "parley@example.com", got.From)
	require.Equal(t, []string{"ana@example.com"}, got.To, "no recipient smuggled in through the subject")
	require.Equal(t, "Meeting notes: Budget Bcc: evil@example.com", got.Subject, "the subject stays one header")
	require.Equal(t, "<parley.t1.abc@example.com>", got.MessageID)
	require.Equal(t, "plain body", strings.TrimSpace(got.Text))
	require.Equal(t, "<p>html body</p>", strings.TrimSpace(got.HTML))
	require.NotContains(t, got.Raw, "s3cret-pw")
	require.NotContains(t, strings.ToLower(got.Raw), "\nbcc:")
	reqs := s.Requests(sim.EndpointSMTP)
	require.Len(t, reqs, 1)
	require.Equal(t, 250, reqs[0].Status)
}

func TestMailerErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		fault    sim.Fault
		edit     func(*notify.EmailConfig)
		to       string
		code     string
		contains string
		tries    int // messages the sink saw
	}{
		{name: "Temporary451", fault: sim.Fault{FailNext: 1, ErrorStatus: 451}, code: parley.ETRANSIENT, contains: "451", tries: 1},
		{name: "Permanent550", fault: sim.Fault{FailNext: 1, ErrorStatus: 550}, code: parley.EINVALID, contains: "550", tries: 1},
		{name: "Permanent554", fault: sim.Fault{FailNext: 1, ErrorStatus: 554}, code: parley.EINVALID, contains: "554", tries: 1},
		{name: "EgressRefused", edit: func(c *notify.EmailConfig) { c.Egress = nil }, code: parley.EINVALID,
			contains: "refused by egress policy"},
		{name: "UntrustedCertificate", edit: func(c *notify.EmailConfig) { c.RootCAs = x509.NewCertPool() }, code: parley.EINVALID,
			contains: "certificate"},
		{name: "ConnectionRefused", edit: func(c *notify.EmailConfig) {
			c.Port = closedPort(t)
			c.Egress, _ = notify.ParseEgressAllow("127.0.0.1")
		}, code: parley.ETRANSIENT,
			contains: "connection failed"},
		{name: "AuthRefused", edit: func(c *notify.EmailConfig) { c.Password = "" }, code: parley.EUNAUTHORIZED,
			contains: "authentication refused"},
		{name: "HeaderInjectionInAddress", to: "ana@example.com\r\nBcc: evil@example.com", code: parley.EINVALID, contains: "email"},
		{name: "TwoRecipients", to: "ana@example.com,evil@example.com", code: parley.EINVALID, contains: "email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, cfg := startSMTP(t)
			if tt.edit != nil {
				tt.edit(&cfg)
			}
			s.SetFault(sim.EndpointSMTP, tt.fault)
			to := tt.to
			if to == "" {
				to = "ana@example.com"
			}
			_, err := newMailer(t, cfg).Send(context.Background(), notify.Email{To: to, Subject: "s", Text: "t"})
			require.Error(t, err)
			require.Equal(t, tt.code, parley.ErrorCode(err), "%v", err)
			require.Contains(t, parley.ErrorMessage(err), tt.contains)
			t.Log(parley.ErrorMessage(err))
			if cfg.Password != "" {
				require.NotContains(t, err.Error(), cfg.Password)
			}
			require.Len(t, s.SMTPMessages(), tt.tries)
		})
	}
}

func TestMailerTimeout(t *testing.T) {
	t.Parallel()
	s, cfg := startSMTP(t)
	cfg.Timeout = 500 * time.Millisecond
	s.SetFault(sim.EndpointSMTP, sim.Fault{HangNext: 1})
	_, err := newMailer(t, cfg).Send(context.Background(), notify.Email{To: "ana@example.com", Subject: "s", Text: "t"})
	require.Error(t, err)
	require.Equal(t, parley.ETRANSIENT, parley.ErrorCode(err), "%v", err)
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

func TestNewMailer(t *testing.T) {
	t.Parallel()
	m, err := notify.NewMailer(notify.EmailConfig{})
	require.NoError(t, err)
	require.Nil(t, m, "no SMTP_HOST: email off")
	for _, cfg := range []notify.EmailConfig{
		{Host: "smtp.example.com"},                         // no From
		{Host: "smtp.example.com", From: "not an address"}, // bad From
		{Host: "smtp.example.com", From: "a@b.example", Port: 70000},
		{Host: "smtp.example.com/x", From: "a@b.example"},
	} {
		_, err := notify.NewMailer(cfg)
		require.Error(t, err, "%v", cfg)
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
	}
	cfg := notify.EmailConfig{Host: "smtp.example.com", From: "a@b.example", Password: "hunter2"}
	require.NotContains(t, cfg.String(), "hunter2")
}

func TestValidateEmail(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 60) + ".com"
	tests := []struct {
		addr string
		ok   bool
	}{
		{"ana@example.com", true},
		{"first.last+tag@sub.example.co.uk", true},
		{"o'brien@example.com", true},
		{"x@[192.0.2.1]", true},
		{"", false},
		{"ana", false},
		{"ana@", false},
		{"@example.com", false},
		{"ana@localhost", false},
		{"Ana <ana@example.com>", false},
		{"ana@example.com\r\nBcc: x@example.com", false},
		{"ana@example.com\nBcc:x@example.com", false},
		{"ana@example.com,bob@example.com", false},
		{"ana bob@example.com", false},
		{"\"ana\"@example.com", false},
		{"ana..b@example.com", false},
		{".ana@example.com", false},
		{"ana.@example.com", false},
		{"ana@-example.com", false},
		{"ana@example..com", false},
		{"ana@exa_mple.com", false},
		{"anä@example.com", false},
		{"ana@exämple.com", false},
		{"ana@example.com\x00", false},
		{strings.Repeat("a", 65) + "@example.com", false},
		{long, len(long) <= notify.MaxEmailLength},
		{strings.Repeat("a", 64) + "@" + strings.Repeat("b.", 100) + "com", false},
		{"x@[::1]", false},
	}
	for _, tt := range tests {
		err := notify.ValidateEmail(tt.addr)
		if tt.ok {
			require.NoError(t, err, "%q", tt.addr)
			continue
		}
		require.Error(t, err, "%q", tt.addr)
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
		require.NotContains(t, parley.ErrorMessage(err), "\n", "the message stays one line")
	}
}

func TestTranscriptEmail(t *testing.T) {
	t.Parallel()
	tr, _, _ := fixture()
	tr.Title = `Budget <script>alert("x")</script>`
	subject, text, html, err := notify.TranscriptEmail(tr, "https://parley.example.com/")
	require.NoError(t, err)
	require.Equal(t, `Meeting notes: Budget <script>alert("x")</script>`, subject)
	link := "https://parley.example.com/transcripts/" + tr.ID
	for _, want := range []string{`Budget <script>alert("x")</script>`, "We reviewed the budget.", "Decision: Keep the budget (Ana)",
		"- Send the sheet (Ben)", "Transcript: " + link, "1:02:05"} {
		require.Contains(t, text, want)
	}
	for _, want := range []string{"Budget &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", "<li>Decision: Keep the budget (Ana)</li>",
		`<a href="` + link + `">`, "We reviewed the budget."} {
		require.Contains(t, html, want)
	}
	require.NotContains(t, html, "<script>")

	bare := &parley.Transcript{ID: "t1", CreatedAt: tr.CreatedAt, Name: "Weekly\r\nsync\x07"}
	subject, text, _, err = notify.TranscriptEmail(bare, "http://127.0.0.1:1250")
	require.NoError(t, err)
	require.Equal(t, "Meeting notes: Weekly sync", subject, "one line, no control characters")
	require.Contains(t, text, "No summary available.")
	require.NotContains(t, text, "Action items")
}
