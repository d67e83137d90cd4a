package pipeline_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/hatchet-dev/hatchet/pkg/client/rest"
	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/hatchet"
	"github.com/parley-dev/parley/internal/e2e"
	"github.com/parley-dev/parley/pipeline"
	"github.com/parley-dev/parley/sim"
)

// scriptedMeeting uploads a generated meeting of the given length: one
// second of audio per speaker whose PARLEY_SIM_SCRIPT tag makes parley-sim
// answer with that speaker's share of the meeting's words.
func scriptedMeeting(t *testing.T, s *e2e.Stack, minutes float64, speakers int) []map[string]string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	var tracks []map[string]string
	for i := range speakers {
		p := filepath.Join(dir, fmt.Sprintf("speaker%d.webm", i))
		out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "sine=d=1",
			"-c:a", "libopus", "-metadata", sim.ScriptTag+"="+sim.Script{Minutes: minutes, Speakers: speakers, Speaker: i}.String(),
			p).CombinedOutput()
		require.NoError(t, err, string(out))
		tracks = append(tracks, map[string]string{"s3_key": s.Upload(ctx, p, fmt.Sprintf("long/speaker%d.webm", i))})
	}
	return tracks
}

// fanoutSchemas are the chat requests the LLM fan-out's children make: a
// topic chunk's one call, a subject's detailed and paragraph summaries.
var fanoutSchemas = map[string]bool{"topic": true, "subject_detail": true, "subject_paragraph": true}

// childRuns counts a transcript's runs of each workflow in Hatchet's run
// list (REST; eventually consistent), by status.
func childRuns(ctx context.Context, t *testing.T, c *hatchet.Client, since time.Time, transcriptID string) map[string]map[string]int {
	t.Helper()
	limit := int64(1000)
	list, err := c.SDK().Runs().List(ctx, rest.V1WorkflowRunListParams{Since: since, Limit: &limit,
		AdditionalMetadata: &[]string{"transcript_id:" + transcriptID}})
	require.NoError(t, err)
	out := map[string]map[string]int{}
	for _, r := range list.Rows {
		name := ""
		if r.WorkflowName != nil {
			name = *r.WorkflowName
		}
		if out[name] == nil {
			out[name] = map[string]int{}
		}
		out[name][string(r.Status)]++
	}
	return out
}

// TestLongMeetingFansOutUnderTheLLMRateLimit: a 95-minute meeting gets its
// topics from one TopicChunkProcessing child per chunk and its summaries
// from one SubjectProcessing child per subject, all visible in Hatchet, and
// the fan-out's LLM calls arrive at parley-sim no faster than the rate
// limit allows.
func TestLongMeetingFansOutUnderTheLLMRateLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const rate = 3
	s := e2e.New(t, e2e.Options{Env: map[string]string{
		"PARLEY_LLM_RATE": strconv.Itoa(rate),
		// The cap far above the chunks: only the rate limit holds them back.
		"PARLEY_LLM_CONCURRENCY": "64",
		// The whole transcript fits one request, so that a subject's summary
		// is exactly its two calls (its two units).
		"LLM_CONTEXT_WINDOW": "64000",
	}})
	simc := &sim.Client{Base: s.SimURL}
	s.StartWorker()
	s.StartServe()
	tracks := scriptedMeeting(t, s, 95, 3)
	start := time.Now().Add(-time.Minute)
	var acc accepted
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/process", map[string]any{"tracks": tracks}, &acc))
	tr := s.WaitStatus(ctx, acc.TranscriptID, 10*time.Minute, parley.StatusEnded, parley.StatusError)
	require.Equal(t, parley.StatusEnded, tr.Status, "error: %+v", tr.Error)

	words, err := s.DB.ListWords(ctx, tr.ID)
	require.NoError(t, err)
	require.GreaterOrEqual(t, words[len(words)-1].End-words[0].Start, 90*60.0, "at least 90 minutes of words")
	topics, err := s.DB.ListTopics(ctx, tr.ID, false)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(topics), 2)
	require.LessOrEqual(t, len(topics), 50)
	for i := 1; i < len(topics); i++ {
		require.Greater(t, topics[i].Timestamp, topics[i-1].Timestamp, "topics in meeting order")
	}
	subjects, err := s.DB.ListSubjects(ctx, tr.ID)
	require.NoError(t, err)
	require.NotEmpty(t, subjects)
	require.LessOrEqual(t, len(subjects), 6)
	for _, sub := range subjects {
		require.NotEmpty(t, sub.Paragraph, "subject %q is summarized", sub.Subject)
	}
	var topicEvents []parley.Event
	for _, ev := range s.Events(ctx, tr.ID) {
		if ev.Name == parley.EventTopic {
			topicEvents = append(topicEvents, ev)
		}
	}
	require.Len(t, topicEvents, len(topics), "one TOPIC event per topic")

	// The audit has one row per child, numbered.
	steps, err := s.DB.ListSteps(ctx, tr.ID)
	require.NoError(t, err)
	children := map[string]map[int]bool{}
	for _, st := range steps {
		if st.ChildIndex != nil {
			if children[st.Name] == nil {
				children[st.Name] = map[int]bool{}
			}
			children[st.Name][*st.ChildIndex] = true
			require.Equal(t, "completed", st.Status, "%s %d", st.Name, *st.ChildIndex)
		}
	}
	require.Len(t, children["detect_chunk_topic"], len(topics))
	require.Len(t, children["generate_detailed_summary"], len(subjects))

	// Hatchet shows the children: one completed run per chunk and subject.
	hc := s.Hatchet()
	s.WaitFor("the child runs in Hatchet's run list", 2*time.Minute, func() bool {
		runs := childRuns(ctx, t, hc, start, tr.ID)
		return runs[hc.Namespaced(pipeline.WorkflowTopicChunk)]["COMPLETED"] == len(topics) &&
			runs[hc.Namespaced(pipeline.WorkflowSubject)]["COMPLETED"] == len(subjects)
	})

	// The fan-out's LLM calls: one per chunk, two per subject, none
	// repeated, and never faster than the rate limit. The engine counts
	// units in fixed one-second windows (so a span of W seconds admits at
	// most rate·(W+1) units) when a child starts; its calls follow within
	// a second: at most rate·(W+2) calls in any W seconds.
	reqs, err := simc.Requests(ctx, sim.EndpointLLM)
	require.NoError(t, err)
	var times []time.Time
	perSchema := map[string]int{}
	for _, r := range reqs {
		if fanoutSchemas[r.Schema] {
			times = append(times, r.Time)
			perSchema[r.Schema]++
		}
	}
	require.Equal(t, map[string]int{"topic": len(topics), "subject_detail": len(subjects), "subject_paragraph": len(subjects)}, perSchema)
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	span := times[len(times)-1].Sub(times[0])
	t.Logf("%d fan-out calls in %s at a limit of %d units/s", len(times), span.Round(time.Millisecond), rate)
	for _, w := range []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, span} {
		limit := int(float64(rate) * (w.Seconds() + 2))
		for i := range times {
			n := sort.Search(len(times), func(j int) bool { return !times[j].Before(times[i].Add(w)) }) - i
			require.LessOrEqual(t, n, limit, "%d fan-out calls within %s from %s: more than %d units/s allow", n, w,
				times[i].Format(time.RFC3339Nano), rate)
		}
	}
}

// TestResumeRepeatsOnlyTheFailedTopicChunk: the provider rejects one topic
// chunk's request (a 400: not retried); the run fails at that chunk's
// child. Resuming replays that child only: exactly its LLM call is made
// again, no other chunk's.
func TestResumeRepeatsOnlyTheFailedTopicChunk(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := e2e.New(t, e2e.Options{})
	simc := &sim.Client{Base: s.SimURL}
	// Turn 37 of the generated meeting (at about 12 minutes) is in one
	// chunk only.
	require.NoError(t, simc.SetFaults(ctx, map[string]sim.Fault{sim.EndpointLLM: {FailNext: 1, ErrorStatus: 400,
		Schema: "topic", Contains: "Item 37."}}))
	s.StartWorker()
	s.StartServe()
	tracks := scriptedMeeting(t, s, 30, 2)
	var acc accepted
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/process", map[string]any{"tracks": tracks}, &acc))
	tr := s.WaitStatus(ctx, acc.TranscriptID, 5*time.Minute, parley.StatusEnded, parley.StatusError)
	require.Equal(t, parley.StatusError, tr.Status)
	require.Equal(t, "detect_chunk_topic", tr.Error.Step, "the failing step is the chunk's, not detect_topics")
	require.Contains(t, tr.Error.Message, "HTTP 400")

	topicCalls := func() (map[string]int, string) {
		reqs, err := simc.Requests(ctx, sim.EndpointLLM)
		require.NoError(t, err)
		calls, faulted := map[string]int{}, ""
		for _, r := range reqs {
			if r.Schema != "topic" {
				continue
			}
			calls[r.Fields["prompt_sha256"]]++
			if r.Faulted {
				require.Empty(t, faulted, "one request was faulted")
				faulted = r.Fields["prompt_sha256"]
			}
		}
		return calls, faulted
	}
	before, faulted := topicCalls()
	require.NotEmpty(t, faulted, "the chunk holding turn 37 was asked for and failed")
	require.GreaterOrEqual(t, len(before), 2, "several chunks")
	for sha, n := range before {
		require.Equal(t, 1, n, "chunk %s was asked once (a 400 is not retried)", sha)
	}

	var res map[string]any
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/transcripts/"+tr.ID+"/process", nil, &res))
	require.Equal(t, true, res["resumed"])
	require.Equal(t, acc.WorkflowRunID, res["workflow_run_id"], "resuming replays the same run")
	tr = s.WaitStatus(ctx, tr.ID, 5*time.Minute, parley.StatusEnded, parley.StatusError)
	require.Equal(t, parley.StatusEnded, tr.Status, "error: %+v", tr.Error)

	after, _ := topicCalls()
	want := map[string]int{}
	for sha, n := range before {
		want[sha] = n
	}
	want[faulted]++
	require.Equal(t, want, after, "exactly the failed chunk's call was repeated")
	topics, err := s.DB.ListTopics(ctx, tr.ID, false)
	require.NoError(t, err)
	require.Len(t, topics, len(before), "every chunk has its topic")
	for _, tp := range topics {
		require.NotEmpty(t, tp.Title)
	}
}
