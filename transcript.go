package parley

import (
	"encoding/json"
	"time"
)

// Status is the life-cycle state of a transcript, as in the reference.
type Status string

// Transcript statuses.
const (
	// StatusIdle: created, no audio yet.
	StatusIdle Status = "idle"
	// StatusUploaded: tracks are stored; the pipeline has not started.
	StatusUploaded Status = "uploaded"
	// StatusProcessing: a pipeline run is active.
	StatusProcessing Status = "processing"
	// StatusEnded: the pipeline finished; results are complete.
	StatusEnded Status = "ended"
	// StatusError: the last run failed after its retries; Transcript.Error
	// names the step.
	StatusError Status = "error"
)

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusIdle, StatusUploaded, StatusProcessing, StatusEnded, StatusError:
		return true
	}
	return false
}

// Transcript is one meeting recording and everything derived from it.
type Transcript struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status Status `json:"status"`
	// Title is the LLM-generated title (at most 10 words). Name, given by a
	// user, is never overwritten by it.
	Title           string        `json:"title"`
	ShortSummary    string        `json:"short_summary"`
	LongSummary     string        `json:"long_summary"`
	ActionItems     ActionItems   `json:"action_items"`
	DurationSeconds float64       `json:"duration_seconds"`
	SourceLanguage  string        `json:"source_language"`
	TargetLanguage  string        `json:"target_language,omitempty"`
	RoomID          *string       `json:"room_id"`
	RecordingID     *string       `json:"recording_id"`
	WorkflowRunID   *string       `json:"workflow_run_id"`
	Participants    []Participant `json:"participants"`
	Progress        *Progress     `json:"progress"`
	Error           *StepError    `json:"error"`
	AudioKey        string        `json:"-"`
	AudioDeleted    bool          `json:"audio_deleted"`
	ZulipMessageID  *int64        `json:"-"`
	CreatedAt       time.Time     `json:"created_at"`
	UpdatedAt       time.Time     `json:"updated_at"`
	// DeletedAt is when the transcript was moved to the trash (nil when it
	// is not in the trash).
	DeletedAt *time.Time `json:"deleted_at"`

	// Topics and Words are filled only when asked for (?include=topics,words).
	Topics []Topic `json:"topics,omitempty"`
	Words  []Word  `json:"words,omitempty"`
}

// DisplayTitle is what a person should see as the transcript's heading: the
// user's name for it, else the generated title, else "Unnamed recording".
func (t *Transcript) DisplayTitle() string {
	switch {
	case t.Name != "":
		return t.Name
	case t.Title != "":
		return t.Title
	default:
		return "Unnamed recording"
	}
}

// Track is one participant's audio track of a recording.
type Track struct {
	// Index is the track's position in the recording's track list; it is
	// the speaker number of every word transcribed from it.
	Index int `json:"index"`
	// Bucket and Key locate the original audio in object storage.
	Bucket string `json:"bucket"`
	Key    string `json:"s3_key"`
	// ParticipantID is the Daily participant id parsed from the file name,
	// empty for uploads.
	ParticipantID string `json:"participant_id,omitempty"`
	// Name names the speaker when no participant list does (an uploaded
	// file's name).
	Name string `json:"name,omitempty"`
}

// Word is one transcribed word on meeting time.
type Word struct {
	Text    string  `json:"text"`
	Start   float64 `json:"start"`
	End     float64 `json:"end"`
	Speaker int     `json:"speaker"`
}

// Topic is a chapter of the meeting: a title and summary of a run of words.
type Topic struct {
	ID      string `json:"id"`
	Index   int    `json:"-"`
	Title   string `json:"title"`
	Summary string `json:"summary"`
	// Timestamp is the start of the topic's first word, Duration the span to
	// the end of its last word, both in seconds.
	Timestamp  float64 `json:"timestamp"`
	Duration   float64 `json:"duration"`
	Transcript string  `json:"transcript,omitempty"`
	Words      []Word  `json:"words,omitempty"`
}

// Participant maps a speaker (track index) to a person.
type Participant struct {
	ID string `json:"id"`
	// Name is the name shown everywhere: a user's correction when there is
	// one, else the name Daily (or the uploaded file's name) gave.
	Name    string `json:"name"`
	Speaker int    `json:"speaker"`
	UserID  string `json:"user_id,omitempty"`
	// DefaultName is the name Daily gave, set only when a user renamed
	// the speaker (renaming back to it, or to "", removes the correction).
	DefaultName string `json:"default_name,omitempty"`
}

// ActionItems are the decisions and next steps found in a meeting.
type ActionItems struct {
	Decisions []Decision `json:"decisions"`
	NextSteps []NextStep `json:"next_steps"`
}

// Decision is something the meeting decided.
type Decision struct {
	Decision               string `json:"decision"`
	Rationale              string `json:"rationale,omitempty"`
	DecidedBy              string `json:"decided_by,omitempty"`
	DecidedByParticipantID string `json:"decided_by_participant_id,omitempty"`
}

// NextStep is a task someone is to do after the meeting.
type NextStep struct {
	Task                    string `json:"task"`
	AssignedTo              string `json:"assigned_to,omitempty"`
	AssignedToParticipantID string `json:"assigned_to_participant_id,omitempty"`
	Deadline                string `json:"deadline,omitempty"`
	Context                 string `json:"context,omitempty"`
}

// Subject is a high-level subject of the meeting with its summaries.
type Subject struct {
	Index     int    `json:"index"`
	Subject   string `json:"subject"`
	Detailed  string `json:"detailed_summary"`
	Paragraph string `json:"paragraph_summary"`
}

// StepError says which pipeline step failed and why, in words for users.
type StepError struct {
	Step    string `json:"step"`
	Message string `json:"message"`
}

// Progress is where a pipeline run is, as shown to users.
type Progress struct {
	CurrentStep string  `json:"current_step"`
	StepIndex   int     `json:"step_index"`
	TotalSteps  int     `json:"total_steps"`
	Percent     float64 `json:"percent"`
	Detail      string  `json:"detail"`
}

// Room holds per-room settings for integrations.
type Room struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	WebhookURL    string `json:"webhook_url"`
	WebhookSecret string `json:"webhook_secret,omitempty"`
	ZulipStream   string `json:"zulip_stream"`
	ZulipTopic    string `json:"zulip_topic"`
	ZulipAutoPost bool   `json:"zulip_auto_post"`
	SkipConsent   bool   `json:"skip_consent"`
	// EmailRecipients get every transcript of the room by email when it is
	// ready (send_email).
	EmailRecipients []string  `json:"email_recipients"`
	CreatedAt       time.Time `json:"created_at"`
}

// Consent is one consent answer for a transcript's audio.
type Consent struct {
	ParticipantID string    `json:"participant_id,omitempty"`
	ConsentGiven  bool      `json:"consent_given"`
	CreatedAt     time.Time `json:"created_at"`
}

// RawJSON is a convenience alias used for stored JSON payloads.
type RawJSON = json.RawMessage
