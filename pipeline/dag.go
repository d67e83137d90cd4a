package pipeline

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/hatchet"
	"github.com/parley-dev/parley/tracks"
)

// Workflows are the declared workflows, ready for a worker.
type Workflows struct {
	Pipeline *hatchet.Workflow
	Track    *hatchet.Workflow
}

// All returns every workflow, for hatchet.Client.NewWorker.
func (w Workflows) All() []*hatchet.Workflow { return []*hatchet.Workflow{w.Pipeline, w.Track} }

// Define declares DiarizationPipeline and its TrackProcessing child. The
// whole DAG is here:
//
//	get_recording -> get_participants -> process_tracks  [TrackProcessing x N: pad_track -> transcribe_track]
//	process_tracks -> mixdown_tracks -> generate_waveform
//	process_tracks -> detect_topics -> generate_title
//	                  detect_topics -> extract_subjects -> process_subjects -> generate_recap
//	                                   extract_subjects -> identify_action_items
//	finalize  <- process_tracks, generate_waveform, generate_title, generate_recap, identify_action_items
//	finalize -> cleanup_consent -> post_zulip
//	            cleanup_consent -> send_webhook
//	on failure (after retries): on_failure
//
// Unlike the reference, finalize also waits for the mixdown (so deleting
// the padded files never races it and consent cleanup cannot miss the MP3)
// and process_tracks' timeout covers its children's.
//
// At most maxRuns pipelines run at once (the rest queue, round robin), so
// that parents waiting for their children never hold every worker slot.
func Define(c *hatchet.Client, s *Steps, ts *tracks.Steps, p Policies, maxRuns int) Workflows {
	obs := newObserver(s)
	track := tracks.Define(c, ts, obs, p[StepPadTrack], p[StepTranscribeTrack])
	if s.Tracks == nil {
		s.Tracks = trackRunner{wf: track}
	}

	wf := c.NewWorkflow(WorkflowPipeline,
		"Multitrack recording -> speaker-attributed transcript, topics, title, summaries, action items.", obs,
		hatchet.WithMaxRuns(maxRuns)...)
	getRecording := hatchet.Task(wf, StepGetRecording, p[StepGetRecording], s.GetRecording)
	getParticipants := hatchet.Task(wf, StepGetParticipants, p[StepGetParticipants], s.GetParticipants, getRecording)
	processTracks := hatchet.Task(wf, StepProcessTracks, p.ProcessTracks(), s.ProcessTracks, getParticipants)

	mixdown := hatchet.Task(wf, StepMixdownTracks, p[StepMixdownTracks], s.MixdownTracks, processTracks)
	waveform := hatchet.Task(wf, StepGenerateWaveform, p[StepGenerateWaveform], s.GenerateWaveform, mixdown)

	topics := hatchet.Task(wf, StepDetectTopics, p[StepDetectTopics], s.DetectTopics, processTracks)
	title := hatchet.Task(wf, StepGenerateTitle, p[StepGenerateTitle], s.GenerateTitle, topics)
	subjects := hatchet.Task(wf, StepExtractSubjects, p[StepExtractSubjects], s.ExtractSubjects, topics)
	perSubject := hatchet.Task(wf, StepProcessSubjects, p[StepProcessSubjects], s.ProcessSubjects, subjects)
	recap := hatchet.Task(wf, StepGenerateRecap, p[StepGenerateRecap], s.GenerateRecap, perSubject)
	actions := hatchet.Task(wf, StepIdentifyActionItems, p[StepIdentifyActionItems], s.IdentifyActionItems, subjects)

	finalize := hatchet.Task(wf, StepFinalize, p[StepFinalize], s.Finalize,
		processTracks, waveform, title, recap, actions)
	cleanup := hatchet.Task(wf, StepCleanupConsent, p[StepCleanupConsent], s.CleanupConsent, finalize)
	hatchet.Task(wf, StepPostZulip, p[StepPostZulip], s.PostZulip, cleanup)
	hatchet.Task(wf, StepSendWebhook, p[StepSendWebhook], s.SendWebhook, cleanup)
	hatchet.OnFailure(wf, p[StepOnFailure], s.OnFailure)
	return Workflows{Pipeline: wf, Track: track}
}

// trackRunner spawns one TrackProcessing child per track, keyed by track
// index so that a retried or replayed parent re-attaches to them.
type trackRunner struct{ wf *hatchet.Workflow }

func (r trackRunner) RunTracks(ctx context.Context, inputs []tracks.Input) ([]tracks.Output, error) {
	// The parent keeps its worker slot while it waits. Hatchet can release
	// it (ReleaseSlot), but a released task is no longer tied to its
	// worker, so it would not be re-assigned if that worker crashed; slot
	// starvation is prevented by DiarizationPipeline's run concurrency
	// limit instead (see Define).
	outs := make([]tracks.Output, len(inputs))
	errs := make([]error, len(inputs))
	var wg sync.WaitGroup
	for i, in := range inputs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			meta := map[string]string{
				"transcript_id": in.TranscriptID,
				"track":         fmt.Sprintf("%d of %d", in.TrackIndex+1, in.NumTracks),
			}
			outs[i], errs[i] = hatchet.RunChild[tracks.Output](ctx, r.wf, tracks.StepTranscribe,
				fmt.Sprintf("track-%d", in.TrackIndex), in, meta)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("track %d: %w", in.TrackIndex, errs[i])
			}
		}()
	}
	wg.Wait()
	return outs, errors.Join(errs...)
}

// Emits lists, for every step, the events it stores (and so broadcasts),
// next to the DAG. pipeline/doc.go carries the same table for readers;
// TestEventDictionary keeps the two equal. Every attempt of every step also
// emits PIPELINE_PROGRESS (in_progress, then completed or, while retrying,
// in_progress again); on_failure emits STATUS error and PIPELINE_PROGRESS
// failed.
var Emits = []struct {
	Step   string
	Events []string
}{
	{StepGetRecording, []string{parley.EventStatus}},
	{StepGetParticipants, []string{parley.EventDuration}},
	{StepProcessTracks, nil},
	{StepPadTrack, nil},
	{StepTranscribeTrack, nil},
	{StepMixdownTracks, []string{parley.EventDuration}},
	{StepGenerateWaveform, []string{parley.EventWaveform}},
	{StepDetectTopics, []string{parley.EventTopic}},
	{StepGenerateTitle, []string{parley.EventFinalTitle}},
	{StepExtractSubjects, nil},
	{StepProcessSubjects, nil},
	{StepGenerateRecap, []string{parley.EventFinalShortSummary, parley.EventFinalLongSummary}},
	{StepIdentifyActionItems, []string{parley.EventActionItems}},
	{StepFinalize, []string{parley.EventTranscript, parley.EventStatus}},
	{StepCleanupConsent, nil},
	{StepPostZulip, nil},
	{StepSendWebhook, nil},
	{StepOnFailure, []string{parley.EventStatus}},
}

// EventPayloads names the payload fields of every event (contract
// section 5).
var EventPayloads = map[string]any{
	parley.EventStatus:            parley.StatusData{},
	parley.EventDuration:          parley.DurationData{},
	parley.EventWaveform:          parley.WaveformData{},
	parley.EventTranscript:        parley.TranscriptData{},
	parley.EventTopic:             parley.TopicData{},
	parley.EventFinalTitle:        parley.FinalTitleData{},
	parley.EventFinalShortSummary: parley.FinalShortSummaryData{},
	parley.EventFinalLongSummary:  parley.FinalLongSummaryData{},
	parley.EventActionItems:       parley.ActionItemsData{},
	parley.EventPipelineProgress:  parley.PipelineProgressData{},
}

// EventDictionary renders the step -> events -> payload table.
func EventDictionary() string {
	fields := func(v any) string {
		t := reflect.TypeOf(v)
		var names []string
		for i := 0; i < t.NumField(); i++ {
			tag := strings.Split(t.Field(i).Tag.Get("json"), ",")[0]
			if tag != "" && tag != "-" {
				names = append(names, tag)
			}
		}
		return "{" + strings.Join(names, ", ") + "}"
	}
	var b strings.Builder
	b.WriteString("| step | events | payload |\n|---|---|---|\n")
	for _, e := range Emits {
		if len(e.Events) == 0 {
			fmt.Fprintf(&b, "| %s | (PIPELINE_PROGRESS only) | |\n", e.Step)
			continue
		}
		for i, ev := range e.Events {
			step := e.Step
			if i > 0 {
				step = ""
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", step, ev, fields(EventPayloads[ev]))
		}
	}
	fmt.Fprintf(&b, "| (every step) | %s | %s |\n", parley.EventPipelineProgress, fields(EventPayloads[parley.EventPipelineProgress]))
	return b.String()
}
