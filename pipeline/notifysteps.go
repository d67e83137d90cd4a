package pipeline

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/hatchet"
	"github.com/parley-dev/parley/store"
)

// ZulipOutput is post_zulip's output.
type ZulipOutput struct {
	MessageID int64  `json:"message_id,omitempty"`
	Updated   bool   `json:"updated,omitempty"`
	Skipped   string `json:"skipped,omitempty"`
}

// PostZulip posts the transcript's summary to the room's Zulip stream, or
// updates the message posted by an earlier run (never a duplicate).
func (s *Steps) PostZulip(ctx context.Context, in Input) (ZulipOutput, error) {
	if s.Zulip == nil {
		return ZulipOutput{Skipped: "Zulip is not configured (ZULIP_REALM)"}, nil
	}
	if in.RoomID == "" {
		return ZulipOutput{Skipped: "no room"}, nil
	}
	room, err := s.DB.GetRoom(ctx, in.RoomID)
	if err != nil {
		return ZulipOutput{}, err
	}
	if room.ZulipStream == "" || !room.ZulipAutoPost {
		return ZulipOutput{Skipped: "the room does not auto-post to Zulip"}, nil
	}
	t, err := s.DB.GetTranscript(ctx, in.TranscriptID)
	if err != nil {
		return ZulipOutput{}, err
	}
	topics, err := s.DB.ListTopics(ctx, in.TranscriptID, false)
	if err != nil {
		return ZulipOutput{}, err
	}
	content := s.Notify.ZulipMessage(t, topics)
	topic := room.ZulipTopic
	if topic == "" {
		topic = t.DisplayTitle()
	}
	if t.ZulipMessageID != nil {
		err := s.Zulip.Update(ctx, *t.ZulipMessageID, topic, content)
		if err == nil {
			return ZulipOutput{MessageID: *t.ZulipMessageID, Updated: true}, nil
		}
		if parley.ErrorCode(err) != parley.ENOTFOUND && parley.ErrorCode(err) != parley.EINVALID {
			return ZulipOutput{}, fmt.Errorf("update zulip message %d: %w", *t.ZulipMessageID, err)
		}
		// The message is gone (deleted, or another stream): post anew.
		s.logger(in.TranscriptID).WarnContext(ctx, "zulip message could not be updated; posting a new one", "error", err)
	}
	id, err := s.Zulip.Post(ctx, room.ZulipStream, topic, content)
	if err != nil {
		return ZulipOutput{}, fmt.Errorf("post to zulip: %w", err)
	}
	if err := s.DB.UpdateTranscript(ctx, in.TranscriptID, store.TranscriptUpdate{ZulipMessageID: &id}); err != nil {
		return ZulipOutput{}, err
	}
	return ZulipOutput{MessageID: id}, nil
}

// AuditNote says why the step was skipped.
func (o ZulipOutput) AuditNote() string { return skippedNote(o.Skipped) }

// AuditNote says why the step was skipped.
func (o WebhookOutput) AuditNote() string { return skippedNote(o.Skipped) }

func skippedNote(why string) string {
	if why == "" {
		return ""
	}
	return "skipped: " + why
}

// WebhookOutput is send_webhook's output.
type WebhookOutput struct {
	Status  int    `json:"status,omitempty"`
	Skipped string `json:"skipped,omitempty"`
}

// Outbound webhook events.
const (
	WebhookCompleted = "transcript.completed"
	WebhookFailed    = "transcript.failed"
)

// SendWebhook delivers transcript.completed to the room's webhook URL.
// Network errors and 5xx fail the attempt so that Hatchet retries it with
// backoff; a 4xx fails the step at once. Failures are never swallowed.
func (s *Steps) SendWebhook(ctx context.Context, in Input) (WebhookOutput, error) {
	return s.sendWebhook(ctx, in, WebhookCompleted)
}

func (s *Steps) sendWebhook(ctx context.Context, in Input, event string) (WebhookOutput, error) {
	if in.RoomID == "" {
		return WebhookOutput{Skipped: "no room"}, nil
	}
	room, err := s.DB.GetRoom(ctx, in.RoomID)
	if err != nil {
		return WebhookOutput{}, err
	}
	if room.WebhookURL == "" {
		return WebhookOutput{Skipped: "the room has no webhook_url"}, nil
	}
	t, err := s.DB.GetTranscript(ctx, in.TranscriptID)
	if err != nil {
		return WebhookOutput{}, err
	}
	topics, err := s.DB.ListTopics(ctx, in.TranscriptID, true)
	if err != nil {
		return WebhookOutput{}, err
	}
	words, err := s.DB.ListWords(ctx, in.TranscriptID)
	if err != nil {
		return WebhookOutput{}, err
	}
	a := hatchet.AttemptFromContext(ctx)
	// One event id per run and event: receivers can drop redeliveries.
	eventID := uuid.NewSHA1(uuid.NameSpaceURL, []byte(a.WorkflowRunID+"/"+in.TranscriptID+"/"+event)).String()
	body, err := s.Notify.WebhookPayload(event, t, topics, words, room, eventID, s.Now())
	if err != nil {
		return WebhookOutput{}, fmt.Errorf("webhook payload: %w", err)
	}
	status, err := s.Webhooks.Send(ctx, room.WebhookURL, room.WebhookSecret, event, body, max(a.Number-1, 0))
	if err != nil {
		return WebhookOutput{Status: status}, fmt.Errorf("send webhook %s: %w", event, err)
	}
	return WebhookOutput{Status: status}, nil
}

// OnFailure runs once when a run has failed for good (retries exhausted or
// a permanent error). It names the failing step from the audit (a track
// step inside process_tracks when that is where it failed), sets the
// transcript's error and status, emits STATUS and PIPELINE_PROGRESS failed,
// and sends transcript.failed to the room's webhook.
func (s *Steps) OnFailure(ctx context.Context, in Input, failures map[string]string) error {
	a := hatchet.AttemptFromContext(ctx)
	stepErr, err := s.failedStep(ctx, in.TranscriptID, a.WorkflowRunID, failures)
	if err != nil {
		return err
	}
	log := s.logger(in.TranscriptID)
	log.WarnContext(ctx, "pipeline run failed", "step", stepErr.Step, "message", stepErr.Message)
	if afterTranscript(stepErr.Step) {
		// The transcript is complete; keep it ended and record what could
		// not be delivered.
		if err := s.DB.SetStepError(ctx, in.TranscriptID, stepErr); err != nil {
			return err
		}
	} else if _, err := s.DB.SetStatus(ctx, in.TranscriptID, parley.StatusError, stepErr); err != nil {
		return err
	}
	idx, total := stepIndex(stepErr.Step)
	percent, _ := s.percent(ctx, in.TranscriptID, a.WorkflowRunID, nil)
	data := parley.PipelineProgressData{WorkflowRunID: a.WorkflowRunID, CurrentStep: stepErr.Step, StepIndex: idx,
		TotalSteps: total, StepStatus: parley.StepFailed, Percent: percent,
		Detail: fmt.Sprintf("Failed at %s: %s", stepErr.Step, stepErr.Message)}
	if err := s.publishProgress(ctx, in.TranscriptID, data); err != nil {
		return err
	}
	if afterTranscript(stepErr.Step) {
		return nil
	}
	if _, err := s.sendWebhook(ctx, in, WebhookFailed); err != nil {
		// Best effort: the failure itself is recorded above.
		log.WarnContext(ctx, "could not deliver transcript.failed", "error", err)
	}
	return nil
}

// failedStep finds the step that failed in a run: the latest failed
// attempt in the audit, else the first entry of Hatchet's failure map.
func (s *Steps) failedStep(ctx context.Context, tid, runID string, failures map[string]string) (*parley.StepError, error) {
	attempts, err := s.DB.FailedAttempts(ctx, tid, runID)
	if err != nil {
		return nil, err
	}
	if r, ok := firstFailure(attempts); ok {
		return &parley.StepError{Step: r.Name, Message: r.Error}, nil
	}
	for name, msg := range failures {
		return &parley.StepError{Step: name, Message: msg}, nil
	}
	return &parley.StepError{Step: "unknown", Message: "the run failed without an error message"}, nil
}

// firstFailure picks the step a failed run is reported at, the same every
// time whatever order the failures came in: the failed step that comes
// first in StepTable, a child's step rather than the parent that waited
// for it (process_tracks fails because pad_track did). Steps that run side
// by side and read the same input, like pad_track and mixdown_tracks on a
// track that is not audio, both fail; the track's own step names it best,
// and it comes first in the table.
func firstFailure(attempts []parley.StepRecord) (parley.StepRecord, bool) {
	best, bestIdx := parley.StepRecord{}, -1
	for _, a := range attempts {
		idx := slices.IndexFunc(StepTable, func(s StepSpec) bool { return s.Name == a.Name })
		if idx >= 0 && StepTable[idx].Children != "" {
			idx += len(StepTable) // a parent only when no child step failed
		}
		if idx < 0 {
			idx = 2 * len(StepTable) // a step the table does not know, last
		}
		if bestIdx < 0 || idx < bestIdx {
			best, bestIdx = a, idx
		}
	}
	return best, bestIdx >= 0
}
