package pipeline_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/internal/e2e"
	"github.com/parley-dev/parley/sim"
)

// The fast part of the fault suite (make test); the rest is in
// chaos_test.go (make chaos).

func TestFaultFlakyProvidersStillComplete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := e2e.New(t, e2e.Options{Env: map[string]string{
		"PARLEY_STEP_TRANSCRIBE_TRACK_BACKOFF": "0", "PARLEY_STEP_TRANSCRIBE_TRACK_RETRIES": "8",
		"PARLEY_STEP_DETECT_CHUNK_TOPIC_BACKOFF": "0", "PARLEY_STEP_DETECT_CHUNK_TOPIC_RETRIES": "8",
		"PARLEY_STEP_GENERATE_TITLE_BACKOFF": "0", "PARLEY_STEP_GENERATE_TITLE_RETRIES": "8",
		"PARLEY_STEP_EXTRACT_SUBJECTS_BACKOFF": "0", "PARLEY_STEP_EXTRACT_SUBJECTS_RETRIES": "8",
		"PARLEY_STEP_GENERATE_DETAILED_SUMMARY_BACKOFF": "0", "PARLEY_STEP_GENERATE_DETAILED_SUMMARY_RETRIES": "8",
		"PARLEY_STEP_GENERATE_RECAP_BACKOFF": "0", "PARLEY_STEP_GENERATE_RECAP_RETRIES": "8",
		"PARLEY_STEP_IDENTIFY_ACTION_ITEMS_BACKOFF": "0", "PARLEY_STEP_IDENTIFY_ACTION_ITEMS_RETRIES": "8",
	}})
	simc := &sim.Client{Base: s.SimURL}
	require.NoError(t, simc.SetFaults(ctx, map[string]sim.Fault{
		sim.EndpointASR: {ErrorRate: 0.3, ErrorStatus: 503}, sim.EndpointLLM: {ErrorRate: 0.3, ErrorStatus: 502}}))
	s.StartWorker()
	s.StartServe()
	tracks := recording(t, s, "rec-flaky")
	var acc accepted
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/process", map[string]any{"tracks": tracks, "recording_id": "rec-flaky"}, &acc))
	tr := s.WaitStatus(ctx, acc.TranscriptID, 4*time.Minute, parley.StatusEnded, parley.StatusError)
	require.Equal(t, parley.StatusEnded, tr.Status, "error: %+v", tr.Error)
	require.NotEmpty(t, tr.Title)
	asr, err := simc.Requests(ctx, sim.EndpointASR)
	require.NoError(t, err)
	faulted := 0
	for _, r := range asr {
		if r.Faulted {
			faulted++
		}
	}
	t.Logf("ASR: %d requests, %d answered 503", len(asr), faulted)
	for _, ev := range s.Events(ctx, tr.ID) {
		if ev.Name == parley.EventStatus {
			require.NotContains(t, string(ev.Data), "error")
		}
	}
}

func TestFaultHangingASRTimesOutAndRetries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := e2e.New(t, e2e.Options{Env: map[string]string{
		"PARLEY_STEP_TRANSCRIBE_TRACK_TIMEOUT": "6s", "PARLEY_STEP_TRANSCRIBE_TRACK_BACKOFF": "0"}})
	simc := &sim.Client{Base: s.SimURL}
	require.NoError(t, simc.SetFaults(ctx, map[string]sim.Fault{sim.EndpointASR: {HangNext: 1}}))
	s.StartWorker()
	s.StartServe()
	tracks := recording(t, s, "rec-hang")
	var acc accepted
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/process", map[string]any{"tracks": tracks, "recording_id": "rec-hang"}, &acc))
	tr := s.WaitStatus(ctx, acc.TranscriptID, 4*time.Minute, parley.StatusEnded, parley.StatusError)
	require.Equal(t, parley.StatusEnded, tr.Status, "error: %+v", tr.Error)
	steps, err := s.DB.ListSteps(ctx, tr.ID)
	require.NoError(t, err)
	var retried *parley.StepRecord
	for i, st := range steps {
		if st.Name == "transcribe_track" && st.Attempts == 2 {
			retried = &steps[i]
		}
	}
	require.NotNil(t, retried, "one transcription was retried after its timeout")
	// The hung attempt ended at the configured timeout, not at the HTTP
	// client's (10 minutes).
	var hung time.Duration
	rows, err := s.DB.Pool().Query(ctx, `SELECT finished_at - started_at FROM steps WHERE transcript_id = $1
		AND name = 'transcribe_track' AND status = 'retrying'`, tr.ID)
	require.NoError(t, err)
	for rows.Next() {
		require.NoError(t, rows.Scan(&hung))
	}
	rows.Close()
	require.InDelta(t, 6.0, hung.Seconds(), 1.5, "the timeout fired at its configured value")
}

// TestFaultBadInputs sends bad recordings through the whole pipeline: each
// ends with a clear error naming the step and the file (or, for valid
// edge cases, a correct transcript), leaves nothing half-written, and the
// worker keeps serving.
func TestFaultBadInputs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := e2e.New(t, e2e.Options{Env: map[string]string{"PARLEY_STEP_PAD_TRACK_RETRIES": "1"}})
	s.StartWorker()
	s.StartServe()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o600))
		return p
	}
	ff := func(name string, args ...string) string {
		p := filepath.Join(dir, name)
		out, err := exec.Command("ffmpeg", append(append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...), p)...).CombinedOutput()
		require.NoError(t, err, string(out))
		return p
	}
	good := ff("good.webm", "-f", "lavfi", "-i", "aevalsrc='0.4*sin(2*PI*440*t)*between(mod(t,2),0,1)':s=48000:d=4", "-c:a", "libopus")
	cases := []struct {
		name   string
		file   string
		status parley.Status
		step   string
		msg    string
	}{
		{"Corrupt", write("corrupt.webm", []byte("\x1a\x45\xdf\xa3 garbage garbage garbage garbage")), parley.StatusError, "pad_track", "corrupt.webm"},
		{"Empty", write("empty.webm", nil), parley.StatusError, "pad_track", "empty"},
		{"VideoOnly", ff("video.webm", "-f", "lavfi", "-i", "testsrc=d=1:s=64x48", "-c:v", "libvpx"), parley.StatusError, "pad_track", "no audio stream"},
		{"Silent", ff("silent.webm", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono", "-t", "3", "-c:a", "libopus"), parley.StatusEnded, "", ""},
		{"Short", ff("short.webm", "-f", "lavfi", "-i", "sine=d=0.1", "-c:a", "libopus"), parley.StatusEnded, "", ""},
		{"HoursLate", ff("late.webm", "-f", "lavfi", "-i", "aevalsrc='0.4*sin(2*PI*440*t)':s=48000:d=2", "-c:a", "libopus", "-output_ts_offset", "7200"), parley.StatusEnded, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := s.Upload(ctx, tc.file, "bad/"+filepath.Base(tc.file))
			var acc accepted
			require.Equal(t, 202, s.API(ctx, "POST", "/v1/process", map[string]any{"tracks": []map[string]string{{"s3_key": key}}}, &acc))
			tr := s.WaitStatus(ctx, acc.TranscriptID, 4*time.Minute, parley.StatusEnded, parley.StatusError)
			require.Equal(t, tc.status, tr.Status, "%+v", tr.Error)
			if tc.status == parley.StatusError {
				// pad_track and mixdown_tracks read the track side by side:
				// the run fails at whichever fails first (and is cancelled).
				if tc.step == "pad_track" {
					require.Contains(t, []string{"pad_track", "mixdown_tracks"}, tr.Error.Step, "%+v", tr.Error)
				} else {
					require.Equal(t, tc.step, tr.Error.Step)
				}
				require.Contains(t, tr.Error.Message, tc.msg)
				words, err := s.DB.ListWords(ctx, tr.ID)
				require.NoError(t, err)
				require.Empty(t, words, "nothing half-written")
				keys, err := s.S3.List(ctx, s.S3.Bucket(), tr.ID+"/")
				require.NoError(t, err)
				require.Empty(t, keys, "no stray files")
			}
			if tc.name == "HoursLate" {
				require.InDelta(t, 7202, tr.DurationSeconds, 1)
				words, err := s.DB.ListWords(ctx, tr.ID)
				require.NoError(t, err)
				require.NotEmpty(t, words)
				require.InDelta(t, 7200, words[0].Start, 0.5, "words sit hours into the meeting")
			}
			if tc.name == "Silent" {
				words, err := s.DB.ListWords(ctx, tr.ID)
				require.NoError(t, err)
				require.Empty(t, words)
			}
		})
	}
	// The worker still serves a good run after all that.
	key := s.Upload(ctx, good, "bad/good.webm")
	var acc accepted
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/process", map[string]any{"tracks": []map[string]string{{"s3_key": key}}}, &acc))
	tr := s.WaitStatus(ctx, acc.TranscriptID, 4*time.Minute, parley.StatusEnded, parley.StatusError)
	require.Equal(t, parley.StatusEnded, tr.Status, "%+v", tr.Error)
	steps, err := s.DB.ListSteps(ctx, tr.ID)
	require.NoError(t, err)
	require.NotEmpty(t, steps)
}
