package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/hatchet"
)

// fakeRuns is the engine as FailedRunFinder reads it: listed runs, their
// states, and the child runs of tasks.
type fakeRuns struct {
	mu       sync.Mutex
	runs     []hatchet.RunSummary
	states   map[string]hatchet.RunState
	children map[string][]hatchet.RunSummary // by parent task external id
	listed   []time.Time                     // the since of every ListRuns
}

func newFakeRuns() *fakeRuns {
	return &fakeRuns{states: map[string]hatchet.RunState{}, children: map[string][]hatchet.RunSummary{}}
}

func (f *fakeRuns) ListRuns(_ context.Context, workflow string, since time.Time, statuses ...string) ([]hatchet.RunSummary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listed = append(f.listed, since)
	if workflow != WorkflowPipeline {
		return nil, fmt.Errorf("listed workflow %s", workflow)
	}
	var out []hatchet.RunSummary
	for _, r := range f.runs {
		if r.CreatedAt.Before(since) || (len(statuses) > 0 && !contains(statuses, r.Status)) {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (f *fakeRuns) ChildRuns(_ context.Context, taskID string, _ time.Time) ([]hatchet.RunSummary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.children[taskID], nil
}

func (f *fakeRuns) State(_ context.Context, runID string) (hatchet.RunState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.states[runID]
	if !ok {
		return hatchet.RunState{}, parley.Errorf(parley.ENOTFOUND, "no run %s", runID)
	}
	return st, nil
}

func (f *fakeRuns) RunURL(runID string) string { return "http://hatchet.test/tenants/t1/runs/" + runID }

// add records a run that ended with status at finished, failing at the
// named pipeline step (get_recording, detect_topics) or passing all.
func (f *fakeRuns) add(id, tid, status, failAt string, created, finished time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs = append(f.runs, hatchet.RunSummary{ID: id, Status: status, CreatedAt: created, FinishedAt: finished,
		Metadata: map[string]string{"transcript_id": tid}})
	f.states[id] = pipelineState(failAt, tid)
}

// pipelineState is a run whose steps before failAt (in table order) passed,
// failAt failed and the rest never ran; on_failure ran. failAt "" passes
// every step.
func pipelineState(failAt, tid string) hatchet.RunState {
	st := hatchet.RunState{Status: hatchet.RunCompleted, Done: true, Tasks: map[string]hatchet.TaskState{},
		Input: map[string]any{"transcript_id": tid, "language": "en"}}
	for _, spec := range StepTable {
		if spec.Workflow != WorkflowPipeline || spec.Phase == PhaseFailure {
			continue
		}
		if spec.Name == failAt {
			st.Status = hatchet.RunFailed
			st.Tasks[spec.Name] = hatchet.TaskState{ExternalID: "task-" + spec.Name, Status: hatchet.RunFailed,
				Error: spec.Name + ": HTTP 400: bad request"}
			break
		}
		st.Tasks[spec.Name] = hatchet.TaskState{ExternalID: "task-" + spec.Name, Status: hatchet.RunCompleted}
	}
	if failAt != "" {
		st.Tasks[hatchet.OnFailureTask] = hatchet.TaskState{ExternalID: "task-on-failure", Status: hatchet.RunCompleted}
	}
	return st
}

// fakeReports is the failed_run_reports table, with its claim rules.
type fakeReports struct {
	mu       sync.Mutex
	now      func() time.Time
	claims   map[string]fakeClaim
	failNext map[string]error // by method
}

type fakeClaim struct {
	claimant string
	at       time.Time
	reported *time.Time
	msgID    int64
}

func newFakeReports(now func() time.Time) *fakeReports {
	return &fakeReports{now: now, claims: map[string]fakeClaim{}, failNext: map[string]error{}}
}

func (f *fakeReports) fail(method string) error {
	err := f.failNext[method]
	delete(f.failNext, method)
	return err
}

func (f *fakeReports) ReportedRuns(_ context.Context, ids []string) (map[string]time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]time.Time{}
	for _, id := range ids {
		if c, ok := f.claims[id]; ok && c.reported != nil {
			out[id] = *c.reported
		}
	}
	return out, f.fail("ReportedRuns")
}

func (f *fakeReports) ClaimRunReports(_ context.Context, ids []string, claimant string, lease time.Duration) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []string{}
	for _, id := range ids {
		c, ok := f.claims[id]
		if ok && (c.reported != nil || (c.claimant != claimant && !c.at.Before(f.now().Add(-lease)))) {
			continue
		}
		f.claims[id] = fakeClaim{claimant: claimant, at: f.now()}
		out = append(out, id)
	}
	return out, nil
}

func (f *fakeReports) RunsReported(_ context.Context, ids []string, claimant string, msgID int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail("RunsReported"); err != nil {
		return err
	}
	for _, id := range ids {
		if c, ok := f.claims[id]; ok && c.claimant == claimant && c.reported == nil {
			at := f.now()
			c.reported, c.msgID = &at, msgID
			f.claims[id] = c
		}
	}
	return nil
}

func (f *fakeReports) ReleaseRunReports(_ context.Context, ids []string, claimant string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		if c, ok := f.claims[id]; ok && c.claimant == claimant && c.reported == nil {
			delete(f.claims, id)
		}
	}
	return nil
}

// fakeZulip keeps the posted messages.
type fakeZulip struct {
	mu       sync.Mutex
	posts    []string
	failNext int
}

func (z *fakeZulip) Post(_ context.Context, stream, topic, content string) (int64, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.failNext > 0 {
		z.failNext--
		return 0, parley.Errorf(parley.ETRANSIENT, "zulip POST /api/v1/messages: HTTP 503: unavailable")
	}
	if stream != "ops" || topic != "failed runs" {
		return 0, fmt.Errorf("posted to %s > %s", stream, topic)
	}
	z.posts = append(z.posts, content)
	return int64(len(z.posts)), nil
}

func (z *fakeZulip) messages() []string {
	z.mu.Lock()
	defer z.mu.Unlock()
	return append([]string(nil), z.posts...)
}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var t0 = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

type monitorBundle struct {
	runs    *fakeRuns
	reports *fakeReports
	zulip   *fakeZulip
	clock   *clock
	m       *FailedRunsMonitor
}

func newMonitor() *monitorBundle {
	b := &monitorBundle{runs: newFakeRuns(), zulip: &fakeZulip{}, clock: &clock{t: t0}}
	b.reports = newFakeReports(b.clock.Now)
	b.m = &FailedRunsMonitor{
		Finder:  &FailedRunFinder{Runs: b.runs, UIBaseURL: "https://parley.test"},
		Reports: b.reports, Zulip: b.zulip, Stream: "ops", Window: time.Hour, Now: b.clock.Now,
		Log: slog.New(slog.DiscardHandler),
	}
	return b
}

func (b *monitorBundle) tick(t *testing.T) MonitorOutput {
	t.Helper()
	out, err := b.m.Report(context.Background(), MonitorInput{})
	require.NoError(t, err)
	return out
}

// named returns which of ids a message names (by run id).
func named(msg string, ids ...string) []string {
	var out []string
	for _, id := range ids {
		if strings.Contains(msg, "runs/"+id+")") {
			out = append(out, id)
		}
	}
	return out
}

func TestFailedRunsMonitorReportsEachRunOnce(t *testing.T) {
	t.Parallel()
	b := newMonitor()
	require.Equal(t, MonitorOutput{Reported: []string{}}, b.tick(t), "nothing failed: nothing posted")
	require.Empty(t, b.zulip.messages())

	b.runs.add("run-a", "tr-a", hatchet.RunFailed, "get_recording", t0.Add(-10*time.Minute), t0.Add(-9*time.Minute))
	b.runs.add("run-good", "tr-good", hatchet.RunCompleted, "", t0.Add(-20*time.Minute), t0.Add(-5*time.Minute))
	b.runs.add("run-b", "tr-b", hatchet.RunFailed, "detect_topics", t0.Add(-30*time.Minute), t0.Add(-2*time.Minute))
	b.clock.Add(time.Minute)
	out := b.tick(t)
	require.Equal(t, []string{"run-a", "run-b"}, out.Reported, "oldest failure first")
	require.Equal(t, 2, out.Failed)
	msgs := b.zulip.messages()
	require.Len(t, msgs, 1, "one message for both")
	require.Equal(t, []string{"run-a", "run-b"}, named(msgs[0], "run-a", "run-b", "run-good"))
	require.Contains(t, msgs[0], "**Parley: 2 failed pipeline runs**")
	require.Contains(t, msgs[0], "[transcript](https://parley.test/transcripts/tr-a)")
	require.Contains(t, msgs[0], "✗ get_recording: get_recording: HTTP 400: bad request\n– get_participants\n")
	require.Contains(t, msgs[0], "failed at `detect_topics`")

	b.clock.Add(time.Hour)
	out = b.tick(t)
	require.Empty(t, out.Reported, "a second tick reports nothing new")
	require.Equal(t, 2, out.Failed, "it still sees both in its window")
	require.Len(t, b.zulip.messages(), 1)

	b.runs.add("run-c", "tr-c", hatchet.RunFailed, "generate_title", t0.Add(-3*time.Hour), b.clock.Now().Add(-time.Minute))
	out = b.tick(t)
	require.Equal(t, []string{"run-c"}, out.Reported, "a run created long ago that failed now is reported")
	msgs = b.zulip.messages()
	require.Len(t, msgs, 2)
	require.Equal(t, []string{"run-c"}, named(msgs[1], "run-a", "run-b", "run-c"))
	require.Contains(t, msgs[1], "**Parley: 1 failed pipeline run**")

	b.clock.Add(3 * time.Hour)
	require.Equal(t, MonitorOutput{Reported: []string{}}, b.tick(t), "runs that failed before the window are not looked at")
}

func TestFailedRunsMonitorReleasesClaimsWhenThePostFails(t *testing.T) {
	t.Parallel()
	b := newMonitor()
	b.runs.add("run-a", "tr-a", hatchet.RunFailed, "get_recording", t0.Add(-10*time.Minute), t0.Add(-9*time.Minute))
	b.zulip.failNext = 1
	_, err := b.m.Report(context.Background(), MonitorInput{})
	require.ErrorContains(t, err, "HTTP 503")
	require.True(t, parley.IsRetryable(err), "Hatchet retries the tick")
	require.Empty(t, b.zulip.messages())
	out := b.tick(t)
	require.Equal(t, []string{"run-a"}, out.Reported, "the next attempt reports the run at once")
	require.Len(t, b.zulip.messages(), 1)
}

func TestFailedRunsMonitorUnrecordedPostWaitsForTheLease(t *testing.T) {
	t.Parallel()
	b := newMonitor()
	b.runs.add("run-a", "tr-a", hatchet.RunFailed, "get_recording", t0.Add(-10*time.Minute), t0.Add(-9*time.Minute))
	b.reports.failNext["RunsReported"] = parley.ErrUnavailable
	_, err := b.m.Report(context.Background(), MonitorInput{})
	require.ErrorContains(t, err, "could not record it")
	require.Len(t, b.zulip.messages(), 1)
	require.Empty(t, b.tick(t).Reported, "a retry (a claimant of its own) cannot take the runs at once")
	require.Len(t, b.zulip.messages(), 1)
	b.clock.Add(reportLease + time.Second)
	require.Equal(t, []string{"run-a"}, b.tick(t).Reported, "after the lease the run is named again (the one gap)")
}

func TestFailedRunsMonitorOverlappingTicksNameEachRunOnce(t *testing.T) {
	t.Parallel()
	b := newMonitor()
	var ids []string
	for i := range 6 {
		id := fmt.Sprintf("run-%d", i)
		ids = append(ids, id)
		b.runs.add(id, "tr-"+id, hatchet.RunFailed, "get_recording", t0.Add(-30*time.Minute), t0.Add(time.Duration(-20+i)*time.Minute))
	}
	const ticks = 8
	var wg sync.WaitGroup
	errs := make([]error, ticks)
	for i := range ticks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = b.m.Report(context.Background(), MonitorInput{})
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	count := map[string]int{}
	for _, msg := range b.zulip.messages() {
		for _, id := range named(msg, ids...) {
			count[id]++
		}
	}
	for _, id := range ids {
		require.Equal(t, 1, count[id], "%s named once across %d messages", id, len(b.zulip.messages()))
	}
}

func TestFailedRunsMonitorBoundsAMessage(t *testing.T) {
	t.Parallel()
	b := newMonitor()
	var ids []string
	for i := range maxRunsPerReport + 3 {
		id := fmt.Sprintf("run-%02d", i)
		ids = append(ids, id)
		b.runs.add(id, "tr-"+id, hatchet.RunFailed, "detect_topics", t0.Add(-50*time.Minute), t0.Add(time.Duration(-40+i)*time.Minute))
	}
	out := b.tick(t)
	require.Equal(t, ids[:maxRunsPerReport], out.Reported, "the oldest failures first")
	require.Equal(t, 3, out.Left)
	require.Contains(t, b.zulip.messages()[0], "_3 more failed runs will be in a later report._")
	require.Less(t, len(b.zulip.messages()[0]), 10000, "within Zulip's limit")
	out = b.tick(t)
	require.Equal(t, ids[maxRunsPerReport:], out.Reported)
	require.Zero(t, out.Left)
}

// TestFailedRunsMonitorKeepsAMessageUnderZulipsLimit: runs whose DAGs are
// long (every step failed with a long error) are spread over several
// ticks, each message within Zulip's 10,000 characters and each run named
// once.
func TestFailedRunsMonitorKeepsAMessageUnderZulipsLimit(t *testing.T) {
	t.Parallel()
	b := newMonitor()
	var ids []string
	for i := range 5 {
		id := fmt.Sprintf("run-%d", i)
		ids = append(ids, id)
		b.runs.add(id, "tr-"+id, hatchet.RunFailed, "get_recording", t0.Add(-50*time.Minute), t0.Add(time.Duration(-40+i)*time.Minute))
		st := b.runs.states[id]
		for _, spec := range StepTable {
			if spec.Workflow == WorkflowPipeline {
				st.Tasks[spec.Name] = hatchet.TaskState{Status: hatchet.RunFailed, Error: strings.Repeat("é", 400)}
			}
		}
	}
	count := map[string]int{}
	for tick := 0; len(count) < len(ids); tick++ {
		require.Less(t, tick, len(ids), "every tick names at least one run")
		out := b.tick(t)
		require.NotEmpty(t, out.Reported)
		require.Equal(t, len(ids)-len(count)-len(out.Reported), out.Left)
		msgs := b.zulip.messages()
		msg := msgs[len(msgs)-1]
		require.LessOrEqual(t, len([]rune(msg)), 10000)
		require.Equal(t, out.Reported, named(msg, ids...))
		if out.Left > 0 {
			require.Contains(t, msg, fmt.Sprintf("_%d more failed", out.Left))
		}
		for _, id := range out.Reported {
			count[id]++
		}
	}
	require.Greater(t, len(b.zulip.messages()), 1, "the runs did not fit in one message")
	for _, id := range ids {
		require.Equal(t, 1, count[id], id)
	}
}

func TestFailedRunsMonitorNeedsAStream(t *testing.T) {
	t.Parallel()
	b := newMonitor()
	b.m.Stream = ""
	_, err := b.m.Report(context.Background(), MonitorInput{})
	require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
}

// trackRuns gives run's process_tracks task three TrackProcessing
// children, the second failing at failTrackStep ("" none).
func (f *fakeRuns) trackRuns(failTrackStep string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range 3 {
		id := fmt.Sprintf("child-%d", i)
		f.children["task-process_tracks"] = append(f.children["task-process_tracks"],
			hatchet.RunSummary{ID: id, Status: hatchet.RunCompleted, Metadata: map[string]string{"track": fmt.Sprintf("%d of 3", i+1)}})
		st := hatchet.RunState{Status: hatchet.RunCompleted, Tasks: map[string]hatchet.TaskState{}}
		for _, name := range []string{"pad_track", "transcribe_track"} {
			switch {
			case i == 1 && name == failTrackStep:
				st.Tasks[name] = hatchet.TaskState{Status: hatchet.RunFailed, Error: "asr: HTTP 401: invalid key"}
			case i == 1 && failTrackStep == "pad_track":
				// never created
			default:
				st.Tasks[name] = hatchet.TaskState{Status: hatchet.RunCompleted}
			}
		}
		f.states[id] = st
	}
}

// chunkRuns gives run's detect_topics task two TopicChunkProcessing
// children, the second failing with errMsg.
func (f *fakeRuns) chunkRuns(errMsg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range 2 {
		id := fmt.Sprintf("chunk-%d", i)
		f.children["task-detect_topics"] = append(f.children["task-detect_topics"],
			hatchet.RunSummary{ID: id, Metadata: map[string]string{"chunk": fmt.Sprintf("%d of 2", i+1)}})
		task := hatchet.TaskState{Status: hatchet.RunCompleted}
		if i == 1 {
			task = hatchet.TaskState{Status: hatchet.RunFailed, Error: errMsg}
		}
		f.states[id] = hatchet.RunState{Tasks: map[string]hatchet.TaskState{"detect_chunk_topic": task}}
	}
}

// TestDAGText renders the DAG of a run from the engine's tasks, in
// step-table order.
func TestDAGText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		failAt    string
		trackFail string
		chunkFail bool
		edit      func(st *hatchet.RunState)
		want      string
		step      string
	}{
		{name: "FirstStep", failAt: "get_recording", step: "get_recording", want: `✗ get_recording: get_recording: HTTP 400: bad request
– get_participants
– process_tracks
  – pad_track
  – transcribe_track
– mixdown_tracks
– generate_waveform
– detect_topics
  – detect_chunk_topic
– generate_title
– extract_subjects
– process_subjects
  – generate_detailed_summary
– generate_recap
– identify_action_items
– finalize
– cleanup_consent
– post_zulip
– send_webhook
– send_email
✓ on_failure
`},
		{name: "TrackChild", failAt: "process_tracks", trackFail: "pad_track", step: "pad_track",
			edit: func(st *hatchet.RunState) {
				st.Tasks["process_tracks"] = hatchet.TaskState{ExternalID: "task-process_tracks", Status: hatchet.RunFailed,
					Error: "track 1: TrackProcessing track-1 failed"}
				st.Tasks["mixdown_tracks"] = hatchet.TaskState{Status: hatchet.RunCancelled}
			}, want: `✓ get_recording
✓ get_participants
✗ process_tracks: track 1: TrackProcessing track-1 failed
  ✗ pad_track (1 of 3 tracks failed): track 2 of 3: asr: HTTP 401: invalid key
  – transcribe_track (2 of 3 tracks passed)
– mixdown_tracks
– generate_waveform
– detect_topics
  – detect_chunk_topic
– generate_title
– extract_subjects
– process_subjects
  – generate_detailed_summary
– generate_recap
– identify_action_items
– finalize
– cleanup_consent
– post_zulip
– send_webhook
– send_email
✓ on_failure
`},
		{name: "TrackTranscription", failAt: "process_tracks", trackFail: "transcribe_track", step: "transcribe_track",
			edit: func(st *hatchet.RunState) {
				st.Tasks["process_tracks"] = hatchet.TaskState{ExternalID: "task-process_tracks", Status: hatchet.RunFailed,
					Error: "track 1: TrackProcessing track-1 failed"}
			}, want: `✓ get_recording
✓ get_participants
✗ process_tracks: track 1: TrackProcessing track-1 failed
  ✓ pad_track (3 of 3 tracks passed)
  ✗ transcribe_track (1 of 3 tracks failed): track 2 of 3: asr: HTTP 401: invalid key
– mixdown_tracks
– generate_waveform
– detect_topics
  – detect_chunk_topic
– generate_title
– extract_subjects
– process_subjects
  – generate_detailed_summary
– generate_recap
– identify_action_items
– finalize
– cleanup_consent
– post_zulip
– send_webhook
– send_email
✓ on_failure
`},
		{name: "LaterStep", failAt: "detect_topics", trackFail: "none", chunkFail: true, step: "detect_chunk_topic",
			edit: func(st *hatchet.RunState) {
				st.Tasks["mixdown_tracks"] = hatchet.TaskState{Status: hatchet.RunCompleted}
				st.Tasks["generate_waveform"] = hatchet.TaskState{Status: hatchet.RunRunning}
				st.Tasks["detect_topics"] = hatchet.TaskState{ExternalID: "task-detect_topics", Status: hatchet.RunFailed,
					Error: "topic 2 of 2 failed"}
			}, want: `✓ get_recording
✓ get_participants
✓ process_tracks
  ✓ pad_track (3 of 3 tracks passed)
  ✓ transcribe_track (3 of 3 tracks passed)
✓ mixdown_tracks
– generate_waveform (running)
✗ detect_topics: topic 2 of 2 failed
  ✗ detect_chunk_topic (1 of 2 chunks failed): chunk 2 of 2: llm: HTTP 400: ` + strings.Repeat("x", maxErrorText-len("chunk 2 of 2: llm: HTTP 400: ")-1) + `…
– generate_title
– extract_subjects
– process_subjects
  – generate_detailed_summary
– generate_recap
– identify_action_items
– finalize
– cleanup_consent
– post_zulip
– send_webhook
– send_email
✓ on_failure
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			runs := newFakeRuns()
			runs.add("run-1", "tr-1", hatchet.RunFailed, tt.failAt, t0, t0.Add(time.Minute))
			if tt.trackFail != "" {
				runs.trackRuns(tt.trackFail)
			}
			if tt.chunkFail {
				runs.chunkRuns("llm:\n  HTTP 400: " + strings.Repeat("x", 300))
			}
			if tt.edit != nil {
				st := runs.states["run-1"]
				tt.edit(&st)
				runs.states["run-1"] = st
			}
			f := &FailedRunFinder{Runs: runs}
			got, more, err := f.FailedSince(context.Background(), t0, 0)
			require.NoError(t, err)
			require.False(t, more)
			require.Len(t, got, 1)
			require.Equal(t, tt.want, got[0].DAGText())
			require.Equal(t, tt.step, got[0].FailedStep)
			require.Len(t, got[0].Steps, len(StepTable), "every row of the step table")
			for i, s := range got[0].Steps {
				require.Equal(t, StepTable[i].Name, s.Name)
			}
		})
	}
}

func TestFailedSinceListsByFailureTime(t *testing.T) {
	t.Parallel()
	runs := newFakeRuns()
	runs.add("old", "tr-old", hatchet.RunFailed, "get_recording", t0.Add(-3*time.Hour), t0.Add(-2*time.Hour))
	runs.add("late", "tr-late", hatchet.RunFailed, "detect_topics", t0.Add(-30*time.Hour), t0.Add(-time.Minute))
	runs.add("new", "tr-new", hatchet.RunFailed, "get_recording", t0.Add(-20*time.Minute), t0.Add(-10*time.Minute))
	runs.add("good", "tr-good", hatchet.RunCompleted, "", t0.Add(-20*time.Minute), t0.Add(-10*time.Minute))
	reports := newFakeReports(func() time.Time { return t0 })
	_, err := reports.ClaimRunReports(context.Background(), []string{"new"}, "c1", time.Minute)
	require.NoError(t, err)
	require.NoError(t, reports.RunsReported(context.Background(), []string{"new"}, "c1", 7))
	titles := transcriptTitles{"tr-late": "Weekly sync"}
	f := &FailedRunFinder{Runs: runs, Reports: reports, Transcripts: titles, UIBaseURL: "https://parley.test/"}
	got, more, err := f.FailedSince(context.Background(), t0.Add(-time.Hour), 0)
	require.NoError(t, err)
	require.False(t, more)
	require.Len(t, got, 2)
	require.Equal(t, "new", got[0].WorkflowRunID)
	require.NotNil(t, got[0].ReportedAt)
	require.Equal(t, "late", got[1].WorkflowRunID, "created 30 h ago, failed a minute ago")
	require.Nil(t, got[1].ReportedAt)
	require.Equal(t, "Weekly sync", got[1].Title)
	require.Equal(t, "https://parley.test/transcripts/tr-late", got[1].TranscriptURL)
	require.Equal(t, "http://hatchet.test/tenants/t1/runs/late", got[1].DashboardURL)
	require.Equal(t, "detect_topics", got[1].FailedStep)
	require.Equal(t, t0.Add(-time.Minute), got[1].FailedAt)
	require.Equal(t, t0.Add(-time.Hour-maxRunAge), runs.listed[0], "asks the engine for runs created long enough before")

	got, more, err = f.FailedSince(context.Background(), t0.Add(-time.Hour), 1)
	require.NoError(t, err)
	require.True(t, more)
	require.Len(t, got, 1)
}

// transcriptTitles is a TranscriptReader of titles by id.
type transcriptTitles map[string]string

func (m transcriptTitles) GetTranscript(_ context.Context, id string) (*parley.Transcript, error) {
	if title, ok := m[id]; ok {
		return &parley.Transcript{ID: id, Title: title}, nil
	}
	return nil, parley.Errorf(parley.ENOTFOUND, "transcript %s not found", id)
}

func TestFailedRunsMessage(t *testing.T) {
	t.Parallel()
	r := FailedRun{WorkflowRunID: "run-1", TranscriptID: "tr-1", Title: "Launch\n**plan**", FailedAt: t0, FailedStep: "detect_topics",
		TranscriptURL: "https://parley.test/transcripts/tr-1", DashboardURL: "http://hatchet.test/tenants/t1/runs/run-1",
		Steps: []RunStep{{Name: "get_recording", State: StepPassed}, {Name: "detect_topics", State: StepFailed, Error: "answer was ```json```"}}}
	msg := FailedRunsMessage([]FailedRun{r, {WorkflowRunID: "run-2", FailedAt: t0}}, 0)
	require.Equal(t, "**Parley: 2 failed pipeline runs**\n"+
		"\n**Launch **plan**** failed at `detect_topics` <time:2026-05-04T10:00:00Z>\n"+
		"[transcript](https://parley.test/transcripts/tr-1) · Hatchet [run run-1](http://hatchet.test/tenants/t1/runs/run-1)\n"+
		"````text\n✓ get_recording\n✗ detect_topics: answer was ```json```\n````\n"+
		"\n**Run run-2** failed <time:2026-05-04T10:00:00Z>\n"+
		"Hatchet run run-2\n"+
		"```text\n```\n", msg)
}
