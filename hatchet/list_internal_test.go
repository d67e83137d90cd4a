package hatchet

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTaskError(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{`"transcript x has no tracks"`, "transcript x has no tracks"},
		{`"line one\nsaid \"no\""`, "line one\nsaid \"no\""},
		{`plain text`, "plain text"},
		{`"unterminated`, `"unterminated`},
		{``, ``},
	} {
		require.Equal(t, tt.want, taskError(tt.in), tt.in)
	}
}
