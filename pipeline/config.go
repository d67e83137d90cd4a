package pipeline

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/parley-dev/parley/hatchet"
)

// Step names, as the Hatchet dashboard shows them (contract section 7).
const (
	StepGetRecording        = "get_recording"
	StepGetParticipants     = "get_participants"
	StepProcessTracks       = "process_tracks"
	StepPadTrack            = "pad_track"
	StepTranscribeTrack     = "transcribe_track"
	StepMixdownTracks       = "mixdown_tracks"
	StepGenerateWaveform    = "generate_waveform"
	StepDetectTopics        = "detect_topics"
	StepGenerateTitle       = "generate_title"
	StepExtractSubjects     = "extract_subjects"
	StepProcessSubjects     = "process_subjects"
	StepGenerateRecap       = "generate_recap"
	StepIdentifyActionItems = "identify_action_items"
	StepFinalize            = "finalize"
	StepCleanupConsent      = "cleanup_consent"
	StepPostZulip           = "post_zulip"
	StepSendWebhook         = "send_webhook"
	StepOnFailure           = "on_failure"
)

// Workflow names.
const (
	WorkflowPipeline = "DiarizationPipeline"
	WorkflowTrack    = "TrackProcessing"
	// WorkflowDailyPolling finds Daily recordings whose webhook was missed.
	WorkflowDailyPolling = "DailyPolling"
)

// DefaultPolicies is every task's timeout, retries and backoff. Each can be
// overridden with PARLEY_STEP_<NAME>_{TIMEOUT,RETRIES,BACKOFF,BACKOFF_MAX}
// (e.g. PARLEY_STEP_TRANSCRIBE_TRACK_TIMEOUT=20m). process_tracks has no
// entry: its timeout is derived from its children's so that it never times
// out before they can.
var DefaultPolicies = map[string]hatchet.Policy{
	StepGetRecording:        {Timeout: time.Minute, Retries: 3, BackoffFactor: 2, BackoffMax: 30 * time.Second},
	StepGetParticipants:     {Timeout: time.Minute, Retries: 3, BackoffFactor: 2, BackoffMax: 30 * time.Second},
	StepPadTrack:            {Timeout: 15 * time.Minute, Retries: 3, BackoffFactor: 2, BackoffMax: 30 * time.Second},
	StepTranscribeTrack:     {Timeout: 20 * time.Minute, Retries: 3, BackoffFactor: 3, BackoffMax: 60 * time.Second},
	StepMixdownTracks:       {Timeout: 30 * time.Minute, Retries: 2, BackoffFactor: 2, BackoffMax: 30 * time.Second},
	StepGenerateWaveform:    {Timeout: 5 * time.Minute, Retries: 3, BackoffFactor: 2, BackoffMax: 30 * time.Second},
	StepDetectTopics:        {Timeout: 15 * time.Minute, Retries: 3, BackoffFactor: 3, BackoffMax: 60 * time.Second},
	StepGenerateTitle:       {Timeout: 5 * time.Minute, Retries: 3, BackoffFactor: 3, BackoffMax: 60 * time.Second},
	StepExtractSubjects:     {Timeout: 5 * time.Minute, Retries: 3, BackoffFactor: 3, BackoffMax: 60 * time.Second},
	StepProcessSubjects:     {Timeout: 15 * time.Minute, Retries: 3, BackoffFactor: 3, BackoffMax: 60 * time.Second},
	StepGenerateRecap:       {Timeout: 5 * time.Minute, Retries: 3, BackoffFactor: 3, BackoffMax: 60 * time.Second},
	StepIdentifyActionItems: {Timeout: 5 * time.Minute, Retries: 3, BackoffFactor: 3, BackoffMax: 60 * time.Second},
	StepFinalize:            {Timeout: time.Minute, Retries: 3, BackoffFactor: 2, BackoffMax: 30 * time.Second},
	StepCleanupConsent:      {Timeout: 2 * time.Minute, Retries: 5, BackoffFactor: 2, BackoffMax: 60 * time.Second},
	StepPostZulip:           {Timeout: time.Minute, Retries: 5, BackoffFactor: 2, BackoffMax: 60 * time.Second},
	StepSendWebhook:         {Timeout: time.Minute, Retries: 6, BackoffFactor: 3, BackoffMax: 5 * time.Minute},
	StepOnFailure:           {Timeout: 2 * time.Minute, Retries: 3, BackoffFactor: 2, BackoffMax: 30 * time.Second},
}

// Policies holds the effective policy of every step.
type Policies map[string]hatchet.Policy

// LoadPolicies returns DefaultPolicies with the environment's overrides.
// Unknown step names in PARLEY_STEP_* variables are errors, so that a typo
// does not silently leave a default in place.
func LoadPolicies(environ []string) (Policies, error) {
	p := Policies{}
	for k, v := range DefaultPolicies {
		p[k] = v
	}
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
		if field == "" || !known {
			errs = append(errs, fmt.Sprintf("%s: unknown step or setting (steps: %s; settings: TIMEOUT, RETRIES, BACKOFF, BACKOFF_MAX)",
				k, strings.Join(stepNames(), ", ")))
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

func stepNames() []string {
	names := make([]string, 0, len(DefaultPolicies))
	for k := range DefaultPolicies {
		names = append(names, strings.ToUpper(k))
	}
	sort.Strings(names)
	return names
}

// ProcessTracks is the policy of process_tracks: long enough for both
// child steps with all their retries and backoff, plus queueing slack.
func (p Policies) ProcessTracks() hatchet.Policy {
	child := p[StepPadTrack].Total() + p[StepTranscribeTrack].Total()
	return hatchet.Policy{Timeout: child + 15*time.Minute, Retries: 3, BackoffFactor: 2, BackoffMax: 30 * time.Second}
}
