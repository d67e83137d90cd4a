package pipeline

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/parley-dev/parley/hatchet"
)

// Workflow names.
const (
	WorkflowPipeline = "DiarizationPipeline"
	WorkflowTrack    = "TrackProcessing"
	// WorkflowPipelineAlias reaches DiarizationPipeline for clients that
	// lowercase the names they trigger (the TypeScript SDK v1): a run of it
	// runs DiarizationPipeline with the same input, as its child.
	WorkflowPipelineAlias = "diarizationpipeline"
	// WorkflowDailyPolling finds Daily recordings whose webhook was missed.
	WorkflowDailyPolling = "DailyPolling"
	// WorkflowTopicChunk is detect_topics' child: one run per topic chunk.
	WorkflowTopicChunk = "TopicChunkProcessing"
	// WorkflowSubject is process_subjects' child: one run per subject.
	WorkflowSubject = "SubjectProcessing"
)

// The LLM fan-out's limits (Settings.LLMRate, Settings.LLMConcurrency).
const (
	// LLMRateLimit is the Hatchet rate limit the fan-out children share
	// (in a namespace, the engine's key is prefixed with it).
	LLMRateLimit = "llm"
	// DefaultLLMRate is the rate limit's default, units per second.
	DefaultLLMRate = 10
	// DefaultLLMConcurrency is how many children of one step run at once
	// by default.
	DefaultLLMConcurrency = 4
	// TopicChunkUnits is what a topic chunk takes of the rate limit: its
	// one LLM call.
	TopicChunkUnits = 1
	// SubjectUnits is what a subject takes: its detailed and paragraph
	// summary calls (a transcript longer than the context window takes
	// more calls: one per part and the parts' combination).
	SubjectUnits = 2
)

// DefaultPolicies is every task's timeout, retries and backoff, from
// StepTable. Each can be overridden with
// PARLEY_STEP_<NAME>_{TIMEOUT,RETRIES,BACKOFF,BACKOFF_MAX} (e.g.
// PARLEY_STEP_TRANSCRIBE_TRACK_TIMEOUT=20m). A step that runs a child
// workflow (process_tracks, detect_topics, process_subjects) has no entry:
// its policy is derived from its children's so that it never times out
// before they can (Policies.Of); its PARLEY_STEP_* variables are refused.
func DefaultPolicies() Policies {
	p := Policies{}
	for _, spec := range StepTable {
		if spec.Children == "" {
			p[spec.Name] = spec.Policy
		}
	}
	return p
}

// Policies holds the effective policy of every step.
type Policies map[string]hatchet.Policy

// LoadPolicies returns DefaultPolicies with the environment's overrides.
// Unknown step names in PARLEY_STEP_* variables are errors, so that a typo
// does not silently leave a default in place.
func LoadPolicies(environ []string) (Policies, error) {
	p := DefaultPolicies()
	var errs []string
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "PARLEY_STEP_") {
			continue
		}
		rest := strings.ToLower(strings.TrimPrefix(k, "PARLEY_STEP_"))
		var step, field string
		for _, f := range []string{"_backoff_max", "_timeout", "_retries", "_backoff"} {
			if strings.HasSuffix(rest, f) {
				step, field = strings.TrimSuffix(rest, f), f[1:]
				break
			}
		}
		pol, known := p[step]
		if spec, ok := specOf(step); ok && !known && spec.Children != "" {
			errs = append(errs, fmt.Sprintf("%s: unknown step or setting: the policy of %s is derived from its children's "+
				"(set PARLEY_STEP_<STEP>_* of %s's steps: %s)", k, step, spec.Children, strings.ToUpper(strings.Join(stepsOf(spec.Children), ", "))))
			continue
		}
		if field == "" || !known {
			errs = append(errs, fmt.Sprintf("%s: unknown step or setting (steps: %s; settings: TIMEOUT, RETRIES, BACKOFF, BACKOFF_MAX)",
				k, strings.Join(p.names(), ", ")))
			continue
		}
		switch field {
		case "timeout", "backoff_max":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				errs = append(errs, fmt.Sprintf("%s: %q is not a positive duration such as 90s", k, v))
				continue
			}
			if field == "timeout" {
				pol.Timeout = d
			} else {
				pol.BackoffMax = d
			}
		case "retries":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 20 {
				errs = append(errs, fmt.Sprintf("%s: %q is not a number from 0 to 20", k, v))
				continue
			}
			pol.Retries = n
		case "backoff":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 {
				errs = append(errs, fmt.Sprintf("%s: %q is not a non-negative number", k, v))
				continue
			}
			pol.BackoffFactor = f
		}
		p[step] = pol
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return nil, fmt.Errorf("invalid step settings:\n  %s", strings.Join(errs, "\n  "))
	}
	return p, nil
}

// names are the configurable steps, as PARLEY_STEP_* spells them.
func (p Policies) names() []string {
	names := make([]string, 0, len(p))
	for k := range p {
		names = append(names, strings.ToUpper(k))
	}
	sort.Strings(names)
	return names
}

// Of is the policy of a step. A step that runs a child workflow gets one
// long enough for the child's steps with all their retries and backoff,
// plus queueing slack.
func (p Policies) Of(name string) hatchet.Policy {
	spec, ok := specOf(name)
	if !ok || spec.Children == "" {
		return p[name]
	}
	var child time.Duration
	for _, c := range StepTable {
		if c.Workflow == spec.Children {
			child += p[c.Name].Total()
		}
	}
	return hatchet.Policy{Timeout: child + 15*time.Minute, Retries: 3, BackoffFactor: 2, BackoffMax: 30 * time.Second}
}

// specOf returns the step called name.
func specOf(name string) (StepSpec, bool) {
	for _, s := range StepTable {
		if s.Name == name {
			return s, true
		}
	}
	return StepSpec{}, false
}

// stepsOf lists the steps of a workflow, in table order.
func stepsOf(workflow string) []string {
	var names []string
	for _, s := range StepTable {
		if s.Workflow == workflow && s.Phase != PhaseFailure {
			names = append(names, s.Name)
		}
	}
	return names
}

// lastStepOf is a workflow's last step: the one whose output is the
// workflow's result.
func lastStepOf(workflow string) string {
	names := stepsOf(workflow)
	if len(names) == 0 {
		return ""
	}
	return names[len(names)-1]
}

// StepInfo is a step as clients see it (GET /v1/pipeline): StepTable's row
// with its effective policy.
type StepInfo struct {
	Name      string     `json:"name"`
	Label     string     `json:"label"`
	Detail    string     `json:"detail"`
	Workflow  string     `json:"workflow"`
	Parents   []string   `json:"parents"`
	Phase     Phase      `json:"phase"`
	Ends      bool       `json:"ends"`
	Children  string     `json:"children,omitempty"`
	Artifacts []string   `json:"artifacts"`
	Events    []string   `json:"events"`
	Policy    PolicyInfo `json:"policy"`
}

// PolicyInfo is a policy in seconds, for clients.
type PolicyInfo struct {
	TimeoutSeconds    float64 `json:"timeout_seconds"`
	Retries           int     `json:"retries"`
	BackoffFactor     float64 `json:"backoff_factor"`
	BackoffMaxSeconds float64 `json:"backoff_max_seconds"`
	// TotalSeconds is the longest the step can take over all its attempts.
	TotalSeconds float64 `json:"total_seconds"`
}

// Table is StepTable for clients, with the policies p.
func (p Policies) Table() []StepInfo {
	out := make([]StepInfo, 0, len(StepTable))
	for _, s := range StepTable {
		pol := p.Of(s.Name)
		out = append(out, StepInfo{Name: s.Name, Label: s.Label, Detail: s.Detail, Workflow: s.Workflow,
			Parents: nonNil(s.Parents), Phase: s.Phase, Ends: s.Ends, Children: s.Children,
			Artifacts: nonNil(s.Artifacts), Events: nonNil(s.Emits),
			Policy: PolicyInfo{TimeoutSeconds: pol.Timeout.Seconds(), Retries: pol.Retries, BackoffFactor: pol.BackoffFactor,
				BackoffMaxSeconds: pol.BackoffMax.Seconds(), TotalSeconds: pol.Total().Seconds()}})
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
