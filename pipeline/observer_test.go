package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/hatchet"
	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/tracks"
)

// Fast tier: the audit and PIPELINE_PROGRESS that every attempt produces,
// the failure handler, and the dispatcher, over fakes.

func attempt(task string, n int) hatchet.Attempt {
	return hatchet.Attempt{Workflow: WorkflowPipeline, Task: task, WorkflowRunID: "run1", TaskRunID: "task-" + task,
		Number: n, MaxAttempts: 4, StartedAt: time.Unix(0, 0)}
}

func progressOf(t *testing.T, db *memStore) []parley.PipelineProgressData {
	t.Helper()
	var out []parley.PipelineProgressData
	for _, e := range db.events {
		if d, ok := e.Data.(parley.PipelineProgressData); ok {
			out = append(out, d)
		}
	}
	return out
}

func TestObserverRecordsAttemptsAndProgress(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newMemStore(tid)
	db.t.Status = parley.StatusProcessing
	db.completed = map[string]int{"get_recording": 1, "get_participants": 1}
	o := newObserver(newSteps(t, db))
	in := Input{TranscriptID: tid}

	require.NoError(t, o.Started(ctx, attempt("detect_topics", 2), in))
	require.Equal(t, "detect_topics", db.attempts[0].Name)
	o.Finished(ctx, attempt("detect_topics", 2), in, nil, parley.Usage{}, parley.Errorf(parley.ETRANSIENT, "HTTP 503"), true)
	o.Finished(ctx, attempt("detect_topics", 3), in, nil, parley.Usage{}, nil, false) // an attempt never started
	require.Equal(t, []string{store.AttemptRetrying}, db.finished)

	ps := progressOf(t, db)
	require.Len(t, ps, 3)
	require.Equal(t, parley.PipelineProgressData{WorkflowRunID: "run1", CurrentStep: "detect_topics", StepIndex: 6, TotalSteps: 16,
		StepStatus: parley.StepInProgress, Percent: 12.5, Detail: "Detecting topics (attempt 2 of 4)", Attempt: 2}, ps[0])
	require.Equal(t, parley.StepInProgress, ps[1].StepStatus, "a retried failure stays in progress")
	require.Equal(t, "Detecting topics: attempt 2 failed (HTTP 503); retrying", ps[1].Detail)
	require.Equal(t, parley.StepCompleted, ps[2].StepStatus)
	require.Equal(t, parley.StatusProcessing, db.t.Status, "never flaps to error")
}

func TestObserverTrackAttempts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newMemStore(tid)
	db.tracks = []store.TrackState{{Track: parley.Track{Index: 0}}, {Track: parley.Track{Index: 1}}}
	db.completed = map[string]int{"pad_track": 2, "transcribe_track": 1}
	o := newObserver(newSteps(t, db))
	a := hatchet.Attempt{Workflow: WorkflowTrack, Task: "transcribe_track", WorkflowRunID: "child", ParentRunID: "run1", TaskRunID: "t", Number: 1}
	in := tracks.Input{TranscriptID: tid, TrackIndex: 1, NumTracks: 2, PipelineRunID: "run1"}
	require.NoError(t, o.Started(ctx, a, in))
	require.Equal(t, "run1", db.attempts[0].WorkflowRunID, "a child's attempt belongs to the pipeline run")
	require.Equal(t, 1, *db.attempts[0].TrackIndex)
	p := progressOf(t, db)[0]
	require.Equal(t, 3, p.StepIndex)
	require.Equal(t, 1, *p.TrackIndex)
	require.Equal(t, "Transcribing track 2 of 2", p.Detail)
	// 3 of the 4 track steps done: three quarters of process_tracks, one
	// of 16 steps (4.6875 %, one decimal).
	require.InDelta(t, 4.7, p.Percent, 1e-9)
}

func TestObserverResumesOnlyTheFailedStep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tt := range []struct {
		task string
		want parley.Status
	}{
		{"generate_waveform", parley.StatusError}, // a parallel branch finishing its work
		{"detect_topics", parley.StatusProcessing},
		{"cleanup_consent", parley.StatusError},
	} {
		db := newMemStore(tid)
		db.t.Status = parley.StatusError
		db.t.Error = &parley.StepError{Step: "detect_topics", Message: "HTTP 400"}
		require.NoError(t, newObserver(newSteps(t, db)).Started(ctx, attempt(tt.task, 1), Input{TranscriptID: tid}))
		require.Equal(t, tt.want, db.t.Status, tt.task)
	}
}

func TestOnFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("OKRunStep", func(t *testing.T) {
		t.Parallel()
		db := newMemStore(tid)
		db.t.Status = parley.StatusProcessing
		db.failed = []parley.StepRecord{{Name: "detect_topics", Error: "HTTP 400"}}
		require.NoError(t, newSteps(t, db).OnFailure(ctx, Input{TranscriptID: tid}, nil))
		require.Equal(t, parley.StatusError, db.t.Status)
		require.Equal(t, &parley.StepError{Step: "detect_topics", Message: "HTTP 400"}, db.t.Error)
		p := progressOf(t, db)
		require.Len(t, p, 1)
		require.Equal(t, parley.StepFailed, p[0].StepStatus)
		require.Equal(t, "Failed at detect_topics: HTTP 400", p[0].Detail)
	})
	t.Run("OKAfterTheTranscriptKeepsItEnded", func(t *testing.T) {
		t.Parallel()
		db := newMemStore(tid)
		db.t.Status = parley.StatusEnded
		require.NoError(t, newSteps(t, db).OnFailure(ctx, Input{TranscriptID: tid}, map[string]string{"send_webhook": "HTTP 500"}))
		require.Equal(t, parley.StatusEnded, db.t.Status)
		require.Equal(t, &parley.StepError{Step: "send_webhook", Message: "HTTP 500"}, db.stepErr)
	})
	t.Run("OKUnknown", func(t *testing.T) {
		t.Parallel()
		db := newMemStore(tid)
		require.NoError(t, newSteps(t, db).OnFailure(ctx, Input{TranscriptID: tid}, nil))
		require.Equal(t, "unknown", db.t.Error.Step)
	})
}

// fakeRunner is the engine as the dispatcher sees it.
type fakeRunner struct {
	started  []string
	state    hatchet.RunState
	stateErr error
	startErr error
	replayed [][]string
}

func (f *fakeRunner) Start(_ context.Context, workflow string, _ any, _ map[string]string) (string, error) {
	if f.startErr != nil {
		return "", f.startErr
	}
	f.started = append(f.started, workflow)
	return "run-new", nil
}

func (f *fakeRunner) State(context.Context, string) (hatchet.RunState, error) {
	return f.state, f.stateErr
}

func (f *fakeRunner) Replay(_ context.Context, ids ...string) error {
	f.replayed = append(f.replayed, ids)
	return nil
}

func (f *fakeRunner) Cancel(context.Context, string) error { return nil }

// dispatchStore adds the dispatcher's methods to memStore.
type dispatchStore struct {
	*memStore
	claimed bool
	failed  []string
}

func (d *dispatchStore) CreateTranscriptForRecording(context.Context, store.NewTranscript) (*parley.Transcript, bool, error) {
	t := d.t
	return &t, d.t.WorkflowRunID == nil, nil
}

func (d *dispatchStore) SetTracks(_ context.Context, _ string, trs []parley.Track) error {
	for _, tr := range trs {
		d.tracks = append(d.tracks, store.TrackState{Track: tr})
	}
	return nil
}

func (d *dispatchStore) ClaimDispatch(context.Context, string, time.Duration, bool) (bool, error) {
	if d.claimed {
		return false, nil
	}
	d.claimed = true
	return true, nil
}

func (d *dispatchStore) RecordingDeleted(context.Context, string) (bool, error) { return false, nil }

func (d *dispatchStore) ReleaseDispatch(context.Context, string) error {
	d.claimed = false
	return nil
}

func (d *dispatchStore) FailedTaskRuns(context.Context, string, string, []string) ([]string, error) {
	return d.failed, nil
}

func (d *dispatchStore) UpdateTranscript(ctx context.Context, id string, u store.TranscriptUpdate) error {
	if u.WorkflowRunID != nil {
		d.t.WorkflowRunID = u.WorkflowRunID
	}
	return d.memStore.UpdateTranscript(ctx, id, u)
}

func newDispatcher(t *testing.T) (*Dispatcher, *dispatchStore, *fakeRunner) {
	t.Helper()
	db := &dispatchStore{memStore: newMemStore(tid)}
	r := &fakeRunner{}
	return &Dispatcher{DB: db, Runner: r, Log: newSteps(t, db.memStore).Log}, db, r
}

func TestDispatcher(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("ErrNoTracks", func(t *testing.T) {
		t.Parallel()
		d, _, _ := newDispatcher(t)
		_, err := d.Trigger(ctx, TriggerRequest{})
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
		_, err = d.Process(ctx, tid, false)
		require.ErrorContains(t, err, "has no tracks")
	})
	t.Run("OKTriggerStartsOnceNamesSpeakers", func(t *testing.T) {
		t.Parallel()
		d, db, r := newDispatcher(t)
		res, err := d.Trigger(ctx, TriggerRequest{Tracks: []parley.Track{{Key: "x/alice.webm"}}, RecordingID: "rec1"})
		require.NoError(t, err)
		require.Equal(t, Result{TranscriptID: tid, WorkflowRunID: "run-new", Started: true}, res)
		require.Equal(t, "Alice", db.tracks[0].Name)
		require.Equal(t, parley.StatusProcessing, db.t.Status)
		again, err := d.Trigger(ctx, TriggerRequest{Tracks: []parley.Track{{Key: "x/alice.webm"}}, RecordingID: "rec1"})
		require.NoError(t, err)
		require.Equal(t, Result{TranscriptID: tid, WorkflowRunID: "run-new"}, again, "a duplicate delivery finds the run")
		require.Equal(t, []string{WorkflowPipeline}, r.started)
	})
	t.Run("ErrActiveRun", func(t *testing.T) {
		t.Parallel()
		d, db, r := newDispatcher(t)
		db.tracks = []store.TrackState{{}}
		run := "run-old"
		db.t.WorkflowRunID = &run
		r.state = hatchet.RunState{Status: hatchet.RunRunning}
		_, err := d.Process(ctx, tid, false)
		require.Equal(t, parley.ECONFLICT, parley.ErrorCode(err))
		require.False(t, db.claimed, "the claim is released")
	})
	t.Run("OKResumeFailedRun", func(t *testing.T) {
		t.Parallel()
		d, db, r := newDispatcher(t)
		db.tracks = []store.TrackState{{}}
		run := "run-old"
		db.t.WorkflowRunID = &run
		db.failed = []string{"child-task"}
		r.state = hatchet.RunState{Status: hatchet.RunFailed, Done: true, Tasks: map[string]hatchet.TaskState{"detect_topics": {ExternalID: "parent-task", Status: hatchet.RunFailed}}}
		res, err := d.Process(ctx, tid, false)
		require.NoError(t, err)
		require.True(t, res.Resumed)
		require.Equal(t, [][]string{{"child-task"}, {"parent-task"}}, r.replayed, "failed children first")
		require.Empty(t, r.started)
	})
	t.Run("ErrStartLeavesItUploaded", func(t *testing.T) {
		t.Parallel()
		d, db, r := newDispatcher(t)
		db.tracks = []store.TrackState{{}}
		r.startErr = parley.Errorf(parley.ETRANSIENT, "engine down")
		_, err := d.Process(ctx, tid, false)
		require.Equal(t, parley.ETRANSIENT, parley.ErrorCode(err))
		require.Equal(t, parley.StatusUploaded, db.t.Status)
	})
}

func TestFirstFailure(t *testing.T) {
	t.Parallel()
	rec := func(names ...string) []parley.StepRecord {
		var rs []parley.StepRecord
		for _, n := range names {
			rs = append(rs, parley.StepRecord{Name: n, Error: n + " failed"})
		}
		return rs
	}
	for _, tt := range []struct {
		name     string
		attempts []parley.StepRecord
		want     string
	}{
		{"None", nil, ""},
		{"One", rec("detect_topics"), "detect_topics"},
		{"TrackBeforeMixdown", rec("pad_track", "mixdown_tracks"), "pad_track"},
		{"MixdownFirstInTime", rec("mixdown_tracks", "pad_track", "process_tracks"), "pad_track"},
		{"ChildRatherThanParent", rec("process_tracks", "transcribe_track"), "transcribe_track"},
		{"ParentAlone", rec("process_tracks"), "process_tracks"},
		{"ParentBeforeAnUnknownStep", rec("someday_step", "process_tracks"), "process_tracks"},
		{"MixdownAlone", rec("mixdown_tracks", "send_webhook"), "mixdown_tracks"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := firstFailure(tt.attempts)
			require.Equal(t, tt.want != "", ok)
			require.Equal(t, tt.want, got.Name)
		})
	}
}
