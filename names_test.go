package parley_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
)

func TestReplaceName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, text, old, new, want string
	}{
		{"Plain", "Bob will send it.", "Bob", "Robert", "Robert will send it."},
		{"Possessive", "Bob's plan", "Bob", "Robert", "Robert's plan"},
		{"Parentheses", "send budget (Bob)", "Bob", "Robert", "send budget (Robert)"},
		{"NotInsideAWord", "Bobby and Bob", "Bob", "Robert", "Bobby and Robert"},
		{"NotAtTheEndOfAWord", "KBob Bob", "Bob", "Robert", "KBob Robert"},
		{"Several", "Bob, Bob; Bob.", "Bob", "B", "B, B; B."},
		{"NumberedSpeaker", "Speaker 1 and Speaker 10", "Speaker 1", "Ana", "Ana and Speaker 10"},
		{"Unicode", "Zoë sagte: Zoë!", "Zoë", "Zoe", "Zoe sagte: Zoe!"},
		{"AccentedNeighbour", "éBob Bobé Bob", "Bob", "X", "éBob Bobé X"},
		{"NewContainsOld", "Bob met Al", "Bob", "Bob Smith", "Bob Smith met Al"},
		{"Absent", "nobody here", "Bob", "Robert", "nobody here"},
		{"EmptyOld", "text", "", "x", "text"},
		{"Markdown", "**Bob**: plan", "Bob", "Robert", "**Robert**: plan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, parley.ReplaceName(tt.text, tt.old, tt.new))
		})
	}
}

func TestCleanName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"  Ana  ": "Ana", "": "", "Zoë O'Brien": "Zoë O'Brien", "<b>x</b>": "<b>x</b>"} {
		got, err := parley.CleanName(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got)
	}
	for in, msg := range map[string]string{
		"a\nb":                   "control characters",
		"a\x00b":                 "control characters",
		strings.Repeat("x", 101): "at most 100",
		"\xff\xfe":               "UTF-8",
	} {
		_, err := parley.CleanName(in)
		require.Error(t, err, in)
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
		require.Contains(t, parley.ErrorMessage(err), msg)
	}
}
