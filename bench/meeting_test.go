//go:build bench

package bench

import (
	"bufio"
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/internal/e2e"
	"github.com/parley-dev/parley/pipeline"
	"github.com/parley-dev/parley/sim"
)

// The meeting of the latency and throughput benchmarks: one hour, four
// Daily-like raw tracks (WebM/Opus, 32 kb/s mono, each starting at its
// own offset), speech-like talk spurts taking about a quarter of each
// track, and track 2 with a mute gap (no packets for five minutes, as
// Daily writes a muted participant).
const (
	meetingMinutes = 60
	gapAt, gapLen  = 20 * 60.0, 5 * 60.0
)

var meetingOffsets = []float64{0.4, 1.7, 3.0, 12.5}

// Provider models (parley-sim): a fast GPU Whisper and a hosted LLM.
var providerModels = map[string]sim.Fault{
	sim.EndpointASR: {AudioSpeed: 60},
	sim.EndpointLLM: {LatencyMS: 1500, MSPer100Tokens: 20},
}

// meetingTrack makes (once; cached in bench/work) track i of the meeting.
func meetingTrack(t *testing.T, i int) string {
	t.Helper()
	p := filepath.Join(workDir(t), fmt.Sprintf("meeting-%dm-%d.webm", meetingMinutes, i))
	if _, err := os.Stat(p); err == nil {
		return p
	}
	// Talk spurts of a few seconds (two slow sines gate the voice, a
	// quarter of the time, each track on its own periods) of a voiced
	// carrier with syllable-rate modulation.
	f := 140 + 35*i
	expr := fmt.Sprintf("0.35*sin(2*PI*%d*t)*(0.6+0.4*sin(2*PI*4.3*t))*gt(sin(2*PI*t/%d+%d)+0.6*sin(2*PI*t/%g),0.75)",
		f, 23+7*i, i, 7.3+1.9*float64(i))
	seconds := float64(meetingMinutes * 60)
	args := []string{"-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"}
	if i == 2 {
		// The gap: the content is 5 minutes shorter and its timestamps
		// jump by the gap's length at gapAt.
		seconds -= gapLen
		args = append(args, fmt.Sprintf("aevalsrc='%s':s=16000:d=%g", expr, seconds),
			"-af", fmt.Sprintf("asetpts='if(gte(T,%g),PTS+%g/TB,PTS)'", gapAt, gapLen))
	} else {
		args = append(args, fmt.Sprintf("aevalsrc='%s':s=16000:d=%g", expr, seconds))
	}
	args = append(args, "-ac", "1", "-c:a", "libopus", "-b:a", "32k", "-output_ts_offset", fmt.Sprint(meetingOffsets[i]),
		p+".tmp.webm")
	out, err := exec.Command("ffmpeg", args...).CombinedOutput()
	require.NoError(t, err, string(out))
	require.NoError(t, os.Rename(p+".tmp.webm", p))
	return p
}

// meetingVariant is the meeting's track i with its own spoken text (the
// simulator's words come from the PARLEY_SIM_TEXT tag): the same audio
// with other bytes and other words, so that no result cache answers for
// another meeting. A stream copy, timestamps kept.
func meetingVariant(t *testing.T, meeting, i int) string {
	t.Helper()
	base := meetingTrack(t, i)
	p := filepath.Join(workDir(t), fmt.Sprintf("meeting-%dm-%d-v%d.webm", meetingMinutes, i, meeting))
	if _, err := os.Stat(p); err == nil {
		return p
	}
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", base, "-c", "copy", "-copyts",
		"-metadata", sim.TextTag+"="+spokenText(int64(meeting*100+i), 2600), p+".tmp.webm").CombinedOutput()
	require.NoError(t, err, string(out))
	require.NoError(t, os.Rename(p+".tmp.webm", p))
	return p
}

var vocabulary = strings.Fields(`we should review the budget for launch and then plan marketing design timeline
customer feedback release mobile login server costs hiring team sprint quality tests metrics growth revenue
partners contract legal risk security privacy onboarding support tickets roadmap priority next quarter goals
I think that is right but maybe we can move it to Friday yes agree no wait let me check the numbers again
sales pipeline demo pricing discount churn retention survey interviews prototype research android iOS web`)

// spokenText is n words of meeting talk, in sentences, from seed.
func spokenText(seed int64, n int) string {
	r := rand.New(rand.NewSource(seed))
	var b strings.Builder
	for i := 0; i < n; i++ {
		w := vocabulary[r.Intn(len(vocabulary))]
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(w)
		if r.Intn(9) == 0 || i == n-1 {
			b.WriteByte('.')
		}
	}
	return b.String()
}

// procStat is a process's CPU time (its own and its waited-for children's)
// and peak RSS, read from /proc.
type procStat struct {
	CPU, ChildCPU time.Duration
	HWM           int64 // KiB
}

func readProc(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// Fields after the command (which may hold spaces) in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	tick := func(i int) time.Duration {
		v, _ := strconv.ParseInt(f[i], 10, 64)
		return time.Duration(v) * time.Second / 100 // USER_HZ
	}
	// utime, stime, cutime, cstime are fields 14-17 (1-based); f starts
	// at field 3.
	st := procStat{CPU: tick(11) + tick(12), ChildCPU: tick(13) + tick(14)}
	st.HWM = statusKB(pid, "VmHWM:")
	return st, nil
}

func statusKB(pid int, field string) int64 {
	fh, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return v
		}
	}
	return 0
}

func ppid(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	v, _ := strconv.Atoi(f[1])
	return v
}

// watch samples, every 100 ms until stopped, the peak RSS of a process
// and of every child it starts (the `parley media exec` children), and
// reports the CPU time the process and its children used meanwhile.
type watch struct {
	pid       int
	start     procStat
	selfStart time.Duration
	stop      chan struct{}
	done      chan struct{}
	mu        sync.Mutex
	childHWM  int64
	children  map[int]bool
}

func cpuSelf() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startWatch(t *testing.T, pid int) *watch {
	st, err := readProc(pid)
	require.NoError(t, err)
	w := &watch{pid: pid, start: st, selfStart: cpuSelf(), stop: make(chan struct{}), done: make(chan struct{}),
		children: map[int]bool{}}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			w.sample()
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *watch) sample() {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || ppid(pid) != w.pid {
			continue
		}
		hwm := statusKB(pid, "VmHWM:")
		w.mu.Lock()
		w.children[pid] = true
		w.childHWM = max(w.childHWM, hwm)
		w.mu.Unlock()
	}
}

// usage is what the watched process used since startWatch.
type watchResult struct {
	// WorkerCPUS is the worker's own CPU time, MediaCPUS its children's
	// (media exec processes), SimCPUS this test process's (parley-sim
	// decoding the uploads, and the harness).
	WorkerCPUS      float64 `json:"worker_cpu_s"`
	MediaCPUS       float64 `json:"media_children_cpu_s"`
	SimCPUS         float64 `json:"sim_and_harness_cpu_s"`
	WorkerPeakRSSMB float64 `json:"worker_peak_rss_mb"`
	MediaPeakRSSMB  float64 `json:"media_child_peak_rss_mb"`
	MediaChildren   int     `json:"media_children"`
}

func (w *watch) finish(t *testing.T) watchResult {
	close(w.stop)
	<-w.done
	st, err := readProc(w.pid)
	require.NoError(t, err)
	w.mu.Lock()
	defer w.mu.Unlock()
	return watchResult{
		WorkerCPUS: round((st.CPU - w.start.CPU).Seconds()), MediaCPUS: round((st.ChildCPU - w.start.ChildCPU).Seconds()),
		SimCPUS: round((cpuSelf() - w.selfStart).Seconds()), WorkerPeakRSSMB: round(float64(st.HWM) / 1024),
		MediaPeakRSSMB: round(float64(w.childHWM) / 1024), MediaChildren: len(w.children),
	}
}

// startMeeting uploads a meeting's tracks and triggers it; it returns the
// transcript id and the trigger time.
func uploadMeeting(t *testing.T, s *e2e.Stack, files []string, prefix string) []map[string]string {
	t.Helper()
	ctx := context.Background()
	tracks := make([]map[string]string, len(files))
	for i, f := range files {
		tracks[i] = map[string]string{"s3_key": s.Upload(ctx, f, fmt.Sprintf("%s/%d.webm", prefix, i))}
	}
	return tracks
}

func trigger(t *testing.T, s *e2e.Stack, tracks []map[string]string) string {
	t.Helper()
	var acc struct {
		TranscriptID string `json:"transcript_id"`
	}
	require.Equal(t, 202, s.API(context.Background(), "POST", "/v1/process", map[string]any{"tracks": tracks}, &acc))
	return acc.TranscriptID
}

// dagParents is the pipeline's DAG (pipeline.StepTable).
var dagParents = func() map[string][]string {
	m := map[string][]string{}
	for _, st := range pipeline.StepTable {
		if st.Workflow == pipeline.WorkflowPipeline {
			m[st.Name] = st.Parents
		}
	}
	return m
}()

// llmSteps are the steps whose work is LLM calls.
var llmSteps = map[string]bool{"detect_topics": true, "generate_title": true, "extract_subjects": true,
	"process_subjects": true, "generate_recap": true, "identify_action_items": true}

// timelineEntry is one step of a run on the trigger's clock.
type timelineEntry struct {
	Step    string  `json:"step"`
	Track   *int    `json:"track,omitempty"`
	StartS  float64 `json:"start_s"`
	EndS    float64 `json:"end_s"`
	Parents float64 `json:"parents_done_s"`
	WaitS   float64 `json:"wait_s"` // start - parents done: queueing and dispatch
}

type latencyResult struct {
	Tracks         int             `json:"tracks"`
	AudioSeconds   []float64       `json:"track_audio_seconds"`
	WallS          float64         `json:"wall_s"`
	FloorS         float64         `json:"floor_s"`
	Ratio          float64         `json:"ratio"`
	ASRFloorS      float64         `json:"floor_asr_s"`
	LLMPathS       float64         `json:"floor_llm_path_s"`
	LLMPath        []string        `json:"floor_llm_path"`
	FinalizeS      float64         `json:"floor_finalize_s"`
	LLMCalls       int             `json:"llm_calls"`
	LLMTokens      int             `json:"llm_tokens"`
	Words          int             `json:"words"`
	Timeline       []timelineEntry `json:"timeline"`
	Resources      watchResult     `json:"resources"`
	LoadAvgAtStart string          `json:"loadavg_at_start"`
	LoadAvgAtEnd   string          `json:"loadavg_at_end"`
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// finishedSteps returns a run's step audit once finalize's row is
// complete (the status is set inside finalize, its row just after).
func finishedSteps(t *testing.T, s *e2e.Stack, id string) []parley.StepRecord {
	t.Helper()
	var steps []parley.StepRecord
	s.WaitFor("finalize's audit row", time.Minute, func() bool {
		var err error
		steps, err = s.DB.ListSteps(context.Background(), id)
		require.NoError(t, err)
		for _, st := range steps {
			if st.Name == "finalize" && st.FinishedAt != nil {
				return true
			}
		}
		return false
	})
	return steps
}

// analyse turns a run's step audit into the floor and the timeline.
func analyse(t *testing.T, steps []parley.StepRecord, t0 time.Time, wall time.Duration) latencyResult {
	t.Helper()
	r := latencyResult{WallS: round(wall.Seconds())}
	end := map[string]time.Time{}
	dur := map[string]float64{}
	var audio []float64
	for _, st := range steps {
		if st.FinishedAt == nil {
			continue // after finalize (cleanup_consent, notifications)
		}
		sec := func(x time.Time) float64 { return round(x.Sub(t0).Seconds()) }
		e := timelineEntry{Step: st.Name, Track: st.TrackIndex, StartS: sec(st.StartedAt), EndS: sec(*st.FinishedAt)}
		if st.TrackIndex == nil {
			end[st.Name] = *st.FinishedAt
			dur[st.Name] = st.FinishedAt.Sub(st.StartedAt).Seconds()
		}
		if st.Name == "transcribe_track" {
			audio = append(audio, st.Usage.ASRAudioSeconds)
		}
		r.LLMCalls += st.Usage.LLMCalls
		r.LLMTokens += st.Usage.LLMPromptTokens + st.Usage.LLMCompletionTokens
		r.Timeline = append(r.Timeline, e)
	}
	for i := range r.Timeline {
		e := &r.Timeline[i]
		var done time.Time
		for _, p := range dagParents[e.Step] {
			if end[p].After(done) {
				done = end[p]
			}
		}
		if !done.IsZero() {
			e.Parents = round(done.Sub(t0).Seconds())
			e.WaitS = round(e.StartS - e.Parents)
		}
	}
	r.Tracks, r.AudioSeconds = len(audio), audio
	for _, a := range audio {
		r.ASRFloorS = max(r.ASRFloorS, round(a/providerModels[sim.EndpointASR].AudioSpeed))
	}
	// The longest chain of LLM steps between process_tracks and finalize,
	// each counted with its audited duration.
	longest := map[string]float64{}
	path := map[string][]string{}
	var visit func(string) float64
	visit = func(n string) float64 {
		if v, ok := longest[n]; ok {
			return v
		}
		best, bestP := 0.0, []string(nil)
		for _, p := range dagParents[n] {
			if v := visit(p); v > best {
				best, bestP = v, path[p]
			}
		}
		if llmSteps[n] {
			best += dur[n]
			bestP = append(append([]string{}, bestP...), n)
		}
		longest[n], path[n] = best, bestP
		return best
	}
	r.LLMPathS = round(visit("finalize"))
	r.LLMPath = path["finalize"]
	r.FinalizeS = round(dur["finalize"])
	r.FloorS = round(r.ASRFloorS + r.LLMPathS + r.FinalizeS)
	r.Ratio = round(r.WallS / r.FloorS)
	return r
}

// TestMeetingLatency: how long after a one-hour meeting ends is its
// transcript ready, against the floor (the slowest track's transcription
// plus the LLM steps' critical path plus finalize).
func TestMeetingLatency(t *testing.T) {
	ctx := context.Background()
	s := e2e.New(t, e2e.Options{})
	require.NoError(t, (&sim.Client{Base: s.SimURL}).SetFaults(ctx, providerModels))
	w := s.StartWorker()
	s.StartServe()
	dir := t.TempDir()
	// Warm-up (engine, worker, page cache) on other content.
	warm := uploadMeeting(t, s, []string{tone(t, dir, 90, 20), tone(t, dir, 91, 20)}, "warm")
	id := trigger(t, s, warm)
	require.Equal(t, parley.StatusEnded, s.WaitStatus(ctx, id, 10*time.Minute, parley.StatusEnded, parley.StatusError).Status)

	var files []string
	for i := range meetingOffsets {
		files = append(files, meetingVariant(t, 0, i))
	}
	tracks := uploadMeeting(t, s, files, "meeting")
	la0 := loadavg()
	wt := startWatch(t, w.Pid())
	t0 := time.Now()
	id = trigger(t, s, tracks)
	tr := s.WaitStatus(ctx, id, 30*time.Minute, parley.StatusEnded, parley.StatusError)
	wall := time.Since(t0)
	res := wt.finish(t)
	require.Equal(t, parley.StatusEnded, tr.Status, "%+v", tr.Error)
	steps := finishedSteps(t, s, id)
	r := analyse(t, steps, t0, wall)
	r.Resources, r.LoadAvgAtStart, r.LoadAvgAtEnd = res, la0, loadavg()
	n, err := s.DB.CountWords(ctx, id)
	require.NoError(t, err)
	r.Words = n
	t.Logf("wall %.1f s, floor %.1f s (ASR %.1f + LLM %v %.1f + finalize %.1f): ratio %.3f; worker CPU %.1f s + media %.1f s; load %s -> %s",
		r.WallS, r.FloorS, r.ASRFloorS, r.LLMPath, r.LLMPathS, r.FinalizeS, r.Ratio, res.WorkerCPUS, res.MediaCPUS, la0, r.LoadAvgAtEnd)
	for _, e := range r.Timeline {
		tri := ""
		if e.Track != nil {
			tri = fmt.Sprintf("[%d]", *e.Track)
		}
		t.Logf("  %-22s %6.2f -> %6.2f s (waited %.2f s)", e.Step+tri, e.StartS, e.EndS, e.WaitS)
	}
	writeResult(t, "latency", map[string]any{"meeting": fmt.Sprintf("%d min, %d tracks (WebM/Opus 32 kb/s, one with a %g min mute gap)",
		meetingMinutes, len(meetingOffsets), gapLen/60),
		"asr_model": "audio_seconds / 60", "llm_model": "1.5 s + 20 ms per 100 tokens", "run": r,
		"goal": "wall <= 1.10 x floor", "met": r.Ratio <= 1.10})
}

// TestMeetingThroughput: how many of the latency benchmark's one-hour,
// four-track meetings one worker (this machine's two cores, default slots
// and PARLEY_MAX_RUNS) completes per hour when they arrive together, and
// its peak memory. BENCH_MEETINGS sets how many (default 20: two waves of
// PARLEY_MAX_RUNS' 10, enough that the worker's two cores, not the
// providers' latency, set the pace).
func TestMeetingThroughput(t *testing.T) {
	ctx := context.Background()
	n := 20
	if v, err := strconv.Atoi(os.Getenv("BENCH_MEETINGS")); err == nil && v > 0 {
		n = v
	}
	s := e2e.New(t, e2e.Options{})
	require.NoError(t, (&sim.Client{Base: s.SimURL}).SetFaults(ctx, providerModels))
	w := s.StartWorker()
	s.StartServe()
	dir := t.TempDir()
	warm := uploadMeeting(t, s, []string{tone(t, dir, 92, 20), tone(t, dir, 93, 20)}, "warm")
	id := trigger(t, s, warm)
	require.Equal(t, parley.StatusEnded, s.WaitStatus(ctx, id, 10*time.Minute, parley.StatusEnded, parley.StatusError).Status)

	// Meetings 1..n: the same audio as the latency benchmark's, each with
	// its own words and bytes (no result cache answers for another).
	uploads := make([][]map[string]string, n)
	for k := range n {
		var files []string
		for i := range meetingOffsets {
			files = append(files, meetingVariant(t, k+1, i))
		}
		uploads[k] = uploadMeeting(t, s, files, fmt.Sprintf("meeting-%d", k+1))
	}
	la0 := loadavg()
	wt := startWatch(t, w.Pid())
	t0 := time.Now()
	ids := make([]string, n)
	for k := range n {
		ids[k] = trigger(t, s, uploads[k])
	}
	walls := make([]float64, n)
	for k, id := range ids {
		tr := s.WaitStatus(ctx, id, 60*time.Minute, parley.StatusEnded, parley.StatusError)
		require.Equal(t, parley.StatusEnded, tr.Status, "meeting %d: %+v", k+1, tr.Error)
		walls[k] = round(time.Since(t0).Seconds())
	}
	wall := time.Since(t0)
	res := wt.finish(t)
	perHour := round(float64(n) * 3600 / wall.Seconds())
	t.Logf("%d meetings in %.1f s: %.1f meetings per hour; worker CPU %.1f s + media %.1f s; peak RSS worker %.0f MB, media child %.0f MB; load %s -> %s",
		n, wall.Seconds(), perHour, res.WorkerCPUS, res.MediaCPUS, res.WorkerPeakRSSMB, res.MediaPeakRSSMB, la0, loadavg())
	writeResult(t, "throughput", map[string]any{
		"meeting": fmt.Sprintf("%d min, %d tracks (WebM/Opus 32 kb/s, one with a %g min mute gap)",
			meetingMinutes, len(meetingOffsets), gapLen/60),
		"asr_model": "audio_seconds / 60", "llm_model": "1.5 s + 20 ms per 100 tokens",
		"meetings": n, "wall_s": round(wall.Seconds()), "ended_at_s": walls, "meetings_per_hour": perHour,
		"resources": res, "load_avg_at_start": la0, "load_avg_at_end": loadavg(),
	})
}
