package pipeline_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/internal/e2e"
	"github.com/parley-dev/parley/pipeline"
	"github.com/parley-dev/parley/sim"
)

// failedRunsAnswer is GET /v1/runs/failed's answer.
type failedRunsAnswer struct {
	Since time.Time            `json:"since"`
	Runs  []pipeline.FailedRun `json:"runs"`
	More  bool                 `json:"more"`
}

// runMonitor runs FailedRunsMonitor once, as its cron would, and waits
// for the run to complete.
func runMonitor(t *testing.T, s *e2e.Stack) {
	t.Helper()
	ctx := context.Background()
	hc := s.Hatchet()
	runID, err := hc.Start(ctx, pipeline.WorkflowFailedRuns, map[string]any{}, nil)
	require.NoError(t, err)
	s.WaitFor("the monitor run", 2*time.Minute, func() bool {
		st, err := hc.State(ctx, runID)
		return err == nil && st.Done
	})
	st, err := hc.State(ctx, runID)
	require.NoError(t, err)
	require.Equal(t, "COMPLETED", st.Status, "%+v", st.Tasks)
}

// opsMessages returns the messages the simulated Zulip has in stream ops.
func opsMessages(t *testing.T, s *e2e.Stack) []sim.ZulipMessage {
	t.Helper()
	all, err := (&sim.Client{Base: s.SimURL}).ZulipMessages(context.Background())
	require.NoError(t, err)
	var out []sim.ZulipMessage
	for _, m := range all {
		if m.Stream == "ops" {
			out = append(out, m)
		}
	}
	return out
}

// TestFailedRunsMonitor: two failed runs (a transcript without tracks,
// started by another Hatchet client, fails at get_recording; a meeting
// whose LLM answers 400 fails at detect_chunk_topic, inside detect_topics)
// and one good run give one
// Zulip message naming exactly the two, each with its DAG and links;
// GET /v1/runs/failed lists the same two; a second tick posts nothing.
func TestFailedRunsMonitor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	start := time.Now().Add(-time.Minute)
	s := e2e.New(t, e2e.Options{Env: map[string]string{"UI_BASE_URL": "https://parley.example.com",
		"PARLEY_FAILED_RUNS_ZULIP_STREAM": "ops", "PARLEY_FAILED_RUNS_ZULIP_TOPIC": "pipeline failures"}})
	s.StartWorker()
	s.StartServe()
	simc := &sim.Client{Base: s.SimURL}
	hc := s.Hatchet()
	var room parley.Room
	require.Equal(t, 201, s.API(ctx, "POST", "/v1/rooms", map[string]any{"name": "failed-runs-room"}, &room))

	// Failed run 1: no tracks, started like any other Hatchet client would.
	var empty parley.Transcript
	require.Equal(t, 201, s.API(ctx, "POST", "/v1/transcripts", map[string]any{"name": "No tracks"}, &empty))
	emptyRun, err := hc.Start(ctx, pipeline.WorkflowPipeline, map[string]any{"transcript_id": empty.ID, "language": "en"}, nil)
	require.NoError(t, err)
	// Failed run 2: the LLM refuses (400, not retried).
	require.NoError(t, simc.SetFaults(ctx, map[string]sim.Fault{sim.EndpointLLM: {ErrorRate: 1, ErrorStatus: 400}}))
	badID := uploadMeeting(t, s, room.ID)
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/transcripts/"+badID+"/process", nil, nil))
	tr := s.WaitStatus(ctx, empty.ID, 3*time.Minute, parley.StatusEnded, parley.StatusError)
	require.Equal(t, "get_recording", tr.Error.Step, "a transcript without tracks fails at once")
	tr = s.WaitStatus(ctx, badID, 3*time.Minute, parley.StatusEnded, parley.StatusError)
	require.Equal(t, "detect_chunk_topic", tr.Error.Step)
	badRun := *tr.WorkflowRunID
	failed := map[string]string{emptyRun: empty.ID, badRun: badID} // run -> transcript
	for run := range failed {
		waitRun(t, s, run)
	}
	// The good run: the same meeting once the LLM answers.
	require.NoError(t, simc.SetFaults(ctx, map[string]sim.Fault{sim.EndpointLLM: {}}))
	goodID := uploadMeeting(t, s, room.ID)
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/transcripts/"+goodID+"/process", nil, nil))
	good := s.WaitStatus(ctx, goodID, 3*time.Minute, parley.StatusEnded, parley.StatusError)
	require.Equal(t, parley.StatusEnded, good.Status, "error: %+v", good.Error)
	waitRun(t, s, *good.WorkflowRunID)

	// The API lists the two (the engine's run list catches up a moment
	// after a run ends).
	since := start.UTC().Format(time.RFC3339)
	var ans failedRunsAnswer
	s.WaitFor("both failed runs listed", time.Minute, func() bool {
		ans = failedRunsAnswer{}
		status, err := s.CallAPI(ctx, "GET", "/v1/runs/failed?since="+since, nil, &ans)
		return err == nil && status == 200 && len(ans.Runs) >= 2
	})
	require.Len(t, ans.Runs, 2)
	require.False(t, ans.More)
	byRun := map[string]pipeline.FailedRun{}
	for _, r := range ans.Runs {
		byRun[r.WorkflowRunID] = r
		require.Nil(t, r.ReportedAt, "not reported yet")
		require.Len(t, r.Steps, len(pipeline.StepTable))
		require.Contains(t, r.DashboardURL, "/runs/"+r.WorkflowRunID)
	}
	noTracks, meeting := byRun[emptyRun], byRun[badRun]
	require.Equal(t, empty.ID, noTracks.TranscriptID)
	require.Equal(t, "No tracks", noTracks.Title)
	require.Equal(t, "get_recording", noTracks.FailedStep)
	require.Equal(t, s.APIURL+"/transcripts/"+badID, meeting.TranscriptURL, "serve's UI_BASE_URL")
	require.Equal(t, "detect_chunk_topic", meeting.FailedStep, "the step Parley's own error names")
	require.Contains(t, meeting.Error, "HTTP 400")
	states := map[string]string{}
	for _, st := range meeting.Steps {
		states[st.Name] = st.State
	}
	require.Equal(t, pipeline.StepPassed, states["get_participants"])
	require.Equal(t, pipeline.StepPassed, states["transcribe_track"], "every track transcribed")
	require.Equal(t, pipeline.StepFailed, states["detect_topics"])
	require.Equal(t, pipeline.StepFailed, states["detect_chunk_topic"])
	require.Equal(t, pipeline.StepSkipped, states["generate_title"])
	require.Equal(t, pipeline.StepSkipped, states["finalize"])
	require.Equal(t, pipeline.StepPassed, states[pipeline.StepTable[len(pipeline.StepTable)-1].Name], "on_failure ran")

	// One tick: one message naming exactly the two.
	runMonitor(t, s)
	msgs := opsMessages(t, s)
	require.Len(t, msgs, 1)
	msg := msgs[0]
	require.Equal(t, "pipeline failures", msg.Topic)
	require.Contains(t, msg.Content, "**Parley: 2 failed pipeline runs**")
	for runID, tid := range failed {
		require.Contains(t, msg.Content, runID)
		require.Contains(t, msg.Content, "(https://parley.example.com/transcripts/"+tid+")")
		require.Contains(t, msg.Content, byRun[runID].DashboardURL)
		require.Contains(t, msg.Content, byRun[runID].DAGText())
	}
	require.NotContains(t, msg.Content, *good.WorkflowRunID)
	require.NotContains(t, msg.Content, goodID)
	require.Contains(t, msg.Content, "✗ get_recording: transcript "+empty.ID+" has no tracks")
	require.Contains(t, msg.Content, "  ✓ pad_track (3 of 3 tracks passed)")
	require.Contains(t, msg.Content, "✗ detect_topics")
	require.Contains(t, msg.Content, "  ✗ detect_chunk_topic (1 of 1 chunk failed): chunk 1 of 1: ")
	require.Contains(t, msg.Content, "– generate_title")
	require.Equal(t, 2, strings.Count(msg.Content, "✓ on_failure"))

	// A second tick: nothing new.
	runMonitor(t, s)
	require.Len(t, opsMessages(t, s), 1, "the same runs are never reported twice")
	require.Equal(t, 200, s.API(ctx, "GET", "/v1/runs/failed?since="+since, nil, &ans))
	require.Len(t, ans.Runs, 2)
	for _, r := range ans.Runs {
		require.NotNil(t, r.ReportedAt, "%s reported", r.WorkflowRunID)
	}
}

// waitRun waits until the engine reports the run done (a failed run's
// parallel branch may still be running after the transcript's error).
func waitRun(t *testing.T, s *e2e.Stack, runID string) {
	t.Helper()
	hc := s.Hatchet()
	s.WaitFor("run "+runID+" to be done", 2*time.Minute, func() bool {
		st, err := hc.State(context.Background(), runID)
		return err == nil && st.Done
	})
}
