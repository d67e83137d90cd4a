package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/parley-dev/parley"
)

// The LLM fan-out runs as child workflows, one run per unit of work, so
// that the Hatchet dashboard shows each and a failure is retried (and
// replayed) alone: detect_topics runs one TopicChunkProcessing per topic
// chunk, process_subjects one SubjectProcessing per subject. Their inputs
// carry ids and indexes, never text; a child reads what it needs from the
// store. A child's result is its (small) output: the parent assembles the
// results in order and is the only one to write them, so a retried or
// replayed parent, which re-attaches to its children by their stable run
// keys, writes the same thing again. Both children take units of the
// Hatchet rate limit `llm` (Settings.LLMRate) and at most
// Settings.LLMConcurrency of them run at once per transcript; each goes
// through the LLM result cache, so a replay pays only for the children
// that failed.

// TopicChunkInput is a TopicChunkProcessing run's input: one chunk of the
// transcript's words, [WordFrom, WordTo) of the words in meeting-time
// order.
type TopicChunkInput struct {
	TranscriptID string `json:"transcript_id"`
	// ChunkIndex is the chunk's place (from 0) among NumChunks.
	ChunkIndex int `json:"chunk_index"`
	NumChunks  int `json:"num_chunks"`
	WordFrom   int `json:"word_from"`
	WordTo     int `json:"word_to"`
	// PipelineRunID is the DiarizationPipeline run that spawned it (for the
	// audit).
	PipelineRunID string `json:"pipeline_run_id,omitempty"`
	// key is the child's run key (childKey), set by detect_topics.
	key string
}

// Subject returns the transcript the input belongs to (for observers).
func (in TopicChunkInput) Subject() string { return in.TranscriptID }

// TopicChunkOutput is a TopicChunkProcessing run's result.
type TopicChunkOutput struct {
	ChunkIndex int    `json:"chunk_index"`
	Title      string `json:"title"`
	Summary    string `json:"summary"`
}

// SubjectInput is a SubjectProcessing run's input: one of the subjects
// extract_subjects stored.
type SubjectInput struct {
	TranscriptID string `json:"transcript_id"`
	// SubjectIndex is the subject's index (from 0) among NumSubjects.
	SubjectIndex  int    `json:"subject_index"`
	NumSubjects   int    `json:"num_subjects"`
	PipelineRunID string `json:"pipeline_run_id,omitempty"`
	// key is the child's run key (childKey), set by process_subjects.
	key string
}

// Subject returns the transcript the input belongs to (for observers).
func (in SubjectInput) Subject() string { return in.TranscriptID }

// SubjectOutput is a SubjectProcessing run's result: the subject it
// summarized and its two summaries.
type SubjectOutput struct {
	SubjectIndex int    `json:"subject_index"`
	Subject      string `json:"subject"`
	Detailed     string `json:"detailed_summary"`
	Paragraph    string `json:"paragraph_summary"`
}

// FanoutRunner runs the LLM fan-out's child workflows of a run and waits
// for all of them, returning their results in the order of the inputs
// (package hatchet does the spawning). A failed child does not stop the
// others; the error names every failed one.
type FanoutRunner interface {
	RunTopicChunks(ctx context.Context, inputs []TopicChunkInput) ([]TopicChunkOutput, error)
	RunSubjects(ctx context.Context, inputs []SubjectInput) ([]SubjectOutput, error)
}

// DetectChunkTopic is TopicChunkProcessing's task: the title and summary
// of one chunk of the transcript (one LLM call, cached).
func (s *Steps) DetectChunkTopic(ctx context.Context, in TopicChunkInput) (TopicChunkOutput, error) {
	words, err := s.DB.ListWords(ctx, in.TranscriptID)
	if err != nil {
		return TopicChunkOutput{}, err
	}
	if in.WordFrom < 0 || in.WordFrom >= in.WordTo || in.WordTo > len(words) {
		return TopicChunkOutput{}, parley.Errorf(parley.EINVALID,
			"topic chunk %d of %d: words [%d, %d) are not in the transcript's %d words", in.ChunkIndex+1, in.NumChunks,
			in.WordFrom, in.WordTo, len(words))
	}
	ps, err := s.DB.ListParticipants(ctx, in.TranscriptID)
	if err != nil {
		return TopicChunkOutput{}, err
	}
	title, summary, err := s.LLM.Topic(ctx, parley.TranscriptText(words[in.WordFrom:in.WordTo], ps), ps)
	if err != nil {
		return TopicChunkOutput{}, fmt.Errorf("topic %d of %d: %w", in.ChunkIndex+1, in.NumChunks, err)
	}
	return TopicChunkOutput{ChunkIndex: in.ChunkIndex, Title: title, Summary: summary}, nil
}

// GenerateDetailedSummary is SubjectProcessing's task: the detailed and
// the paragraph summary of one subject (cached LLM calls).
func (s *Steps) GenerateDetailedSummary(ctx context.Context, in SubjectInput) (SubjectOutput, error) {
	subjects, err := s.DB.ListSubjects(ctx, in.TranscriptID)
	if err != nil {
		return SubjectOutput{}, err
	}
	var subject *parley.Subject
	for i := range subjects {
		if subjects[i].Index == in.SubjectIndex {
			subject = &subjects[i]
		}
	}
	if subject == nil {
		return SubjectOutput{}, parley.Errorf(parley.EINVALID, "subject %d of %d is not stored (%d subjects)",
			in.SubjectIndex+1, in.NumSubjects, len(subjects))
	}
	text, ps, err := s.transcriptText(ctx, in.TranscriptID)
	if err != nil {
		return SubjectOutput{}, err
	}
	detailed, paragraph, err := s.LLM.SubjectSummary(ctx, subject.Subject, text, ps)
	if err != nil {
		return SubjectOutput{}, fmt.Errorf("summarize subject %q: %w", subject.Subject, err)
	}
	return SubjectOutput{SubjectIndex: in.SubjectIndex, Subject: subject.Subject, Detailed: detailed, Paragraph: paragraph}, nil
}

// childKey is a fan-out child's run key: its index and a hash of what it
// works on, so that a replayed parent re-attaches to the same child, and
// starts a new one if the work changed (the words were transcribed again,
// the subjects extracted again).
func childKey(kind string, index int, content string) string {
	h := sha256.Sum256([]byte(content))
	return fmt.Sprintf("%s-%d-%s", kind, index, hex.EncodeToString(h[:6]))
}
