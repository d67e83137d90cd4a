package pipeline

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/store"
)

// DetectTopicsOutput is detect_topics' output.
type DetectTopicsOutput struct {
	Topics int `json:"topics"`
	Words  int `json:"words"`
}

// DetectTopics cuts the merged words into chunks sized by the meeting's
// length (TopicChunking) and runs one TopicChunkProcessing child per chunk
// for its title and summary (in parallel, bounded by the LLM rate limit
// and concurrency cap); timestamp and duration come from the words, not
// the LLM. Once every child succeeded, the topics are stored (stable ids)
// and announced in order. A failed child fails the step with the others'
// results kept by their child runs (and the LLM cache), so a replay
// repeats only the failed chunks.
func (s *Steps) DetectTopics(ctx context.Context, in Input) (DetectTopicsOutput, error) {
	words, err := s.DB.ListWords(ctx, in.TranscriptID)
	if err != nil {
		return DetectTopicsOutput{}, err
	}
	d, err := s.meetingDuration(ctx, in.TranscriptID, words)
	if err != nil {
		return DetectTopicsOutput{}, err
	}
	_, chunks := TopicChunking(len(words), d)
	runID := attemptRunID(ctx)
	inputs := make([]TopicChunkInput, len(chunks))
	topics := make([]store.StoredTopic, len(chunks))
	for i, c := range chunks {
		ws := words[c.From:c.To]
		text := plainText(ws)
		inputs[i] = TopicChunkInput{TranscriptID: in.TranscriptID, ChunkIndex: i, NumChunks: len(chunks),
			WordFrom: c.From, WordTo: c.To, PipelineRunID: runID, key: childKey("topic", i, text)}
		topics[i] = store.StoredTopic{
			Topic:    parley.Topic{Timestamp: ws[0].Start, Duration: ws[len(ws)-1].End - ws[0].Start, Transcript: text},
			WordFrom: c.From, WordTo: c.To,
		}
	}
	if len(inputs) > 0 {
		outs, err := s.Fanout.RunTopicChunks(ctx, inputs)
		if err != nil {
			return DetectTopicsOutput{}, err
		}
		if len(outs) != len(inputs) {
			return DetectTopicsOutput{}, parley.Errorf(parley.EINTERNAL, "detect topics: %d results for %d chunks", len(outs), len(inputs))
		}
		for i, o := range outs {
			topics[i].Title, topics[i].Summary = o.Title, o.Summary
		}
	}
	if err := s.DB.ReplaceTopics(ctx, in.TranscriptID, topics); err != nil {
		return DetectTopicsOutput{}, err
	}
	for i, t := range topics {
		ws := words[t.WordFrom:t.WordTo]
		if err := s.emit(ctx, in.TranscriptID, parley.EventTopic, parley.TopicData{
			ID: store.TopicID(in.TranscriptID, i), Title: t.Title, Summary: t.Summary, Timestamp: t.Timestamp,
			Duration: t.Duration, Transcript: t.Transcript, Words: ws,
		}); err != nil {
			return DetectTopicsOutput{}, err
		}
	}
	return DetectTopicsOutput{Topics: len(topics), Words: len(words)}, nil
}

func plainText(ws []parley.Word) string {
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = strings.TrimSpace(w.Text)
	}
	return strings.Join(parts, " ")
}

// TitleOutput is generate_title's output.
type TitleOutput struct {
	Title   string `json:"title"`
	Skipped string `json:"skipped,omitempty"`
}

// GenerateTitle makes the meeting title from the topic titles. The stored
// title and the FINAL_TITLE event always agree; a user's name for the
// transcript is kept separately and never overwritten.
func (s *Steps) GenerateTitle(ctx context.Context, in Input) (TitleOutput, error) {
	topics, err := s.DB.ListTopics(ctx, in.TranscriptID, false)
	if err != nil {
		return TitleOutput{}, err
	}
	if len(topics) == 0 {
		return TitleOutput{Skipped: "no topics (no speech)"}, nil
	}
	titles := make([]string, len(topics))
	for i, t := range topics {
		titles[i] = t.Title
	}
	title, err := s.LLM.Title(ctx, titles)
	if err != nil {
		return TitleOutput{}, fmt.Errorf("generate title: %w", err)
	}
	if err := s.DB.UpdateTranscript(ctx, in.TranscriptID, store.TranscriptUpdate{Title: &title}); err != nil {
		return TitleOutput{}, err
	}
	if err := s.emit(ctx, in.TranscriptID, parley.EventFinalTitle, parley.FinalTitleData{Title: title}); err != nil {
		return TitleOutput{}, err
	}
	return TitleOutput{Title: title}, nil
}

// SubjectsOutput is extract_subjects' output.
type SubjectsOutput struct {
	Subjects []string `json:"subjects"`
}

// ExtractSubjects finds the meeting's main subjects: at most SubjectCap of
// the meeting's duration (1 to 6).
func (s *Steps) ExtractSubjects(ctx context.Context, in Input) (SubjectsOutput, error) {
	words, err := s.DB.ListWords(ctx, in.TranscriptID)
	if err != nil {
		return SubjectsOutput{}, err
	}
	ps, err := s.DB.ListParticipants(ctx, in.TranscriptID)
	if err != nil {
		return SubjectsOutput{}, err
	}
	d, err := s.meetingDuration(ctx, in.TranscriptID, words)
	if err != nil {
		return SubjectsOutput{}, err
	}
	text := parley.TranscriptText(words, ps)
	var subjects []string
	if strings.TrimSpace(text) != "" {
		if subjects, err = s.LLM.Subjects(ctx, text, ps); err != nil {
			return SubjectsOutput{}, fmt.Errorf("extract subjects: %w", err)
		}
	}
	if limit := SubjectCap(d); len(subjects) > limit {
		subjects = subjects[:limit]
	}
	if err := s.DB.ReplaceSubjects(ctx, in.TranscriptID, subjects); err != nil {
		return SubjectsOutput{}, err
	}
	return SubjectsOutput{Subjects: subjects}, nil
}

// meetingDuration is what the topic and subject formulas call the
// meeting's length: the transcript's duration (Daily's, or the mix's) or
// the span of its words, whichever is longer (the mix may not be done yet
// when topics are detected).
func (s *Steps) meetingDuration(ctx context.Context, tid string, words []parley.Word) (time.Duration, error) {
	t, err := s.DB.GetTranscript(ctx, tid)
	if err != nil {
		return 0, err
	}
	secs := t.DurationSeconds
	if len(words) > 0 {
		secs = max(secs, words[len(words)-1].End-words[0].Start)
	}
	return time.Duration(secs * float64(time.Second)), nil
}

func (s *Steps) transcriptText(ctx context.Context, tid string) (string, []parley.Participant, error) {
	words, err := s.DB.ListWords(ctx, tid)
	if err != nil {
		return "", nil, err
	}
	ps, err := s.DB.ListParticipants(ctx, tid)
	if err != nil {
		return "", nil, err
	}
	return parley.TranscriptText(words, ps), ps, nil
}

// ProcessSubjectsOutput is process_subjects' output.
type ProcessSubjectsOutput struct {
	Summarized int `json:"summarized"`
}

// ProcessSubjects runs one SubjectProcessing child per subject (the
// detailed and the paragraph summary, in parallel, bounded by the LLM rate
// limit and concurrency cap) and stores their summaries. A failure fails
// the step (and is retried or replayed child by child); it never silently
// empties the summary.
func (s *Steps) ProcessSubjects(ctx context.Context, in Input) (ProcessSubjectsOutput, error) {
	subjects, err := s.DB.ListSubjects(ctx, in.TranscriptID)
	if err != nil {
		return ProcessSubjectsOutput{}, err
	}
	if len(subjects) == 0 {
		return ProcessSubjectsOutput{}, nil
	}
	runID := attemptRunID(ctx)
	inputs := make([]SubjectInput, len(subjects))
	for i, sub := range subjects {
		inputs[i] = SubjectInput{TranscriptID: in.TranscriptID, SubjectIndex: sub.Index, NumSubjects: len(subjects),
			PipelineRunID: runID, key: childKey("subject", sub.Index, sub.Subject)}
	}
	outs, err := s.Fanout.RunSubjects(ctx, inputs)
	if err != nil {
		return ProcessSubjectsOutput{}, err
	}
	if len(outs) != len(inputs) {
		return ProcessSubjectsOutput{}, parley.Errorf(parley.EINTERNAL, "process subjects: %d results for %d subjects", len(outs), len(inputs))
	}
	for i, o := range outs {
		if o.SubjectIndex != subjects[i].Index || o.Subject != subjects[i].Subject {
			return ProcessSubjectsOutput{}, parley.Errorf(parley.EINTERNAL, "process subjects: subject %d is %q, its summary is of %q",
				subjects[i].Index+1, subjects[i].Subject, o.Subject)
		}
		if err := s.DB.SetSubjectSummaries(ctx, in.TranscriptID, o.SubjectIndex, o.Detailed, o.Paragraph); err != nil {
			return ProcessSubjectsOutput{}, err
		}
	}
	return ProcessSubjectsOutput{Summarized: len(subjects)}, nil
}

// RecapOutput is generate_recap's output.
type RecapOutput struct {
	ShortSummary string `json:"short_summary"`
	Skipped      string `json:"skipped,omitempty"`
}

// GenerateRecap writes the short summary (a one-paragraph recap) and the
// long summary (markdown: the recap, then one paragraph per subject).
func (s *Steps) GenerateRecap(ctx context.Context, in Input) (RecapOutput, error) {
	subjects, err := s.DB.ListSubjects(ctx, in.TranscriptID)
	if err != nil {
		return RecapOutput{}, err
	}
	var summarized []parley.Subject
	for _, sub := range subjects {
		if strings.TrimSpace(sub.Paragraph) != "" {
			summarized = append(summarized, sub)
		}
	}
	if len(summarized) == 0 {
		return RecapOutput{Skipped: "no subjects (no speech)"}, nil
	}
	ps, err := s.DB.ListParticipants(ctx, in.TranscriptID)
	if err != nil {
		return RecapOutput{}, err
	}
	recap, err := s.LLM.Recap(ctx, summarized, ps)
	if err != nil {
		return RecapOutput{}, fmt.Errorf("generate recap: %w", err)
	}
	long := LongSummary(recap, summarized)
	if err := s.DB.UpdateTranscript(ctx, in.TranscriptID, store.TranscriptUpdate{ShortSummary: &recap, LongSummary: &long}); err != nil {
		return RecapOutput{}, err
	}
	if err := s.emit(ctx, in.TranscriptID, parley.EventFinalShortSummary, parley.FinalShortSummaryData{ShortSummary: recap}); err != nil {
		return RecapOutput{}, err
	}
	if err := s.emit(ctx, in.TranscriptID, parley.EventFinalLongSummary, parley.FinalLongSummaryData{LongSummary: long}); err != nil {
		return RecapOutput{}, err
	}
	return RecapOutput{ShortSummary: recap}, nil
}

// LongSummary renders the long summary markdown: "# Quick recap", the
// recap, "# Summary", then "**subject**" and its paragraph for each subject.
// Empty sections are left out.
func LongSummary(recap string, subjects []parley.Subject) string {
	var b strings.Builder
	if r := strings.TrimSpace(recap); r != "" {
		b.WriteString("# Quick recap\n\n" + r + "\n\n")
	}
	var body strings.Builder
	for _, s := range subjects {
		p := strings.TrimSpace(s.Paragraph)
		if p == "" {
			continue
		}
		body.WriteString("**" + strings.TrimSpace(s.Subject) + "**\n" + p + "\n\n")
	}
	if body.Len() > 0 {
		b.WriteString("# Summary\n\n" + body.String())
	}
	return strings.TrimRight(b.String(), "\n")
}

// ActionItemsOutput is identify_action_items' output.
type ActionItemsOutput struct {
	Decisions int `json:"decisions"`
	NextSteps int `json:"next_steps"`
}

// IdentifyActionItems finds decisions and next steps, with owners mapped to
// participant ids.
func (s *Steps) IdentifyActionItems(ctx context.Context, in Input) (ActionItemsOutput, error) {
	text, ps, err := s.transcriptText(ctx, in.TranscriptID)
	if err != nil {
		return ActionItemsOutput{}, err
	}
	items := parley.ActionItems{Decisions: []parley.Decision{}, NextSteps: []parley.NextStep{}}
	if strings.TrimSpace(text) != "" {
		if items, err = s.LLM.ActionItems(ctx, text, ps); err != nil {
			return ActionItemsOutput{}, fmt.Errorf("identify action items: %w", err)
		}
	}
	if items.Decisions == nil {
		items.Decisions = []parley.Decision{}
	}
	if items.NextSteps == nil {
		items.NextSteps = []parley.NextStep{}
	}
	if err := s.DB.UpdateTranscript(ctx, in.TranscriptID, store.TranscriptUpdate{ActionItems: &items}); err != nil {
		return ActionItemsOutput{}, err
	}
	if err := s.emit(ctx, in.TranscriptID, parley.EventActionItems, parley.ActionItemsData{ActionItems: items}); err != nil {
		return ActionItemsOutput{}, err
	}
	return ActionItemsOutput{Decisions: len(items.Decisions), NextSteps: len(items.NextSteps)}, nil
}
