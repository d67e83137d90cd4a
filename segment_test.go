package parley_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
)

func TestSegments(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("word ", 30) // 150 chars
	tests := []struct {
		name  string
		words []parley.Word
		want  []string
	}{
		{"Empty", nil, nil},
		{"SpeakerChange", []parley.Word{
			{Text: " Hello", Start: 0, End: 0.5, Speaker: 0},
			{Text: " there.", Start: 0.5, End: 1, Speaker: 0},
			{Text: " Hi!", Start: 1.2, End: 1.5, Speaker: 1},
			{Text: " Yes", Start: 2, End: 2.2, Speaker: 0},
		}, []string{"0|Hello there.", "1|Hi!", "0|Yes"}},
		{"LongSegmentClosesAtPunctuation", append(words(long, 0), parley.Word{Text: "end.", Speaker: 0}, parley.Word{Text: "next", Speaker: 0}),
			[]string{"0|" + strings.TrimSpace(long) + " end.", "0|next"}},
		{"ShortSegmentKeepsPunctuation", []parley.Word{{Text: "One.", Speaker: 2}, {Text: "Two.", Speaker: 2}},
			[]string{"2|One. Two."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, s := range parley.Segments(tt.words) {
				got = append(got, string(rune('0'+s.Speaker))+"|"+s.Text)
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func words(text string, speaker int) []parley.Word {
	var out []parley.Word
	for i, f := range strings.Fields(text) {
		out = append(out, parley.Word{Text: f, Start: float64(i), End: float64(i) + 0.5, Speaker: speaker})
	}
	return out
}

func TestTranscriptText(t *testing.T) {
	t.Parallel()
	ws := []parley.Word{{Text: "Hi", Speaker: 0}, {Text: "Hello", Speaker: 1}}
	ps := []parley.Participant{{ID: "a", Name: "Ana", Speaker: 0}}
	require.Equal(t, "Ana: Hi\nSpeaker 2: Hello\n", parley.TranscriptText(ws, ps))
}

func TestErrors(t *testing.T) {
	t.Parallel()
	err := parley.Errorf(parley.EINVALID, "track %d is empty", 2)
	wrapped := fmtErr(err)
	require.Equal(t, parley.EINVALID, parley.ErrorCode(wrapped))
	require.Equal(t, "track 2 is empty", parley.ErrorMessage(wrapped))
	require.False(t, parley.IsRetryable(wrapped))
	require.True(t, parley.IsRetryable(parley.Errorf(parley.ETRANSIENT, "x")))
	require.Equal(t, "Internal error.", parley.ErrorMessage(errPlain{}))
	require.Equal(t, parley.EINTERNAL, parley.ErrorCode(errPlain{}))
	require.Empty(t, parley.ErrorCode(nil))
}

type errPlain struct{}

func (errPlain) Error() string { return "secret internal detail" }

func fmtErr(err error) error { return &wrapErr{err} }

type wrapErr struct{ err error }

func (w *wrapErr) Error() string { return "op: " + w.err.Error() }
func (w *wrapErr) Unwrap() error { return w.err }

func TestSpeakerFromFileName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"alice.webm": "Alice", "team/ana_lopez.ogg": "Ana lopez", "track1.webm": "",
		"1763800000000-0a1b-cam-audio-1763800001000": "", "": "", "x/.webm": ""} {
		require.Equal(t, want, parley.SpeakerFromFileName(in), in)
	}
}
