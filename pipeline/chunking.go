package pipeline

import (
	"math"
	"time"
)

// Topic chunking and the subject cap follow the meeting's length, so that
// a five-minute stand-up and a three-hour workshop both get a useful
// number of topics and subjects (the reference's #952 rule: chunks of
// 375–1500 words aiming at 2–50 topics, 1–6 subjects by duration).
//
// The formula (TopicChunking):
//
//	target = clamp(round(minutes / MinutesPerTopic), MinTopics, MaxTopics)   about one topic per 4 minutes
//	size   = clamp(ceil(words / target), MinChunkWords, MaxChunkWords)       words per chunk
//	chunks = round(words / size), at least 1
//	         at least MinTopics when round(minutes / MinutesPerTopic) >= MinTopics and words >= MinChunkWords
//	         raised until no chunk exceeds MaxChunkWords
//
// and the words are cut into that many chunks of equal size (±1 word).
// minutes is the meeting's duration: the longer of the transcript's
// duration and the span of its words. So:
//
//   - any meeting with words gets at least one topic; one shorter than 6
//     minutes, or with fewer than MinChunkWords words, usually one or two;
//   - a meeting of 6 minutes or more with at least MinChunkWords words gets
//     at least MinTopics;
//   - there is about one topic per 4 minutes, as long as that leaves
//     MinChunkWords words or more per topic (slow or sparse speech gives
//     fewer, larger topics) and at most MaxChunkWords;
//   - so a 3-hour meeting gets 45 topics at a pace of about 93 to 375 words a
//     minute, fewer (at least 2) when it has fewer words, and never more
//     than 50 up to 75,000 words; beyond that the chunks stay at
//     MaxChunkWords, so that each fits a model's context, and the count
//     grows past 50.
//
// SubjectCap: one subject per started SubjectMinutes of meeting, from
// MinSubjects to MaxSubjects (≤ 15 min: 1, ≤ 30 min: 2, … > 75 min: 6).
const (
	MinChunkWords   = 375
	MaxChunkWords   = 1500
	MinTopics       = 2
	MaxTopics       = 50
	MinutesPerTopic = 4.0
	MinSubjects     = 1
	MaxSubjects     = 6
	SubjectMinutes  = 15.0
)

// Chunk is a half-open range of word indexes [From, To).
type Chunk struct {
	From, To int
}

// Len is the number of words in the chunk.
func (c Chunk) Len() int { return c.To - c.From }

// TopicChunking cuts a transcript of the given number of words and
// duration into topic chunks (see the formula above). It returns the
// chunk size the formula chose and the chunks, in order, covering every
// word; no words, no chunks.
func TopicChunking(words int, duration time.Duration) (size int, chunks []Chunk) {
	if words <= 0 {
		return 0, nil
	}
	minutes := max(duration.Minutes(), 0)
	aim := int(math.Round(minutes / MinutesPerTopic))
	target := clamp(aim, MinTopics, MaxTopics)
	size = clamp(ceilDiv(words, target), MinChunkWords, MaxChunkWords)
	n := max(1, int(math.Round(float64(words)/float64(size))))
	if aim >= MinTopics && words >= MinChunkWords {
		n = max(n, MinTopics)
	}
	for ceilDiv(words, n) > MaxChunkWords {
		n++
	}
	chunks = make([]Chunk, n)
	for i := range chunks {
		chunks[i] = Chunk{From: i * words / n, To: (i + 1) * words / n}
	}
	return size, chunks
}

// SubjectCap is the most subjects a meeting of this duration gets (see the
// formula above).
func SubjectCap(duration time.Duration) int {
	return clamp(int(math.Ceil(duration.Minutes()/SubjectMinutes)), MinSubjects, MaxSubjects)
}

func clamp(v, lo, hi int) int { return min(max(v, lo), hi) }

func ceilDiv(a, b int) int { return (a + b - 1) / b }
