package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/hatchet"
	"github.com/parley-dev/parley/tracks"
)

// Phase says where a step stands in a run.
type Phase string

const (
	// PhaseRun steps make the transcript; the run's progress counts them.
	PhaseRun Phase = "run"
	// PhaseChild steps run in a child workflow, once per child run (per
	// track, topic chunk or subject); they count as a share of their
	// parent step until it ends.
	PhaseChild Phase = "child"
	// PhaseAfter steps run once the transcript is complete: a failure there
	// leaves it complete (the error is recorded, the status stays ended).
	PhaseAfter Phase = "after"
	// PhaseFailure is the task that records a run's failure.
	PhaseFailure Phase = "failure"
)

// StepSpec is one step of the pipeline.
type StepSpec struct {
	// Name is the Hatchet task name (contract section 7).
	Name string
	// Label is what the page calls the step ("Detect topics").
	Label string
	// Detail is what PIPELINE_PROGRESS says while it runs ("Detecting
	// topics"); child steps add "track 2 of 3".
	Detail string
	// Workflow is the workflow the task belongs to.
	Workflow string
	// Parents are the steps of the same workflow it waits for.
	Parents []string
	// Policy is the default timeout, retries and backoff, overridden by
	// PARLEY_STEP_<NAME>_*; a step that runs a child workflow has none: its
	// policy is derived from its children's (Policies.Of).
	Policy hatchet.Policy
	// Emits are the events it stores (besides PIPELINE_PROGRESS, which
	// every step emits).
	Emits []string
	Phase Phase
	// Ends marks the step after which the transcript is complete (status
	// ended).
	Ends bool
	// Children is the child workflow the step runs (one run per track,
	// topic chunk or subject).
	Children string
	// Artifacts are what a client can fetch once the step completed:
	// "audio" (the MP3), "waveform".
	Artifacts []string
	// declare registers the task; nil for the on-failure task.
	declare declareFunc
}

// StepTable is every step of the pipeline, in the order the page lists
// them (child steps after their parent). It is the one place a step is
// declared: Define registers the tasks from it, and it gives the policies
// (LoadPolicies), the progress events (detail, step_index, percent), the
// event dictionary (pipeline/doc.go), the audit's order and the page's step
// list (GET /v1/pipeline). Adding a step is adding a row here (and its
// method).
var StepTable = []StepSpec{
	{Name: "get_recording", Label: "Fetch recording", Detail: "Fetching the recording", Workflow: WorkflowPipeline,
		Policy: pol(time.Minute, 3, 2, 30*time.Second), Emits: []string{parley.EventStatus}, Phase: PhaseRun,
		declare: task((*Steps).GetRecording)},
	{Name: "get_participants", Label: "Identify participants", Detail: "Identifying the participants", Workflow: WorkflowPipeline,
		Parents: []string{"get_recording"}, Policy: pol(time.Minute, 3, 2, 30*time.Second),
		Emits: []string{parley.EventDuration}, Phase: PhaseRun, declare: task((*Steps).GetParticipants)},
	{Name: "process_tracks", Label: "Prepare and transcribe tracks", Detail: "Transcribing the tracks", Workflow: WorkflowPipeline,
		Parents: []string{"get_participants"}, Phase: PhaseRun, Children: WorkflowTrack,
		declare: task((*Steps).ProcessTracks)},
	{Name: "pad_track", Label: "Prepare track", Detail: "Preparing", Workflow: WorkflowTrack,
		Policy: onPool(PoolCPU, pol(15*time.Minute, 3, 2, 30*time.Second)), Phase: PhaseChild, declare: trackTask((*tracks.Steps).PadTrack)},
	{Name: "transcribe_track", Label: "Transcribe track", Detail: "Transcribing", Workflow: WorkflowTrack,
		Parents: []string{"pad_track"}, Policy: pol(20*time.Minute, 3, 3, 60*time.Second), Phase: PhaseChild,
		declare: trackTask((*tracks.Steps).TranscribeTrack)},
	// The mixdown reads the original tracks only: it runs beside the
	// transcription (at a lower CPU priority than padding, see
	// mediaproc.Runner.MixdownNice), off the critical path. Its declared
	// timeout is the bound for the largest meeting; the step ends sooner by
	// the meeting's size (MixdownTimeout, Steps.mixdownDeadline).
	{Name: "mixdown_tracks", Label: "Mix down audio", Detail: "Mixing the tracks into one MP3", Workflow: WorkflowPipeline,
		Parents: []string{"get_participants"}, Policy: onPool(PoolCPU, pol(DefaultMixdownTimeout, 2, 2, 30*time.Second)),
		Emits: []string{parley.EventDuration}, Phase: PhaseRun, Artifacts: []string{"audio"},
		declare: task((*Steps).MixdownTracks)},
	{Name: "generate_waveform", Label: "Draw waveform", Detail: "Drawing the waveform", Workflow: WorkflowPipeline,
		Parents: []string{"mixdown_tracks"}, Policy: pol(5*time.Minute, 3, 2, 30*time.Second),
		Emits: []string{parley.EventWaveform}, Phase: PhaseRun, Artifacts: []string{"waveform"},
		declare: task((*Steps).GenerateWaveform)},
	{Name: "detect_topics", Label: "Detect topics", Detail: "Detecting topics", Workflow: WorkflowPipeline,
		Parents: []string{"process_tracks"}, Emits: []string{parley.EventTopic}, Phase: PhaseRun, Children: WorkflowTopicChunk,
		declare: task((*Steps).DetectTopics)},
	// One LLM call per chunk (a chunk of at most MaxChunkWords fits any
	// model's context).
	{Name: "detect_chunk_topic", Label: "Topic of a chunk", Detail: "Detecting topics", Workflow: WorkflowTopicChunk,
		Policy: pol(5*time.Minute, 5, 3, 60*time.Second), Phase: PhaseChild, declare: topicTask((*Steps).DetectChunkTopic)},
	{Name: "generate_title", Label: "Write title", Detail: "Writing the title", Workflow: WorkflowPipeline,
		Parents: []string{"detect_topics"}, Policy: pol(5*time.Minute, 3, 3, 60*time.Second),
		Emits: []string{parley.EventFinalTitle}, Phase: PhaseRun, declare: task((*Steps).GenerateTitle)},
	{Name: "extract_subjects", Label: "Find subjects", Detail: "Finding the main subjects", Workflow: WorkflowPipeline,
		Parents: []string{"detect_topics"}, Policy: pol(5*time.Minute, 3, 3, 60*time.Second), Phase: PhaseRun,
		declare: task((*Steps).ExtractSubjects)},
	{Name: "process_subjects", Label: "Summarize subjects", Detail: "Summarizing each subject", Workflow: WorkflowPipeline,
		Parents: []string{"extract_subjects"}, Phase: PhaseRun, Children: WorkflowSubject,
		declare: task((*Steps).ProcessSubjects)},
	{Name: "generate_detailed_summary", Label: "Summary of a subject", Detail: "Summarizing subject", Workflow: WorkflowSubject,
		Policy: pol(15*time.Minute, 5, 3, 60*time.Second), Phase: PhaseChild, declare: subjectTask((*Steps).GenerateDetailedSummary)},
	{Name: "generate_recap", Label: "Write summary", Detail: "Writing the summary", Workflow: WorkflowPipeline,
		Parents: []string{"process_subjects"}, Policy: pol(5*time.Minute, 3, 3, 60*time.Second),
		Emits: []string{parley.EventFinalShortSummary, parley.EventFinalLongSummary}, Phase: PhaseRun,
		declare: task((*Steps).GenerateRecap)},
	{Name: "identify_action_items", Label: "List action items", Detail: "Listing decisions and action items", Workflow: WorkflowPipeline,
		Parents: []string{"extract_subjects"}, Policy: pol(5*time.Minute, 3, 3, 60*time.Second),
		Emits: []string{parley.EventActionItems}, Phase: PhaseRun, declare: task((*Steps).IdentifyActionItems)},
	// finalize also waits for the mixdown's waveform (so deleting the
	// padded files never races the mixdown, and consent cleanup cannot miss
	// the MP3).
	{Name: "finalize", Label: "Finalize transcript", Detail: "Finalizing the transcript", Workflow: WorkflowPipeline,
		Parents: []string{"process_tracks", "generate_waveform", "generate_title", "generate_recap", "identify_action_items"},
		Policy:  pol(time.Minute, 3, 2, 30*time.Second),
		Emits:   []string{parley.EventTranscript, parley.EventStatus}, Phase: PhaseRun, Ends: true,
		declare: task((*Steps).Finalize)},
	{Name: "cleanup_consent", Label: "Apply consent", Detail: "Applying consent", Workflow: WorkflowPipeline,
		Parents: []string{"finalize"}, Policy: pol(2*time.Minute, 5, 2, 60*time.Second), Phase: PhaseAfter,
		declare: task((*Steps).CleanupConsent)},
	{Name: "post_zulip", Label: "Post to Zulip", Detail: "Posting to Zulip", Workflow: WorkflowPipeline,
		Parents: []string{"cleanup_consent"}, Policy: pol(time.Minute, 5, 2, 60*time.Second), Phase: PhaseAfter,
		declare: task((*Steps).PostZulip)},
	{Name: "send_webhook", Label: "Send webhook", Detail: "Sending the webhook", Workflow: WorkflowPipeline,
		Parents: []string{"cleanup_consent"}, Policy: pol(time.Minute, 6, 3, 5*time.Minute), Phase: PhaseAfter,
		declare: task((*Steps).SendWebhook)},
	// send_email retries temporary SMTP failures (greylisting asks for a
	// few minutes) with backoff up to 10 min; 5xx answers are not retried.
	{Name: "send_email", Label: "Send email", Detail: "Emailing the transcript", Workflow: WorkflowPipeline,
		Parents: []string{"cleanup_consent"}, Policy: pol(5*time.Minute, 5, 4, 10*time.Minute), Phase: PhaseAfter,
		declare: task((*Steps).SendEmail)},
	{Name: hatchet.OnFailureTask, Label: "Record failure", Detail: "Recording the failure", Workflow: WorkflowPipeline,
		Policy: pol(2*time.Minute, 3, 2, 30*time.Second), Emits: []string{parley.EventStatus}, Phase: PhaseFailure},
}

func pol(timeout time.Duration, retries int, backoff float64, backoffMax time.Duration) hatchet.Policy {
	return hatchet.Policy{Timeout: timeout, Retries: retries, BackoffFactor: backoff, BackoffMax: backoffMax}
}

// onPool makes p prefer the workers of pool (soft: any worker runs the step
// when none of them can).
func onPool(pool string, p hatchet.Policy) hatchet.Policy {
	p.Pool = pool
	return p
}

// Workflows are the declared workflows, ready for a worker.
type Workflows struct {
	Pipeline   *hatchet.Workflow
	Track      *hatchet.Workflow
	TopicChunk *hatchet.Workflow
	Subject    *hatchet.Workflow
	// Alias is diarizationpipeline (WorkflowPipelineAlias).
	Alias *hatchet.Workflow
}

// All returns the workflows of the step table (the alias is not one of
// them: the worker registers it next to these).
func (w Workflows) All() []*hatchet.Workflow {
	return []*hatchet.Workflow{w.Pipeline, w.Track, w.TopicChunk, w.Subject}
}

// declareFunc registers one step as a task of wf.
type declareFunc func(wf *hatchet.Workflow, d stepDeps, name string, p hatchet.Policy, parents []*hatchet.TaskRef) *hatchet.TaskRef

// stepDeps are the step structs whose methods the tasks run.
type stepDeps struct {
	s  *Steps
	ts *tracks.Steps
}

// task declares a DiarizationPipeline step, a method of Steps.
func task[O any](fn func(*Steps, context.Context, Input) (O, error)) declareFunc {
	return func(wf *hatchet.Workflow, d stepDeps, name string, p hatchet.Policy, parents []*hatchet.TaskRef) *hatchet.TaskRef {
		return hatchet.Task(wf, name, p, func(ctx context.Context, in Input) (O, error) { return fn(d.s, ctx, in) }, parents...)
	}
}

// topicTask declares TopicChunkProcessing's step, a method of Steps.
func topicTask[O any](fn func(*Steps, context.Context, TopicChunkInput) (O, error)) declareFunc {
	return func(wf *hatchet.Workflow, d stepDeps, name string, p hatchet.Policy, parents []*hatchet.TaskRef) *hatchet.TaskRef {
		return hatchet.Task(wf, name, p, func(ctx context.Context, in TopicChunkInput) (O, error) { return fn(d.s, ctx, in) }, parents...)
	}
}

// subjectTask declares SubjectProcessing's step, a method of Steps.
func subjectTask[O any](fn func(*Steps, context.Context, SubjectInput) (O, error)) declareFunc {
	return func(wf *hatchet.Workflow, d stepDeps, name string, p hatchet.Policy, parents []*hatchet.TaskRef) *hatchet.TaskRef {
		return hatchet.Task(wf, name, p, func(ctx context.Context, in SubjectInput) (O, error) { return fn(d.s, ctx, in) }, parents...)
	}
}

// trackTask declares a TrackProcessing step, a method of tracks.Steps.
func trackTask[O any](fn func(*tracks.Steps, context.Context, tracks.Input) (O, error)) declareFunc {
	return func(wf *hatchet.Workflow, d stepDeps, name string, p hatchet.Policy, parents []*hatchet.TaskRef) *hatchet.TaskRef {
		return hatchet.Task(wf, name, p, func(ctx context.Context, in tracks.Input) (O, error) { return fn(d.ts, ctx, in) }, parents...)
	}
}

// Define declares DiarizationPipeline and its child workflows
// (TrackProcessing, TopicChunkProcessing, SubjectProcessing), all from the
// StepTable. The DAG it declares:
//
//	get_recording -> get_participants -> process_tracks  [TrackProcessing x N: pad_track -> transcribe_track]
//	                 get_participants -> mixdown_tracks -> generate_waveform
//	process_tracks -> detect_topics  [TopicChunkProcessing x chunks: detect_chunk_topic]
//	                  detect_topics -> generate_title
//	                  detect_topics -> extract_subjects -> process_subjects  [SubjectProcessing x subjects: generate_detailed_summary]
//	                                   process_subjects -> generate_recap
//	                                   extract_subjects -> identify_action_items
//	finalize  <- process_tracks, generate_waveform, generate_title, generate_recap, identify_action_items
//	finalize -> cleanup_consent -> post_zulip
//	            cleanup_consent -> send_webhook
//	            cleanup_consent -> send_email
//	on failure (after retries): on_failure
//
// (TestDefineDeclaresTheStepTable checks this picture against the table.)
// Unlike the reference, finalize also waits for the mixdown and
// process_tracks' timeout covers its children's.
//
// At most maxRuns pipelines run at once (the rest queue, round robin), so
// that parents waiting for their children never hold every worker slot.
// The LLM children take units of the rate limit LLMRateLimit
// (s.Settings.LLMRate per second, which the worker creates in the engine)
// and at most s.Settings.LLMConcurrency of one transcript run at once.
func Define(c *hatchet.Client, s *Steps, ts *tracks.Steps, p Policies, maxRuns int) Workflows {
	obs := newObserver(s)
	llmConc := cmp.Or(s.Settings.LLMConcurrency, DefaultLLMConcurrency)
	rate := hatchet.RateLimit{Name: LLMRateLimit, Limit: cmp.Or(s.Settings.LLMRate, DefaultLLMRate)}
	wfs := Workflows{
		Pipeline: c.NewWorkflow(WorkflowPipeline,
			"Multitrack recording -> speaker-attributed transcript, topics, title, summaries, action items.", obs,
			hatchet.WithMaxRuns(maxRuns)...),
		Track: c.NewWorkflow(WorkflowTrack, "One participant's track: put it on meeting time, then transcribe it.", obs),
		TopicChunk: c.NewWorkflow(WorkflowTopicChunk, "One chunk of a transcript's words: its topic's title and summary.", obs,
			hatchet.WithConcurrencyKey("input.transcript_id", llmConc)...),
		Subject: c.NewWorkflow(WorkflowSubject, "One subject of a meeting: its detailed and its paragraph summary.", obs,
			hatchet.WithConcurrencyKey("input.transcript_id", llmConc)...),
	}
	wfs.TopicChunk.UseRateLimit(rate, TopicChunkUnits)
	wfs.Subject.UseRateLimit(rate, SubjectUnits)
	byName := map[string]*hatchet.Workflow{WorkflowPipeline: wfs.Pipeline, WorkflowTrack: wfs.Track,
		WorkflowTopicChunk: wfs.TopicChunk, WorkflowSubject: wfs.Subject}
	d := stepDeps{s: s, ts: ts}
	refs := map[string]*hatchet.TaskRef{}
	for _, spec := range StepTable {
		wf := byName[spec.Workflow]
		if spec.Phase == PhaseFailure {
			hatchet.OnFailure(wf, p.Of(spec.Name), s.OnFailure)
			continue
		}
		parents := make([]*hatchet.TaskRef, len(spec.Parents))
		for i, name := range spec.Parents {
			parents[i] = refs[name]
		}
		refs[spec.Name] = spec.declare(wf, d, spec.Name, p.Of(spec.Name), parents)
	}
	if s.Tracks == nil {
		s.Tracks = trackRunner{wf: wfs.Track, last: lastStepOf(WorkflowTrack)}
	}
	if s.Fanout == nil {
		s.Fanout = fanoutRunner{topics: wfs.TopicChunk, subjects: wfs.Subject}
	}
	wfs.Alias = c.NewAlias(WorkflowPipelineAlias, wfs.Pipeline, aliasTimeout)
	return wfs
}

// aliasTimeout bounds an alias run's wait for its DiarizationPipeline run
// (whose tasks have their own, shorter timeouts).
const aliasTimeout = 24 * time.Hour

// trackRunner spawns one TrackProcessing child per track, keyed by track
// index so that a retried or replayed parent re-attaches to them. last is
// the child's last step, whose output is the child's result.
type trackRunner struct {
	wf   *hatchet.Workflow
	last string
}

func (r trackRunner) RunTracks(ctx context.Context, inputs []tracks.Input) ([]tracks.Output, error) {
	// The parent keeps its worker slot while it waits. Hatchet can release
	// it (ReleaseSlot), but a released task is no longer tied to its
	// worker, so it would not be re-assigned if that worker crashed; slot
	// starvation is prevented by DiarizationPipeline's run concurrency
	// limit instead (see Define).
	return runChildren[tracks.Output](ctx, r.wf, r.last, inputs, func(in tracks.Input) (string, string, map[string]string) {
		return fmt.Sprintf("track-%d", in.TrackIndex), fmt.Sprintf("track %d", in.TrackIndex), map[string]string{
			"transcript_id": in.TranscriptID,
			"track":         fmt.Sprintf("%d of %d", in.TrackIndex+1, in.NumTracks),
		}
	})
}

// fanoutRunner spawns the LLM fan-out's children: one TopicChunkProcessing
// per chunk, one SubjectProcessing per subject, each keyed by its index and
// content (childKey) so that a retried or replayed parent re-attaches to
// them.
type fanoutRunner struct {
	topics, subjects *hatchet.Workflow
}

func (r fanoutRunner) RunTopicChunks(ctx context.Context, inputs []TopicChunkInput) ([]TopicChunkOutput, error) {
	return runChildren[TopicChunkOutput](ctx, r.topics, lastStepOf(WorkflowTopicChunk), inputs,
		func(in TopicChunkInput) (string, string, map[string]string) {
			return in.key, "", map[string]string{
				"transcript_id": in.TranscriptID,
				"chunk":         fmt.Sprintf("%d of %d", in.ChunkIndex+1, in.NumChunks),
				"words":         fmt.Sprintf("%d-%d", in.WordFrom, in.WordTo),
			}
		})
}

func (r fanoutRunner) RunSubjects(ctx context.Context, inputs []SubjectInput) ([]SubjectOutput, error) {
	return runChildren[SubjectOutput](ctx, r.subjects, lastStepOf(WorkflowSubject), inputs,
		func(in SubjectInput) (string, string, map[string]string) {
			return in.key, "", map[string]string{
				"transcript_id": in.TranscriptID,
				"subject":       fmt.Sprintf("%d of %d", in.SubjectIndex+1, in.NumSubjects),
			}
		})
}

// runChildren runs one child of wf per input, all at once (the child
// workflow's concurrency and rate limits queue them), and waits for every
// one: a failed child does not stop the others. name gives a child's run
// key, what its errors start with ("" when the child's own error names
// it) and its run metadata. The outputs (of the
// child's task last) are in the order of the inputs.
func runChildren[O, I any](ctx context.Context, wf *hatchet.Workflow, last string, inputs []I,
	name func(I) (key, label string, meta map[string]string)) ([]O, error) {
	outs := make([]O, len(inputs))
	errs := make([]error, len(inputs))
	var wg sync.WaitGroup
	for i, in := range inputs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key, label, meta := name(in)
			outs[i], errs[i] = hatchet.RunChild[O](ctx, wf, last, key, in, meta)
			if errs[i] != nil && label != "" {
				errs[i] = fmt.Errorf("%s: %w", label, errs[i])
			}
		}()
	}
	wg.Wait()
	return outs, errors.Join(errs...)
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

// EventDictionary renders the step -> events -> payload table (in
// pipeline/doc.go; TestEventDictionary keeps the two equal). Every attempt
// of every step also emits PIPELINE_PROGRESS (in_progress, then completed
// or, while retrying, in_progress again); on_failure emits STATUS error and
// PIPELINE_PROGRESS failed.
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
	for _, e := range StepTable {
		if len(e.Emits) == 0 {
			fmt.Fprintf(&b, "| %s | (PIPELINE_PROGRESS only) | |\n", e.Name)
			continue
		}
		for i, ev := range e.Emits {
			step := e.Name
			if i > 0 {
				step = ""
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", step, ev, fields(EventPayloads[ev]))
		}
	}
	fmt.Fprintf(&b, "| (every step) | %s | %s |\n", parley.EventPipelineProgress, fields(EventPayloads[parley.EventPipelineProgress]))
	return b.String()
}
