// Command parley-sim simulates every outside service Parley talks to —
// OpenAI-compatible ASR and chat, the reference GPU service, Daily, Zulip,
// webhook receivers and an SMTP server — for development, demos, tests and
// benchmarks. It
// is not a real provider: transcripts and summaries it returns are made up
// from the audio's energy and the prompt's text.
//
//	parley-sim [-addr 127.0.0.1:9999] [-log requests.jsonl] [-seed N]
//	           [-daily-fixtures recordings.json] [-asr-max-upload-bytes N]
//	           [-ENDPOINT-latency D] [-ENDPOINT-error-rate R] [-ENDPOINT-error-status S]
//	           [-ENDPOINT-fail-next N] [-ENDPOINT-hang]
//	           [-asr-audio-speed X] [-asr-url-audio-speed X] [-llm-ms-per-100-tokens MS]
//	           [-llm-malformed-once] [-llm-malformed] [-llm-invalid-once] [-asr-no-words]
//	           [-smtp-addr 127.0.0.1:2525 [-smtp-cert cert.pem]]
//
// ENDPOINT is asr, asr-url, llm, daily, zulip, webhook or smtp (for smtp the
// error status is an SMTP reply code such as 451 or 550, answered at the end
// of a message's DATA). -smtp-addr starts the SMTP sink: STARTTLS with a
// self-signed certificate made at start (written to -smtp-cert, and served
// at GET /_sim/smtp/cert), AUTH PLAIN with any credentials, every message
// kept (GET /_sim/smtp/messages). Faults can also
// be changed at runtime: PUT /_sim/faults {"asr":{"fail_next":2,
// "error_status":503}}, DELETE /_sim/faults heals everything; the request
// log is at GET /_sim/requests?endpoint=asr (DELETE clears it). See package
// sim for the whole control API.
//
// Latency models for benchmarks: -asr-audio-speed 60 answers a
// transcription in audio_seconds / 60 (a fast GPU Whisper); -llm-latency
// 1.5s -llm-ms-per-100-tokens 20 makes every chat answer take 1.5 s plus
// 20 ms per 100 tokens (prompt and completion).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/parley-dev/parley/sim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "parley-sim:", err)
		os.Exit(1)
	}
}

// endpointFlags are the fault flags of one endpoint.
type endpointFlags struct {
	latency  time.Duration
	rate     float64
	status   int
	failNext int
	hang     bool
}

// flagName is an endpoint's name in flags.
func flagName(ep string) string {
	if ep == sim.EndpointASRURL {
		return "asr-url"
	}
	return ep
}

// run parses args, serves until ctx ends, then shuts down gracefully
// (hung requests are released). ready, when set, receives the base URL
// once the listener is open.
func run(ctx context.Context, args []string, stderr io.Writer, ready func(base string)) error {
	fs := flag.NewFlagSet("parley-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9999", "listen address")
	logPath := fs.String("log", "", "append every request as a JSON line to this file")
	seed := fs.Int64("seed", 1, "seed of the simulated error rates")
	fixtures := fs.String("daily-fixtures", "", "JSON file of Daily recordings with participants ({recording, participants} or a list)")
	maxUpload := fs.Int64("asr-max-upload-bytes", sim.DefaultMaxUploadBytes, "largest audio upload accepted (413 above; -1 = no limit)")
	malformedOnce := fs.Bool("llm-malformed-once", false, "answer malformed JSON once per prompt kind (schema)")
	malformed := fs.Bool("llm-malformed", false, "always answer malformed JSON")
	invalidOnce := fs.Bool("llm-invalid-once", false, "answer {} (JSON without the schema's fields) once per prompt kind")
	noWords := fs.Bool("asr-no-words", false, "answer verbose_json with segments but no word timestamps")
	asrSpeed := fs.Float64("asr-audio-speed", 0, "model a recogniser that answers in audio_seconds / X (0 = at once)")
	asrURLSpeed := fs.Float64("asr-url-audio-speed", 0, "the same for transcriptions-from-url")
	perTokens := fs.Float64("llm-ms-per-100-tokens", 0, "chat answers take -llm-latency plus this many ms per 100 tokens")
	smtpAddr := fs.String("smtp-addr", "", "start the SMTP sink on this address (e.g. 127.0.0.1:2525); off when empty")
	smtpCert := fs.String("smtp-cert", "", "write the SMTP sink's self-signed certificate (PEM) to this file")
	eps := map[string]*endpointFlags{}
	for _, ep := range sim.Endpoints {
		f := &endpointFlags{}
		eps[ep] = f
		name := flagName(ep)
		fs.DurationVar(&f.latency, name+"-latency", 0, "added latency of "+ep+" answers")
		fs.Float64Var(&f.rate, name+"-error-rate", 0, "share (0..1) of "+ep+" requests answered with an error")
		fs.IntVar(&f.status, name+"-error-status", 500, "status of injected "+ep+" errors (5xx or 4xx; an SMTP code for smtp)")
		fs.IntVar(&f.failNext, name+"-fail-next", 0, "answer the first N "+ep+" requests with the error status")
		fs.BoolVar(&f.hang, name+"-hang", false, "never answer "+ep+" requests")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *asrSpeed < 0 || *asrURLSpeed < 0 || *perTokens < 0 {
		return fmt.Errorf("-asr-audio-speed, -asr-url-audio-speed and -llm-ms-per-100-tokens must not be negative")
	}
	cfg := sim.Config{LogPath: *logPath, Seed: *seed, MaxUploadBytes: *maxUpload, Faults: map[string]sim.Fault{},
		Log: slog.New(slog.NewTextHandler(stderr, nil))}
	for ep, f := range eps {
		if f.rate < 0 || f.rate > 1 {
			return fmt.Errorf("-%s-error-rate %g is not between 0 and 1", flagName(ep), f.rate)
		}
		if f.status < 400 || f.status > 599 {
			return fmt.Errorf("-%s-error-status %d is not a 4xx or 5xx status", flagName(ep), f.status)
		}
		fault := sim.Fault{LatencyMS: int(f.latency / time.Millisecond), ErrorRate: f.rate, FailNext: f.failNext, Hang: f.hang}
		switch ep {
		case sim.EndpointLLM:
			fault.MalformedOnce, fault.Malformed, fault.InvalidOnce = *malformedOnce, *malformed, *invalidOnce
			fault.MSPer100Tokens = *perTokens
		case sim.EndpointASR:
			fault.NoWords = *noWords
			fault.AudioSpeed = *asrSpeed
		case sim.EndpointASRURL:
			fault.AudioSpeed = *asrURLSpeed
		}
		if fault != (sim.Fault{}) {
			fault.ErrorStatus = f.status
			cfg.Faults[ep] = fault
		}
	}
	if *fixtures != "" {
		recs, err := sim.LoadDailyFixtures(*fixtures)
		if err != nil {
			return err
		}
		cfg.Daily = recs
	}
	s, err := sim.New(cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	if *smtpCert != "" && *smtpAddr == "" {
		return errors.New("-smtp-cert needs -smtp-addr")
	}
	if *smtpAddr != "" {
		a, err := s.ListenSMTP(*smtpAddr)
		if err != nil {
			return err
		}
		if *smtpCert != "" {
			if err := os.WriteFile(*smtpCert, s.SMTPCertPEM(), 0o644); err != nil {
				return fmt.Errorf("-smtp-cert: %w", err)
			}
		}
		fmt.Fprintf(stderr, "parley-sim: SMTP sink on %s (STARTTLS, self-signed certificate%s)\n", a,
			map[bool]string{true: " in " + *smtpCert}[*smtpCert != ""])
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stderr, "parley-sim: this is a SIMULATOR of Parley's outside services, not a real ASR, LLM, Daily or Zulip;\n"+
		"  its transcripts and summaries are made up. Listening on %s. Export:\n"+
		"  TRANSCRIPT_URL=%s/v1 LLM_URL=%s/v1 DAILY_API_URL=%s/v1 ZULIP_REALM=%s\n"+
		"  (webhook sink: %s/webhook/NAME; control API: %s/_sim/faults, %s/_sim/requests)\n",
		base, base, base, base, base, base, base, base)
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	if ready != nil {
		ready(base)
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	s.Close() // release hung requests
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
