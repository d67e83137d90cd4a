package sim

import (
	"fmt"
	"strconv"
	"strings"
)

// ScriptTag is the container tag that makes the simulated ASR answer with
// a generated meeting instead of words over the audio's voiced regions:
// long meetings (hours of words) without hours of audio. Its value is a
// Script in the form Script.String gives ("minutes=95 speakers=3
// speaker=1 wpm=150").
const ScriptTag = "PARLEY_SIM_SCRIPT"

// Script describes one participant's share of a generated meeting. The
// meeting is a sequence of turns of TurnSeconds; turn k is spoken by
// participant k mod Speakers, who says WPM words a minute during it. Each
// turn starts with "Item <k>." (k from 1, unique in the meeting, so a test
// can aim a fault at the chunk that holds it) and goes on about the
// section's subject: the subject changes every SectionMinutes (budget,
// hiring, roadmap, security, ...), and some sentences are decisions
// ("Let's ...") and commitments ("I'll ... by Friday").
type Script struct {
	Minutes        float64
	Speakers       int
	Speaker        int
	WPM            int
	TurnSeconds    float64
	SectionMinutes float64
}

// Script defaults.
const (
	DefaultScriptWPM     = 150
	DefaultTurnSeconds   = 20
	DefaultSectionMinute = 15
)

// String renders the script as the tag value.
func (s Script) String() string {
	s = s.withDefaults()
	return fmt.Sprintf("minutes=%g speakers=%d speaker=%d wpm=%d turn=%g section=%g",
		s.Minutes, s.Speakers, s.Speaker, s.WPM, s.TurnSeconds, s.SectionMinutes)
}

func (s Script) withDefaults() Script {
	if s.Speakers <= 0 {
		s.Speakers = 1
	}
	if s.WPM <= 0 {
		s.WPM = DefaultScriptWPM
	}
	if s.TurnSeconds <= 0 {
		s.TurnSeconds = DefaultTurnSeconds
	}
	if s.SectionMinutes <= 0 {
		s.SectionMinutes = DefaultSectionMinute
	}
	return s
}

// ParseScript reads a ScriptTag value. Unknown keys and bad numbers are
// errors naming them.
func ParseScript(v string) (Script, error) {
	var s Script
	for _, f := range strings.Fields(v) {
		k, val, ok := strings.Cut(f, "=")
		if !ok {
			return s, fmt.Errorf("%s: %q is not key=value", ScriptTag, f)
		}
		num, err := strconv.ParseFloat(val, 64)
		if err != nil || num < 0 {
			return s, fmt.Errorf("%s: %s=%q is not a non-negative number", ScriptTag, k, val)
		}
		switch k {
		case "minutes":
			s.Minutes = num
		case "speakers":
			s.Speakers = int(num)
		case "speaker":
			s.Speaker = int(num)
		case "wpm":
			s.WPM = int(num)
		case "turn":
			s.TurnSeconds = num
		case "section":
			s.SectionMinutes = num
		default:
			return s, fmt.Errorf("%s: unknown key %q (minutes, speakers, speaker, wpm, turn, section)", ScriptTag, k)
		}
	}
	s = s.withDefaults()
	if s.Minutes <= 0 || s.Minutes > 24*60 {
		return s, fmt.Errorf("%s: minutes must be in (0, 1440]", ScriptTag)
	}
	if s.Speaker >= s.Speakers {
		return s, fmt.Errorf("%s: speaker %d of %d (speakers count from 0)", ScriptTag, s.Speaker, s.Speakers)
	}
	return s, nil
}

var scriptSubjects = []string{"budget", "hiring", "roadmap", "security", "marketing", "infrastructure", "pricing", "onboarding"}

var scriptNouns = []string{"plan", "numbers", "timeline", "review", "proposal", "metrics", "risks", "owners", "dashboard", "milestones"}

var scriptDays = []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday"}

// scriptSentences are the turn's sentences after "Item <k>."; %[1]s is the
// subject, %[2]s a noun, %[3]s a day.
var scriptSentences = []string{
	"The %[1]s %[2]s looks better than last month.",
	"We still have open questions about the %[1]s %[2]s.",
	"Let's keep the %[1]s %[2]s as it is for now.",
	"I'll send the updated %[1]s %[2]s by %[3]s.",
	"Customers keep asking about %[1]s and its %[2]s.",
	"The team agreed that the %[1]s %[2]s needs one more pass.",
	"Can we compare the %[1]s %[2]s with the previous quarter?",
	"My concern is that the %[1]s %[2]s slips again.",
}

// words generates the participant's words, on the track's own time (from
// 0): every word of every turn the participant speaks, evenly spaced.
func (s Script) words() []simWord {
	s = s.withDefaults()
	total := s.Minutes * 60
	perWord := 60 / float64(s.WPM)
	var out []simWord
	for k := 0; float64(k)*s.TurnSeconds < total; k++ {
		if k%s.Speakers != s.Speaker {
			continue
		}
		start := float64(k) * s.TurnSeconds
		end := min(start+s.TurnSeconds, total)
		n := int((end - start) / perWord)
		if n == 0 {
			continue
		}
		subject := scriptSubjects[int(start/60/s.SectionMinutes)%len(scriptSubjects)]
		text := []string{"Item", fmt.Sprintf("%d.", k+1)}
		for j := 0; len(text) < n; j++ {
			sentence := scriptSentences[(k*3+j)%len(scriptSentences)]
			text = append(text, strings.Fields(fmt.Sprintf(sentence, subject,
				scriptNouns[(k+j)%len(scriptNouns)], scriptDays[(k+j)%len(scriptDays)]))...)
		}
		for j := 0; j < n; j++ {
			t := start + float64(j)*perWord
			out = append(out, simWord{Word: text[j], Start: round3(t), End: round3(t + perWord*0.85)})
		}
	}
	return out
}
