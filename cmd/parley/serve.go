package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/parley-dev/parley/api"
	"github.com/parley-dev/parley/notify"
	"github.com/parley-dev/parley/pipeline"
)

func init() {
	register("serve", "serve the HTTP API, WebSocket and web page", runServe)
}

func runServe(ctx context.Context, env *Env, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2, err: err}
	}
	cfg, err := loadConfig(env)
	if err != nil {
		return err
	}
	m := &Main{Config: cfg, Env: env}
	if err := m.Run(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-m.done: // the server stopped by itself
	}
	return m.Close()
}

// Main is `parley serve` as a value that tests can drive: Run opens the
// database, storage and Hatchet, starts the event hub and the HTTP server
// and returns once it listens; Close stops them in reverse order.
type Main struct {
	// Config is the configuration (loadConfig). Its HTTPAddr may use port
	// 0; Addr then tells the port taken.
	Config Config
	// Env gives the logs' destination (Stderr).
	Env *Env

	app      *app
	ln       net.Listener
	hs       *http.Server
	stopHub  context.CancelFunc
	hubDone  chan struct{}
	done     chan struct{}
	serveErr error
}

// Run starts serving. It returns an error, and starts nothing, when the
// configuration is unsafe or a dependency cannot be opened.
func (m *Main) Run(ctx context.Context) error {
	cfg := m.Config
	if cfg.APIToken == "" && !loopback(cfg.HTTPAddr) {
		return fmt.Errorf("PARLEY_HTTP_ADDR %s is not a loopback address: set PARLEY_API_TOKEN to protect the API, or listen on 127.0.0.1", cfg.HTTPAddr)
	}
	a, err := openApp(ctx, m.Env, cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		a.close()
		return err
	}
	m.app, m.ln = a, ln
	hubCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	m.stopHub, m.hubDone = stop, make(chan struct{})
	hub := api.NewHub(a.db, a.log)
	go func() {
		defer close(m.hubDone)
		if err := hub.Run(hubCtx); err != nil {
			a.log.ErrorContext(hubCtx, "event hub stopped", "error", err)
		}
	}()
	srv := api.New(api.Config{Token: cfg.APIToken, DailyWebhookSecret: cfg.DailyWebhookSecret,
		MaxUploadBytes: cfg.MaxUploadBytes, MaxConcurrentUploads: cfg.MaxConcurrentUploads, UploadTimeout: cfg.UploadTimeout,
		WebhookBodyTimeout: cfg.WebhookBodyTimeout, CheckWebhookURL: cfg.EgressAllow.CheckURL,
		ProcessPrefixes: cfg.ProcessPrefixes, FailedRunsWindow: cfg.FailedRuns.Window}, api.Deps{
		DB: a.db, Storage: a.s3, Dispatcher: a.dispatcher(), Hatchet: a.hatchet, Prober: prober{run: a.media}, Pipeline: cfg.Policies.Table(),
		WebVTT: notify.WebVTT, Hub: hub, Log: a.log, Emailer: emailer(cfg, a.dispatcher()), FailedRuns: a.failedRuns(),
	})
	// Every request has ReadTimeout for its headers and body; the upload
	// route extends its own body deadline (UploadTimeout), the Daily
	// webhook shortens its own, the WebSocket lifts it once upgraded.
	m.hs = &http.Server{Handler: srv, ReadHeaderTimeout: min(10*time.Second, cfg.ReadTimeout), ReadTimeout: cfg.ReadTimeout,
		IdleTimeout: cfg.IdleTimeout, MaxHeaderBytes: 64 << 10}
	m.done = make(chan struct{})
	a.log.InfoContext(ctx, "serving", "addr", "http://"+ln.Addr().String())
	go func() {
		defer close(m.done)
		if err := m.hs.Serve(limitListener(ln, cfg.MaxConnections)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.serveErr = err
		}
	}()
	return nil
}

// Addr is the address the server listens on ("" before Run).
func (m *Main) Addr() string {
	if m.ln == nil {
		return ""
	}
	return m.ln.Addr().String()
}

// Close stops the server (requests in flight get 10 s), then the event
// hub, then closes the database. It returns the server's error, if it
// stopped by itself with one.
func (m *Main) Close() error {
	if m.hs == nil {
		return nil
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := m.hs.Shutdown(sctx)
	<-m.done
	m.stopHub()
	<-m.hubDone
	m.app.close()
	m.hs = nil
	return errors.Join(m.serveErr, err)
}

// limitListener accepts at most n connections at a time; the next waits
// (in the kernel's backlog) until one closes.
func limitListener(l net.Listener, n int) net.Listener {
	return &limitedListener{Listener: l, sem: make(chan struct{}, n)}
}

type limitedListener struct {
	net.Listener
	sem chan struct{}
}

func (l *limitedListener) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.sem }}, nil
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// emailer is the API's Emailer when email is on (SMTP_HOST), else nil:
// email requests are then refused.
func emailer(cfg Config, d *pipeline.Dispatcher) api.Emailer {
	if !cfg.Email.Enabled() {
		return nil
	}
	return d
}
