package pipeline

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/hatchet"
	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/tracks"
)

// Fast tier: the step table and the pure functions around it.

func TestStepTableIsConsistent(t *testing.T) {
	t.Parallel()
	seen := map[string]int{}
	ends := 0
	for i, s := range StepTable {
		require.NotContains(t, seen, s.Name, "step names are unique")
		seen[s.Name] = i
		for _, p := range s.Parents {
			at, ok := seen[p]
			require.True(t, ok, "%s: parent %s comes earlier in the table", s.Name, p)
			require.Equal(t, s.Workflow, StepTable[at].Workflow, "%s: parent %s is in the same workflow", s.Name, p)
		}
		for _, e := range s.Emits {
			require.Contains(t, EventPayloads, e, "%s emits a known event", s.Name)
		}
		switch s.Phase {
		case PhaseRun, PhaseAfter, PhaseFailure:
			require.Equal(t, WorkflowPipeline, s.Workflow, s.Name)
		case PhaseChild:
			require.NotEqual(t, WorkflowPipeline, s.Workflow, s.Name)
			require.NotEqual(t, s.Name, parentOf(s.Name), "%s has a parent step running its workflow", s.Name)
		default:
			t.Fatalf("%s: unknown phase %q", s.Name, s.Phase)
		}
		if s.Ends {
			ends++
			require.Equal(t, PhaseRun, s.Phase)
		}
		if s.Phase == PhaseAfter {
			require.Equal(t, 1, ends, "%s runs after the step that ends the transcript", s.Name)
		}
		require.Equal(t, s.Phase == PhaseFailure, s.declare == nil, "%s: every task but on_failure is declared", s.Name)
	}
	require.Equal(t, 1, ends, "one step completes the transcript")
	require.Equal(t, hatchet.OnFailureTask, StepTable[len(StepTable)-1].Name)
}

func TestStepOrderAndIndex(t *testing.T) {
	t.Parallel()
	require.Len(t, stepOrder, 16, "the page and step_index count the pipeline's own steps")
	for _, tt := range []struct {
		step  string
		index int
	}{
		{"get_recording", 1},
		{"process_tracks", 3},
		{"pad_track", 3}, // a child step carries its parent's number
		{"transcribe_track", 3},
		{"detect_chunk_topic", 6},
		{"generate_detailed_summary", 9},
		{"finalize", 12},
		{"send_webhook", 15},
		{"send_email", 16},
		{hatchet.OnFailureTask, 0},
		{"no_such_step", 0},
	} {
		idx, total := stepIndex(tt.step)
		require.Equal(t, tt.index, idx, tt.step)
		require.Equal(t, 16, total)
	}
}

func TestDetailFor(t *testing.T) {
	t.Parallel()
	in := tracks.Input{TrackIndex: 1, NumTracks: 3}
	for _, tt := range []struct {
		step  string
		input any
		want  string
	}{
		{"detect_topics", Input{}, "Detecting topics"},
		{"detect_chunk_topic", TopicChunkInput{ChunkIndex: 2, NumChunks: 12}, "Detecting topics: chunk 3 of 12"},
		{"generate_detailed_summary", SubjectInput{SubjectIndex: 1, NumSubjects: 5}, "Summarizing subject 2 of 5"},
		{"pad_track", in, "Preparing track 2 of 3"},
		{"transcribe_track", in, "Transcribing track 2 of 3"},
		{"transcribe_track", Input{}, "Transcribing"},
		{hatchet.OnFailureTask, Input{}, "Recording the failure"},
		{"no_such_step", Input{}, "no_such_step"},
	} {
		require.Equal(t, tt.want, detailFor(tt.step, tt.input), tt.step)
	}
}

func TestAfterTranscriptAndParents(t *testing.T) {
	t.Parallel()
	for step, want := range map[string]bool{"cleanup_consent": true, "post_zulip": true, "send_webhook": true,
		"finalize": false, "detect_topics": false, "pad_track": false, "nope": false} {
		require.Equal(t, want, afterTranscript(step), step)
	}
	require.Equal(t, "process_tracks", parentOf("pad_track"))
	require.Equal(t, "detect_topics", parentOf("detect_topics"))
	require.Equal(t, "detect_topics", parentOf("detect_chunk_topic"))
	require.Equal(t, "process_subjects", parentOf("generate_detailed_summary"))
	require.Equal(t, []string{"pad_track", "transcribe_track", "detect_chunk_topic", "generate_detailed_summary"}, ChildSteps)
	require.Equal(t, "detect_chunk_topic", lastStepOf(WorkflowTopicChunk))
	require.Equal(t, "generate_detailed_summary", lastStepOf(WorkflowSubject))
	require.Equal(t, "transcribe_track", lastStepOf(WorkflowTrack))
	require.Empty(t, lastStepOf("NoSuchWorkflow"))
}

func TestLoadPolicies(t *testing.T) {
	t.Parallel()
	def := DefaultPolicies()
	for _, tt := range []struct {
		name    string
		env     []string
		check   func(t *testing.T, p Policies)
		errText []string
	}{
		{name: "OKDefaults", env: []string{"PATH=/bin", "PARLEY_OTHER=1", "NOT_A_PAIR"}, check: func(t *testing.T, p Policies) {
			require.Equal(t, def, p)
		}},
		{name: "OKTimeout", env: []string{"PARLEY_STEP_TRANSCRIBE_TRACK_TIMEOUT=30m"}, check: func(t *testing.T, p Policies) {
			require.Equal(t, 30*time.Minute, p["transcribe_track"].Timeout)
			require.Equal(t, def["transcribe_track"].Retries, p["transcribe_track"].Retries)
		}},
		{name: "OKRetriesAndBackoff", env: []string{"PARLEY_STEP_DETECT_CHUNK_TOPIC_RETRIES=0", "PARLEY_STEP_DETECT_CHUNK_TOPIC_BACKOFF=1.5",
			"PARLEY_STEP_DETECT_CHUNK_TOPIC_BACKOFF_MAX=2m"}, check: func(t *testing.T, p Policies) {
			require.Equal(t, hatchet.Policy{Timeout: def["detect_chunk_topic"].Timeout, Retries: 0, BackoffFactor: 1.5, BackoffMax: 2 * time.Minute},
				p["detect_chunk_topic"])
		}},
		{name: "OKOnFailure", env: []string{"PARLEY_STEP_ON_FAILURE_RETRIES=1"}, check: func(t *testing.T, p Policies) {
			require.Equal(t, 1, p[hatchet.OnFailureTask].Retries)
		}},
		{name: "ErrUnknownStep", env: []string{"PARLEY_STEP_DETECT_TOPIC_TIMEOUT=1m"},
			errText: []string{"PARLEY_STEP_DETECT_TOPIC_TIMEOUT: unknown step or setting", "DETECT_CHUNK_TOPIC"}},
		{name: "ErrDerivedFanoutPolicy", env: []string{"PARLEY_STEP_DETECT_TOPICS_TIMEOUT=1h"},
			errText: []string{"PARLEY_STEP_DETECT_TOPICS_TIMEOUT: unknown step or setting: the policy of detect_topics is derived",
				"TopicChunkProcessing's steps: DETECT_CHUNK_TOPIC"}},
		{name: "ErrDerivedPolicy", env: []string{"PARLEY_STEP_PROCESS_TRACKS_TIMEOUT=1h"},
			errText: []string{"PARLEY_STEP_PROCESS_TRACKS_TIMEOUT: unknown step"}},
		{name: "ErrUnknownSetting", env: []string{"PARLEY_STEP_FINALIZE_DEADLINE=1m"}, errText: []string{"PARLEY_STEP_FINALIZE_DEADLINE"}},
		{name: "ErrBadDuration", env: []string{"PARLEY_STEP_FINALIZE_TIMEOUT=ten"}, errText: []string{`"ten" is not a positive duration`}},
		{name: "ErrZeroDuration", env: []string{"PARLEY_STEP_FINALIZE_BACKOFF_MAX=0s"}, errText: []string{"not a positive duration"}},
		{name: "ErrRetries", env: []string{"PARLEY_STEP_FINALIZE_RETRIES=21"}, errText: []string{`"21" is not a number from 0 to 20`}},
		{name: "ErrNegativeBackoff", env: []string{"PARLEY_STEP_FINALIZE_BACKOFF=-1"}, errText: []string{"not a non-negative number"}},
		{name: "ErrEveryProblemListed", env: []string{"PARLEY_STEP_X_TIMEOUT=1m", "PARLEY_STEP_FINALIZE_RETRIES=x"},
			errText: []string{"invalid step settings", "PARLEY_STEP_FINALIZE_RETRIES", "PARLEY_STEP_X_TIMEOUT"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := LoadPolicies(tt.env)
			if tt.errText != nil {
				require.Error(t, err)
				for _, s := range tt.errText {
					require.Contains(t, err.Error(), s)
				}
				return
			}
			require.NoError(t, err)
			tt.check(t, p)
		})
	}
}

func TestPoliciesOfAParentCoverItsChildren(t *testing.T) {
	t.Parallel()
	p := DefaultPolicies()
	_, own := p["process_tracks"]
	require.False(t, own, "process_tracks has no policy of its own")
	want := p["pad_track"].Total() + p["transcribe_track"].Total() + 15*time.Minute
	require.Equal(t, want, p.Of("process_tracks").Timeout)
	p["transcribe_track"] = hatchet.Policy{Timeout: 2 * time.Hour, Retries: 1}
	require.Equal(t, p["pad_track"].Total()+4*time.Hour+15*time.Minute, p.Of("process_tracks").Timeout,
		"a longer child makes a longer parent")
	require.Equal(t, p["detect_chunk_topic"].Total()+15*time.Minute, p.Of("detect_topics").Timeout, "the fan-out steps too")
	require.Equal(t, p["generate_detailed_summary"].Total()+15*time.Minute, p.Of("process_subjects").Timeout)
	require.Equal(t, p["generate_title"], p.Of("generate_title"))
	require.Equal(t, hatchet.Policy{}, p.Of("no_such_step"))
}

func TestPoliciesTable(t *testing.T) {
	t.Parallel()
	table := DefaultPolicies().Table()
	require.Len(t, table, len(StepTable))
	b, err := json.Marshal(table)
	require.NoError(t, err)
	var back []map[string]any
	require.NoError(t, json.Unmarshal(b, &back))
	for i, row := range back {
		for _, k := range []string{"parents", "artifacts", "events"} {
			require.NotNil(t, row[k], "%s.%s is a list, never null", table[i].Name, k)
		}
	}
	get := func(name string) StepInfo {
		for _, s := range table {
			if s.Name == name {
				return s
			}
		}
		t.Fatalf("no %s", name)
		return StepInfo{}
	}
	fin := get("finalize")
	require.True(t, fin.Ends)
	require.Equal(t, PolicyInfo{TimeoutSeconds: 60, Retries: 3, BackoffFactor: 2, BackoffMaxSeconds: 30, TotalSeconds: 4*60 + 2 + 4 + 8}, fin.Policy)
	require.Equal(t, WorkflowTrack, get("process_tracks").Children)
	require.Equal(t, []string{"audio"}, get("mixdown_tracks").Artifacts)
	require.Equal(t, []string{parley.EventFinalShortSummary, parley.EventFinalLongSummary}, get("generate_recap").Events)
}

func TestParticipantsFor(t *testing.T) {
	t.Parallel()
	track := func(i int, name, pid string) store.TrackState {
		return store.TrackState{Track: parley.Track{Index: i, Name: name, ParticipantID: pid}}
	}
	for _, tt := range []struct {
		name  string
		trs   []store.TrackState
		known map[string]DailyParticipant
		want  []parley.Participant
	}{
		{"OKEmpty", nil, nil, []parley.Participant{}},
		{"OKSpeakerN", []store.TrackState{track(0, "", ""), track(1, "", "")}, nil, []parley.Participant{
			{ID: "speaker-0", Speaker: 0, Name: "Speaker 1"}, {ID: "speaker-1", Speaker: 1, Name: "Speaker 2"}}},
		{"OKTrackName", []store.TrackState{track(0, "Alice", "")}, nil, []parley.Participant{{ID: "speaker-0", Speaker: 0, Name: "Alice"}}},
		{"OKDailyName", []store.TrackState{track(0, "file-name", "p1")}, map[string]DailyParticipant{"p1": {ParticipantID: "p1", UserID: "u1", UserName: "Bob"}},
			[]parley.Participant{{ID: "p1", Speaker: 0, Name: "Bob", UserID: "u1"}}},
		{"OKDailyWithoutName", []store.TrackState{track(0, "Carol", "p1")}, map[string]DailyParticipant{"p1": {ParticipantID: "p1", UserID: "u1"}},
			[]parley.Participant{{ID: "p1", Speaker: 0, Name: "Carol", UserID: "u1"}}},
		{"OKUnknownToDaily", []store.TrackState{track(0, "", "p9")}, map[string]DailyParticipant{"p1": {UserName: "Bob"}},
			[]parley.Participant{{ID: "p9", Speaker: 0, Name: "Speaker 1"}}},
		{"OKRejoinedGetsSuffix", []store.TrackState{track(0, "", "p1"), track(1, "", "p1"), track(2, "", "p1")},
			map[string]DailyParticipant{"p1": {UserName: "Dan"}}, []parley.Participant{
				{ID: "p1", Speaker: 0, Name: "Dan"}, {ID: "p1-2", Speaker: 1, Name: "Dan"}, {ID: "p1-3", Speaker: 2, Name: "Dan"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, participantsFor(tt.trs, tt.known))
		})
	}
}

func TestPercentMath(t *testing.T) {
	t.Parallel()
	steps := []string{"pad_track", "transcribe_track"}
	for _, tt := range []struct {
		name string
		done map[string]int
		runs int
		want float64
	}{
		{"NoRuns", map[string]int{"pad_track": 3}, 0, 0},
		{"Nothing", map[string]int{}, 3, 0},
		{"HalfThePads", map[string]int{"pad_track": 3}, 6, 0.25},
		{"All", map[string]int{"pad_track": 2, "transcribe_track": 2}, 2, 1},
		{"NeverAboveOne", map[string]int{"pad_track": 9, "transcribe_track": 9}, 2, 1},
	} {
		require.InDelta(t, tt.want, childShare(tt.done, steps, tt.runs), 1e-9, tt.name)
	}
	require.Zero(t, childShare(map[string]int{"x": 1}, nil, 3))
	for _, tt := range []struct {
		n     float64
		total int
		want  float64
	}{{0, 15, 0}, {1, 15, 6.7}, {7.5, 15, 50}, {15, 15, 100}, {1, 3, 33.3}, {2, 0, 0}} {
		require.InDelta(t, tt.want, percentOf(tt.n, tt.total), 1e-9, "%v of %d", tt.n, tt.total)
	}
}

func TestLongSummaryAndPlainText(t *testing.T) {
	t.Parallel()
	subjects := []parley.Subject{{Subject: " Budget ", Paragraph: "Over by 10%. "}, {Subject: "Empty", Paragraph: "  "}, {Subject: "Launch", Paragraph: "In June."}}
	for _, tt := range []struct {
		recap    string
		subjects []parley.Subject
		want     string
	}{
		{"", nil, ""},
		{" Recap. ", nil, "# Quick recap\n\nRecap."},
		{"", subjects, "# Summary\n\n**Budget**\nOver by 10%.\n\n**Launch**\nIn June."},
		{"Recap.", subjects, "# Quick recap\n\nRecap.\n\n# Summary\n\n**Budget**\nOver by 10%.\n\n**Launch**\nIn June."},
	} {
		require.Equal(t, tt.want, LongSummary(tt.recap, tt.subjects))
	}
	require.Equal(t, "a b c", plainText([]parley.Word{{Text: " a"}, {Text: "b "}, {Text: "c"}}))
	require.Empty(t, plainText(nil))
}

func TestOwnedPrefix(t *testing.T) {
	t.Parallel()
	id := "0b8e5f0e-4c1a-4f57-9d55-6c3d2b2f1a10"
	for key, want := range map[string]string{
		id + "/audio.mp3":           id,
		id + "/tracks/padded_0.wav": id,
		"uploads/" + id + "/a.webm": "",
		id:                          "",
		"not-a-uuid/audio.mp3":      "",
		id[:35] + "/x":              "",
	} {
		got, ok := OwnedPrefix(key)
		require.Equal(t, want, got, key)
		require.Equal(t, want != "", ok, key)
	}
}
