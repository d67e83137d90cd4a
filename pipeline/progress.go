package pipeline

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/hatchet"
	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/tracks"
)

// stepOrder numbers the steps for PIPELINE_PROGRESS (step_index of
// total_steps). Track steps share process_tracks' number and carry their
// track index.
var stepOrder = []string{
	StepGetRecording, StepGetParticipants, StepProcessTracks, StepMixdownTracks, StepGenerateWaveform,
	StepDetectTopics, StepGenerateTitle, StepExtractSubjects, StepProcessSubjects, StepGenerateRecap,
	StepIdentifyActionItems, StepFinalize, StepCleanupConsent, StepPostZulip, StepSendWebhook,
}

// stepDetail is the human text of a step in progress.
var stepDetail = map[string]string{
	StepGetRecording:        "Fetching the recording",
	StepGetParticipants:     "Identifying the participants",
	StepProcessTracks:       "Transcribing the tracks",
	StepMixdownTracks:       "Mixing the tracks into one MP3",
	StepGenerateWaveform:    "Drawing the waveform",
	StepDetectTopics:        "Detecting topics",
	StepGenerateTitle:       "Writing the title",
	StepExtractSubjects:     "Finding the main subjects",
	StepProcessSubjects:     "Summarizing each subject",
	StepGenerateRecap:       "Writing the summary",
	StepIdentifyActionItems: "Listing decisions and action items",
	StepFinalize:            "Finalizing the transcript",
	StepCleanupConsent:      "Applying consent",
	StepPostZulip:           "Posting to Zulip",
	StepSendWebhook:         "Sending the webhook",
	StepOnFailure:           "Recording the failure",
}

func stepIndex(step string) (int, int) {
	switch step {
	case tracks.StepPad, tracks.StepTranscribe:
		step = StepProcessTracks
	}
	for i, s := range stepOrder {
		if s == step {
			return i + 1, len(stepOrder)
		}
	}
	return 0, len(stepOrder)
}

// detailFor says what a step does, with the track for track steps
// ("Transcribing track 2 of 3").
func detailFor(step string, input any) string {
	if tr, ok := input.(tracks.Input); ok {
		switch step {
		case tracks.StepPad:
			return fmt.Sprintf("Preparing track %d of %d", tr.TrackIndex+1, tr.NumTracks)
		case tracks.StepTranscribe:
			return fmt.Sprintf("Transcribing track %d of %d", tr.TrackIndex+1, tr.NumTracks)
		}
	}
	if d, ok := stepDetail[step]; ok {
		return d
	}
	return step
}

// subject is implemented by workflow inputs.
type subject interface{ Subject() string }

// observer records every task attempt in the audit and turns it into
// PIPELINE_PROGRESS events; it is the pipeline's hatchet.Observer.
type observer struct {
	s  *Steps
	mu sync.Mutex
	// rows maps a task attempt to its audit row.
	rows map[string]int64
}

var _ hatchet.Observer = (*observer)(nil)

func newObserver(s *Steps) *observer { return &observer{s: s, rows: map[string]int64{}} }

func attemptKey(a hatchet.Attempt) string { return fmt.Sprintf("%s/%d", a.TaskRunID, a.Number) }

// pipelineRun is the DiarizationPipeline run an attempt belongs to.
func pipelineRun(a hatchet.Attempt, input any) string {
	if tr, ok := input.(tracks.Input); ok && tr.PipelineRunID != "" {
		return tr.PipelineRunID
	}
	if a.ParentRunID != "" && a.Workflow == WorkflowTrack {
		return a.ParentRunID
	}
	return a.WorkflowRunID
}

// attemptRunID is the run of the step running in ctx.
func attemptRunID(ctx context.Context) string {
	return hatchet.AttemptFromContext(ctx).WorkflowRunID
}

func trackIndex(input any) *int {
	if tr, ok := input.(tracks.Input); ok {
		i := tr.TrackIndex
		return &i
	}
	return nil
}

// Started records the attempt and announces the step in progress. A run
// that failed and is being resumed (replayed) goes back to processing.
func (o *observer) Started(ctx context.Context, a hatchet.Attempt, input any) error {
	sub, ok := input.(subject)
	if !ok || sub.Subject() == "" || a.Task == StepOnFailure {
		return nil
	}
	tid := sub.Subject()
	runID := pipelineRun(a, input)
	id, err := o.s.DB.StartStepAttempt(ctx, store.StepAttempt{TranscriptID: tid, WorkflowRunID: runID,
		TaskRunID: a.TaskRunID, Name: a.Task, TrackIndex: trackIndex(input), Attempt: a.Number, StartedAt: a.StartedAt})
	if err != nil {
		return err
	}
	o.mu.Lock()
	o.rows[attemptKey(a)] = id
	o.mu.Unlock()
	if !postFinalize[a.Task] && a.Task != StepFinalize {
		if err := o.s.resumeIfFailed(ctx, tid, a.Task); err != nil {
			return err
		}
	}
	detail := detailFor(a.Task, input)
	if a.Number > 1 {
		detail += fmt.Sprintf(" (attempt %d of %d)", a.Number, max(a.MaxAttempts, a.Number))
	}
	return o.s.progress(ctx, tid, runID, a.Task, input, parley.StepInProgress, detail, a.Number)
}

// Finished closes the audit row and announces the outcome. A failed
// attempt that Hatchet will retry is shown as in progress (the status never
// flaps to error); the final failure is announced by OnFailure.
func (o *observer) Finished(ctx context.Context, a hatchet.Attempt, input any, _ any, usage parley.Usage, stepErr error, willRetry bool) {
	sub, ok := input.(subject)
	if !ok || sub.Subject() == "" || a.Task == StepOnFailure {
		return
	}
	tid := sub.Subject()
	runID := pipelineRun(a, input)
	o.mu.Lock()
	id, ok := o.rows[attemptKey(a)]
	delete(o.rows, attemptKey(a))
	o.mu.Unlock()
	status, msg := store.AttemptCompleted, ""
	switch {
	case stepErr != nil && willRetry:
		status, msg = store.AttemptRetrying, parley.ErrorMessage(stepErr)
	case stepErr != nil:
		status, msg = store.AttemptFailed, parley.ErrorMessage(stepErr)
	}
	log := o.s.logger(tid)
	if ok {
		if err := o.s.DB.FinishStepAttempt(ctx, id, status, o.s.Now(), usage, msg); err != nil {
			log.WarnContext(ctx, "could not record the end of a step", "step", a.Task, "error", err)
		}
	}
	var stepStatus, detail string
	switch status {
	case store.AttemptCompleted:
		stepStatus, detail = parley.StepCompleted, detailFor(a.Task, input)+": done"
	case store.AttemptRetrying:
		stepStatus = parley.StepInProgress
		detail = fmt.Sprintf("%s: attempt %d failed (%s); retrying", detailFor(a.Task, input), a.Number, msg)
	default:
		// OnFailure announces the run's failure once, with the step.
		return
	}
	if err := o.s.progress(ctx, tid, runID, a.Task, input, stepStatus, detail, a.Number); err != nil {
		log.WarnContext(ctx, "could not publish progress", "step", a.Task, "error", err)
	}
}

// resumeIfFailed puts a transcript whose last run failed back to
// processing when the step that failed starts again: the run was resumed
// (by Parley or a replay from the dashboard). Other steps may still start
// after a failure (a parallel branch finishing its work, such as the
// waveform after the mixdown); they leave the error as it is.
func (s *Steps) resumeIfFailed(ctx context.Context, tid, step string) error {
	t, err := s.DB.GetTranscript(ctx, tid)
	if err != nil {
		return err
	}
	if t.Status == parley.StatusError && (t.Error == nil || t.Error.Step == step) {
		_, err = s.DB.SetStatus(ctx, tid, parley.StatusProcessing, nil)
	}
	return err
}

// progress computes the run's percentage and publishes PIPELINE_PROGRESS.
func (s *Steps) progress(ctx context.Context, tid, runID, step string, input any, stepStatus, detail string, attempt int) error {
	percent, err := s.percent(ctx, tid, runID)
	if err != nil {
		return err
	}
	idx, total := stepIndex(step)
	data := parley.PipelineProgressData{WorkflowRunID: runID, CurrentStep: step, StepIndex: idx, TotalSteps: total,
		StepStatus: stepStatus, Percent: percent, TrackIndex: trackIndex(input), Detail: detail, Attempt: attempt}
	return s.publishProgress(ctx, tid, data)
}

func (s *Steps) publishProgress(ctx context.Context, tid string, d parley.PipelineProgressData) error {
	return s.DB.InTx(ctx, func(tx *store.DB) error {
		p := parley.Progress{CurrentStep: d.CurrentStep, StepIndex: d.StepIndex, TotalSteps: d.TotalSteps,
			Percent: d.Percent, Detail: d.Detail}
		if err := tx.UpdateTranscript(ctx, tid, store.TranscriptUpdate{Progress: &p}); err != nil {
			return err
		}
		_, err := tx.AppendEvent(ctx, tid, parley.EventPipelineProgress, d)
		return err
	})
}

// percent is the share of the run's steps that completed; the track steps
// count as fractions of process_tracks until it completes.
func (s *Steps) percent(ctx context.Context, tid, runID string) (float64, error) {
	done, err := s.DB.CompletedSteps(ctx, tid, runID)
	if err != nil {
		return 0, err
	}
	total := float64(len(stepOrder))
	var n float64
	for _, st := range stepOrder {
		if done[st] > 0 {
			n++
		}
	}
	if done[StepProcessTracks] == 0 {
		trs, err := s.DB.ListTracks(ctx, tid)
		if err != nil {
			return 0, err
		}
		if len(trs) > 0 {
			n += math.Min(1, float64(done[tracks.StepPad]+done[tracks.StepTranscribe])/float64(2*len(trs)))
		}
	}
	return math.Round(1000*n/total) / 10, nil
}
