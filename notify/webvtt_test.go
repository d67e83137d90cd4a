package notify_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/notify"
)

func TestWebVTT(t *testing.T) {
	t.Parallel()
	people := []parley.Participant{{ID: "p1", Name: "Ana", Speaker: 0}, {ID: "p2", Name: "Ben", Speaker: 1}}
	w := func(text string, start, end float64, speaker int) parley.Word {
		return parley.Word{Text: text, Start: start, End: end, Speaker: speaker}
	}
	// A sentence of 25 five-letter words (150 characters) then another.
	var long []parley.Word
	for i := range 25 {
		long = append(long, w("words", float64(i), float64(i)+0.5, 0))
	}
	long[24].Text = "done."
	long = append(long, w("Next", 30, 30.5, 0), w("one.", 30.5, 31, 0))
	// Punctuation before 120 characters does not close the segment.
	short := []parley.Word{w("Yes.", 0, 0.5, 0), w("Sure.", 0.5, 1, 0)}

	tests := []struct {
		name         string
		words        []parley.Word
		participants []parley.Participant
		want         string
	}{
		{"OKEmpty", nil, people, "WEBVTT\n"},
		{"OKSpeakerChanges", []parley.Word{w("Hello", 1, 1.4, 0), w("there.", 1.4, 1.9, 0), w("Hi", 2.5, 2.8, 1),
			w("back", 3, 3.2, 0)}, people,
			"WEBVTT\n\n00:00:01.000 --> 00:00:01.900\n<v Ana>Hello there.\n\n00:00:02.500 --> 00:00:02.800\n<v Ben>Hi\n\n" +
				"00:00:03.000 --> 00:00:03.200\n<v Ana>back\n"},
		{"OKUnnamedSpeaker", []parley.Word{w("Bye", 3725, 3725.3, 2)}, people,
			"WEBVTT\n\n01:02:05.000 --> 01:02:05.300\n<v Speaker 3>Bye\n"},
		{"OKNoParticipants", []parley.Word{w("Bye", 0.0004, 0.0996, 0)}, nil,
			"WEBVTT\n\n00:00:00.000 --> 00:00:00.100\n<v Speaker 1>Bye\n"},
		{"OKLongSegmentSplits", long, people,
			"WEBVTT\n\n00:00:00.000 --> 00:00:24.500\n<v Ana>" + strings.Repeat("words ", 24) + "done.\n\n" +
				"00:00:30.000 --> 00:00:31.000\n<v Ana>Next one.\n"},
		{"OKShortSentencesJoin", short, people, "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n<v Ana>Yes. Sure.\n"},
		{"OKEscaped", []parley.Word{w("a<b", 0, 1, 0), w("&", 1, 2, 0), w("-->", 2, 3, 0), w("x\ny", 3, 4, 0)},
			[]parley.Participant{{Name: "<Dr> A&B", Speaker: 0}},
			"WEBVTT\n\n00:00:00.000 --> 00:00:04.000\n<v &lt;Dr&gt; A&amp;B>a&lt;b &amp; --&gt; x y\n"},
		{"OKNegativeTimes", []parley.Word{w("early", -0.5, -0.1, 0)}, people,
			"WEBVTT\n\n00:00:00.000 --> 00:00:00.000\n<v Ana>early\n"},
		{"OKLongMeeting", []parley.Word{w("late", 100*3600+0.25, 100*3600+1, 1)}, people,
			"WEBVTT\n\n100:00:00.250 --> 100:00:01.000\n<v Ben>late\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, notify.WebVTT(tt.words, tt.participants))
		})
	}
}

func TestWebVTTGolden(t *testing.T) {
	t.Parallel()
	tr, _, words := fixture()
	golden(t, "transcript.vtt", notify.WebVTT(words, tr.Participants))
}
