package llm

import (
	"fmt"
	"strings"

	"github.com/parley-dev/parley"
)

// The prompts of every step. Their rendering is checked against golden
// files (testdata/prompts/*.golden; go test ./llm -run Golden -update).

const systemTopic = `You analyse one segment of a meeting transcript.
Name the segment's main subject, ignoring small talk and administrative chatter.
The title is specific, descriptive and professional (a few words, no quotes, no trailing period).
The summary is at most two sentences on what was discussed, decided or done.
Use the participants' names as written in the transcript; never write "a participant" or "Speaker 1" when a name is known.`

const systemTitle = `You write the title of a meeting from the titles of its topics.
The title has at most 10 words, uses noun phrases, names the most significant topic or a compound of two,
is not generic (never "Team Meeting" or "Discussion"), and is a single line without quotes.`

const systemSubjects = `You list the high-level subjects of a meeting transcript.
Each subject is a short noun phrase without quotes. Skip passing mentions and small talk.
List at most 6 subjects, the most important first.`

const systemSubjectsMerge = `You merge the subjects found in the parts of a long meeting into the meeting's main subjects.
Combine subjects that mean the same thing, keep the wording of the list, and drop minor ones.
List at most 6 subjects, the most important first.`

const systemSubjectDetail = `You write a detailed analysis of one subject of a meeting, using only the transcript.
Cover the arguments made, decisions and their rationale, action items with owners and deadlines, and open issues.
Stay on the subject; at most one page. Use the participants' exact names.`

const systemSubjectParagraph = `You condense a detailed analysis of one meeting subject into a single paragraph.
Keep decisions, owners and deadlines; use the participants' exact names.`

const systemRecap = `You write a one-paragraph, high-level recap of a meeting from summaries of its subjects.
Do not list decisions or action items, and do not start with "During the meeting".`

const systemActionItems = `You find the decisions made and the next steps agreed in a meeting transcript.
Be thorough: "I'll do X" is a next step owned by the speaker, "let's go with A" is a decision.
Use the participants' exact names for owners. Leave a field empty when the transcript does not say it.
Return empty lists only when there is truly nothing.`

const systemCombine = `You combine partial summaries of parts of a long meeting into one coherent text in the same style, without repeating yourself.`

func participantBlock(ps []parley.Participant) string {
	if len(ps) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n\n# Participants\n\n")
	for _, p := range ps {
		fmt.Fprintf(&b, "- %s\n", p.Name)
	}
	b.WriteString("\nUse these exact names.")
	return b.String()
}

func promptTopic(text string, ps []parley.Participant) string {
	return "<transcript>\n" + strings.TrimSpace(text) + "\n</transcript>" + participantBlock(ps)
}

func promptTitle(titles []string) string {
	var b strings.Builder
	b.WriteString("Topics of the meeting:\n\n")
	for _, t := range titles {
		fmt.Fprintf(&b, "- %s\n", strings.TrimSpace(t))
	}
	return b.String()
}

func promptTranscript(text string, ps []parley.Participant) string {
	return "<transcript>\n" + strings.TrimSpace(text) + "\n</transcript>" + participantBlock(ps)
}

func promptSubjectsMerge(candidates []string) string {
	var b strings.Builder
	b.WriteString("Subjects found in the parts of the meeting, in order:\n\n")
	for _, c := range candidates {
		fmt.Fprintf(&b, "- %s\n", strings.TrimSpace(c))
	}
	return b.String()
}

func promptSubject(subject, text string, ps []parley.Participant) string {
	return fmt.Sprintf("Subject: %s\n\n%s", subject, promptTranscript(text, ps))
}

func promptParagraph(subject, detailed string, ps []parley.Participant) string {
	return fmt.Sprintf("Subject: %s\n\nDetailed analysis:\n%s%s", subject, strings.TrimSpace(detailed), participantBlock(ps))
}

func promptRecap(subjects []parley.Subject, ps []parley.Participant) string {
	var parts []string
	for _, s := range subjects {
		parts = append(parts, fmt.Sprintf("%s: %s", s.Subject, strings.TrimSpace(s.Paragraph)))
	}
	return strings.Join(parts, "\n\n") + participantBlock(ps)
}

func promptCombine(kind string, parts []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Combine these %d partial %s into one:\n", len(parts), kind)
	for i, p := range parts {
		fmt.Fprintf(&b, "\n## Part %d\n\n%s\n", i+1, strings.TrimSpace(p))
	}
	return b.String()
}

func obj(props map[string]any, required ...string) map[string]any {
	return map[string]any{"type": "object", "properties": props, "required": required, "additionalProperties": false}
}

var str = map[string]any{"type": "string"}

// The schemas; their names are stable (the simulator dispatches on them).
var (
	schemaTopic     = schema{"topic", obj(map[string]any{"title": str, "summary": str}, "title", "summary")}
	schemaTitle     = schema{"title", obj(map[string]any{"title": str}, "title")}
	schemaSubjects  = schema{"subjects", obj(map[string]any{"subjects": map[string]any{"type": "array", "items": str}}, "subjects")}
	schemaDetail    = schema{"subject_detail", obj(map[string]any{"detailed_summary": str}, "detailed_summary")}
	schemaParagraph = schema{"subject_paragraph", obj(map[string]any{"paragraph_summary": str}, "paragraph_summary")}
	schemaRecap     = schema{"recap", obj(map[string]any{"recap": str}, "recap")}
	schemaCombine   = schema{"combine", obj(map[string]any{"summary": str}, "summary")}
	schemaActions   = schema{"action_items", obj(map[string]any{
		"decisions": map[string]any{"type": "array", "items": obj(map[string]any{
			"decision": str, "rationale": str, "decided_by": str}, "decision", "rationale", "decided_by")},
		"next_steps": map[string]any{"type": "array", "items": obj(map[string]any{
			"task": str, "assigned_to": str, "deadline": str, "context": str}, "task", "assigned_to", "deadline", "context")},
	}, "decisions", "next_steps")}
)
