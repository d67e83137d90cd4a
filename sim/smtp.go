package sim

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTP sink limits.
const (
	// MaxSMTPMessageBytes is the largest message the sink accepts (552
	// above).
	MaxSMTPMessageBytes = 10 << 20
	// MaxSMTPRecipients is the most recipients of one message (452 above).
	MaxSMTPRecipients = 50
)

// SMTPMessage is one message the SMTP sink received (accepted or refused
// by an injected fault).
type SMTPMessage struct {
	Time time.Time `json:"time"`
	// From and To are the envelope's sender and recipients.
	From string   `json:"from"`
	To   []string `json:"to"`
	// Subject (decoded), Message-ID, and the From and To headers.
	Subject    string `json:"subject"`
	MessageID  string `json:"message_id"`
	HeaderFrom string `json:"header_from"`
	HeaderTo   string `json:"header_to"`
	// Text and HTML are the decoded text/plain and text/html parts (line
	// ends as LF).
	Text string `json:"text"`
	HTML string `json:"html"`
	// Raw is the message as received (headers and body).
	Raw string `json:"raw"`
	// TLS tells whether the session had switched to TLS (STARTTLS).
	TLS bool `json:"tls"`
	// Username is the authenticated user ("" without AUTH); passwords are
	// not kept.
	Username string `json:"username,omitempty"`
	// Status is the answer to the message: 250, or the injected code.
	Status  int  `json:"status"`
	Faulted bool `json:"faulted,omitempty"`
}

// Accepted reports whether the sink accepted the message (no fault).
func (m SMTPMessage) Accepted() bool { return m.Status == 250 }

// smtpSink is the SMTP listener of a Server.
type smtpSink struct {
	srv     *smtp.Server
	ln      net.Listener
	certPEM []byte
	mu      sync.Mutex
	msgs    []SMTPMessage
}

// ListenSMTP starts the SMTP sink on addr ("127.0.0.1:0" picks a port)
// and returns its address. It offers STARTTLS with a self-signed
// certificate made at start for 127.0.0.1, ::1 and localhost (SMTPCertPEM;
// clients trust it by that PEM), takes AUTH PLAIN after STARTTLS with any
// credentials (the user name is logged), and records every message: in
// the request log (endpoint "smtp") and as an SMTPMessage. The endpoint's
// faults apply per message, at the end of DATA: ErrorStatus answers the
// message with that SMTP code (a 4xx or 5xx such as 451 or 550), LatencyMS
// delays the answer, Hang never answers. Close stops it.
func (s *Server) ListenSMTP(addr string) (string, error) {
	s.mu.Lock()
	if s.smtp != nil {
		s.mu.Unlock()
		return "", errors.New("sim: the SMTP sink is already listening")
	}
	s.mu.Unlock()
	cert, certPEM, err := selfSignedCert()
	if err != nil {
		return "", fmt.Errorf("sim: smtp certificate: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("sim: smtp: %w", err)
	}
	sink := &smtpSink{ln: ln, certPEM: certPEM}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpSession{s: s, conn: c}, nil
	}))
	srv.Domain = "parley-sim.localhost"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.MaxMessageBytes = MaxSMTPMessageBytes
	srv.MaxRecipients = MaxSMTPRecipients
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	srv.ErrorLog = smtpLogger{s}
	sink.srv = srv
	s.mu.Lock()
	s.smtp = sink
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), nil
}

// SMTPCertPEM is the SMTP sink's certificate (PEM), nil before ListenSMTP.
func (s *Server) SMTPCertPEM() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.smtp == nil {
		return nil
	}
	return s.smtp.certPEM
}

// SMTPMessages returns the messages the SMTP sink received, in order.
func (s *Server) SMTPMessages() []SMTPMessage {
	s.mu.Lock()
	sink := s.smtp
	s.mu.Unlock()
	if sink == nil {
		return []SMTPMessage{}
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	return append([]SMTPMessage{}, sink.msgs...)
}

// ClearSMTPMessages empties the list of received messages.
func (s *Server) ClearSMTPMessages() {
	s.mu.Lock()
	sink := s.smtp
	s.mu.Unlock()
	if sink != nil {
		sink.mu.Lock()
		sink.msgs = nil
		sink.mu.Unlock()
	}
}

func (s *Server) closeSMTP() {
	if s.smtp != nil {
		_ = s.smtp.srv.Close()
		s.smtp = nil
	}
}

func (s *Server) smtpMessages(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, s.SMTPMessages())
}

func (s *Server) deleteSMTPMessages(w http.ResponseWriter, r *http.Request) {
	s.ClearSMTPMessages()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) smtpCert(w http.ResponseWriter, r *http.Request) {
	pemBytes := s.SMTPCertPEM()
	if pemBytes == nil {
		writeJSON(w, 404, map[string]string{"error": "the SMTP sink is not listening (parley-sim -smtp-addr)"})
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, _ = w.Write(pemBytes)
}

// drawFault takes one request's share of an endpoint's faults: the status
// to answer (0: none) and whether to hang.
func (s *Server) drawFault(name string) (f Fault, status int, hang bool, hangCh chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f = s.faults[name]
	hang = f.Hang
	if f.HangNext > 0 {
		f.HangNext--
		hang = true
	}
	if f.FailNext > 0 {
		f.FailNext--
		status = cmpOr(f.ErrorStatus, 500)
	} else if f.ErrorRate > 0 && s.rng.Float64() < f.ErrorRate {
		status = cmpOr(f.ErrorStatus, 500)
	}
	if _, ok := s.faults[name]; ok {
		s.faults[name] = f
	}
	return f, status, hang, s.hang
}

// smtpSession is one SMTP connection's transaction state.
type smtpSession struct {
	s        *Server
	conn     *smtp.Conn
	username string
	from     string
	to       []string
}

func (ss *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *smtpSession) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username == "" || password == "" {
			return smtp.ErrAuthFailed
		}
		ss.username = username
		return nil
	}), nil
}

func (ss *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.from, ss.to = from, nil
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err // too large: go-smtp answers 552
	}
	_, tlsOn := ss.conn.TLSConnectionState()
	m := parseSMTPMessage(raw)
	m.Time, m.From, m.To, m.TLS, m.Username, m.Status = time.Now().UTC(), ss.from, ss.to, tlsOn, ss.username, 250
	f, status, hang, hangCh := ss.s.drawFault(EndpointSMTP)
	if f.LatencyMS > 0 {
		time.Sleep(time.Duration(f.LatencyMS) * time.Millisecond)
	}
	var answer error
	switch {
	case hang:
		m.Status, m.Faulted = 0, true
	case status != 0:
		m.Status, m.Faulted = status, true
		answer = &smtp.SMTPError{Code: status, EnhancedCode: smtp.EnhancedCode{status / 100, 0, 0},
			Message: fmt.Sprintf("parley-sim: injected %d on smtp", status)}
	}
	ss.s.recordSMTP(m)
	if hang {
		<-hangCh // until the simulator closes
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 0, 0}, Message: "parley-sim: closing"}
	}
	return answer
}

func (ss *smtpSession) Reset() { ss.from, ss.to = "", nil }

func (ss *smtpSession) Logout() error { return nil }

// recordSMTP keeps a message and logs it as a request.
func (s *Server) recordSMTP(m SMTPMessage) {
	s.mu.Lock()
	sink := s.smtp
	s.mu.Unlock()
	if sink != nil {
		sink.mu.Lock()
		sink.msgs = append(sink.msgs, m)
		sink.mu.Unlock()
	}
	e := Request{Time: m.Time, Endpoint: EndpointSMTP, Method: "DATA", Path: "smtp", Faulted: m.Faulted,
		Fields: map[string]string{"from": m.From, "to": strings.Join(m.To, ","), "subject": m.Subject,
			"message_id": m.MessageID, "tls": fmt.Sprint(m.TLS)}}
	if m.Username != "" {
		e.Auth = "plain"
	}
	status := m.Status
	if status == 0 {
		status = 499
	}
	s.record(e, status)
}

// parseSMTPMessage reads the headers and the text and HTML parts of a
// message; what cannot be parsed is left empty (Raw keeps everything).
func parseSMTPMessage(raw []byte) SMTPMessage {
	m := SMTPMessage{Raw: string(raw)}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return m
	}
	dec := new(mime.WordDecoder)
	header := func(k string) string {
		v := msg.Header.Get(k)
		if d, err := dec.DecodeHeader(v); err == nil {
			return d
		}
		return v
	}
	m.Subject, m.MessageID, m.HeaderFrom, m.HeaderTo = header("Subject"), msg.Header.Get("Message-ID"), header("From"), header("To")
	walkPart(&m, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, 0)
	return m
}

func walkPart(m *SMTPMessage, contentType, encoding string, body io.Reader, depth int) {
	if depth > 5 {
		return
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return
			}
			walkPart(m, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, depth+1)
		}
	}
	r := body
	switch strings.ToLower(encoding) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &newlineStripper{r: body})
	}
	b, _ := io.ReadAll(io.LimitReader(r, MaxSMTPMessageBytes))
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	switch mt {
	case "text/plain":
		m.Text += text
	case "text/html":
		m.HTML += text
	}
}

// newlineStripper drops CR and LF (base64 bodies are wrapped).
type newlineStripper struct{ r io.Reader }

func (n *newlineStripper) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		j := 0
		for _, c := range p[:k] {
			if c != '\r' && c != '\n' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}

// selfSignedCert makes a certificate for the loopback names, its own CA.
func selfSignedCert() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "parley-sim SMTP sink", Organization: []string{"parley-sim"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// smtpLogger sends go-smtp's error log to the simulator's logger.
type smtpLogger struct{ s *Server }

func (l smtpLogger) Printf(format string, v ...any) {
	l.s.log.Debug(fmt.Sprintf(format, v...), "service", "smtp")
}
func (l smtpLogger) Println(v ...any) { l.s.log.Debug(fmt.Sprint(v...), "service", "smtp") }
