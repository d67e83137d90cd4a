package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/hatchet"
	"github.com/parley-dev/parley/store"
)

// Fast tier: the LLM fan-out's child steps and how their parents spawn
// them and assemble their results, over fakes.

func TestDetectChunkTopic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tt := range []struct {
		name     string
		in       TopicChunkInput
		topicErr map[string]error
		want     TopicChunkOutput
		code     string
		errText  string
	}{
		{name: "OKReadsItsWordsFromTheStore", in: TopicChunkInput{TranscriptID: tid, ChunkIndex: 1, NumChunks: 2, WordFrom: 2, WordTo: 4},
			want: TopicChunkOutput{ChunkIndex: 1, Title: "Topic: Speaker 1: w2 w3\n", Summary: "About Speaker 1: w2 w3\n"}},
		{name: "ErrWordsOutsideTheTranscript", in: TopicChunkInput{TranscriptID: tid, ChunkIndex: 0, NumChunks: 1, WordFrom: 3, WordTo: 9},
			code: parley.EINVALID, errText: "topic chunk 1 of 1: words [3, 9) are not in the transcript's 4 words"},
		{name: "ErrEmptyRange", in: TopicChunkInput{TranscriptID: tid, NumChunks: 1, WordFrom: 2, WordTo: 2}, code: parley.EINVALID,
			errText: "words [2, 2)"},
		{name: "ErrLLMNamesTheChunk", in: TopicChunkInput{TranscriptID: tid, ChunkIndex: 1, NumChunks: 2, WordFrom: 2, WordTo: 4},
			topicErr: map[string]error{"w3": parley.Errorf(parley.EINVALID, "HTTP 400")}, code: parley.EINVALID, errText: "topic 2 of 2: HTTP 400"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := newMemStore(tid)
			db.words = words(4)
			db.participants = []parley.Participant{{Speaker: 0, Name: "Speaker 1"}}
			s := newSteps(t, db)
			s.LLM = &fakeLLM{topicErr: tt.topicErr}
			out, err := s.DetectChunkTopic(ctx, tt.in)
			if tt.errText != "" {
				require.ErrorContains(t, err, tt.errText)
				require.Equal(t, tt.code, parley.ErrorCode(err))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, out)
			require.Empty(t, db.topics, "a child stores nothing: its parent does")
		})
	}
}

func TestGenerateDetailedSummary(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tt := range []struct {
		name    string
		in      SubjectInput
		llmErr  error
		want    SubjectOutput
		code    string
		errText string
	}{
		{name: "OK", in: SubjectInput{TranscriptID: tid, SubjectIndex: 1, NumSubjects: 2},
			want: SubjectOutput{SubjectIndex: 1, Subject: "hiring", Detailed: "Details of hiring", Paragraph: "Paragraph on hiring"}},
		{name: "ErrSubjectNotStored", in: SubjectInput{TranscriptID: tid, SubjectIndex: 5, NumSubjects: 6}, code: parley.EINVALID,
			errText: "subject 6 of 6 is not stored (2 subjects)"},
		{name: "ErrLLMNamesTheSubject", in: SubjectInput{TranscriptID: tid, SubjectIndex: 0, NumSubjects: 2},
			llmErr: parley.Errorf(parley.ETRANSIENT, "HTTP 503"), code: parley.ETRANSIENT, errText: `summarize subject "budget": HTTP 503`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := newMemStore(tid)
			db.words = words(3)
			require.NoError(t, db.ReplaceSubjects(ctx, tid, []string{"budget", "hiring"}))
			s := newSteps(t, db)
			s.LLM = &fakeLLM{err: tt.llmErr}
			out, err := s.GenerateDetailedSummary(ctx, tt.in)
			if tt.errText != "" {
				require.ErrorContains(t, err, tt.errText)
				require.Equal(t, tt.code, parley.ErrorCode(err))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, out)
			require.Empty(t, db.subjects[1].Paragraph, "a child stores nothing: its parent does")
		})
	}
}

func TestDetectTopicsSpawnsOneChildPerChunk(t *testing.T) {
	t.Parallel()
	ctx := hatchet.ContextWithAttempt(context.Background(), hatchet.Attempt{WorkflowRunID: "run1"})
	db := newMemStore(tid)
	db.words = words(2000)
	s := newSteps(t, db)
	fan := s.Fanout.(*localFanout)
	out, err := s.DetectTopics(ctx, Input{TranscriptID: tid})
	require.NoError(t, err)
	_, chunks := TopicChunking(2000, 1999500*time.Millisecond)
	require.Len(t, fan.topics, len(chunks))
	require.Equal(t, len(chunks), out.Topics)
	keys := map[string]bool{}
	for i, in := range fan.topics {
		require.Equal(t, TopicChunkInput{TranscriptID: tid, ChunkIndex: i, NumChunks: len(chunks), WordFrom: chunks[i].From,
			WordTo: chunks[i].To, PipelineRunID: "run1", key: in.key}, in)
		require.NotContains(t, keys, in.key, "one run key per chunk")
		keys[in.key] = true
		b, err := json.Marshal(in)
		require.NoError(t, err)
		require.NotContains(t, string(b), "w1", "the payload carries ids and indexes, never the words")
		require.NotContains(t, string(b), in.key, "the run key is not part of the payload")
	}
	// Topics are stored and announced in chunk order, with the children's
	// titles.
	require.Len(t, db.topics, len(chunks))
	for i, tp := range db.topics {
		require.Equal(t, "Topic: "+parley.TranscriptText(db.words[chunks[i].From:chunks[i].To], nil), tp.Title)
		ev := db.events[i].Data.(parley.TopicData)
		require.Equal(t, store.TopicID(tid, i), ev.ID)
		require.Equal(t, tp.Title, ev.Title)
	}

	// A retried or replayed step asks for the same children (same keys);
	// other words make other children.
	first := append([]TopicChunkInput(nil), fan.topics...)
	fan.topics = nil
	_, err = s.DetectTopics(ctx, Input{TranscriptID: tid})
	require.NoError(t, err)
	require.Equal(t, first, fan.topics)
	db.words[0].Text = "changed"
	fan.topics = nil
	_, err = s.DetectTopics(ctx, Input{TranscriptID: tid})
	require.NoError(t, err)
	require.NotEqual(t, first[0].key, fan.topics[0].key, "the chunk's words changed")
	require.Equal(t, first[1].key, fan.topics[1].key)
}

// brokenFanout answers with fixed results.
type brokenFanout struct {
	topics   []TopicChunkOutput
	subjects []SubjectOutput
	err      error
}

func (b brokenFanout) RunTopicChunks(context.Context, []TopicChunkInput) ([]TopicChunkOutput, error) {
	return b.topics, b.err
}

func (b brokenFanout) RunSubjects(context.Context, []SubjectInput) ([]SubjectOutput, error) {
	return b.subjects, b.err
}

func TestFanoutParentsCheckTheirChildren(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	childErr := hatchet.Permanent(errors.New("TopicChunkProcessing topic-1-abc failed: HTTP 400"))
	for _, tt := range []struct {
		name    string
		fan     brokenFanout
		topics  bool
		code    string
		errText string
	}{
		{name: "ErrTopicChildFailed", fan: brokenFanout{err: childErr}, topics: true, errText: "topic-1-abc failed"},
		{name: "ErrTopicResultsMissing", fan: brokenFanout{topics: []TopicChunkOutput{{Title: "a"}}}, topics: true,
			code: parley.EINTERNAL, errText: "1 results for 2 chunks"},
		{name: "ErrSubjectResultsMissing", fan: brokenFanout{}, code: parley.EINTERNAL, errText: "0 results for 2 subjects"},
		{name: "ErrSubjectResultOfAnotherSubject", fan: brokenFanout{subjects: []SubjectOutput{{SubjectIndex: 0, Subject: "budget"},
			{SubjectIndex: 1, Subject: "roadmap"}}}, code: parley.EINTERNAL, errText: `subject 2 is "hiring", its summary is of "roadmap"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := newMemStore(tid)
			db.words = words(800)
			require.NoError(t, db.ReplaceSubjects(ctx, tid, []string{"budget", "hiring"}))
			s := newSteps(t, db)
			s.Fanout = tt.fan
			var err error
			if tt.topics {
				_, err = s.DetectTopics(ctx, Input{TranscriptID: tid})
				require.Empty(t, db.topics, "nothing stored")
			} else {
				_, err = s.ProcessSubjects(ctx, Input{TranscriptID: tid})
			}
			require.ErrorContains(t, err, tt.errText)
			if tt.code != "" {
				require.Equal(t, tt.code, parley.ErrorCode(err))
			}
			require.Empty(t, db.events, "nothing announced")
		})
	}
}

func TestProcessSubjectsStoresTheChildrensSummaries(t *testing.T) {
	t.Parallel()
	ctx := hatchet.ContextWithAttempt(context.Background(), hatchet.Attempt{WorkflowRunID: "run1"})
	db := newMemStore(tid)
	db.words = words(3)
	require.NoError(t, db.ReplaceSubjects(ctx, tid, []string{"budget", "hiring"}))
	s := newSteps(t, db)
	fan := s.Fanout.(*localFanout)
	out, err := s.ProcessSubjects(ctx, Input{TranscriptID: tid})
	require.NoError(t, err)
	require.Equal(t, 2, out.Summarized)
	require.Equal(t, "Paragraph on hiring", db.subjects[1].Paragraph)
	require.Equal(t, "Details of budget", db.subjects[0].Detailed)
	require.Len(t, fan.subjects, 2)
	require.Equal(t, SubjectInput{TranscriptID: tid, SubjectIndex: 1, NumSubjects: 2, PipelineRunID: "run1", key: fan.subjects[1].key},
		fan.subjects[1])
	require.Equal(t, childKey("subject", 1, "hiring"), fan.subjects[1].key)
	require.NotEqual(t, childKey("subject", 1, "budget"), fan.subjects[1].key, "another subject, another child")
}

func TestObserverFanoutAttempts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tt := range []struct {
		name       string
		a          hatchet.Attempt
		in         any
		completed  map[string]int
		detail     string
		step       int
		child      int
		percentMin float64
	}{
		{name: "TopicChunk", a: hatchet.Attempt{Workflow: WorkflowTopicChunk, Task: "detect_chunk_topic", WorkflowRunID: "child",
			ParentRunID: "run1", TaskRunID: "t", Number: 1},
			in:        TopicChunkInput{TranscriptID: tid, ChunkIndex: 2, NumChunks: 12, WordFrom: 10, WordTo: 20},
			completed: map[string]int{"detect_chunk_topic": 6}, detail: "Detecting topics: chunk 3 of 12", step: 6, child: 2,
			// half of detect_topics' share: 0.5 of 16 steps
			percentMin: 3.1},
		{name: "Subject", a: hatchet.Attempt{Workflow: WorkflowSubject, Task: "generate_detailed_summary", WorkflowRunID: "child",
			ParentRunID: "run1", TaskRunID: "t", Number: 1},
			in:        SubjectInput{TranscriptID: tid, SubjectIndex: 1, NumSubjects: 5, PipelineRunID: "run1"},
			completed: map[string]int{}, detail: "Summarizing subject 2 of 5", step: 9, child: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := newMemStore(tid)
			db.t.Status = parley.StatusProcessing
			db.completed = tt.completed
			o := newObserver(newSteps(t, db))
			require.NoError(t, o.Started(ctx, tt.a, tt.in))
			require.Equal(t, "run1", db.attempts[0].WorkflowRunID, "a child's attempt belongs to the pipeline run")
			require.Equal(t, tt.child, *db.attempts[0].ChildIndex)
			require.Nil(t, db.attempts[0].TrackIndex)
			p := progressOf(t, db)[0]
			require.Equal(t, tt.step, p.StepIndex, "a child step carries its parent's number")
			require.Equal(t, tt.detail, p.Detail)
			require.Nil(t, p.TrackIndex)
			require.InDelta(t, tt.percentMin, p.Percent, 1e-9)
			o.Finished(ctx, tt.a, tt.in, nil, parley.Usage{}, nil, false)
			require.Equal(t, tt.detail+": done", progressOf(t, db)[1].Detail)
		})
	}
}
