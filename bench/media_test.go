//go:build bench

// Package bench holds Parley's benchmarks (make bench): media work against
// the ffmpeg CLI doing the reference's steps, and pipeline measurements on
// the real stack. Results go to bench/results/*.json.
package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley/internal/e2e"
	"github.com/parley-dev/parley/internal/testenv"
)

// usage is what one child process cost.
type usage struct {
	Command string  `json:"command"`
	WallS   float64 `json:"wall_s"`
	CPUS    float64 `json:"cpu_s"`
	MaxRSS  int64   `json:"max_rss_kb"`
}

// measure runs a command and reads its rusage (user+sys CPU, peak RSS).
func measure(t *testing.T, name string, args ...string) usage {
	t.Helper()
	t0 := time.Now()
	cmd := exec.Command(name, args...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s %v: %s", name, args, out)
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano()+ru.Stime.Nano()) * time.Nanosecond
	return usage{Command: filepath.Base(name) + " " + args[0], WallS: round(time.Since(t0).Seconds()), CPUS: round(cpu.Seconds()), MaxRSS: ru.Maxrss}
}

func round(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

// workDir caches generated inputs between runs (git-ignored).
func workDir(t *testing.T) string {
	dir := filepath.Join(testenv.Root(t), "bench", "work")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// track makes (once) a speech-like Opus track: noise bursts of 1-4 s with
// pauses, at 32 kb/s mono like Daily's raw tracks, its timestamps starting
// at offset.
func track(t *testing.T, minutes int, offset float64, seed int) string {
	t.Helper()
	p := filepath.Join(workDir(t), fmt.Sprintf("track-%dm-%d.webm", minutes, seed))
	if _, err := os.Stat(p); err == nil {
		return p
	}
	expr := fmt.Sprintf("0.3*sin(2*PI*(180+%d*20)*t)*sin(2*PI*3*t)*gt(sin(2*PI*t/(5+%d)),-0.2)", seed, seed)
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
		fmt.Sprintf("aevalsrc='%s':s=48000:d=%d", expr, minutes*60), "-ac", "1", "-c:a", "libopus", "-b:a", "32k",
		"-output_ts_offset", fmt.Sprint(offset), p+".tmp.webm").CombinedOutput()
	require.NoError(t, err, string(out))
	require.NoError(t, os.Rename(p+".tmp.webm", p))
	return p
}

type mediaResult struct {
	Case      string  `json:"case"`
	Reference []usage `json:"reference"`
	Parley    []usage `json:"parley"`
	RefCPUS   float64 `json:"reference_cpu_s"`
	OurCPUS   float64 `json:"parley_cpu_s"`
	CPURatio  float64 `json:"cpu_ratio"`
	RefMaxRSS int64   `json:"reference_max_rss_kb"`
	OurMaxRSS int64   `json:"parley_max_rss_kb"`
}

// reference does the reference's media steps with the ffmpeg CLI: each
// track padded (aresample async, adelay, Opus 48 kHz stereo 128 kb/s), the
// padded tracks mixed (amix normalize=0) into an MP3, the MP3 decoded
// again for the waveform.
func reference(t *testing.T, dir string, tracks []string, offsets []float64) []usage {
	var us []usage
	var padded []string
	for i, tr := range tracks {
		out := filepath.Join(dir, fmt.Sprintf("ref-padded-%d.webm", i))
		ms := int(offsets[i] * 1000)
		us = append(us, measure(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", tr, "-af",
			fmt.Sprintf("aresample=async=1,adelay=%d|%d:all=1", ms, ms), "-ar", "48000", "-ac", "2", "-c:a", "libopus", "-b:a", "128k", out))
		padded = append(padded, out)
	}
	args := []string{"-hide_banner", "-loglevel", "error", "-y"}
	for _, p := range padded {
		args = append(args, "-i", p)
	}
	mix := filepath.Join(dir, "ref-mix.mp3")
	args = append(args, "-filter_complex", fmt.Sprintf("amix=inputs=%d:normalize=0", len(padded)), "-c:a", "libmp3lame", mix)
	us = append(us, measure(t, "ffmpeg", args...))
	us = append(us, measure(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-i", mix, "-f", "null", "-"))
	return us
}

// ours does Parley's media steps with the parley binary and the pipeline's
// own options: each track through pad_track's pad (offset as a shift; with
// --reuse-original a gapless track in a format the recogniser takes is
// sent as it is, so only its packets' timestamps are read, with
// --split-gaps a WebM/Opus track with mute gaps is split into segments by
// stream copy, else it is re-encoded to a 16 kHz mono MP3, FormatASR),
// then one mixdown from the
// original tracks that also computes the waveform.
func ours(t *testing.T, bin, dir string, tracks []string) []usage {
	var us []usage
	for i, tr := range tracks {
		us = append(us, measure(t, bin, "media", "pad", "--shift", "--reuse-original", "--split-gaps", tr,
			filepath.Join(dir, fmt.Sprintf("padded-%d.mp3", i))))
	}
	args := []string{"media", "mixdown", "-o", filepath.Join(dir, "mix.mp3"), "--waveform", filepath.Join(dir, "w.json")}
	us = append(us, measure(t, bin, append(args, tracks...)...))
	return us
}

func sum(us []usage) (cpu float64, rss int64) {
	for _, u := range us {
		cpu += u.CPUS
		rss = max(rss, u.MaxRSS)
	}
	return round(cpu), rss
}

func writeResult(t *testing.T, name string, v any) {
	t.Helper()
	dir := filepath.Join(testenv.Root(t), "bench", "results")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	b, err := json.MarshalIndent(map[string]any{"machine": machine(), "date": time.Now().UTC().Format(time.RFC3339), "results": v}, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".json"), append(b, '\n'), 0o644))
}

func machine() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%s, %d CPUs, %s (%s)", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), host)
}

func TestMediaAgainstFFmpegCLI(t *testing.T) {
	bin := filepath.Join(e2e.Binaries(t), "parley")
	cases := []struct {
		name    string
		minutes int
		offsets []float64
		// daily uses the latency benchmark's meeting instead: four
		// Daily-like tracks, one with a mute gap (split at it, not
		// re-encoded).
		daily bool
	}{
		{"1 track x 60 min", 60, []float64{3}, false},
		{"3 tracks x 60 min", 60, []float64{3, 6, 9}, false},
		{"1 track x 240 min", 240, []float64{3}, false},
		{"4 tracks x 60 min, one with a 5 min mute gap", meetingMinutes, meetingOffsets, true},
	}
	var results []mediaResult
	for _, c := range cases {
		var tracks []string
		for i, off := range c.offsets {
			if c.daily {
				tracks = append(tracks, meetingTrack(t, i))
			} else {
				tracks = append(tracks, track(t, c.minutes, off, i))
			}
		}
		dir := t.TempDir()
		ref := reference(t, dir, tracks, c.offsets)
		our := ours(t, bin, dir, tracks)
		r := mediaResult{Case: c.name, Reference: ref, Parley: our}
		r.RefCPUS, r.RefMaxRSS = sum(ref)
		r.OurCPUS, r.OurMaxRSS = sum(our)
		r.CPURatio = round(r.OurCPUS / r.RefCPUS)
		t.Logf("%s: reference %.1f s CPU, %d MB peak; parley %.1f s CPU, %d MB peak; ratio %.2f",
			c.name, r.RefCPUS, r.RefMaxRSS/1024, r.OurCPUS, r.OurMaxRSS/1024, r.CPURatio)
		results = append(results, r)
	}
	writeResult(t, "media", results)
}
