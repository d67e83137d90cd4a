package pipeline_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley/hatchet"
	"github.com/parley-dev/parley/hatchet/hatchettest"
	"github.com/parley-dev/parley/pipeline"
	"github.com/parley-dev/parley/tracks"
)

// TestEventDictionary keeps the table in doc.go equal to the step table's events.
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

// TestDefineDeclaresTheStepTable reads the DAG that Define declares to the
// engine (an offline client: no engine needed) and checks it against
// StepTable: the same tasks in the same workflows, with the table's parents
// and policies, and the picture in Define's doc comment.
func TestDefineDeclaresTheStepTable(t *testing.T) {
	t.Parallel()
	policies := pipeline.DefaultPolicies()
	wfs := pipeline.Define(hatchettest.Offline(t), &pipeline.Steps{}, &tracks.Steps{}, policies, 4)

	type decl struct {
		workflow string
		parents  []string
		policy   hatchet.Policy
		limits   map[string]int
	}
	declared := map[string]decl{}
	var edges []string
	for _, wf := range wfs.All() {
		tasks, onFailure := wf.Declared()
		if onFailure != nil {
			tasks = append(tasks, *onFailure)
		}
		for _, task := range tasks {
			require.NotContains(t, declared, task.Name, "task names are unique across the workflows")
			declared[task.Name] = decl{wf.Name(), task.Parents, hatchet.Policy{Timeout: task.Timeout, Retries: task.Retries,
				BackoffFactor: task.BackoffFactor, BackoffMax: task.BackoffMax, Pool: task.Pool, MaxConcurrent: task.MaxConcurrent}, task.RateLimits}
			for _, p := range task.Parents {
				edges = append(edges, p+" -> "+task.Name)
			}
		}
	}

	require.Len(t, declared, len(pipeline.StepTable), "one task per row")
	for _, spec := range pipeline.StepTable {
		d, ok := declared[spec.Name]
		require.True(t, ok, "%s is declared", spec.Name)
		require.Equal(t, spec.Workflow, d.workflow, spec.Name)
		require.ElementsMatch(t, spec.Parents, d.parents, "%s's parents", spec.Name)
		if spec.Phase == pipeline.PhaseFailure {
			// The SDK's Workflow.OnFailure takes no task options, so the
			// engine gets no policy for on_failure: its defaults apply.
			// (Known gap of the hatchet adapter; see hatchet.OnFailure.)
			continue
		}
		want := policies.Of(spec.Name)
		require.Equal(t, hatchet.Policy{Timeout: want.Timeout, Retries: want.Retries, BackoffFactor: want.BackoffFactor,
			BackoffMax: want.BackoffMax, Pool: want.Pool, MaxConcurrent: want.MaxConcurrent}, d.policy, "%s's policy", spec.Name)
		require.NotEmpty(t, spec.Label, spec.Name)
		require.NotEmpty(t, spec.Detail, spec.Name)
	}

	// The LLM fan-out's children, and only they, take units of the llm
	// rate limit (in the offline client's namespace "offline").
	for name, d := range declared {
		switch name {
		case "detect_chunk_topic":
			require.Equal(t, map[string]int{"offline_" + pipeline.LLMRateLimit: pipeline.TopicChunkUnits}, d.limits, name)
		case "generate_detailed_summary":
			require.Equal(t, map[string]int{"offline_" + pipeline.LLMRateLimit: pipeline.SubjectUnits}, d.limits, name)
		default:
			require.Empty(t, d.limits, name)
		}
	}

	// Every step the contract names (section 7) is there.
	for _, s := range []string{"get_recording", "get_participants", "process_tracks", "pad_track", "transcribe_track",
		"mixdown_tracks", "generate_waveform", "detect_topics", "generate_title", "extract_subjects", "process_subjects",
		"generate_recap", "identify_action_items", "finalize", "cleanup_consent", "post_zulip", "send_webhook"} {
		require.Contains(t, declared, s)
	}

	// The CPU-heavy steps prefer the CPU pool; nothing else does.
	for name, d := range declared {
		want := ""
		if name == "pad_track" || name == "mixdown_tracks" {
			want = pipeline.PoolCPU
		}
		require.Equal(t, want, d.policy.Pool, "%s's pool", name)
	}

	// The picture in Define's comment draws exactly the declared edges.
	require.ElementsMatch(t, edges, pictureEdges(t), "pipeline/dag.go: Define's DAG picture is stale")
}

// pictureEdges parses the DAG drawn in Define's doc comment: chains
// "a -> b -> c", joins "f <- a, b" and a child workflow in brackets.
func pictureEdges(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("dag.go")
	require.NoError(t, err)
	_, pic, ok := strings.Cut(string(src), "// StepTable. The DAG it declares:\n//\n")
	require.True(t, ok, "Define's comment draws the DAG")
	pic, _, _ = strings.Cut(pic, "\n//\n")
	var edges []string
	chain := func(s string) {
		var prev string
		for _, name := range strings.Split(s, "->") {
			name = strings.TrimSpace(name)
			if prev != "" {
				edges = append(edges, prev+" -> "+name)
			}
			prev = name
		}
	}
	for _, line := range strings.Split(pic, "\n") {
		line = strings.TrimPrefix(line, "//\t")
		if strings.HasPrefix(line, "on failure") {
			continue
		}
		if before, child, ok := strings.Cut(line, "["); ok {
			_, inner, _ := strings.Cut(strings.TrimSuffix(strings.TrimSpace(child), "]"), ":")
			chain(inner)
			line = before
		}
		if to, from, ok := strings.Cut(line, "<-"); ok {
			for _, f := range strings.Split(from, ",") {
				edges = append(edges, strings.TrimSpace(f)+" -> "+strings.TrimSpace(to))
			}
			continue
		}
		chain(line)
	}
	return edges
}
