package notify

import (
	"fmt"
	"math"
	"strings"

	"github.com/parley-dev/parley"
)

// WebVTT renders words (in meeting-time order) as WebVTT: a "WEBVTT"
// header, then one cue per segment of the reference's default segmenter
// (parley.Segments: a speaker change starts a segment, which otherwise
// closes at sentence punctuation once longer than 120 characters), timed
// "HH:MM:SS.mmm --> HH:MM:SS.mmm", with the text as "<v Name>segment".
// Name is the speaker's participant name, else "Speaker N" (N = speaker +
// 1). Text is escaped as WebVTT requires (&, <, >), so that words cannot
// open tags or end the cue.
func WebVTT(words []parley.Word, participants []parley.Participant) string {
	var b strings.Builder
	b.WriteString("WEBVTT\n")
	for _, s := range parley.Segments(words) {
		start := max(s.Start, 0)
		fmt.Fprintf(&b, "\n%s --> %s\n<v %s>%s\n", vttTime(start), vttTime(max(s.End, start)),
			vttEscape(parley.SpeakerName(participants, s.Speaker)), vttEscape(s.Text))
	}
	return b.String()
}

// vttTime formats seconds as HH:MM:SS.mmm.
func vttTime(sec float64) string {
	ms := int64(math.Round(sec * 1000))
	return fmt.Sprintf("%02d:%02d:%02d.%03d", ms/3600000, ms/60000%60, ms/1000%60, ms%1000)
}

// vttEscaper escapes cue text; line breaks would end the cue, so they
// become spaces.
var vttEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\r\n", " ", "\n", " ", "\r", " ")

func vttEscape(s string) string { return vttEscaper.Replace(s) }
