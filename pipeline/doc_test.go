package pipeline_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley/pipeline"
)

// TestEventDictionary keeps the table in doc.go equal to pipeline.Emits.
func TestEventDictionary(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("doc.go")
	require.NoError(t, err)
	var lines []string
	for _, l := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(l, "//\t| ") || strings.HasPrefix(l, "//	|") {
			lines = append(lines, strings.TrimPrefix(l, "//\t"))
		}
	}
	require.Equal(t, pipeline.EventDictionary(), strings.Join(lines, "\n")+"\n",
		"pipeline/doc.go's event table is stale: paste pipeline.EventDictionary() (tab-indented) into it")
}

// TestStepsCoverTheDAG: every step of the contract has an entry.
func TestStepsCoverTheDAG(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, e := range pipeline.Emits {
		seen[e.Step] = true
	}
	for _, s := range []string{"get_recording", "get_participants", "process_tracks", "pad_track", "transcribe_track",
		"mixdown_tracks", "generate_waveform", "detect_topics", "generate_title", "extract_subjects", "process_subjects",
		"generate_recap", "identify_action_items", "finalize", "cleanup_consent", "post_zulip", "send_webhook"} {
		require.True(t, seen[s], s)
		_, ok := pipeline.DefaultPolicies[s]
		require.True(t, ok || s == "process_tracks", "%s has a policy", s)
	}
}
