//go:build bench

package bench

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley/internal/e2e"
	"github.com/parley-dev/parley/media"
	"github.com/parley-dev/parley/media/mediaproc"
)

// cpuNow is the CPU time of this process and of its waited-for children.
func cpuNow() time.Duration {
	var self, kids syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	return time.Duration(self.Utime.Nano() + self.Stime.Nano() + kids.Utime.Nano() + kids.Stime.Nano())
}

type procResult struct {
	Case         string  `json:"case"`
	AudioHours   float64 `json:"audio_hours"`
	InWallS      float64 `json:"in_process_wall_s"`
	InCPUS       float64 `json:"in_process_cpu_s"`
	ChildWallS   float64 `json:"child_wall_s"`
	ChildCPUS    float64 `json:"child_cpu_s"`
	OverheadS    float64 `json:"overhead_wall_s"`
	OverheadPerH float64 `json:"overhead_wall_s_per_audio_hour"`
	CPUPerH      float64 `json:"overhead_cpu_s_per_audio_hour"`
}

// TestMediaOutOfProcessOverhead measures what running media work in
// `parley media exec` children costs against the same calls in process:
// for one hour of audio, the upload check, the pad and the mixdown a track
// goes through (median of three runs each); and the fixed cost of one
// child (a check of a short file, median of 20).
func TestMediaOutOfProcessOverhead(t *testing.T) {
	ctx := context.Background()
	run := &mediaproc.Runner{Exe: filepath.Join(e2e.Binaries(t), "parley")}
	hour := track(t, 60, 3, 0)
	short := track(t, 1, 0, 7)
	dir := t.TempDir()

	type calls func() error
	inProcess := func(src string) calls {
		return func() error {
			if err := media.CheckAudio(ctx, src); err != nil {
				return err
			}
			if _, err := media.Pad(ctx, src, filepath.Join(dir, "in.mp3"), media.PadOptions{}); err != nil {
				return err
			}
			_, err := media.Mixdown(ctx, []string{src}, filepath.Join(dir, "in-mix.mp3"), media.MixOptions{})
			return err
		}
	}
	child := func(src string) calls {
		return func() error {
			if err := run.Check(ctx, src); err != nil {
				return err
			}
			if _, err := run.Pad(ctx, src, filepath.Join(dir, "child.mp3"), media.PadOptions{}); err != nil {
				return err
			}
			_, err := run.Mixdown(ctx, []string{src}, filepath.Join(dir, "child-mix.mp3"), media.MixOptions{})
			return err
		}
	}
	// pair runs a and b alternately n times each (the machine is shared:
	// a change of load hits both alike) and returns their median wall and
	// CPU times.
	pair := func(n int, a, b calls) (aWall, aCPU, bWall, bCPU time.Duration) {
		var aw, ac, bw, bc []time.Duration
		one := func(fn calls, walls, cpus *[]time.Duration) {
			c0, t0 := cpuNow(), time.Now()
			require.NoError(t, fn())
			*walls, *cpus = append(*walls, time.Since(t0)), append(*cpus, cpuNow()-c0)
		}
		for range n {
			one(a, &aw, &ac)
			one(b, &bw, &bc)
		}
		for _, d := range [][]time.Duration{aw, ac, bw, bc} {
			slices.Sort(d)
		}
		return aw[n/2], ac[n/2], bw[n/2], bc[n/2]
	}
	require.NoError(t, child(short)()) // warm the page cache and the binary
	load0, _ := os.ReadFile("/proc/loadavg")

	var results []procResult
	for _, c := range []struct {
		name  string
		src   string
		hours float64
		n     int
	}{
		{"check + pad + mixdown of a 60-minute track", hour, 1, 3},
	} {
		inW, inC, chW, chC := pair(c.n, inProcess(c.src), child(c.src))
		r := procResult{Case: c.name, AudioHours: c.hours, InWallS: round(inW.Seconds()), InCPUS: round(inC.Seconds()),
			ChildWallS: round(chW.Seconds()), ChildCPUS: round(chC.Seconds()), OverheadS: round((chW - inW).Seconds())}
		r.OverheadPerH = round(r.OverheadS / c.hours)
		r.CPUPerH = round((chC - inC).Seconds() / c.hours)
		t.Logf("%s: in process %.2f s wall (%.2f s CPU), in children %.2f s wall (%.2f s CPU): %+.2f s per hour of audio",
			c.name, r.InWallS, r.InCPUS, r.ChildWallS, r.ChildCPUS, r.OverheadPerH)
		results = append(results, r)
	}
	// The fixed cost of one child: start, limits, request, answer.
	checkIn := func() error { return media.CheckAudio(ctx, short) }
	checkChild := func() error { return run.Check(ctx, short) }
	inW, inC, chW, chC := pair(21, checkIn, checkChild)
	fixed := procResult{Case: "one check of a 1-minute track (fixed cost per child)", InWallS: round(inW.Seconds()), InCPUS: round(inC.Seconds()),
		ChildWallS: round(chW.Seconds()), ChildCPUS: round(chC.Seconds()), OverheadS: round((chW - inW).Seconds())}
	t.Logf("fixed cost of one child: %.3f s wall, %.3f s CPU (in process %.3f s, children %.3f s)",
		(chW - inW).Seconds(), (chC - inC).Seconds(), inW.Seconds(), chW.Seconds())
	results = append(results, fixed)
	load1, _ := os.ReadFile("/proc/loadavg") // the machine is shared: say how busy it was
	writeResult(t, "mediaproc", map[string]any{"cases": results,
		"loadavg_start": strings.TrimSpace(string(load0)), "loadavg_end": strings.TrimSpace(string(load1))})
}
