package parley

import (
	"encoding/json"
	"time"
)

// Event names. The reference's names and payloads are kept so its users
// feel at home; PIPELINE_PROGRESS is Parley's addition.
const (
	EventStatus            = "STATUS"
	EventDuration          = "DURATION"
	EventWaveform          = "WAVEFORM"
	EventTranscript        = "TRANSCRIPT"
	EventTopic             = "TOPIC"
	EventFinalTitle        = "FINAL_TITLE"
	EventFinalShortSummary = "FINAL_SHORT_SUMMARY"
	EventFinalLongSummary  = "FINAL_LONG_SUMMARY"
	EventActionItems       = "ACTION_ITEMS"
	EventPipelineProgress  = "PIPELINE_PROGRESS"
	// EventParticipants announces renamed speakers: the whole participant
	// list as the document has it.
	EventParticipants = "PARTICIPANTS"
)

// Event is one stored event of a transcript. Seq orders the events of one
// transcript without gaps: events are appended in one sequence per
// transcript, and a client that has seen Seq n resumes with n+1.
type Event struct {
	TranscriptID string          `json:"transcript_id"`
	Seq          int64           `json:"id"`
	Name         string          `json:"event"`
	Data         json.RawMessage `json:"data"`
	CreatedAt    time.Time       `json:"created_at"`
}

// StatusData is the payload of STATUS.
type StatusData struct {
	Value Status `json:"value"`
}

// DurationData is the payload of DURATION; Duration is in milliseconds, as
// in the reference.
type DurationData struct {
	Duration float64 `json:"duration"`
}

// WaveformData is the payload of WAVEFORM and of the waveform route.
type WaveformData struct {
	Waveform []float64 `json:"waveform"`
}

// TranscriptData is the payload of TRANSCRIPT.
type TranscriptData struct {
	Text        string  `json:"text"`
	Translation *string `json:"translation"`
}

// TopicData is the payload of TOPIC.
type TopicData struct {
	ID         string  `json:"id"`
	Title      string  `json:"title"`
	Summary    string  `json:"summary"`
	Timestamp  float64 `json:"timestamp"`
	Duration   float64 `json:"duration"`
	Transcript string  `json:"transcript"`
	Words      []Word  `json:"words"`
}

// FinalTitleData is the payload of FINAL_TITLE.
type FinalTitleData struct {
	Title string `json:"title"`
}

// FinalShortSummaryData is the payload of FINAL_SHORT_SUMMARY.
type FinalShortSummaryData struct {
	ShortSummary string `json:"short_summary"`
}

// FinalLongSummaryData is the payload of FINAL_LONG_SUMMARY.
type FinalLongSummaryData struct {
	LongSummary string `json:"long_summary"`
}

// ParticipantsData is the payload of PARTICIPANTS.
type ParticipantsData struct {
	Participants []Participant `json:"participants"`
}

// ActionItemsData is the payload of ACTION_ITEMS.
type ActionItemsData struct {
	ActionItems ActionItems `json:"action_items"`
}

// Step states carried by PIPELINE_PROGRESS.
const (
	StepPending    = "pending"
	StepInProgress = "in_progress"
	StepCompleted  = "completed"
	StepFailed     = "failed"
)

// PipelineProgressData is the payload of PIPELINE_PROGRESS.
type PipelineProgressData struct {
	WorkflowRunID string  `json:"workflow_run_id"`
	CurrentStep   string  `json:"current_step"`
	StepIndex     int     `json:"step_index"`
	TotalSteps    int     `json:"total_steps"`
	StepStatus    string  `json:"step_status"`
	Percent       float64 `json:"percent"`
	TrackIndex    *int    `json:"track_index,omitempty"`
	Detail        string  `json:"detail"`
	// Attempt is the 1-based attempt of the step (retries and replays count).
	Attempt int `json:"attempt,omitempty"`
}
