package mediaproc_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/internal/e2e"
	"github.com/parley-dev/parley/internal/testenv"
	"github.com/parley-dev/parley/media"
	"github.com/parley-dev/parley/media/mediaproc"
)

func runner(t *testing.T, lim mediaproc.Limits) *mediaproc.Runner {
	if testing.Short() {
		t.Skip("builds the parley binary")
	}
	return &mediaproc.Runner{Exe: filepath.Join(e2e.Binaries(t), "parley"), Limits: lim}
}

// noiseWAV writes a WAV of n seconds of 16 kHz mono noise.
func noiseWAV(t *testing.T, seconds int) string {
	n := seconds * 16000 * 2
	b := make([]byte, 44+n)
	copy(b, "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+n))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1)
	binary.LittleEndian.PutUint16(b[22:], 1)
	binary.LittleEndian.PutUint32(b[24:], 16000)
	binary.LittleEndian.PutUint32(b[28:], 32000)
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(n))
	x := uint32(1)
	for i := 44; i+1 < len(b); i += 2 {
		x = x*1664525 + 1013904223
		binary.LittleEndian.PutUint16(b[i:], uint16(x>>16)/8)
	}
	p := filepath.Join(t.TempDir(), "noise.wav")
	require.NoError(t, os.WriteFile(p, b, 0o600))
	return p
}

// TestChildMatchesInProcess: the child's results are the in-process ones.
func TestChildMatchesInProcess(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := filepath.Join(testenv.Root(t), "testdata", "meeting", "bob.webm")
	r := runner(t, mediaproc.Limits{})
	dir := t.TempDir()
	got, err := r.Pad(ctx, src, filepath.Join(dir, "child.mp3"), media.PadOptions{})
	require.NoError(t, err)
	want, err := media.Pad(ctx, src, filepath.Join(dir, "here.mp3"), media.PadOptions{})
	require.NoError(t, err)
	require.Equal(t, want, got)
	info, err := r.Probe(ctx, src)
	require.NoError(t, err)
	wantInfo, err := media.Probe(ctx, src)
	require.NoError(t, err)
	require.Equal(t, wantInfo, info)
	mix, err := r.Mixdown(ctx, []string{src, src}, filepath.Join(dir, "mix.mp3"), media.MixOptions{})
	require.NoError(t, err)
	require.Positive(t, mix.Duration)
	require.NoError(t, r.Check(ctx, src))
}

// TestChildSplitsAtGaps: the split of a track at its mute gaps runs in
// the child too, and gives what it gives in process; what a killed child
// wrote is removed.
func TestChildSplitsAtGaps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "muted.webm")
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
		"aevalsrc='0.5*sin(2*PI*440*t)*between(t,0.5,1)+0.5*sin(2*PI*440*t)*between(t,2.5,3)':s=48000:d=4",
		"-af", "asetpts='PTS+gte(T,2)*60/TB'", "-c:a", "libopus", "-output_ts_offset", "1.5", src).CombinedOutput()
	require.NoError(t, err, string(out))
	opts := media.PadOptions{ReuseOriginal: true, SplitGaps: true}
	r := runner(t, mediaproc.Limits{})
	got, err := r.Pad(ctx, src, filepath.Join(dir, "child"), opts)
	require.NoError(t, err)
	want, err := media.Pad(ctx, src, filepath.Join(dir, "here"), opts)
	require.NoError(t, err)
	require.Len(t, got.Segments, 2)
	for k := range want.Segments {
		require.Equal(t, media.SegmentPath(filepath.Join(dir, "child"), k, "webm"), got.Segments[k].Path)
		got.Segments[k].Path = want.Segments[k].Path
	}
	require.Equal(t, want, got)

	crash := filepath.Join(dir, "crashme.webm")
	require.NoError(t, os.Link(src, crash))
	r.Env = []string{mediaproc.CrashEnv + "=crashme"}
	// What a child killed in the middle of a split leaves.
	require.NoError(t, os.WriteFile(media.SegmentPath(filepath.Join(dir, "crashed"), 0, "webm"), []byte("partial"), 0o600))
	_, err = r.Pad(ctx, crash, filepath.Join(dir, "crashed"), opts)
	require.Equal(t, parley.EINVALID, parley.ErrorCode(err), "%v", err)
	left, err := filepath.Glob(filepath.Join(dir, "crashed*"))
	require.NoError(t, err)
	require.Empty(t, left)
}

// TestChildFailures: invalid input keeps its message; a child that dies
// (the crash hook kills it; the CPU limit stops it) is a permanent
// invalid error naming the input; a cancelled context kills it.
func TestChildFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	bad := filepath.Join(dir, "onehz.wav")
	onehz := noiseWAV(t, 1)
	b, err := os.ReadFile(onehz)
	require.NoError(t, err)
	binary.LittleEndian.PutUint32(b[24:], 1) // claims 1 Hz
	require.NoError(t, os.WriteFile(bad, b, 0o600))

	err = runner(t, mediaproc.Limits{}).Check(ctx, bad)
	require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
	require.Contains(t, parley.ErrorMessage(err), "onehz.wav: a sample rate of 1 Hz")

	t.Run("Crash", func(t *testing.T) {
		t.Parallel()
		crash := filepath.Join(dir, "crashme.wav")
		require.NoError(t, os.WriteFile(crash, b, 0o600))
		out := filepath.Join(dir, "crash.mp3")
		r := runner(t, mediaproc.Limits{})
		r.Env = []string{mediaproc.CrashEnv + "=crashme"}
		_, err := r.Pad(ctx, crash, out, media.PadOptions{})
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err), "%v", err)
		require.Contains(t, parley.ErrorMessage(err), "crashme.wav: the media process failed on this input: it was killed by signal killed")
		require.False(t, parley.IsRetryable(err))
		_, statErr := os.Stat(out)
		require.ErrorIs(t, statErr, os.ErrNotExist)
	})
	t.Run("CPULimit", func(t *testing.T) {
		t.Parallel()
		long := noiseWAV(t, 1800)
		t0 := time.Now()
		_, err := runner(t, mediaproc.Limits{MaxCPU: time.Second}).Pad(ctx, long, filepath.Join(t.TempDir(), "o.mp3"), media.PadOptions{})
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err), "%v", err)
		require.Contains(t, parley.ErrorMessage(err), "noise.wav: the media process failed on this input: it was killed by signal killed at its CPU-time limit of 1s")
		require.Less(t, time.Since(t0), 20*time.Second)
	})
	t.Run("Cancel", func(t *testing.T) {
		t.Parallel()
		long := noiseWAV(t, 1800)
		cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		t0 := time.Now()
		_, err := runner(t, mediaproc.Limits{}).Pad(cctx, long, filepath.Join(t.TempDir(), "o.mp3"), media.PadOptions{})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Less(t, time.Since(t0), 5*time.Second, "the child is killed when the context ends")
	})
}

// TestMixdownNice: a mixdown child runs every thread (FFmpeg's too) at
// Runner.MixdownNice, so that padding gets the CPU first. Not parallel:
// it looks at every child of the test process.
func TestMixdownNice(t *testing.T) {
	r := runner(t, mediaproc.Limits{})
	r.MixdownNice = 11
	src := noiseWAV(t, 600)
	// The last look at each child's threads: their niceness.
	last := map[int][]int{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			for _, pid := range childrenOf(os.Getpid()) {
				if nices := threadNices(pid); len(nices) > 0 {
					last[pid] = nices
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	_, err := r.Mixdown(context.Background(), []string{src}, filepath.Join(t.TempDir(), "mix.mp3"), media.MixOptions{})
	close(stop)
	<-done
	require.NoError(t, err)
	require.NotEmpty(t, last, "the mixdown child was seen")
	for pid, nices := range last {
		for _, n := range nices {
			require.Equal(t, 11, n, "child %d's threads: %v", pid, nices)
		}
	}
}

func childrenOf(parent int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := statFields(fmt.Sprintf("/proc/%d/stat", pid)); len(f) > 1 && f[1] == strconv.Itoa(parent) {
			out = append(out, pid)
		}
	}
	return out
}

// threadNices reads the niceness of every thread of pid.
func threadNices(pid int) []int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var out []int
	for _, e := range ents {
		// Fields after "(comm)": state is field 3, nice field 19.
		if f := statFields(fmt.Sprintf("/proc/%d/task/%s/stat", pid, e.Name())); len(f) > 16 {
			n, _ := strconv.Atoi(f[16])
			out = append(out, n)
		}
	}
	return out
}

// statFields are the fields of a /proc stat file after the command name.
func statFields(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 > len(b) {
		return nil
	}
	return strings.Fields(string(b[i+2:]))
}
