package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/hatchet"
	"github.com/parley-dev/parley/store"
)

// Runner is what the dispatcher needs of Hatchet (package hatchet).
type Runner interface {
	Start(ctx context.Context, workflow string, input any, meta map[string]string) (string, error)
	State(ctx context.Context, runID string) (hatchet.RunState, error)
	Replay(ctx context.Context, taskIDs ...string) error
	Cancel(ctx context.Context, runID string) error
}

// DispatchStore is what the dispatcher needs of the database (package
// store).
type DispatchStore interface {
	CreateTranscriptForRecording(ctx context.Context, n store.NewTranscript) (t *parley.Transcript, created bool, err error)
	GetTranscript(ctx context.Context, id string) (*parley.Transcript, error)
	UpdateTranscript(ctx context.Context, id string, u store.TranscriptUpdate) error
	SetStatus(ctx context.Context, id string, status parley.Status, stepErr *parley.StepError) (changed bool, err error)
	SetTracks(ctx context.Context, transcriptID string, tracks []parley.Track) error
	ListTracks(ctx context.Context, transcriptID string) ([]store.TrackState, error)
	UpsertRecording(ctx context.Context, r store.Recording) error
	// RecordingDeleted reports whether the recording's transcript was
	// deleted for good.
	RecordingDeleted(ctx context.Context, id string) (bool, error)
	// ClaimDispatch takes a lease on starting a run; ReleaseDispatch
	// gives it back.
	ClaimDispatch(ctx context.Context, id string, lease time.Duration, force bool) (bool, error)
	ReleaseDispatch(ctx context.Context, id string) error
	FailedTaskRuns(ctx context.Context, transcriptID, workflowRunID string, names []string) ([]string, error)
}

var _ DispatchStore = (*store.DB)(nil)

// Dispatcher starts, resumes and deduplicates pipeline runs. The API, the
// Daily webhook, the polling fallback and the CLI all go through it.
type Dispatcher struct {
	DB     DispatchStore
	Runner Runner
	// ParticipantID extracts the Daily participant id from a track key (""
	// when the key has none).
	ParticipantID func(key string) string
	Log           *slog.Logger
}

// ErrRecordingDeleted is the cause of Trigger's conflict for a recording
// whose transcript was deleted for good.
var ErrRecordingDeleted = errors.New("recording deleted")

// dispatchLease bounds how long a crashed dispatcher can block another.
const dispatchLease = time.Minute

// TriggerRequest describes a recording to process (POST /v1/process).
type TriggerRequest struct {
	Tracks      []parley.Track
	RecordingID string
	RoomID      string
	Name        string
	Language    string
}

// Result tells what a dispatch did.
type Result struct {
	TranscriptID  string `json:"transcript_id"`
	WorkflowRunID string `json:"workflow_run_id"`
	// Started is true when this call started (or resumed) a run, false
	// when it found one (the request was a duplicate).
	Started bool `json:"-"`
	Resumed bool `json:"-"`
}

// Trigger creates the transcript of a recording and starts its pipeline.
// It is idempotent per RecordingID: however often and however concurrently
// a recording is delivered, it gets one transcript and one run (a unique
// constraint and a dispatch lease decide, no process-local lock).
func (d *Dispatcher) Trigger(ctx context.Context, req TriggerRequest) (Result, error) {
	if len(req.Tracks) == 0 {
		return Result{}, parley.Errorf(parley.EINVALID, "tracks: at least one track is needed")
	}
	if req.RecordingID != "" {
		deleted, err := d.DB.RecordingDeleted(ctx, req.RecordingID)
		if err != nil {
			return Result{}, err
		}
		if deleted {
			return Result{}, parley.WrapError(parley.ECONFLICT, ErrRecordingDeleted,
				"recording %s: its transcript was deleted for good; it is not processed again", req.RecordingID)
		}
	}
	nt := store.NewTranscript{Name: req.Name, SourceLanguage: req.Language, Status: parley.StatusUploaded}
	if req.RoomID != "" {
		nt.RoomID = &req.RoomID
	}
	if req.RecordingID != "" {
		nt.RecordingID = &req.RecordingID
	}
	t, created, err := d.DB.CreateTranscriptForRecording(ctx, nt)
	if err != nil {
		return Result{}, err
	}
	res := Result{TranscriptID: t.ID}
	if !created && t.WorkflowRunID != nil {
		res.WorkflowRunID = *t.WorkflowRunID
		return res, nil // a duplicate delivery: the recording has its run
	}
	tracks := make([]parley.Track, len(req.Tracks))
	for i, tr := range req.Tracks {
		tracks[i] = tr
		tracks[i].Index = i
		if tr.ParticipantID == "" && d.ParticipantID != nil {
			tracks[i].ParticipantID = d.ParticipantID(tr.Key)
		}
		if tr.Name == "" {
			tracks[i].Name = parley.SpeakerFromFileName(tr.Key)
		}
	}
	if err := d.DB.SetTracks(ctx, t.ID, tracks); err != nil {
		return Result{}, err
	}
	if req.RecordingID != "" {
		keys := make([]string, len(tracks))
		bucket := ""
		for i, tr := range tracks {
			keys[i], bucket = tr.Key, tr.Bucket
		}
		if err := d.DB.UpsertRecording(ctx, store.Recording{ID: req.RecordingID, Bucket: bucket, TrackKeys: keys, TranscriptID: &t.ID}); err != nil {
			return Result{}, err
		}
	}
	r, err := d.process(ctx, t.ID, false, true)
	if parley.ErrorCode(err) == parley.ECONFLICT {
		// Another delivery of the same recording is starting the run.
		cur, gerr := d.DB.GetTranscript(ctx, t.ID)
		if gerr != nil {
			return Result{}, gerr
		}
		if cur.WorkflowRunID != nil {
			res.WorkflowRunID = *cur.WorkflowRunID
		}
		return res, nil
	}
	return r, err
}

// Process starts the pipeline of a transcript whose tracks are stored. If
// the last run failed, it resumes that run instead: the failed task and
// what follows it run again, nothing else (failed track children first).
// While a run is active it returns a conflict. force starts a new run
// whatever the state (cancelling an active one); cached ASR and LLM
// results make it cheap.
func (d *Dispatcher) Process(ctx context.Context, tid string, force bool) (Result, error) {
	return d.process(ctx, tid, force, false)
}

// process is Process; with once (a trigger), a transcript that already has
// a run keeps it, whatever its state.
func (d *Dispatcher) process(ctx context.Context, tid string, force, once bool) (Result, error) {
	t, err := d.DB.GetTranscript(ctx, tid)
	if err != nil {
		return Result{}, err
	}
	trs, err := d.DB.ListTracks(ctx, t.ID)
	if err != nil {
		return Result{}, err
	}
	if len(trs) == 0 {
		return Result{}, parley.Errorf(parley.EINVALID, "transcript %s has no tracks: upload at least one first", t.ID)
	}
	ok, err := d.DB.ClaimDispatch(ctx, t.ID, dispatchLease, true)
	if err != nil {
		return Result{}, err
	}
	if !ok {
		return Result{}, parley.Errorf(parley.ECONFLICT, "a run of transcript %s is being started", t.ID)
	}
	defer func() {
		if err := d.DB.ReleaseDispatch(context.WithoutCancel(ctx), t.ID); err != nil {
			d.Log.WarnContext(ctx, "could not release dispatch claim", "transcript_id", t.ID, "error", err)
		}
	}()
	// Read again under the claim: a concurrent dispatcher may just have
	// started a run.
	if t, err = d.DB.GetTranscript(ctx, t.ID); err != nil {
		return Result{}, err
	}
	if t.WorkflowRunID != nil && once {
		return Result{TranscriptID: t.ID, WorkflowRunID: *t.WorkflowRunID}, nil
	}
	if t.DeletedAt != nil {
		// Checked under the claim: Trash refuses while a claim is held.
		return Result{}, parley.Errorf(parley.ECONFLICT, "transcript %s is in the trash: restore it before processing it", t.ID)
	}
	if t.WorkflowRunID != nil {
		runID := *t.WorkflowRunID
		st, err := d.settledState(ctx, t, runID)
		if err != nil && parley.ErrorCode(err) != parley.EINVALID {
			return Result{}, err
		}
		switch {
		case err != nil:
			// unknown run: start a new one
		case st.Status == hatchet.RunRunning || st.Status == hatchet.RunQueued:
			if !force {
				return Result{}, parley.Errorf(parley.ECONFLICT, "transcript %s has an active run (%s)", t.ID, runID)
			}
			if err := d.Runner.Cancel(ctx, runID); err != nil {
				return Result{}, err
			}
		case st.Status == hatchet.RunFailed && !force:
			if err := d.resume(ctx, t, runID, st); err != nil {
				return Result{}, err
			}
			return Result{TranscriptID: t.ID, WorkflowRunID: runID, Started: true, Resumed: true}, nil
		}
	}
	in := Input{TranscriptID: t.ID, Language: t.SourceLanguage}
	if t.RecordingID != nil {
		in.RecordingID = *t.RecordingID
	}
	if t.RoomID != nil {
		in.RoomID = *t.RoomID
	}
	meta := map[string]string{"transcript_id": t.ID}
	if in.RecordingID != "" {
		meta["recording_id"] = in.RecordingID
	}
	if _, err := d.DB.SetStatus(ctx, t.ID, parley.StatusProcessing, nil); err != nil {
		return Result{}, err
	}
	runID, err := d.Runner.Start(ctx, WorkflowPipeline, in, meta)
	if err != nil {
		// Leave the transcript as it was so that a retry can start it.
		if _, serr := d.DB.SetStatus(context.WithoutCancel(ctx), t.ID, parley.StatusUploaded, nil); serr != nil {
			d.Log.WarnContext(ctx, "could not reset status after a failed start", "transcript_id", t.ID, "error", serr)
		}
		return Result{}, err
	}
	if err := d.DB.UpdateTranscript(ctx, t.ID, store.TranscriptUpdate{WorkflowRunID: &runID, ClearError: true}); err != nil {
		return Result{}, err
	}
	d.Log.InfoContext(ctx, "pipeline started", "transcript_id", t.ID, "workflow_run_id", runID, "forced", force)
	return Result{TranscriptID: t.ID, WorkflowRunID: runID, Started: true}, nil
}

// settledState returns a run's state. A transcript whose run failed is
// marked error by the run's on-failure task, which itself still runs for a
// moment: wait (briefly) for the run to settle instead of calling it active.
func (d *Dispatcher) settledState(ctx context.Context, t *parley.Transcript, runID string) (hatchet.RunState, error) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := d.Runner.State(ctx, runID)
		if err != nil || st.Done || t.Status != parley.StatusError || time.Now().After(deadline) {
			return st, err
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// resume replays a failed run: failed child runs' tasks first (tracks,
// topic chunks, subjects), then the failed tasks of the parent (each with
// its descendants), which re-attach to their children.
func (d *Dispatcher) resume(ctx context.Context, t *parley.Transcript, runID string, st hatchet.RunState) error {
	children, err := d.DB.FailedTaskRuns(ctx, t.ID, runID, ChildSteps)
	if err != nil {
		return err
	}
	var parents []string
	for _, ts := range st.Tasks {
		if ts.Status == hatchet.RunFailed {
			parents = append(parents, ts.ExternalID)
		}
	}
	if len(children) == 0 && len(parents) == 0 {
		return parley.Errorf(parley.ECONFLICT, "run %s failed but has no failed task to resume; process with force to start anew", runID)
	}
	if _, err := d.DB.SetStatus(ctx, t.ID, parley.StatusProcessing, nil); err != nil {
		return err
	}
	if err := d.Runner.Replay(ctx, children...); err != nil {
		return fmt.Errorf("resume child steps: %w", err)
	}
	if err := d.Runner.Replay(ctx, parents...); err != nil {
		return fmt.Errorf("resume run: %w", err)
	}
	d.Log.InfoContext(ctx, "pipeline resumed", "transcript_id", t.ID, "workflow_run_id", runID,
		"replayed_children", len(children), "replayed_steps", len(parents))
	return nil
}

// ChildSteps are the task names of every child workflow (TrackProcessing,
// TopicChunkProcessing, SubjectProcessing).
var ChildSteps = func() []string {
	var names []string
	for _, s := range StepTable {
		if s.Phase == PhaseChild {
			names = append(names, s.Name)
		}
	}
	return names
}()

// RunActive reports whether a run of the transcript is in progress: one
// is being started (status processing, no run yet), or the engine does not
// report its run as done — a run goes on for a moment after the status is
// ended (the delivery steps). A run cancelled in the dashboard, or one the
// engine does not know, is not active; when the engine cannot be asked,
// only a processing status counts as active (an error).
func (d *Dispatcher) RunActive(ctx context.Context, t *parley.Transcript) (bool, error) {
	if t.WorkflowRunID == nil {
		return t.Status == parley.StatusProcessing, nil
	}
	st, err := d.Runner.State(ctx, *t.WorkflowRunID)
	switch {
	case parley.ErrorCode(err) == parley.EINVALID:
		return false, nil
	case err != nil && t.Status == parley.StatusProcessing:
		return false, err
	case err != nil:
		d.Log.WarnContext(ctx, "could not ask the engine whether the run is over; the transcript is not processing",
			"transcript_id", t.ID, "workflow_run_id", *t.WorkflowRunID, "error", err)
		return false, nil
	}
	return !st.Done, nil
}

// DispatchLease is how long a dispatcher's claim on starting a run lasts
// (store.TrashOptions.DispatchLease).
const DispatchLease = dispatchLease
