package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/daily"
	"github.com/parley-dev/parley/hatchet"
	"github.com/parley-dev/parley/llm"
	"github.com/parley-dev/parley/media"
	"github.com/parley-dev/parley/media/mediaproc"
	"github.com/parley-dev/parley/notify"
	"github.com/parley-dev/parley/pipeline"
	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/tracks"
)

// app holds what worker and serve share, opened from the configuration.
type app struct {
	cfg     Config
	log     *slog.Logger
	db      *store.DB
	s3      *store.S3
	hatchet *hatchet.Client
	media   *mediaproc.Runner
}

// openApp connects to the database (checking its schema), storage and the
// Hatchet engine.
func openApp(ctx context.Context, env *Env, cfg Config) (*app, error) {
	log := newLogger(env.Stderr, cfg)
	if err := cfg.checkS3(); err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, store.Config{URL: cfg.DatabaseURL, Logger: log, MaxConns: 20})
	if err != nil {
		return nil, err
	}
	if err := db.CheckSchema(ctx); err != nil {
		db.Close()
		return nil, err
	}
	s3, err := store.OpenS3(cfg.S3)
	if err != nil {
		db.Close()
		return nil, err
	}
	hc, err := hatchet.NewClient(hatchet.Config{Debug: cfg.HatchetDebug, Logger: log, Namespace: cfg.HatchetNamespace})
	if err != nil {
		db.Close()
		return nil, err
	}
	// Untrusted audio is checked, padded and mixed in child processes
	// with these limits; the track limit also holds for what runs here.
	media.SetMaxTrackDuration(cfg.Media.MaxDuration)
	return &app{cfg: cfg, log: log, db: db, s3: s3, hatchet: hc, media: &mediaproc.Runner{Limits: cfg.Media, MixdownNice: mixdownNice}}, nil
}

// mixdownNice is the niceness of mixdown children: the mixdown runs beside
// the transcription, where padding (on the critical path) should get the
// CPU first.
const mixdownNice = 10

func (a *app) close() { a.db.Close() }

func (a *app) dispatcher() *pipeline.Dispatcher {
	return &pipeline.Dispatcher{DB: a.db, Runner: a.hatchet, ParticipantID: daily.ParticipantID, Log: a.log}
}

// failedRuns lists the failed pipeline runs (GET /v1/runs/failed and
// FailedRunsMonitor).
func (a *app) failedRuns() *pipeline.FailedRunFinder {
	return &pipeline.FailedRunFinder{Runs: a.hatchet, Transcripts: a.db, Reports: a.db, UIBaseURL: a.cfg.UIBaseURL}
}

// steps builds the pipeline's dependencies from the configuration.
func (a *app) steps() (*pipeline.Steps, *tracks.Steps, error) {
	pcfg := a.cfg.Providers
	cache := store.NewCache(a.db)
	asr := llm.NewASR(pcfg, cache, llm.MediaSplitter, nil, a.log)
	chat := llm.NewLLM(pcfg, cache, nil, a.log)
	work := os.TempDir()
	s := &pipeline.Steps{
		DB: a.db, Storage: a.s3, Media: mediaAdapter{run: a.media}, LLM: chat,
		// Room webhooks and Zulip reach only what the egress policy allows.
		Webhooks: &notify.WebhookSender{HTTPClient: a.cfg.EgressAllow.Client(false)},
		Notify:   notifications{uiBaseURL: a.cfg.UIBaseURL},
		Settings: pipeline.Settings{WorkDir: work, MixdownTimeout: a.cfg.MixdownTimeout, LLMRate: a.cfg.LLMRate, LLMConcurrency: a.cfg.LLMConcurrency},
		Now:      time.Now, Log: a.log,
	}
	mailer, err := notify.NewMailer(a.cfg.Email)
	if err != nil {
		return nil, nil, err
	}
	if mailer != nil {
		s.Mailer = mailer
	}
	if key := a.cfg.DailyAPIKey; key != "" {
		s.Daily = dailyAdapter{c: daily.New(daily.Config{BaseURL: a.cfg.DailyAPIURL, APIKey: key})}
	}
	if z := notify.NewZulip(notify.ZulipConfig{Realm: a.cfg.ZulipRealm, BotEmail: a.cfg.ZulipBotEmail,
		APIKey: a.cfg.ZulipAPIKey, HTTPClient: a.cfg.EgressAllow.Client(true)}); z != nil {
		s.Zulip = z
	}
	ts := &tracks.Steps{DB: a.db, Storage: a.s3, Padder: padder{run: a.media, reuse: a.cfg.ReuseOriginals, split: a.cfg.ReuseOriginals && a.cfg.SplitGaps, maxBytes: pcfg.MaxUploadBytes}, Transcriber: transcriber{asr: asr}, WorkDir: work, Log: a.log}
	return s, ts, nil
}

// mediaAdapter is pipeline.Media over package media: the mixdown of the
// original (untrusted) tracks runs in a child process; the waveform of
// Parley's own MP3 in process.
type mediaAdapter struct{ run *mediaproc.Runner }

func (m mediaAdapter) Mixdown(ctx context.Context, srcs []string, dst string) (pipeline.MixResult, error) {
	r, err := m.run.Mixdown(ctx, srcs, dst, media.MixOptions{})
	return pipeline.MixResult{Duration: r.Duration, Waveform: r.Waveform}, err
}

func (mediaAdapter) Waveform(ctx context.Context, src string) ([]float64, error) {
	return media.Waveform(ctx, src)
}

// padder is tracks.Padder over media.Pad in a child process: the padded
// file starts at the track's first sample, and Shift puts its times on
// meeting time. With reuse, a track that needs no gap filling and that the
// recogniser takes as it is (media.PadOptions.ReuseOriginal, at most
// maxBytes) is not re-encoded at all; with split, neither is one whose
// only problem is mute gaps: it is split into segments by stream copy
// (media.PadOptions.SplitGaps).
type padder struct {
	run      *mediaproc.Runner
	reuse    bool
	split    bool
	maxBytes int64
}

func (p padder) Pad(ctx context.Context, src, dst string) (tracks.PadResult, error) {
	r, err := p.run.Pad(ctx, src, dst, media.PadOptions{ReuseOriginal: p.reuse, SplitGaps: p.split, MaxOriginalBytes: p.maxBytes})
	res := tracks.PadResult{Offset: r.Offset, Duration: r.Duration, Shift: r.Shift, UseOriginal: r.UseOriginal,
		Ext: r.Ext, ContentType: r.ContentType}
	for _, s := range r.Segments {
		res.Segments = append(res.Segments, tracks.Segment{Path: s.Path, Shift: s.Shift, Duration: s.Duration})
	}
	return res, err
}

// transcriber is tracks.Transcriber over llm.ASR.
type transcriber struct{ asr *llm.ASR }

func (t transcriber) Transcribe(ctx context.Context, r tracks.TranscribeRequest) ([]parley.Word, error) {
	return t.asr.Transcribe(ctx, llm.AudioRequest{Path: r.Path, URL: r.URL, SHA256: r.SHA256, Duration: r.Duration,
		Speaker: r.Speaker, Shift: r.Shift, Language: r.Language})
}

// dailyAdapter is pipeline.Daily over daily.Client.
type dailyAdapter struct{ c *daily.Client }

func (d dailyAdapter) Recording(ctx context.Context, id string) (pipeline.DailyRecording, error) {
	r, err := d.c.GetRecording(ctx, id)
	return pipeline.DailyRecording{ID: r.ID, MtgSessionID: r.MtgSessionID, Duration: r.Duration}, err
}

func (d dailyAdapter) Participants(ctx context.Context, mtg string) ([]pipeline.DailyParticipant, error) {
	ps, err := d.c.ListParticipants(ctx, mtg)
	out := make([]pipeline.DailyParticipant, len(ps))
	for i, p := range ps {
		out[i] = pipeline.DailyParticipant{ParticipantID: p.ParticipantID, UserID: p.UserID, UserName: p.UserName}
	}
	return out, err
}

// notifications is pipeline.Notifications over package notify.
type notifications struct{ uiBaseURL string }

func (n notifications) ZulipMessage(t *parley.Transcript, topics []parley.Topic) string {
	return notify.ZulipMessage(t, topics, n.uiBaseURL)
}

func (n notifications) WebhookPayload(event string, t *parley.Transcript, topics []parley.Topic, words []parley.Word,
	room *parley.Room, eventID string, now time.Time) ([]byte, error) {
	return notify.WebhookPayload(event, t, topics, words, room, n.uiBaseURL, eventID, now)
}

// prober is api.Prober over media.CheckAudio in a child process.
type prober struct{ run *mediaproc.Runner }

func (p prober) CheckAudio(ctx context.Context, src string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := p.run.Check(ctx, src); err != nil {
		if errors.Is(context.Cause(ctx), context.DeadlineExceeded) && ctx.Err() != nil {
			return parley.Errorf(parley.EINVALID, "%s: checking it took longer than 2 minutes", media.DisplayName(src))
		}
		return fmt.Errorf("check audio: %w", err)
	}
	return nil
}

// RecentRawTracks lists recent finished raw-tracks recordings.
func (d dailyAdapter) RecentRawTracks(ctx context.Context, since time.Time) ([]pipeline.PolledRecording, error) {
	recs, err := d.c.RecentRecordings(ctx, since, 50)
	var out []pipeline.PolledRecording
	for _, r := range recs {
		if r.Status != "finished" || r.RecordingType() != "raw-tracks" {
			continue
		}
		out = append(out, pipeline.PolledRecording{ID: r.ID, RoomName: daily.RoomName(r.RoomName), CamAudioKeys: daily.CamAudioKeys(r.Tracks)})
	}
	return out, err
}

func (n notifications) TranscriptEmail(t *parley.Transcript) (string, string, string, error) {
	return notify.TranscriptEmail(t, n.uiBaseURL)
}
