package pipeline_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley/pipeline"
)

// These are pure functions: the fast tier (go test -short) runs them.

func TestTopicChunking(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		words        int
		duration     time.Duration
		size, topics int
		minW, maxW   int // smallest and largest chunk
	}{
		{"no words", 0, time.Hour, 0, 0, 0, 0},
		{"one word", 1, time.Second, 375, 1, 1, 1},
		{"a few words, no duration known", 40, 0, 375, 1, 40, 40},
		{"1 minute", 150, time.Minute, 375, 1, 150, 150},
		{"5 minutes at 150 wpm", 750, 5 * time.Minute, 375, 2, 375, 375},
		{"5 minutes, slow", 300, 5 * time.Minute, 375, 1, 300, 300},
		{"6 minutes, sparse: still two topics", 400, 6 * time.Minute, 375, 2, 200, 200},
		{"30 minutes at 150 wpm", 4500, 30 * time.Minute, 563, 8, 562, 563},
		{"1 hour at 150 wpm", 9000, time.Hour, 600, 15, 600, 600},
		{"95 minutes at 150 wpm", 14250, 95 * time.Minute, 594, 24, 593, 594},
		{"3 hours at 150 wpm", 27000, 3 * time.Hour, 600, 45, 600, 600},
		{"3 hours at 60 wpm: fewer, fuller topics", 10800, 3 * time.Hour, 375, 29, 372, 373},
		{"3 hours, almost silent", 500, 3 * time.Hour, 375, 2, 250, 250},
		{"3 hours at 375 wpm", 67500, 3 * time.Hour, 1500, 45, 1500, 1500},
		{"3 hours at 400 wpm: chunks stay within 1500", 72000, 3 * time.Hour, 1500, 48, 1500, 1500},
		{"8 hours at 150 wpm", 72000, 8 * time.Hour, 1440, 50, 1440, 1440},
		{"10 hours at 150 wpm: past 50, chunks still 1500", 90000, 10 * time.Hour, 1500, 60, 1500, 1500},
		{"negative duration is no duration", 800, -time.Minute, 400, 2, 400, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			size, chunks := pipeline.TopicChunking(tc.words, tc.duration)
			require.Equal(t, tc.size, size, "chunk size")
			require.Len(t, chunks, tc.topics, "topics")
			if tc.topics == 0 {
				return
			}
			lo, hi := tc.words, 0
			for _, c := range chunks {
				lo, hi = min(lo, c.Len()), max(hi, c.Len())
			}
			require.Equal(t, tc.minW, lo, "smallest chunk")
			require.Equal(t, tc.maxW, hi, "largest chunk")
		})
	}
}

// TestTopicChunkingInvariants sweeps meeting lengths and paces: chunks
// cover every word once, in order, never exceed MaxChunkWords, differ by
// at most one word; a 3-hour meeting gets 2–50 topics and a 5-minute one
// at least 1.
func TestTopicChunkingInvariants(t *testing.T) {
	t.Parallel()
	for minutes := 1; minutes <= 600; minutes += 7 {
		for _, wpm := range []int{1, 10, 40, 90, 150, 220, 300} {
			d := time.Duration(minutes) * time.Minute
			words := minutes * wpm
			_, chunks := pipeline.TopicChunking(words, d)
			require.NotEmpty(t, chunks, "%d min at %d wpm", minutes, wpm)
			next := 0
			for _, c := range chunks {
				require.Equal(t, next, c.From, "%d min at %d wpm: chunks are contiguous", minutes, wpm)
				require.LessOrEqual(t, c.Len(), pipeline.MaxChunkWords)
				require.InDelta(t, chunks[0].Len(), c.Len(), 1, "even split")
				next = c.To
			}
			require.Equal(t, words, next, "every word is in a chunk")
			if words <= 75000 {
				require.LessOrEqual(t, len(chunks), pipeline.MaxTopics, "%d min at %d wpm", minutes, wpm)
			}
		}
	}
	for _, wpm := range []int{3, 50, 100, 150, 250, 400} {
		_, chunks := pipeline.TopicChunking(180*wpm, 3*time.Hour)
		require.GreaterOrEqual(t, len(chunks), 2, "3 hours at %d wpm", wpm)
		require.LessOrEqual(t, len(chunks), 50, "3 hours at %d wpm", wpm)
		_, chunks = pipeline.TopicChunking(5*wpm, 5*time.Minute)
		require.GreaterOrEqual(t, len(chunks), 1, "5 minutes at %d wpm", wpm)
	}
}

func TestSubjectCap(t *testing.T) {
	t.Parallel()
	cases := []struct {
		duration time.Duration
		want     int
	}{
		{0, 1},
		{-time.Minute, 1},
		{30 * time.Second, 1},
		{5 * time.Minute, 1},
		{15 * time.Minute, 1},
		{15*time.Minute + time.Second, 2},
		{30 * time.Minute, 2},
		{45 * time.Minute, 3},
		{time.Hour, 4},
		{75 * time.Minute, 5},
		{90 * time.Minute, 6},
		{3 * time.Hour, 6},
		{100 * time.Hour, 6},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, pipeline.SubjectCap(tc.duration), "%s", tc.duration)
	}
}
