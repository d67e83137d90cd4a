package llm

import (
	"encoding/json"
	"fmt"

	"github.com/parley-dev/parley"
)

// RenderPromptsForTest renders every prompt (system + user) for golden
// tests.
func RenderPromptsForTest(text string, ps []parley.Participant) map[string]string {
	subjects := []parley.Subject{{Subject: "Budget", Paragraph: "The budget is over."}, {Subject: "Launch", Paragraph: "It stays."}}
	return map[string]string{
		"topic":             systemTopic + "\n---\n" + promptTopic(text, ps),
		"title":             systemTitle + "\n---\n" + promptTitle([]string{"Budget review", "Launch timeline"}),
		"subjects":          systemSubjects + "\n---\n" + promptTranscript(text, ps),
		"subject_detail":    systemSubjectDetail + "\n---\n" + promptSubject("Budget", text, ps),
		"subject_paragraph": systemSubjectParagraph + "\n---\n" + promptParagraph("Budget", "Ben will send the sheet.", ps),
		"recap":             systemRecap + "\n---\n" + promptRecap(subjects, ps),
		"action_items":      systemActionItems + "\n---\n" + promptTranscript(text, ps),
		"combine":           systemCombine + "\n---\n" + promptCombine("analyses", []string{"one", "two"}),
		"subjects_merge":    systemSubjectsMerge + "\n---\n" + promptSubjectsMerge([]string{"Budget", "Launch", "Hiring"}),
		"reask":             fmt.Sprintf(reaskFormat, `missing required field "title"`, "title"),
		"title_no_schema":   call{system: systemTitle, schema: schemaTitle}.systemPrompt(true),
	}
}

// DecodeAnswerForTest parses an answer against a named schema.
func DecodeAnswerForTest(content, schemaName string, out any) error {
	for _, sc := range allSchemas {
		if sc.name == schemaName {
			return decodeAnswer(content, sc, out, nil)
		}
	}
	panic("unknown schema " + schemaName)
}

// SchemasJSONForTest is every schema as JSON, to check that requests leave
// them as they were.
func SchemasJSONForTest() string {
	var all []any
	for _, sc := range allSchemas {
		all = append(all, sc.schema)
	}
	b, err := json.Marshal(all)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// allSchemas lists every schema the steps use.
var allSchemas = []schema{schemaTopic, schemaTitle, schemaSubjects, schemaDetail, schemaParagraph, schemaRecap,
	schemaCombine, schemaActions}
