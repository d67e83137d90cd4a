package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/internal/e2e"
	"github.com/parley-dev/parley/internal/testenv"
	"github.com/parley-dev/parley/notify"
	"github.com/parley-dev/parley/sim"
	"github.com/parley-dev/parley/store"
)

// The sample meeting: who speaks when (meeting time, s); tracks in this
// order are speakers 0, 1, 2.
var meeting = []struct {
	speaker int
	at      float64
}{
	{0, 1.0}, {1, 6.5}, {0, 12.5}, {2, 18.0}, {1, 23.5}, {2, 29.0}, {0, 34.0}, {2, 39.5}, {1, 45.0}, {0, 50.5},
}

var names = []string{"alice", "bob", "carol"}

// dailyKey is a Daily-style raw track key for a participant.
func dailyKey(room string, i int) string {
	return fmt.Sprintf("%s/1763800000000-%08d-0000-4000-8000-00000000000%d-cam-audio-1763800001000", room, i, i)
}

func participantID(i int) string { return fmt.Sprintf("%08d-0000-4000-8000-00000000000%d", i, i) }

// recording uploads the sample meeting as a Daily recording and registers
// it (with its participants) in the simulated Daily.
func recording(t *testing.T, s *e2e.Stack, id string) []map[string]string {
	t.Helper()
	ctx := context.Background()
	root := testenv.Root(t)
	var tracks []map[string]string
	var simTracks []map[string]any
	var ps []map[string]any
	for i, n := range names {
		key := s.Upload(ctx, filepath.Join(root, "testdata", "meeting", n+".webm"), dailyKey("standup-20261122090000", i))
		tracks = append(tracks, map[string]string{"s3_key": key})
		simTracks = append(simTracks, map[string]any{"type": "audio", "s3Key": key, "size": 1000})
		ps = append(ps, map[string]any{"participant_id": participantID(i), "user_name": strings.ToUpper(n[:1]) + n[1:], "user_id": "u-" + n})
	}
	require.NoError(t, (&sim.Client{Base: s.SimURL}).AddRecording(ctx, sim.DailyRecording{
		Recording: map[string]any{"id": id, "room_name": "standup-20261122090000", "status": "finished", "duration": 56,
			"mtgSessionId": "mtg-" + id, "tracks": simTracks, "start_ts": time.Now().Unix()},
		Participants: ps,
	}))
	return tracks
}

type accepted struct {
	TranscriptID  string `json:"transcript_id"`
	WorkflowRunID string `json:"workflow_run_id"`
}

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := e2e.New(t, e2e.Options{})
	s.StartWorker()
	s.StartServe()

	var room parley.Room
	require.Equal(t, 201, s.API(ctx, "POST", "/v1/rooms", map[string]any{"name": "standup",
		"webhook_url": s.SimURL + "/webhook/standup", "webhook_secret": "room-secret",
		"zulip_stream": "meetings", "zulip_auto_post": true}, &room))

	tracks := recording(t, s, "rec-e2e")
	var acc accepted
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/process", map[string]any{"tracks": tracks, "recording_id": "rec-e2e",
		"room_name": "standup-20261122090000"}, &acc))
	tr := s.WaitStatus(ctx, acc.TranscriptID, 3*time.Minute, parley.StatusEnded, parley.StatusError)
	require.Equal(t, parley.StatusEnded, tr.Status, "error: %+v", tr.Error)

	// Words in meeting-time order, each utterance by the right speaker.
	words, err := s.DB.ListWords(ctx, tr.ID)
	require.NoError(t, err)
	require.True(t, sort.SliceIsSorted(words, func(i, j int) bool { return words[i].Start < words[j].Start }))
	for _, u := range meeting {
		var first *parley.Word
		for i := range words {
			if words[i].Start >= u.at-0.3 {
				first = &words[i]
				break
			}
		}
		require.NotNil(t, first, "no word after %.1f s", u.at)
		require.InDelta(t, u.at, first.Start, 0.3, "utterance at %.1f s starts at %.2f s", u.at, first.Start)
		require.Equal(t, u.speaker, first.Speaker, "utterance at %.1f s", u.at)
	}
	require.Equal(t, "Alice", tr.Participants[0].Name, "names come from Daily's participants")
	require.Equal(t, participantID(2), tr.Participants[2].ID)

	topics, err := s.DB.ListTopics(ctx, tr.ID, false)
	require.NoError(t, err)
	require.NotEmpty(t, topics)
	require.Positive(t, topics[0].Duration, "topic durations are real, not 0 as in the reference")
	require.NotEmpty(t, tr.Title)
	require.NotEmpty(t, tr.ShortSummary)
	require.Contains(t, tr.LongSummary, "# Quick recap")
	require.NotEmpty(t, tr.ActionItems.NextSteps)
	require.Equal(t, participantID(1), tr.ActionItems.NextSteps[0].AssignedToParticipantID, "owners map to participant ids")
	require.InDelta(t, 56, tr.DurationSeconds, 0.01, "Daily's duration is the reference")
	wave, err := s.DB.Waveform(ctx, tr.ID)
	require.NoError(t, err)
	require.Len(t, wave, 255)
	ok, err := s.S3.Exists(ctx, s.S3.Bucket(), tr.ID+"/audio.mp3")
	require.NoError(t, err)
	require.True(t, ok, "the MP3 exists")
	keys, err := s.S3.List(ctx, s.S3.Bucket(), tr.ID+"/tracks/")
	require.NoError(t, err)
	require.Empty(t, keys, "finalize deleted the padded tracks")

	// Every event stored, in one gapless order.
	evs := s.Events(ctx, tr.ID)
	seen := map[string]int{}
	var statuses []string
	var details []string
	for i, ev := range evs {
		require.Equal(t, int64(i+1), ev.Seq)
		seen[ev.Name]++
		switch ev.Name {
		case parley.EventStatus:
			var d parley.StatusData
			require.NoError(t, json.Unmarshal(ev.Data, &d))
			statuses = append(statuses, string(d.Value))
		case parley.EventPipelineProgress:
			var d parley.PipelineProgressData
			require.NoError(t, json.Unmarshal(ev.Data, &d))
			details = append(details, d.Detail)
		}
	}
	for _, name := range []string{parley.EventStatus, parley.EventDuration, parley.EventWaveform, parley.EventTranscript,
		parley.EventTopic, parley.EventFinalTitle, parley.EventFinalShortSummary, parley.EventFinalLongSummary,
		parley.EventActionItems, parley.EventPipelineProgress} {
		require.Positive(t, seen[name], "event %s", name)
	}
	require.Equal(t, "ended", statuses[len(statuses)-1], "ended is the last status")
	require.NotContains(t, statuses, "error")
	require.Contains(t, details, "Transcribing track 2 of 3")

	// Delivered: a signed webhook and one Zulip post.
	simc := &sim.Client{Base: s.SimURL}
	var hook sim.Request
	s.WaitFor("the webhook", time.Minute, func() bool {
		reqs, err := simc.Requests(ctx, sim.EndpointWebhook)
		require.NoError(t, err)
		if len(reqs) > 0 {
			hook = reqs[0]
		}
		return len(reqs) > 0
	})
	require.NoError(t, notify.VerifyWebhookSignature("room-secret", hook.Headers["X-Webhook-Signature"], []byte(hook.Body), time.Now(), 5*time.Minute))
	require.Equal(t, "transcript.completed", hook.Headers["X-Webhook-Event"])
	require.Equal(t, "Parley-Webhook/1.0", hook.Headers["User-Agent"])
	var payload struct {
		Event      string `json:"event"`
		Transcript struct {
			ID       string `json:"id"`
			Duration int64  `json:"duration"`
			Topics   []any  `json:"topics"`
		} `json:"transcript"`
		Room struct{ ID, Name string } `json:"room"`
	}
	require.NoError(t, json.Unmarshal([]byte(hook.Body), &payload))
	require.Equal(t, tr.ID, payload.Transcript.ID)
	require.Equal(t, int64(56000), payload.Transcript.Duration, "webhook duration is in ms")
	require.Equal(t, "standup", payload.Room.Name)
	var msgs []sim.ZulipMessage
	s.WaitFor("the zulip post", time.Minute, func() bool {
		msgs, err = simc.ZulipMessages(ctx)
		require.NoError(t, err)
		return len(msgs) == 1
	})
	require.Equal(t, "meetings", msgs[0].Stream)
	require.Contains(t, msgs[0].Content, tr.Title)

	// Reprocessing by force runs again from cached ASR/LLM results and
	// updates the Zulip post instead of adding one.
	asrBefore, err := simc.Requests(ctx, sim.EndpointASR)
	require.NoError(t, err)
	llmBefore, err := simc.Requests(ctx, sim.EndpointLLM)
	require.NoError(t, err)
	s.WaitFor("the first run to finish its deliveries", time.Minute, func() bool {
		steps, err := s.DB.ListSteps(ctx, tr.ID)
		require.NoError(t, err)
		done := 0
		for _, st := range steps {
			if (st.Name == "post_zulip" || st.Name == "send_webhook") && st.Status == store.AttemptCompleted {
				done++
			}
		}
		return done == 2
	})
	var again map[string]any
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/transcripts/"+tr.ID+"/process", map[string]any{"force": true}, &again))
	require.NotEqual(t, acc.WorkflowRunID, again["workflow_run_id"])
	s.WaitFor("the second zulip delivery", 2*time.Minute, func() bool {
		msgs, err = simc.ZulipMessages(ctx)
		require.NoError(t, err)
		return len(msgs) == 1 && msgs[0].Edits == 1
	})
	asrAfter, err := simc.Requests(ctx, sim.EndpointASR)
	require.NoError(t, err)
	llmAfter, err := simc.Requests(ctx, sim.EndpointLLM)
	require.NoError(t, err)
	require.Len(t, asrAfter, len(asrBefore), "a forced re-run pays for no transcription")
	require.Len(t, llmAfter, len(llmBefore), "nor for any LLM call")
}

func TestTransientFailuresAreRetriedWithoutFlappingToError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := e2e.New(t, e2e.Options{Env: map[string]string{"PARLEY_STEP_TRANSCRIBE_TRACK_BACKOFF": "0"}})
	require.NoError(t, (&sim.Client{Base: s.SimURL}).SetFaults(ctx, map[string]sim.Fault{sim.EndpointASR: {FailNext: 2, ErrorStatus: 503}}))
	s.StartWorker()
	s.StartServe()
	tracks := recording(t, s, "rec-retry")
	var acc accepted
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/process", map[string]any{"tracks": tracks, "recording_id": "rec-retry"}, &acc))
	tr := s.WaitStatus(ctx, acc.TranscriptID, 3*time.Minute, parley.StatusEnded, parley.StatusError)
	require.Equal(t, parley.StatusEnded, tr.Status, "error: %+v", tr.Error)
	for _, ev := range s.Events(ctx, tr.ID) {
		if ev.Name == parley.EventStatus {
			require.NotContains(t, string(ev.Data), "error", "the status never showed error")
		}
	}
	steps, err := s.DB.ListSteps(ctx, tr.ID)
	require.NoError(t, err)
	retried := 0
	for _, st := range steps {
		if st.Name == "transcribe_track" && st.Attempts > 1 {
			retried += st.Attempts - 1
		}
	}
	require.Equal(t, 2, retried, "the two 503s were retried")
}

func TestPermanentFailureNamesTheStepAndResumes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := e2e.New(t, e2e.Options{})
	simc := &sim.Client{Base: s.SimURL}
	require.NoError(t, simc.SetFaults(ctx, map[string]sim.Fault{sim.EndpointLLM: {ErrorRate: 1, ErrorStatus: 400}}))
	s.StartWorker()
	s.StartServe()
	tracks := recording(t, s, "rec-fail")
	var acc accepted
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/process", map[string]any{"tracks": tracks, "recording_id": "rec-fail"}, &acc))
	tr := s.WaitStatus(ctx, acc.TranscriptID, 3*time.Minute, parley.StatusEnded, parley.StatusError)
	require.Equal(t, parley.StatusError, tr.Status)
	require.NotNil(t, tr.Error)
	require.Equal(t, "detect_chunk_topic", tr.Error.Step, "the failing step is the topic chunk's, inside detect_topics")
	require.Contains(t, tr.Error.Message, "HTTP 400")
	llm, err := simc.Requests(ctx, sim.EndpointLLM)
	require.NoError(t, err)
	require.Len(t, llm, 1, "a 4xx is not retried")
	asr, err := simc.Requests(ctx, sim.EndpointASR)
	require.NoError(t, err)
	require.Len(t, asr, 3)
	// The parallel branch (mixdown, then waveform) may finish after the
	// failure: that does not make the transcript look alive again.
	s.WaitFor("the waveform branch to finish", 2*time.Minute, func() bool {
		steps, err := s.DB.ListSteps(ctx, tr.ID)
		require.NoError(t, err)
		for _, st := range steps {
			if st.Name == "generate_waveform" && st.Status == store.AttemptCompleted {
				return true
			}
		}
		return false
	})
	tr, err = s.DB.GetTranscript(ctx, tr.ID)
	require.NoError(t, err)
	require.Equal(t, parley.StatusError, tr.Status, "the waveform finishing after the failure leaves the error")

	// The CLI reports the failure.
	out, stderr, code := s.Run(ctx, "status", tr.ID)
	require.Equal(t, 1, code, stderr)
	require.Contains(t, out, "failed at detect_chunk_topic")

	// Fix the provider and resume: only the failed step and what follows
	// run; no transcription is repeated.
	require.NoError(t, simc.SetFaults(ctx, map[string]sim.Fault{sim.EndpointLLM: {}}))
	var res map[string]any
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/transcripts/"+tr.ID+"/process", nil, &res))
	require.Equal(t, true, res["resumed"])
	require.Equal(t, acc.WorkflowRunID, res["workflow_run_id"], "resuming replays the same run")
	tr = s.WaitStatus(ctx, tr.ID, 3*time.Minute, parley.StatusEnded, parley.StatusError)
	require.Equal(t, parley.StatusEnded, tr.Status, "error: %+v", tr.Error)
	require.Nil(t, tr.Error)
	asr2, err := simc.Requests(ctx, sim.EndpointASR)
	require.NoError(t, err)
	require.Len(t, asr2, len(asr), "zero repeated ASR calls")
}

func TestWorkerCrashDuringTranscription(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := e2e.New(t, e2e.Options{})
	simc := &sim.Client{Base: s.SimURL}
	require.NoError(t, simc.SetFaults(ctx, map[string]sim.Fault{sim.EndpointASR: {LatencyMS: 3000}}))
	w := s.StartWorker()
	s.StartServe()
	tracks := recording(t, s, "rec-crash")
	var acc accepted
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/process", map[string]any{"tracks": tracks, "recording_id": "rec-crash"}, &acc))
	s.WaitFor("a transcription in flight", time.Minute, func() bool {
		reqs, err := simc.Requests(ctx, sim.EndpointASR)
		require.NoError(t, err)
		steps, err := s.DB.ListSteps(ctx, acc.TranscriptID)
		require.NoError(t, err)
		for _, st := range steps {
			if st.Name == "transcribe_track" && st.Status == store.AttemptRunning {
				return true
			}
		}
		return len(reqs) > 0
	})
	s.Kill(w)
	s.StartWorker()
	tr := s.WaitStatus(ctx, acc.TranscriptID, 4*time.Minute, parley.StatusEnded, parley.StatusError)
	require.Equal(t, parley.StatusEnded, tr.Status, "error: %+v", tr.Error)
	words, err := s.DB.ListWords(ctx, tr.ID)
	require.NoError(t, err)
	type key struct {
		speaker int
		start   float64
	}
	dup := map[key]bool{}
	for _, w := range words {
		k := key{w.Speaker, w.Start}
		require.False(t, dup[k], "duplicated word %+v", w)
		dup[k] = true
	}
	asr, err := simc.Requests(ctx, sim.EndpointASR)
	require.NoError(t, err)
	completed := 0
	for _, r := range asr {
		if r.Status == 200 {
			completed++
		}
	}
	require.LessOrEqual(t, completed, len(tracks)+1, "ASR answers paid for: at most one per track plus the interrupted one")
}

func TestConsentDeniedLeavesNoAudio(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := e2e.New(t, e2e.Options{})
	s.StartWorker()
	s.StartServe()
	// Consent is denied while the run is under way (the mixdown is slowed
	// by a hanging-then-slow ASR so the denial lands mid-run).
	simc := &sim.Client{Base: s.SimURL}
	require.NoError(t, simc.SetFaults(ctx, map[string]sim.Fault{sim.EndpointASR: {LatencyMS: 1500}}))
	tracks := recording(t, s, "rec-consent")
	var acc accepted
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/process", map[string]any{"tracks": tracks, "recording_id": "rec-consent"}, &acc))
	var c map[string]any
	require.Equal(t, 200, s.API(ctx, "POST", "/v1/transcripts/"+acc.TranscriptID+"/consent",
		map[string]any{"participant_id": participantID(1), "consent_given": false}, &c))
	tr := s.WaitStatus(ctx, acc.TranscriptID, 3*time.Minute, parley.StatusEnded, parley.StatusError)
	require.Equal(t, parley.StatusEnded, tr.Status, "error: %+v", tr.Error)
	// The denial's own cleanup marks the transcript at once; the run's
	// cleanup_consent step, after finalize, deletes what the run wrote
	// since (the MP3): wait for both, not for the mark alone.
	var keys []string
	s.WaitFor("consent cleanup", time.Minute, func() bool {
		t2, err := s.DB.GetTranscript(ctx, tr.ID)
		require.NoError(t, err)
		keys, err = s.S3.List(ctx, s.S3.Bucket(), "")
		require.NoError(t, err)
		return t2.AudioDeleted && len(keys) == 0
	})
	require.Empty(t, keys, "no raw track, padded track or MP3 is left")
	require.Equal(t, 410, s.API(ctx, "GET", "/v1/transcripts/"+tr.ID+"/audio/mp3", nil, nil))
}

// makeTone writes a distinct Opus track (its own frequency, so that every
// track has its own content hash).
func makeTone(t *testing.T, dir string, i int) string {
	t.Helper()
	p := filepath.Join(dir, fmt.Sprintf("tone%d.webm", i))
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
		fmt.Sprintf("aevalsrc='0.4*sin(2*PI*%d*t)*between(mod(t,2),0,1.2)':s=48000:d=8", 300+40*i),
		"-c:a", "libopus", "-output_ts_offset", fmt.Sprint(0.5*float64(i)), p).CombinedOutput()
	require.NoError(t, err, string(out))
	return p
}

// TestTracksRunInParallel: the tracks of a meeting are transcribed at the
// same time. parley-sim holds every transcription request until all six
// are in flight together (a barrier, no clock): tracks handled one after
// another would leave the first request waiting until the simulator gives
// up on it (503, marked faulted).
func TestTracksRunInParallel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := e2e.New(t, e2e.Options{})
	simc := &sim.Client{Base: s.SimURL}
	const n = 6
	require.NoError(t, simc.SetFaults(ctx, map[string]sim.Fault{sim.EndpointASR: {Together: n, TogetherWaitMS: 150000}}))
	s.StartWorker()
	s.StartServe()
	dir := t.TempDir()
	var tracks []map[string]string
	for i := 0; i < n; i++ {
		key := s.Upload(ctx, makeTone(t, dir, 10+i), fmt.Sprintf("par/%d.webm", i))
		tracks = append(tracks, map[string]string{"s3_key": key})
	}
	var acc accepted
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/process", map[string]any{"tracks": tracks}, &acc))
	tr := s.WaitStatus(ctx, acc.TranscriptID, 5*time.Minute, parley.StatusEnded, parley.StatusError)
	require.Equal(t, parley.StatusEnded, tr.Status, "error: %+v", tr.Error)
	reqs, err := simc.Requests(ctx, sim.EndpointASR)
	require.NoError(t, err)
	require.Len(t, reqs, n, "one transcription per track")
	for _, r := range reqs {
		require.False(t, r.Faulted, "a transcription waited for the others in vain (%d %s): tracks did not run in parallel", r.Status, r.Path)
	}
}

// TestResumeReplaysFailedTracksOnly: a track's transcription fails for good
// (the provider rejects it); after the fix, resuming replays that track's
// child and the parent, and no other track is transcribed again.
func TestResumeReplaysFailedTracksOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := e2e.New(t, e2e.Options{})
	simc := &sim.Client{Base: s.SimURL}
	// The first ASR request fails with a 400 (not retried); the other two
	// tracks succeed.
	require.NoError(t, simc.SetFaults(ctx, map[string]sim.Fault{sim.EndpointASR: {FailNext: 1, ErrorStatus: 400}}))
	s.StartWorker()
	s.StartServe()
	tracks := recording(t, s, "rec-child")
	var acc accepted
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/process", map[string]any{"tracks": tracks, "recording_id": "rec-child"}, &acc))
	tr := s.WaitStatus(ctx, acc.TranscriptID, 3*time.Minute, parley.StatusEnded, parley.StatusError)
	require.Equal(t, parley.StatusError, tr.Status)
	require.Equal(t, "transcribe_track", tr.Error.Step, "the failing step is the track step, not process_tracks")
	before, err := simc.Requests(ctx, sim.EndpointASR)
	require.NoError(t, err)
	require.Len(t, before, 3)

	var res map[string]any
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/transcripts/"+tr.ID+"/process", nil, &res))
	require.Equal(t, true, res["resumed"])
	tr = s.WaitStatus(ctx, tr.ID, 3*time.Minute, parley.StatusEnded, parley.StatusError)
	require.Equal(t, parley.StatusEnded, tr.Status, "error: %+v", tr.Error)
	after, err := simc.Requests(ctx, sim.EndpointASR)
	require.NoError(t, err)
	require.Len(t, after, 4, "only the failed track was transcribed again")
	words, err := s.DB.ListWords(ctx, tr.ID)
	require.NoError(t, err)
	speakers := map[int]bool{}
	for _, w := range words {
		speakers[w.Speaker] = true
	}
	require.Len(t, speakers, 3, "every track has its words")
}

// TestDailyPollingStartsMissedRecordings runs the polling workflow (as its
// cron would): a finished raw-tracks recording whose webhook never came is
// found on Daily's (simulated) API and processed, once.
func TestDailyPollingStartsMissedRecordings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := e2e.New(t, e2e.Options{Env: map[string]string{"PARLEY_DAILY_POLL_CRON": "0 0 1 1 *"}})
	s.StartWorker()
	s.StartServe()
	recording(t, s, "rec-missed")
	hc := s.Hatchet()
	for i := 0; i < 2; i++ {
		runID, err := hc.Start(ctx, "DailyPolling", map[string]any{}, nil)
		require.NoError(t, err)
		s.WaitFor("the polling run", 2*time.Minute, func() bool {
			st, err := hc.State(ctx, runID)
			return err == nil && st.Done
		})
	}
	var id string
	s.WaitFor("a transcript for the missed recording", time.Minute, func() bool {
		err := s.DB.Pool().QueryRow(ctx, `SELECT id::text FROM transcripts WHERE recording_id = 'rec-missed'`).Scan(&id)
		return err == nil
	})
	tr := s.WaitStatus(ctx, id, 3*time.Minute, parley.StatusEnded, parley.StatusError)
	require.Equal(t, parley.StatusEnded, tr.Status, "error: %+v", tr.Error)
	var n int
	require.NoError(t, s.DB.Pool().QueryRow(ctx, `SELECT count(*) FROM transcripts`).Scan(&n))
	require.Equal(t, 1, n, "polling twice starts it once")
	require.Equal(t, "Alice", tr.Participants[0].Name)
}
