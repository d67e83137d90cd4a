package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
)

// TestProgressViewOnlyMovesForward: steps that run side by side report
// their percent in any order; the lines never go back.
func TestProgressViewOnlyMovesForward(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	v := newProgressView(&b)
	for _, p := range []parley.PipelineProgressData{
		{Percent: 43.8, CurrentStep: "extract_subjects", Detail: "Finding the main subjects: done"},
		{Percent: 37.5, CurrentStep: "generate_title", Detail: "Writing the title"},
		{Percent: 50, CurrentStep: "generate_title", Detail: "Writing the title: done"},
	} {
		v.update(p)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	require.Equal(t, []string{
		"[ 43.8%] extract_subjects       Finding the main subjects: done",
		"[ 43.8%] generate_title         Writing the title",
		"[ 50.0%] generate_title         Writing the title: done",
	}, lines)
}
