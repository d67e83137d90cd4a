package parley

import (
	"fmt"
	"path"
	"strings"
	"unicode"
)

// Segment is a run of consecutive words of one speaker: a line of the
// transcript as people read it.
type Segment struct {
	Speaker int     `json:"speaker"`
	Start   float64 `json:"start"`
	End     float64 `json:"end"`
	Text    string  `json:"text"`
	Words   []Word  `json:"-"`
}

// maxSegmentChars is the length after which a segment closes at the next
// sentence punctuation (the reference's default segmenter).
const maxSegmentChars = 120

// Segments groups words (in meeting-time order) into segments: a speaker
// change starts a new segment; otherwise a segment closes at a word that
// carries sentence punctuation once its text is longer than 120 characters.
func Segments(words []Word) []Segment {
	var out []Segment
	var cur *Segment
	var b strings.Builder
	flush := func() {
		if cur != nil {
			cur.Text = strings.TrimSpace(b.String())
			out = append(out, *cur)
			cur = nil
			b.Reset()
		}
	}
	for _, w := range words {
		if cur != nil && cur.Speaker != w.Speaker {
			flush()
		}
		if cur == nil {
			cur = &Segment{Speaker: w.Speaker, Start: w.Start}
		}
		text := strings.TrimSpace(w.Text)
		if b.Len() > 0 && text != "" {
			b.WriteByte(' ')
		}
		b.WriteString(text)
		cur.End = w.End
		cur.Words = append(cur.Words, w)
		if b.Len() > maxSegmentChars && strings.ContainsAny(text, ".;:?!…") {
			flush()
		}
	}
	flush()
	return out
}

// SpeakerName returns the participant name of a speaker, or "Speaker N"
// (N = speaker + 1) when none is known.
func SpeakerName(participants []Participant, speaker int) string {
	for _, p := range participants {
		if p.Speaker == speaker && p.Name != "" {
			return p.Name
		}
	}
	return fmt.Sprintf("Speaker %d", speaker+1)
}

// TranscriptText renders words as "Name: segment" lines, the form the LLM
// steps read.
func TranscriptText(words []Word, participants []Participant) string {
	var b strings.Builder
	for _, s := range Segments(words) {
		fmt.Fprintf(&b, "%s: %s\n", SpeakerName(participants, s.Speaker), s.Text)
	}
	return b.String()
}

// SpeakerFromFileName turns a track file's name into a speaker name:
// "alice.webm" -> "Alice", "team/ana_lopez.ogg" -> "Ana lopez". Names that
// look generated (with digits, or long) give "".
func SpeakerFromFileName(name string) string {
	name = path.Base(name)
	base := strings.TrimSuffix(name, path.Ext(name))
	base = strings.TrimSpace(strings.NewReplacer("_", " ", "-", " ").Replace(base))
	if base == "" || base == "." || len(base) > 40 || strings.IndexFunc(base, unicode.IsDigit) >= 0 {
		return ""
	}
	r := []rune(base)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}
