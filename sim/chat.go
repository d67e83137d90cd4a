package sim

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"
)

type chatRequest struct {
	Model       string   `json:"model"`
	Temperature *float64 `json:"temperature"`
	Messages    []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	ResponseFormat *struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Name   string         `json:"name"`
			Strict *bool          `json:"strict"`
			Schema map[string]any `json:"schema"`
		} `json:"json_schema"`
	} `json:"response_format"`
}

// text is every message's text, one message a line.
func (r *chatRequest) text() string {
	var b strings.Builder
	for _, m := range r.Messages {
		b.WriteString(contentText(m.Content) + "\n")
	}
	return b.String()
}

// promptSHA256 identifies the question: equal for equal messages.
func (r *chatRequest) promptSHA256() string {
	sum := sha256.Sum256([]byte(r.text()))
	return hex.EncodeToString(sum[:])
}

// kind is the prompt kind: the response_format schema name, else guessed
// from the system prompt.
func (r *chatRequest) kind() string {
	if rf := r.ResponseFormat; rf != nil && rf.JSONSchema != nil && rf.JSONSchema.Name != "" {
		return rf.JSONSchema.Name
	}
	var system strings.Builder
	for _, m := range r.Messages {
		if m.Role == "system" || m.Role == "developer" {
			system.WriteString(contentText(m.Content) + "\n")
		}
	}
	return guessKind(system.String())
}

func contentText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal(raw, &parts)
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String()
}

// chat is OpenAI's POST /v1/chat/completions: a well-formed answer per
// prompt kind (the response_format schema name, else guessed from the
// prompt's words), derived from the text of the first user message.
func (s *Server) chat(w http.ResponseWriter, r *http.Request, e *Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	var req chatRequest
	if err != nil || json.Unmarshal(body, &req) != nil || len(req.Messages) == 0 || req.Model == "" {
		openAIError(w, 400, "expected a JSON body with model and messages", "invalid_request_error")
		return
	}
	if e.Fields == nil {
		e.Fields = map[string]string{}
	}
	e.Fields["model"], e.Fields["messages"] = req.Model, fmt.Sprint(len(req.Messages))
	if req.Temperature != nil {
		e.Fields["temperature"] = fmt.Sprint(*req.Temperature)
	}
	kind := ""
	if rf := req.ResponseFormat; rf != nil {
		e.Fields["response_format"] = rf.Type
		if js := rf.JSONSchema; js != nil {
			kind = js.Name
			if js.Strict != nil {
				e.Fields["strict"] = fmt.Sprint(*js.Strict)
			}
			if req, ok := js.Schema["required"].([]any); ok {
				names := make([]string, 0, len(req))
				for _, x := range req {
					names = append(names, fmt.Sprint(x))
				}
				sort.Strings(names)
				e.Fields["schema_required"] = strings.Join(names, ",")
			}
		}
	}
	var system, all strings.Builder
	firstUser := ""
	for _, m := range req.Messages {
		t := contentText(m.Content)
		all.WriteString(t + "\n")
		switch m.Role {
		case "system", "developer":
			system.WriteString(t + "\n")
		case "user":
			if firstUser == "" {
				firstUser = t // re-asks follow; the question is the first
			}
		}
	}
	e.Fields["prompt_chars"] = fmt.Sprint(all.Len())
	e.Fields["prompt_sha256"] = req.promptSHA256()
	if kind == "" {
		kind = guessKind(system.String())
	}
	e.Schema = kind
	answer := answerFor(kind, firstUser)
	s.mu.Lock()
	f := s.faults[EndpointLLM]
	if f.Schema == "" || f.Schema == kind {
		switch {
		case f.Malformed:
			answer = malformedAnswer
		case f.MalformedOnce && !s.malformed["malformed:"+kind]:
			s.malformed["malformed:"+kind] = true
			answer = malformedAnswer
		case f.InvalidOnce && !s.malformed["invalid:"+kind]:
			s.malformed["invalid:"+kind] = true
			answer = "{}"
		}
	}
	s.mu.Unlock()
	if answer == malformedAnswer || answer == "{}" {
		e.Faulted = true
	}
	prompt := (len(all.String()) + 3) / 4
	completion := (len(answer) + 3) / 4
	if per := modelOf(r).fault.MSPer100Tokens; per > 0 {
		if !answerAfter(w, r, e, time.Duration(float64(prompt+completion)/100*per*float64(time.Millisecond))) {
			return
		}
	}
	sum := sha256.Sum256(body)
	writeJSON(w, 200, map[string]any{
		"id": "chatcmpl-sim-" + hex.EncodeToString(sum[:8]), "object": "chat.completion",
		"created": 1700000000, "model": req.Model, "system_fingerprint": "parley-sim",
		"choices": []any{map[string]any{"index": 0, "finish_reason": "stop", "logprobs": nil,
			"message": map[string]any{"role": "assistant", "content": answer, "refusal": nil}}},
		"usage": map[string]any{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
	})
}

// malformedAnswer is what the malformed faults answer.
const malformedAnswer = `{"title": "unterminated`

// guessKind names the prompt kind of a request without a json_schema:
// from the field names of a schema spelled out in the prompt, else from
// its words.
func guessKind(system string) string {
	s := strings.ToLower(system)
	has := func(field string) bool { return strings.Contains(s, `"`+field+`"`) }
	switch {
	case has("detailed_summary"):
		return "subject_detail"
	case has("paragraph_summary"):
		return "subject_paragraph"
	case has("next_steps") || has("decisions"):
		return "action_items"
	case has("subjects"):
		return "subjects"
	case has("recap"):
		return "recap"
	case has("title") && has("summary"):
		return "topic"
	case has("title"):
		return "title"
	case has("summary"):
		return "combine"
	case strings.Contains(s, "one segment"):
		return "topic"
	case strings.Contains(s, "title of a meeting"):
		return "title"
	case strings.Contains(s, "high-level subjects") || strings.Contains(s, "merge the subjects"):
		return "subjects"
	case strings.Contains(s, "detailed analysis of one subject"):
		return "subject_detail"
	case strings.Contains(s, "condense"):
		return "subject_paragraph"
	case strings.Contains(s, "recap"):
		return "recap"
	case strings.Contains(s, "decisions"):
		return "action_items"
	}
	return "combine"
}

var transcriptRE = regexp.MustCompile(`(?s)<transcript>\n?(.*?)\n?</transcript>`)

type line struct{ speaker, text string }

// transcriptLines parses "Name: text" lines of the prompt's transcript.
func transcriptLines(user string) []line {
	body := user
	if m := transcriptRE.FindStringSubmatch(user); m != nil {
		body = m[1]
	}
	var out []line
	for _, l := range strings.Split(body, "\n") {
		sp, text, ok := strings.Cut(l, ": ")
		if !ok || strings.TrimSpace(text) == "" {
			continue
		}
		out = append(out, line{strings.TrimSpace(sp), strings.TrimSpace(text)})
	}
	return out
}

var stop = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an the and or but if then so to of in on at for with by from as is are was were be been
		being it its this that these those we you i he she they them our your my me us his her their there here what which who
		will would can could should shall may might must do does did done have has had not no yes just also very really about
		into over than too only all any some more most other such own same let lets let's i'll we'll we're i'm it's that's
		okay ok well everyone thanks morning um uh like think know going get got make want need one two three next week today tomorrow good great sure
		right now then when how why where up out again each few because while both through during before after above below`) {
		stop[w] = true
	}
}

// keywords returns the most frequent content words of the text.
func keywords(text string, n int) []string {
	counts := map[string]int{}
	first := map[string]int{}
	for i, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && r != '\'' }) {
		w = strings.Trim(w, "'")
		if len(w) < 4 || stop[w] {
			continue
		}
		counts[w]++
		if _, ok := first[w]; !ok {
			first[w] = i
		}
	}
	words := make([]string, 0, len(counts))
	for w := range counts {
		words = append(words, w)
	}
	sort.Slice(words, func(i, j int) bool {
		if counts[words[i]] != counts[words[j]] {
			return counts[words[i]] > counts[words[j]]
		}
		return first[words[i]] < first[words[j]]
	})
	if len(words) > n {
		words = words[:n]
	}
	return words
}

func capitalize(w string) string {
	if w == "" {
		return w
	}
	r := []rune(w)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

func sentences(text string) []string {
	var out []string
	var b strings.Builder
	for _, r := range text {
		b.WriteRune(r)
		if r == '.' || r == '?' || r == '!' {
			if s := strings.TrimSpace(b.String()); s != "" {
				out = append(out, s)
			}
			b.Reset()
		}
	}
	if s := strings.TrimSpace(b.String()); s != "" {
		out = append(out, s)
	}
	return out
}

func joinText(ls []line) string {
	var parts []string
	for _, l := range ls {
		parts = append(parts, l.text)
	}
	return strings.Join(parts, " ")
}

func firstSentences(text string, n int) string {
	ss := sentences(text)
	if len(ss) > n {
		ss = ss[:n]
	}
	return strings.Join(ss, " ")
}

func titleFrom(kw []string) string {
	switch len(kw) {
	case 0:
		return "General Discussion"
	case 1:
		return capitalize(kw[0])
	case 2:
		return capitalize(kw[0]) + " and " + capitalize(kw[1])
	}
	return capitalize(kw[0]) + ", " + capitalize(kw[1]) + " and " + capitalize(kw[2])
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// answerFor builds the JSON answer for a prompt kind from its text.
func answerFor(kind, user string) string {
	ls := transcriptLines(user)
	text := joinText(ls)
	switch kind {
	case "topic":
		return mustJSON(map[string]string{"title": titleFrom(keywords(text, 3)),
			"summary": "The group discussed " + strings.Join(keywords(text, 3), ", ") + ". " + firstSentences(text, 1)})
	case "title":
		var titles []string
		for _, l := range strings.Split(user, "\n") {
			if t, ok := strings.CutPrefix(strings.TrimSpace(l), "- "); ok {
				titles = append(titles, t)
			}
		}
		t := "Meeting"
		if len(titles) > 0 {
			t = titles[0]
		}
		if len(titles) > 1 && len(strings.Fields(t+" "+titles[1])) <= 9 {
			t = t + " and " + titles[1]
		}
		return mustJSON(map[string]string{"title": t})
	case "subjects":
		subs := []string{}
		if len(ls) == 0 {
			// Merging the subjects of a long meeting's parts: keep the
			// listed ones in order (all of them: the client enforces the
			// limit of six).
			for _, l := range strings.Split(user, "\n") {
				if t, ok := strings.CutPrefix(strings.TrimSpace(l), "- "); ok {
					subs = append(subs, t)
				}
			}
			return mustJSON(map[string]any{"subjects": subs})
		}
		for _, k := range keywords(text, 4) {
			subs = append(subs, capitalize(k))
		}
		return mustJSON(map[string]any{"subjects": subs})
	case "subject_detail":
		subject, _, _ := strings.Cut(strings.TrimPrefix(user, "Subject: "), "\n")
		key := strings.ToLower(strings.TrimSpace(subject))
		var hits []string
		for _, l := range ls {
			for _, sn := range sentences(l.text) {
				if strings.Contains(strings.ToLower(sn), key) {
					hits = append(hits, l.speaker+" noted: "+sn)
				}
			}
		}
		if len(hits) > 5 {
			hits = hits[:5]
		}
		if len(hits) == 0 {
			hits = []string{"The subject came up briefly."}
		}
		return mustJSON(map[string]string{"detailed_summary": strings.Join(hits, " ")})
	case "subject_paragraph":
		subject, rest, _ := strings.Cut(strings.TrimPrefix(user, "Subject: "), "\n")
		_, detail, _ := strings.Cut(rest, "Detailed analysis:\n")
		detail, _, _ = strings.Cut(detail, "\n\n# Participants")
		return mustJSON(map[string]string{"paragraph_summary": "About " + strings.ToLower(strings.TrimSpace(subject)) + ", " + firstSentences(detail, 2)})
	case "recap":
		var subjects, firsts []string
		for _, block := range strings.Split(user, "\n\n") {
			if strings.HasPrefix(block, "# Participants") {
				break
			}
			if subj, p, ok := strings.Cut(block, ": "); ok {
				subjects = append(subjects, strings.ToLower(subj))
				if len(firsts) < 2 {
					firsts = append(firsts, firstSentences(p, 1))
				}
			}
		}
		return mustJSON(map[string]string{"recap": "The meeting covered " + joinAnd(subjects) + ". " + strings.Join(firsts, " ")})
	case "action_items":
		type decision struct {
			Decision  string `json:"decision"`
			Rationale string `json:"rationale"`
			DecidedBy string `json:"decided_by"`
		}
		type step struct {
			Task       string `json:"task"`
			AssignedTo string `json:"assigned_to"`
			Deadline   string `json:"deadline"`
			Context    string `json:"context"`
		}
		ds, ns := []decision{}, []step{}
		for _, l := range ls {
			for _, sn := range sentences(l.text) {
				low := strings.ToLower(sn)
				switch {
				case strings.Contains(low, "let's") || strings.Contains(low, "we decided") || strings.Contains(low, "agreed"):
					ds = append(ds, decision{Decision: sn, DecidedBy: l.speaker})
				case strings.Contains(low, "i'll") || strings.Contains(low, "i will"):
					deadline := ""
					for _, d := range []string{"monday", "tuesday", "wednesday", "thursday", "friday", "tomorrow", "next week"} {
						if strings.Contains(low, d) {
							deadline = d
						}
					}
					ns = append(ns, step{Task: sn, AssignedTo: l.speaker, Deadline: deadline})
				}
			}
		}
		return mustJSON(map[string]any{"decisions": ds, "next_steps": ns})
	}
	// combine and anything else
	var parts []string
	for _, block := range strings.Split(user, "## Part ") {
		if _, p, ok := strings.Cut(block, "\n\n"); ok && strings.TrimSpace(p) != "" {
			parts = append(parts, firstSentences(p, 2))
		}
	}
	return mustJSON(map[string]string{"summary": strings.Join(parts, " ")})
}

func joinAnd(xs []string) string {
	switch len(xs) {
	case 0:
		return "several subjects"
	case 1:
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " and " + xs[len(xs)-1]
}
