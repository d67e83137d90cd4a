//go:build bench

package bench

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/internal/e2e"
	"github.com/parley-dev/parley/internal/testenv"
	"github.com/parley-dev/parley/pipeline"
	"github.com/parley-dev/parley/sim"
)

// tone writes a short distinct track (own frequency: own content hash).
func tone(t *testing.T, dir string, i int, seconds int) string {
	t.Helper()
	p := filepath.Join(dir, fmt.Sprintf("tone%d.webm", i))
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
		fmt.Sprintf("aevalsrc='0.4*sin(2*PI*%d*t)*between(mod(t,3),0,2)':s=48000:d=%d", 200+13*i, seconds),
		"-c:a", "libopus", "-output_ts_offset", fmt.Sprint(0.5*float64(i%5)), p).CombinedOutput()
	require.NoError(t, err, string(out))
	return p
}

type run struct {
	ID    string
	Steps []parley.StepRecord
	Wall  time.Duration
}

func process(t *testing.T, s *e2e.Stack, files []string, prefix string) run {
	t.Helper()
	ctx := context.Background()
	var tracks []map[string]string
	for i, f := range files {
		tracks = append(tracks, map[string]string{"s3_key": s.Upload(ctx, f, fmt.Sprintf("%s/%d.webm", prefix, i))})
	}
	var acc struct {
		TranscriptID string `json:"transcript_id"`
	}
	t0 := time.Now()
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/process", map[string]any{"tracks": tracks}, &acc))
	tr := s.WaitStatus(ctx, acc.TranscriptID, 10*time.Minute, parley.StatusEnded, parley.StatusError)
	require.Equal(t, parley.StatusEnded, tr.Status, "%+v", tr.Error)
	wall := time.Since(t0)
	// finalize writes "ended" before its own attempt is recorded as
	// finished: wait for the audit row, or the run looks unfinished.
	var steps []parley.StepRecord
	s.WaitFor("finalize in the audit", time.Minute, func() bool {
		var err error
		steps, err = s.DB.ListSteps(ctx, tr.ID)
		require.NoError(t, err)
		for _, st := range steps {
			if st.Name == "finalize" && st.FinishedAt != nil {
				return true
			}
		}
		return false
	})
	return run{ID: tr.ID, Steps: steps, Wall: wall}
}

func stepMS(steps []parley.StepRecord, name string) int64 {
	for _, s := range steps {
		if s.Name == name && s.TrackIndex == nil {
			return s.DurationMS
		}
	}
	return -1
}

func TestFanOutScaling(t *testing.T) {
	ctx := context.Background()
	s := e2e.New(t, e2e.Options{})
	require.NoError(t, (&sim.Client{Base: s.SimURL}).SetFaults(ctx, map[string]sim.Fault{sim.EndpointASR: {LatencyMS: 2000}}))
	s.StartWorker()
	s.StartServe()
	dir := t.TempDir()
	// Warm-up run (engine and worker caches).
	process(t, s, []string{tone(t, dir, 100, 10)}, "warm")
	type point struct {
		Tracks          int     `json:"tracks"`
		ProcessTracksMS int64   `json:"process_tracks_ms"`
		Ratio           float64 `json:"ratio_to_1"`
	}
	var pts []point
	next := 0
	for _, n := range []int{1, 2, 4, 8} {
		var files []string
		for i := 0; i < n; i++ {
			files = append(files, tone(t, dir, next, 10))
			next++
		}
		r := process(t, s, files, fmt.Sprintf("fan%d", n))
		pts = append(pts, point{Tracks: n, ProcessTracksMS: stepMS(r.Steps, "process_tracks")})
	}
	for i := range pts {
		pts[i].Ratio = round(float64(pts[i].ProcessTracksMS) / float64(pts[0].ProcessTracksMS))
		t.Logf("%d tracks: process_tracks %d ms (x%.2f)", pts[i].Tracks, pts[i].ProcessTracksMS, pts[i].Ratio)
	}
	writeResult(t, "fanout", map[string]any{"asr_latency_ms": 2000, "track_seconds": 10, "points": pts,
		"goal": "ratio <= 1.15 at 8 tracks", "met": pts[len(pts)-1].Ratio <= 1.15})
}

// TestOrchestrationOverhead: on a 3-track run, the wall time from the first
// step's start to finalize's end, minus the work on the critical path
// (each step's own duration; process_tracks counts as its slowest track's
// pad + transcribe).
func TestOrchestrationOverhead(t *testing.T) {
	s := e2e.New(t, e2e.Options{})
	s.StartWorker()
	s.StartServe()
	root := testenv.Root(t)
	var files []string
	for _, n := range []string{"alice", "bob", "carol"} {
		files = append(files, filepath.Join(root, "testdata", "meeting", n+".webm"))
	}
	process(t, s, files, "warm") // warm-up (and fills the caches: the measured run pays no provider time)
	r := process(t, s, files, "measure")
	start, end := time.Time{}, time.Time{}
	dur := map[string]float64{}
	trackWork := map[int]float64{}
	for _, st := range r.Steps {
		if st.FinishedAt == nil {
			continue
		}
		if start.IsZero() || st.StartedAt.Before(start) {
			start = st.StartedAt
		}
		if st.Name == "finalize" {
			end = *st.FinishedAt
		}
		ms := float64(st.DurationMS)
		if st.TrackIndex != nil {
			trackWork[*st.TrackIndex] += ms
			continue
		}
		dur[st.Name] = ms
	}
	slowest := 0.0
	for _, w := range trackWork {
		slowest = max(slowest, w)
	}
	// Longest path through the DAG (pipeline.StepTable, as Define declares
	// it) to the step that completes the transcript; the tracks run in
	// parallel inside their parent.
	longest := map[string]float64{}
	ends := ""
	for _, spec := range pipeline.StepTable {
		if spec.Workflow != pipeline.WorkflowPipeline || spec.Phase != pipeline.PhaseRun {
			continue
		}
		if spec.Children != "" {
			dur[spec.Name] = slowest
		}
		best := 0.0
		for _, p := range spec.Parents {
			best = max(best, longest[p])
		}
		longest[spec.Name] = best + dur[spec.Name]
		if spec.Ends {
			ends = spec.Name
		}
	}
	wall := end.Sub(start).Seconds() * 1000
	overhead := wall - longest[ends]
	t.Logf("wall %.0f ms, critical-path work %.0f ms, orchestration overhead %.0f ms", wall, longest[ends], overhead)
	writeResult(t, "overhead", map[string]any{"tracks": 3, "wall_ms": round(wall), "critical_path_work_ms": round(longest[ends]),
		"overhead_ms": round(overhead), "step_ms": dur, "goal": "overhead <= 1000 ms", "met": overhead <= 1000})
}

// TestResumeCost: a run fails at generate_recap; after the fault is gone,
// resuming repeats no transcription and only generate_recap's LLM calls.
func TestResumeCost(t *testing.T) {
	ctx := context.Background()
	s := e2e.New(t, e2e.Options{})
	simc := &sim.Client{Base: s.SimURL}
	require.NoError(t, simc.SetFaults(ctx, map[string]sim.Fault{sim.EndpointLLM: {ErrorRate: 1, ErrorStatus: 400, Schema: "recap"}}))
	s.StartWorker()
	s.StartServe()
	root := testenv.Root(t)
	var tracks []map[string]string
	for _, n := range []string{"alice", "bob", "carol"} {
		tracks = append(tracks, map[string]string{"s3_key": s.Upload(ctx, filepath.Join(root, "testdata", "meeting", n+".webm"), "resume/"+n)})
	}
	var acc struct {
		TranscriptID string `json:"transcript_id"`
	}
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/process", map[string]any{"tracks": tracks}, &acc))
	tr := s.WaitStatus(ctx, acc.TranscriptID, 5*time.Minute, parley.StatusEnded, parley.StatusError)
	require.Equal(t, parley.StatusError, tr.Status)
	require.Equal(t, "generate_recap", tr.Error.Step)
	count := func(ep string) int {
		reqs, err := simc.Requests(ctx, ep)
		require.NoError(t, err)
		n := 0
		for _, r := range reqs {
			if !r.Faulted {
				n++
			}
		}
		return n
	}
	asr0, llm0 := count(sim.EndpointASR), count(sim.EndpointLLM)
	require.NoError(t, simc.SetFaults(ctx, map[string]sim.Fault{sim.EndpointLLM: {}}))
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/transcripts/"+tr.ID+"/process", nil, nil))
	tr = s.WaitStatus(ctx, tr.ID, 5*time.Minute, parley.StatusEnded, parley.StatusError)
	require.Equal(t, parley.StatusEnded, tr.Status, "%+v", tr.Error)
	asr1, llm1 := count(sim.EndpointASR), count(sim.EndpointLLM)
	t.Logf("resume after a generate_recap failure repeated %d ASR calls and %d LLM calls", asr1-asr0, llm1-llm0)
	writeResult(t, "resume", map[string]any{"failed_step": "generate_recap", "repeated_asr_calls": asr1 - asr0,
		"repeated_llm_calls": llm1 - llm0, "goal": "0 ASR calls and only generate_recap's LLM call (1)",
		"met": asr1 == asr0 && llm1-llm0 == 1})
}
