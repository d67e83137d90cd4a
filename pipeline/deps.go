package pipeline

import (
	"context"
	"log/slog"
	"time"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/tracks"
)

// The interfaces below are what the steps need from the adapters; each is
// declared here, at its consumer, with only the methods called.

// TranscriptStore reads and updates transcripts, their tracks,
// participants, rooms and recordings (package store).
type TranscriptStore interface {
	GetTranscript(ctx context.Context, id string) (*parley.Transcript, error)
	UpdateTranscript(ctx context.Context, id string, u store.TranscriptUpdate) error
	// SetStatus appends a STATUS event when the status changed.
	SetStatus(ctx context.Context, id string, status parley.Status, stepErr *parley.StepError) (changed bool, err error)
	SetStepError(ctx context.Context, id string, e *parley.StepError) error
	ListTracks(ctx context.Context, transcriptID string) ([]store.TrackState, error)
	ClearPaddedTracks(ctx context.Context, transcriptID string) error
	ListParticipants(ctx context.Context, transcriptID string) ([]parley.Participant, error)
	SetParticipants(ctx context.Context, transcriptID string, ps []parley.Participant) error
	ConsentDenied(ctx context.Context, transcriptID string) (bool, error)
	Waveform(ctx context.Context, id string) ([]float64, error)
	GetRoom(ctx context.Context, id string) (*parley.Room, error)
	GetRoomByName(ctx context.Context, name string) (*parley.Room, error)
	GetRecording(ctx context.Context, id string) (*store.Recording, error)
	SetRecordingInfo(ctx context.Context, id, mtgSessionID string, durationS *int) error
	RecordingExists(ctx context.Context, id string) (bool, error)
	UpsertRecording(ctx context.Context, r store.Recording) error
	OtherReferences(ctx context.Context, transcriptID, bucket, key string) (int, error)
}

// ContentStore holds what the steps make: words, topics, subjects
// (package store). Writes replace, so a retried step finds its own work.
type ContentStore interface {
	ListWords(ctx context.Context, transcriptID string) ([]parley.Word, error)
	CountWords(ctx context.Context, transcriptID string) (int, error)
	ListTopics(ctx context.Context, transcriptID string, withWords bool) ([]parley.Topic, error)
	ReplaceTopics(ctx context.Context, transcriptID string, topics []store.StoredTopic) error
	ListSubjects(ctx context.Context, transcriptID string) ([]parley.Subject, error)
	ReplaceSubjects(ctx context.Context, transcriptID string, subjects []string) error
	SetSubjectSummaries(ctx context.Context, transcriptID string, idx int, detailed, paragraph string) error
	RefreshSearch(ctx context.Context, transcriptID string) error
}

// EventStore appends events, stored before they are announced (package
// store).
type EventStore interface {
	AppendEvent(ctx context.Context, transcriptID, name string, data any) (parley.Event, error)
	// PublishProgress stores the transcript's progress and its
	// PIPELINE_PROGRESS event together.
	PublishProgress(ctx context.Context, transcriptID string, d parley.PipelineProgressData) error
}

// AuditStore records every step attempt (package store).
type AuditStore interface {
	StartStepAttempt(ctx context.Context, a store.StepAttempt) (int64, error)
	// FinishStepAttempt records the outcome, with the step's audit note.
	FinishStepAttempt(ctx context.Context, id int64, status string, finishedAt time.Time, usage parley.Usage, errMsg, note string) error
	CompletedSteps(ctx context.Context, transcriptID, workflowRunID string) (map[string]int, error)
	// FailedAttempts lists a run's attempts that failed for good, in the
	// order they started.
	FailedAttempts(ctx context.Context, transcriptID, workflowRunID string) ([]parley.StepRecord, error)
}

// EmailStore records whom a transcript is emailed to (package store): one
// delivery per address, claimed before it is sent.
type EmailStore interface {
	AddRoomRecipients(ctx context.Context, transcriptID string, addrs []string) error
	ListEmailDeliveries(ctx context.Context, transcriptID string) ([]store.EmailDelivery, error)
	ClaimEmail(ctx context.Context, transcriptID, addr, claimant string, lease time.Duration) (store.EmailDelivery, bool, error)
	EmailSentTo(ctx context.Context, transcriptID, addr, claimant, messageID, response string) error
	EmailFailed(ctx context.Context, transcriptID, addr, claimant, errMsg string, permanent bool) error
}

// Store is the database as the steps use it.
type Store interface {
	TranscriptStore
	ContentStore
	EventStore
	AuditStore
	EmailStore
}

var _ Store = (*store.DB)(nil)

// Storage is object storage (package store).
type Storage interface {
	PutFile(ctx context.Context, bucket, key, path, contentType string) (store.ObjectInfo, error)
	GetFile(ctx context.Context, bucket, key, path string) error
	Presign(ctx context.Context, bucket, key string) (string, error)
	Exists(ctx context.Context, bucket, key string) (bool, error)
	Delete(ctx context.Context, bucket, key string) error
	List(ctx context.Context, bucket, prefix string) ([]string, error)
	Bucket() string
}

// MixResult is what a mixdown produced.
type MixResult struct {
	// Duration of the mix in seconds.
	Duration float64
	// Waveform holds 255 peaks in 0..1.
	Waveform []float64
}

// Media mixes tracks and draws waveforms (package media).
type Media interface {
	// Mixdown mixes the original tracks (offsets and gaps applied) into one
	// MP3 at dstPath and computes its waveform in the same pass.
	Mixdown(ctx context.Context, srcs []string, dstPath string) (MixResult, error)
	// Waveform computes the waveform of an audio file.
	Waveform(ctx context.Context, src string) ([]float64, error)
}

// LLM runs the language-model steps (package llm). Every method goes
// through the result cache and records usage in the context's meter.
type LLM interface {
	// Topic names and summarises one chunk of the transcript (text is
	// "Name: words" lines).
	Topic(ctx context.Context, text string, participants []parley.Participant) (title, summary string, err error)
	// Title makes the meeting title (<= 10 words, cleaned) from the topic
	// titles.
	Title(ctx context.Context, topicTitles []string) (string, error)
	// Subjects lists the main subjects (at most 6).
	Subjects(ctx context.Context, text string, participants []parley.Participant) ([]string, error)
	// SubjectSummary writes the detailed and the one-paragraph summary of
	// one subject.
	SubjectSummary(ctx context.Context, subject, text string, participants []parley.Participant) (detailed, paragraph string, err error)
	// Recap writes the one-paragraph recap from the subject paragraphs.
	Recap(ctx context.Context, subjects []parley.Subject, participants []parley.Participant) (string, error)
	// ActionItems finds decisions and next steps, mapped to participant ids.
	ActionItems(ctx context.Context, text string, participants []parley.Participant) (parley.ActionItems, error)
}

// DailyRecording is what get_recording needs from Daily.
type DailyRecording struct {
	ID           string
	MtgSessionID string
	Duration     *int
}

// DailyParticipant is one participant of a Daily meeting.
type DailyParticipant struct {
	ParticipantID string
	UserID        string
	UserName      string
}

// Daily is the Daily.co REST API (package daily).
type Daily interface {
	Recording(ctx context.Context, id string) (DailyRecording, error)
	// Participants lists every participant of a meeting session (all
	// pages).
	Participants(ctx context.Context, mtgSessionID string) ([]DailyParticipant, error)
}

// Zulip posts and updates stream messages (package notify).
type Zulip interface {
	Post(ctx context.Context, stream, topic, content string) (int64, error)
	Update(ctx context.Context, id int64, topic, content string) error
}

// Webhooks sends signed outbound webhooks (package notify).
type Webhooks interface {
	Send(ctx context.Context, url, secret, event string, body []byte, attempt int) (int, error)
}

// Notifications renders messages and payloads (package notify).
type Notifications interface {
	ZulipMessage(t *parley.Transcript, topics []parley.Topic) string
	WebhookPayload(event string, t *parley.Transcript, topics []parley.Topic, words []parley.Word, room *parley.Room, eventID string, now time.Time) ([]byte, error)
	// TranscriptEmail renders the email sent when a transcript is ready.
	TranscriptEmail(t *parley.Transcript) (subject, text, html string, err error)
}

// TrackRunner runs the TrackProcessing child workflows of a run and waits
// for them (package hatchet does the spawning).
type TrackRunner interface {
	RunTracks(ctx context.Context, inputs []tracks.Input) ([]tracks.Output, error)
}

// Settings are the pipeline's tunables.
type Settings struct {
	// LLMConcurrency bounds the LLM fan-out of one step: at most this many
	// of a transcript's TopicChunkProcessing (or SubjectProcessing) child
	// runs execute at once; the rest queue. Default DefaultLLMConcurrency.
	LLMConcurrency int
	// LLMRate is the Hatchet rate limit `llm`, in units per second over
	// every worker: a topic chunk takes TopicChunkUnits, a subject
	// SubjectUnits. Default DefaultLLMRate.
	LLMRate int
	// WorkDir holds temporary files. Default os.TempDir().
	WorkDir string
	// MixdownTimeout, when set (PARLEY_STEP_MIXDOWN_TRACKS_TIMEOUT), is
	// mixdown_tracks' fixed deadline, declared to Hatchet; zero derives the
	// deadline from the meeting (MixdownTimeout, mixdownDeadline).
	MixdownTimeout time.Duration
}

// Steps holds the dependencies of every DiarizationPipeline step; each step
// is a method taking a plain context and the workflow Input.
type Steps struct {
	DB       Store
	Storage  Storage
	Media    Media
	LLM      LLM
	Daily    Daily // nil: Daily not configured (uploads only)
	Zulip    Zulip // nil: Zulip off
	Webhooks Webhooks
	Mailer   Mailer // nil: email off
	Notify   Notifications
	Tracks   TrackRunner
	Fanout   FanoutRunner
	Settings Settings
	Now      func() time.Time
	Log      *slog.Logger
}
