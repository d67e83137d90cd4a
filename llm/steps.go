package llm

import (
	"context"
	"errors"
	"strings"
	"unicode"

	"golang.org/x/sync/errgroup"

	"github.com/parley-dev/parley"
)

// MaxSubjects is the most subjects a meeting gets (enforced, not only
// asked for).
const MaxSubjects = 6

// MaxTitleWords bounds a meeting title.
const MaxTitleWords = 10

var errEmpty = errors.New("a required field is empty")

// Topic names and summarises one chunk of the transcript.
func (l *LLM) Topic(ctx context.Context, text string, ps []parley.Participant) (title, summary string, err error) {
	var out struct {
		Title   string `json:"title"`
		Summary string `json:"summary"`
	}
	err = l.structured(ctx, call{request: "topic", schema: schemaTopic, system: systemTopic,
		user: promptTopic(text, ps), temperature: 0.9}, &out, func() error {
		if strings.TrimSpace(out.Title) == "" || strings.TrimSpace(out.Summary) == "" {
			return errors.New(`"title" and "summary" must not be empty`)
		}
		return nil
	})
	return CleanTitle(out.Title), strings.TrimSpace(out.Summary), err
}

// Title makes the meeting title from the topic titles.
func (l *LLM) Title(ctx context.Context, topicTitles []string) (string, error) {
	var out struct {
		Title string `json:"title"`
	}
	err := l.structured(ctx, call{request: "title", schema: schemaTitle, system: systemTitle,
		user: promptTitle(topicTitles), temperature: 0.5}, &out, func() error {
		if strings.TrimSpace(out.Title) == "" {
			return errors.New(`"title" must not be empty`)
		}
		return nil
	})
	return CleanTitle(out.Title), err
}

// CleanTitle tidies a generated title as the reference does: surrounding
// quotes removed, one line, the first word and words longer than three
// letters capitalised, other short words lowercase; at most 10 words.
func CleanTitle(t string) string {
	t = strings.TrimSpace(strings.SplitN(strings.TrimSpace(t), "\n", 2)[0])
	t = strings.Trim(t, `"'“”‘’`+"`")
	t = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(t, "Title:"), "."))
	words := strings.Fields(t)
	if len(words) > MaxTitleWords {
		words = words[:MaxTitleWords]
	}
	for i, w := range words {
		r := []rune(w)
		switch {
		case i == 0 || len(r) > 3:
			if !hasUpperAfterFirst(r) { // keep acronyms and CamelCase as written
				r[0] = unicode.ToUpper(r[0])
			}
			words[i] = string(r)
		default:
			if !hasUpperAfterFirst(r) {
				words[i] = strings.ToLower(w)
			}
		}
	}
	return strings.Join(words, " ")
}

func hasUpperAfterFirst(r []rune) bool {
	for _, c := range r[1:] {
		if unicode.IsUpper(c) {
			return true
		}
	}
	return false
}

// Subjects lists the meeting's main subjects, at most MaxSubjects (the
// cap is enforced here, not only asked for). A transcript longer than the
// context window is read in parts; when the parts' subjects are more than
// MaxSubjects, one more call picks the most important of them.
func (l *LLM) Subjects(ctx context.Context, text string, ps []parley.Participant) ([]string, error) {
	parts := l.split(text)
	var all []string
	for _, part := range parts {
		var out struct {
			Subjects []string `json:"subjects"`
		}
		err := l.structured(ctx, call{request: "subjects", schema: schemaSubjects, system: systemSubjects,
			user: promptTranscript(part, ps), temperature: 0.4}, &out, nil)
		if err != nil {
			return nil, err
		}
		all = append(all, out.Subjects...)
	}
	candidates := distinctSubjects(all)
	if len(parts) == 1 || len(candidates) <= MaxSubjects {
		return LimitSubjects(candidates), nil
	}
	var out struct {
		Subjects []string `json:"subjects"`
	}
	err := l.structured(ctx, call{request: "subjects", schema: schemaSubjects, system: systemSubjectsMerge,
		user: promptSubjectsMerge(candidates), temperature: 0.4}, &out, func() error {
		if len(distinctSubjects(out.Subjects)) == 0 {
			return errors.New(`"subjects" must not be empty`)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return LimitSubjects(out.Subjects), nil
}

// distinctSubjects trims subjects and drops empty and repeated ones
// (case-insensitively), keeping the order.
func distinctSubjects(in []string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, s := range in {
		s = strings.TrimSpace(strings.Trim(strings.TrimSpace(s), `"'“”`))
		k := strings.ToLower(s)
		if s == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, s)
	}
	return out
}

// LimitSubjects trims, de-duplicates (case-insensitively) and caps the
// subjects at MaxSubjects, keeping the first.
func LimitSubjects(in []string) []string {
	out := distinctSubjects(in)
	if len(out) > MaxSubjects {
		out = out[:MaxSubjects]
	}
	return out
}

// SubjectSummary writes the detailed and the one-paragraph summary of one
// subject.
func (l *LLM) SubjectSummary(ctx context.Context, subject, text string, ps []parley.Participant) (string, string, error) {
	parts := l.split(text)
	details := make([]string, len(parts))
	// A failed call does not cancel the others: what succeeds is cached.
	var g errgroup.Group
	g.SetLimit(4)
	for i, part := range parts {
		g.Go(func() error {
			var out struct {
				Detailed string `json:"detailed_summary"`
			}
			err := l.structured(ctx, call{request: "subject summary", schema: schemaDetail, system: systemSubjectDetail,
				user: promptSubject(subject, part, ps), temperature: 0.4}, &out, nonEmpty(&out.Detailed))
			details[i] = out.Detailed
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return "", "", err
	}
	detailed, err := l.combine(ctx, "subject summary", "analyses", details)
	if err != nil {
		return "", "", err
	}
	var out struct {
		Paragraph string `json:"paragraph_summary"`
	}
	err = l.structured(ctx, call{request: "subject summary", schema: schemaParagraph, system: systemSubjectParagraph,
		user: promptParagraph(subject, detailed, ps), temperature: 0.4}, &out, nonEmpty(&out.Paragraph))
	return strings.TrimSpace(detailed), strings.TrimSpace(out.Paragraph), err
}

// Recap writes the one-paragraph recap of the meeting.
func (l *LLM) Recap(ctx context.Context, subjects []parley.Subject, ps []parley.Participant) (string, error) {
	var out struct {
		Recap string `json:"recap"`
	}
	err := l.structured(ctx, call{request: "recap", schema: schemaRecap, system: systemRecap,
		user: promptRecap(subjects, ps), temperature: 0.4}, &out, nonEmpty(&out.Recap))
	return strings.TrimSpace(out.Recap), err
}

// ActionItems finds decisions and next steps and maps owners to
// participant ids by exact name.
func (l *LLM) ActionItems(ctx context.Context, text string, ps []parley.Participant) (parley.ActionItems, error) {
	items := parley.ActionItems{Decisions: []parley.Decision{}, NextSteps: []parley.NextStep{}}
	for _, part := range l.split(text) {
		var out parley.ActionItems
		err := l.structured(ctx, call{request: "action items", schema: schemaActions, system: systemActionItems,
			user: promptTranscript(part, ps), temperature: 0.4}, &out, func() error {
			for _, d := range out.Decisions {
				if strings.TrimSpace(d.Decision) == "" {
					return errors.New(`every decision needs a "decision"`)
				}
			}
			for _, n := range out.NextSteps {
				if strings.TrimSpace(n.Task) == "" {
					return errors.New(`every next step needs a "task"`)
				}
			}
			return nil
		})
		if err != nil {
			return items, err
		}
		items.Decisions = append(items.Decisions, out.Decisions...)
		items.NextSteps = append(items.NextSteps, out.NextSteps...)
	}
	return MapParticipants(dedupeItems(items), ps), nil
}

// dedupeItems drops repeated decisions and next steps (parts of a long
// transcript may report the same one), keeping the first.
func dedupeItems(items parley.ActionItems) parley.ActionItems {
	seen := map[string]bool{}
	ds := items.Decisions[:0:0]
	for _, d := range items.Decisions {
		if k := "d:" + strings.ToLower(strings.TrimSpace(d.Decision)); !seen[k] {
			seen[k] = true
			ds = append(ds, d)
		}
	}
	ns := items.NextSteps[:0:0]
	for _, n := range items.NextSteps {
		if k := "n:" + strings.ToLower(strings.TrimSpace(n.Task)); !seen[k] {
			seen[k] = true
			ns = append(ns, n)
		}
	}
	return parley.ActionItems{Decisions: ds, NextSteps: ns}
}

// MapParticipants fills the participant ids of owners whose name matches a
// participant's exactly (ignoring case and surrounding space).
func MapParticipants(items parley.ActionItems, ps []parley.Participant) parley.ActionItems {
	ids := map[string]string{}
	for _, p := range ps {
		ids[strings.ToLower(strings.TrimSpace(p.Name))] = p.ID
	}
	for i, d := range items.Decisions {
		items.Decisions[i].DecidedByParticipantID = ids[strings.ToLower(strings.TrimSpace(d.DecidedBy))]
	}
	for i, n := range items.NextSteps {
		items.NextSteps[i].AssignedToParticipantID = ids[strings.ToLower(strings.TrimSpace(n.AssignedTo))]
	}
	return items
}

func nonEmpty(s *string) func() error {
	return func() error {
		if strings.TrimSpace(*s) == "" {
			return errEmpty
		}
		return nil
	}
}

// combine merges partial texts with one more call (nothing to do for
// one). Parts too many for one prompt are combined in groups, and the
// groups' results again, until one text is left (like the reference's
// tree summarising).
func (l *LLM) combine(ctx context.Context, request, kind string, parts []string) (string, error) {
	budget := l.cfg.ContextWindow * charsPerToken / 2
	for len(parts) > 1 {
		// Groups of at least two parts (so the list shrinks every round),
		// closed once over the budget.
		var groups [][]string
		size := 0
		for _, p := range parts {
			if n := len(groups); n == 0 || (size+len(p) > budget && len(groups[n-1]) > 1) {
				groups = append(groups, nil)
				size = 0
			}
			groups[len(groups)-1] = append(groups[len(groups)-1], p)
			size += len(p)
		}
		next := make([]string, len(groups))
		for i, g := range groups {
			if len(g) == 1 {
				next[i] = g[0]
				continue
			}
			var out struct {
				Summary string `json:"summary"`
			}
			err := l.structured(ctx, call{request: request, schema: schemaCombine, system: systemCombine,
				user: promptCombine(kind, g), temperature: 0.4}, &out, nonEmpty(&out.Summary))
			if err != nil {
				return "", err
			}
			next[i] = strings.TrimSpace(out.Summary)
		}
		parts = next
	}
	return parts[0], nil
}

// split cuts text into parts that fit the context window (about 4
// characters a token, half the window for the transcript), at line ends.
func (l *LLM) split(text string) []string {
	return SplitText(text, l.cfg.ContextWindow*4/2)
}

// SplitText cuts text at line ends into parts of at most maxChars (a
// single longer line is cut at spaces). Nothing is dropped.
func SplitText(text string, maxChars int) []string {
	if len(text) <= maxChars || maxChars <= 0 {
		return []string{text}
	}
	var parts []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			parts = append(parts, cur.String())
			cur.Reset()
		}
	}
	for _, line := range strings.SplitAfter(text, "\n") {
		for len(line) > maxChars {
			cut := strings.LastIndexByte(line[:maxChars], ' ')
			if cut <= 0 {
				cut = maxChars
			}
			flush()
			parts = append(parts, line[:cut])
			line = line[cut:]
		}
		if cur.Len()+len(line) > maxChars {
			flush()
		}
		cur.WriteString(line)
	}
	flush()
	return parts
}
