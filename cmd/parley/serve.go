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
	cfg, err := loadConfig(env.Getenv)
	if err != nil {
		return err
	}
	if cfg.APIToken == "" && !loopback(cfg.HTTPAddr) {
		return fmt.Errorf("PARLEY_HTTP_ADDR %s is not a loopback address: set PARLEY_API_TOKEN to protect the API, or listen on 127.0.0.1", cfg.HTTPAddr)
	}
	policies, err := pipeline.LoadPolicies(environ(env))
	if err != nil {
		return err
	}
	a, err := openApp(ctx, env, cfg)
	if err != nil {
		return err
	}
	defer a.close()
	hub := api.NewHub(a.db, a.log)
	go func() {
		if err := hub.Run(ctx); err != nil {
			a.log.ErrorContext(ctx, "event hub stopped", "error", err)
		}
	}()
	srv := api.New(api.Config{Token: cfg.APIToken, DailyWebhookSecret: env.Getenv("DAILY_WEBHOOK_SECRET"),
		MaxUploadBytes: cfg.MaxUploadBytes, MaxConcurrentUploads: cfg.MaxConcurrentUploads, UploadTimeout: cfg.UploadTimeout,
		WebhookBodyTimeout: cfg.WebhookBodyTimeout, CheckWebhookURL: cfg.EgressAllow.CheckURL,
		ProcessPrefixes: cfg.ProcessPrefixes}, api.Deps{
		DB: a.db, Storage: a.s3, Dispatcher: a.dispatcher(), Hatchet: a.hatchet, Prober: prober{run: a.media}, Pipeline: policies.Table(),
		WebVTT: notify.WebVTT, Hub: hub, Log: a.log,
	})
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return err
	}
	ln = limitListener(ln, cfg.MaxConnections)
	// Every request has ReadTimeout for its headers and body; the upload
	// route extends its own body deadline (UploadTimeout), the Daily
	// webhook shortens its own, the WebSocket lifts it once upgraded.
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: min(10*time.Second, cfg.ReadTimeout), ReadTimeout: cfg.ReadTimeout,
		IdleTimeout: cfg.IdleTimeout, MaxHeaderBytes: 64 << 10}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	a.log.InfoContext(ctx, "serving", "addr", "http://"+ln.Addr().String())
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
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
