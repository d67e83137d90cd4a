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
// total_steps): the pipeline's own steps in table order. Child steps share
// their parent's number and carry their track index.
var stepOrder = func() []string {
	var names []string
	for _, s := range StepTable {
		if s.Phase == PhaseRun || s.Phase == PhaseAfter {
			names = append(names, s.Name)
		}
	}
	return names
}()

// parentOf is the step that runs the child workflow a step belongs to, or
// the step itself.
func parentOf(step string) string {
	spec, ok := specOf(step)
	if !ok || spec.Phase != PhaseChild {
		return step
	}
	for _, s := range StepTable {
		if s.Children == spec.Workflow {
			return s.Name
		}
	}
	return step
}

func stepIndex(step string) (int, int) {
	step = parentOf(step)
	for i, s := range stepOrder {
		if s == step {
			return i + 1, len(stepOrder)
		}
	}
	return 0, len(stepOrder)
}

// detailFor says what a step does, with the child run for child steps
// ("Transcribing track 2 of 3", "Detecting topics: chunk 3 of 12",
// "Summarizing subject 2 of 5").
func detailFor(step string, input any) string {
	spec, ok := specOf(step)
	if !ok || spec.Detail == "" {
		return step
	}
	if spec.Phase != PhaseChild {
		return spec.Detail
	}
	switch in := input.(type) {
	case tracks.Input:
		return fmt.Sprintf("%s track %d of %d", spec.Detail, in.TrackIndex+1, in.NumTracks)
	case TopicChunkInput:
		return fmt.Sprintf("%s: chunk %d of %d", spec.Detail, in.ChunkIndex+1, in.NumChunks)
	case SubjectInput:
		return fmt.Sprintf("%s %d of %d", spec.Detail, in.SubjectIndex+1, in.NumSubjects)
	}
	return spec.Detail
}

// afterTranscript reports whether step runs after the transcript is
// complete (a failure there leaves it complete).
func afterTranscript(step string) bool {
	spec, ok := specOf(step)
	return ok && spec.Phase == PhaseAfter
}

// noter is implemented by step outputs that have something to say in the
// audit (why the step was skipped, what it sent).
type noter interface{ AuditNote() string }

// subject is implemented by workflow inputs.
type subject interface{ Subject() string }

// observer records every task attempt in the audit and turns it into
// PIPELINE_PROGRESS events; it is the pipeline's hatchet.Observer.
type observer struct {
	s *Steps
	// auditOnly records attempts in the audit without touching the
	// transcript's progress or status (workflows outside the pipeline's
	// run, such as TranscriptEmail).
	auditOnly bool
	mu        sync.Mutex
	// rows maps a task attempt to its audit row.
	rows map[string]int64
}

var _ hatchet.Observer = (*observer)(nil)

func newObserver(s *Steps) *observer { return &observer{s: s, rows: map[string]int64{}} }

func attemptKey(a hatchet.Attempt) string { return fmt.Sprintf("%s/%d", a.TaskRunID, a.Number) }

// pipelineRun is the DiarizationPipeline run an attempt belongs to.
func pipelineRun(a hatchet.Attempt, input any) string {
	var parent string
	switch in := input.(type) {
	case tracks.Input:
		parent = in.PipelineRunID
	case TopicChunkInput:
		parent = in.PipelineRunID
	case SubjectInput:
		parent = in.PipelineRunID
	}
	if parent != "" {
		return parent
	}
	if _, isChild := childWorkflows[a.Workflow]; isChild && a.ParentRunID != "" {
		return a.ParentRunID
	}
	return a.WorkflowRunID
}

// childWorkflows maps every child workflow to the step that runs it.
var childWorkflows = func() map[string]string {
	m := map[string]string{}
	for _, s := range StepTable {
		if s.Children != "" {
			m[s.Children] = s.Name
		}
	}
	return m
}()

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

// childIndex is the topic chunk or subject of a fan-out child's input.
func childIndex(input any) *int {
	var i int
	switch in := input.(type) {
	case TopicChunkInput:
		i = in.ChunkIndex
	case SubjectInput:
		i = in.SubjectIndex
	default:
		return nil
	}
	return &i
}

// Started records the attempt and announces the step in progress. A run
// that failed and is being resumed (replayed) goes back to processing.
func (o *observer) Started(ctx context.Context, a hatchet.Attempt, input any) error {
	sub, ok := input.(subject)
	if !ok || sub.Subject() == "" || a.Task == hatchet.OnFailureTask {
		return nil
	}
	tid := sub.Subject()
	runID := pipelineRun(a, input)
	id, err := o.s.DB.StartStepAttempt(ctx, store.StepAttempt{TranscriptID: tid, WorkflowRunID: runID,
		TaskRunID: a.TaskRunID, Name: a.Task, TrackIndex: trackIndex(input), ChildIndex: childIndex(input),
		Attempt: a.Number, StartedAt: a.StartedAt})
	if err != nil {
		return err
	}
	o.mu.Lock()
	o.rows[attemptKey(a)] = id
	o.mu.Unlock()
	if o.auditOnly {
		return nil
	}
	if spec, _ := specOf(a.Task); spec.Phase != PhaseAfter && !spec.Ends {
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
func (o *observer) Finished(ctx context.Context, a hatchet.Attempt, input any, output any, usage parley.Usage, stepErr error, willRetry bool) {
	sub, ok := input.(subject)
	if !ok || sub.Subject() == "" || a.Task == hatchet.OnFailureTask {
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
		note := ""
		if n, isNoter := output.(noter); isNoter && stepErr == nil {
			note = n.AuditNote()
		}
		if err := o.s.DB.FinishStepAttempt(ctx, id, status, o.s.Now(), usage, msg, note); err != nil {
			log.WarnContext(ctx, "could not record the end of a step", "step", a.Task, "error", err)
		}
	}
	if o.auditOnly {
		return
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
	percent, err := s.percent(ctx, tid, runID, input)
	if err != nil {
		return err
	}
	idx, total := stepIndex(step)
	data := parley.PipelineProgressData{WorkflowRunID: runID, CurrentStep: step, StepIndex: idx, TotalSteps: total,
		StepStatus: stepStatus, Percent: percent, TrackIndex: trackIndex(input), Detail: detail, Attempt: attempt}
	return s.publishProgress(ctx, tid, data)
}

func (s *Steps) publishProgress(ctx context.Context, tid string, d parley.PipelineProgressData) error {
	return s.DB.PublishProgress(ctx, tid, d)
}

// percent is the share of the run's steps that completed; the steps of a
// child workflow count as fractions of their parent (one child run per
// track, topic chunk or subject) until it completes. input is the input of
// the step being reported (nil if none): the number of topic chunks is
// known from a chunk's input only.
func (s *Steps) percent(ctx context.Context, tid, runID string, input any) (float64, error) {
	done, err := s.DB.CompletedSteps(ctx, tid, runID)
	if err != nil {
		return 0, err
	}
	var n float64
	for _, st := range stepOrder {
		if done[st] > 0 {
			n++
		}
	}
	for _, spec := range StepTable {
		if spec.Children == "" || done[spec.Name] > 0 {
			continue
		}
		var runs int
		switch spec.Children {
		case WorkflowTrack:
			trs, err := s.DB.ListTracks(ctx, tid)
			if err != nil {
				return 0, err
			}
			runs = len(trs)
		case WorkflowTopicChunk:
			if in, ok := input.(TopicChunkInput); ok {
				runs = in.NumChunks
			}
		case WorkflowSubject:
			if in, ok := input.(SubjectInput); ok {
				runs = in.NumSubjects
			}
		}
		n += childShare(done, stepsOf(spec.Children), runs)
	}
	return percentOf(n, len(stepOrder)), nil
}

// childShare is the part of its parent that a child workflow's completed
// steps make: done counts the child runs (tracks, chunks, subjects) that
// completed each step.
func childShare(done map[string]int, steps []string, runs int) float64 {
	if runs <= 0 || len(steps) == 0 {
		return 0
	}
	var finished int
	for _, st := range steps {
		finished += done[st]
	}
	return math.Min(1, float64(finished)/float64(len(steps)*runs))
}

// percentOf is n of total as a percentage with one decimal.
func percentOf(n float64, total int) float64 {
	if total <= 0 {
		return 0
	}
	return math.Round(1000*n/float64(total)) / 10
}
