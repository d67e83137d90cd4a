package media_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// burst is a tone burst at a time of the track's own clock (s).
type burst struct {
	at, length float64
	freq       int
	amp        float64 // default 0.5
}

// trackSpec describes a fixture made with the ffmpeg CLI: tone bursts
// (speech-like on/off energy), by default in WebM/Opus like Daily's raw
// tracks, its timestamps starting at offset, optionally with a real
// timestamp jump (a mute gap) in its packets.
type trackSpec struct {
	duration float64
	offset   float64
	bursts   []burst
	rate     int // of the source signal; default 48000
	channels int // default 1
	gapAt    float64
	gapLen   float64
	moreGaps [][2]float64 // further gaps: [at, length] on the source's clock
	codec    []string     // default libopus 48 kb/s
	ext      string       // default webm
	metadata map[string]string
}

var (
	fixtureMu sync.Mutex
	fixtures  = map[string]*fixture{}
)

type fixture struct {
	once sync.Once
	n    int // its file name's number, unique
	path string
	err  error
}

// mustTrack makes (once per test binary) the fixture for spec and
// returns its path. Fixtures are shared by parallel tests, read-only.
func mustTrack(tb testing.TB, s trackSpec) string {
	tb.Helper()
	key := fmt.Sprintf("%+v", s)
	fixtureMu.Lock()
	f, ok := fixtures[key]
	if !ok {
		f = &fixture{n: len(fixtures)}
		fixtures[key] = f
	}
	fixtureMu.Unlock()
	f.once.Do(func() { f.path, f.err = makeTrack(fixtureDir(tb), f.n, s) })
	require.NoError(tb, f.err)
	return f.path
}

var (
	dirOnce sync.Once
	dir     string
)

func fixtureDir(tb testing.TB) string {
	dirOnce.Do(func() {
		var err error
		dir, err = mkdirTemp()
		require.NoError(tb, err)
	})
	return dir
}

func makeTrack(dir string, n int, s trackSpec) (string, error) {
	if s.rate == 0 {
		s.rate = 48000
	}
	if s.channels == 0 {
		s.channels = 1
	}
	if s.ext == "" {
		s.ext = "webm"
	}
	var terms []string
	for _, b := range s.bursts {
		amp := b.amp
		if amp == 0 {
			amp = 0.5
		}
		terms = append(terms, fmt.Sprintf("%g*sin(2*PI*%d*(t-%g))*between(t,%g,%g)", amp, b.freq, b.at, b.at, b.at+b.length))
	}
	expr := "0"
	if len(terms) > 0 {
		expr = strings.Join(terms, "+")
	}
	layout := "mono"
	if s.channels == 2 {
		layout = "stereo"
		expr = expr + "|" + expr
	}
	args := []string{"-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
		"-i", fmt.Sprintf("aevalsrc='%s':s=%d:c=%s:d=%g", expr, s.rate, layout, s.duration)}
	if s.gapLen > 0 {
		// Shift the timestamps of everything after gapAt (and each further
		// gap's at): the encoder carries them into the packets (checked
		// with ffprobe by callers).
		shift := fmt.Sprintf("gte(T,%g)*%g", s.gapAt, s.gapLen)
		for _, g := range s.moreGaps {
			shift += fmt.Sprintf("+gte(T,%g)*%g", g[0], g[1])
		}
		args = append(args, "-af", fmt.Sprintf("asetpts='PTS+(%s)/TB'", shift))
	}
	codec := s.codec
	if codec == nil {
		codec = []string{"-c:a", "libopus", "-b:a", "48k"}
	}
	args = append(args, codec...)
	for k, v := range s.metadata {
		args = append(args, "-metadata", k+"="+v)
	}
	if s.offset > 0 {
		args = append(args, "-output_ts_offset", fmt.Sprint(s.offset))
	}
	path := filepath.Join(dir, fmt.Sprintf("track-%d.%s", n, s.ext))
	if out, err := exec.Command("ffmpeg", append(args, path)...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("ffmpeg %v: %w: %s", args, err, out)
	}
	return path, nil
}

// packetJumps lists, with ffprobe (independently of package media), the
// places where a file's audio packet timestamps jump by more than 40 ms:
// [at, length] pairs in seconds.
func packetJumps(tb testing.TB, path string) [][2]float64 {
	tb.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
		"packet=pts_time,duration_time", "-of", "csv=p=0", path).Output()
	require.NoError(tb, err)
	var jumps [][2]float64
	lastEnd := math.NaN()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 2 {
			continue
		}
		pts, err1 := strconv.ParseFloat(f[0], 64)
		dur, err2 := strconv.ParseFloat(f[1], 64)
		if err1 != nil || err2 != nil {
			continue
		}
		if !math.IsNaN(lastEnd) && pts-lastEnd > 0.04 {
			jumps = append(jumps, [2]float64{lastEnd, pts - lastEnd})
		}
		lastEnd = pts + dur
	}
	return jumps
}

// decodeCLI decodes a file with the ffmpeg CLI (an independent decoder)
// into float samples at rate, mono (the first channel) or all channels
// interleaved.
func decodeCLI(tb testing.TB, path string, rate int, firstChannel bool) []float32 {
	tb.Helper()
	args := []string{"-hide_banner", "-loglevel", "error", "-i", path}
	if firstChannel {
		args = append(args, "-af", "pan=mono|c0=c0")
	}
	args = append(args, "-ar", fmt.Sprint(rate), "-f", "f32le", "-")
	cmd := exec.Command("ffmpeg", args...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	require.NoError(tb, cmd.Run(), stderr.String())
	samples := make([]float32, out.Len()/4)
	require.NoError(tb, binary.Read(&out, binary.LittleEndian, samples))
	return samples
}

// onsets finds where the 5 ms RMS envelope rises above 0.3 of the peak
// envelope after at least 150 ms below it, refined to the first sample
// over that level.
func onsets(samples []float32, rate int) []float64 {
	win := rate / 200
	var env []float64
	top := 0.0
	for i := 0; i+win <= len(samples); i += win {
		var e float64
		for _, x := range samples[i : i+win] {
			e += float64(x) * float64(x)
		}
		e = math.Sqrt(e / float64(win))
		env = append(env, e)
		top = math.Max(top, e)
	}
	var out []float64
	quiet := 1000
	for i, e := range env {
		if e > top*0.3 {
			if quiet >= 30 {
				pos := i * win
				for j := max(0, (i-1)*win); j < (i+1)*win && j < len(samples); j++ {
					if math.Abs(float64(samples[j])) > top*0.3 {
						pos = j
						break
					}
				}
				out = append(out, float64(pos)/float64(rate))
			}
			quiet = 0
		} else {
			quiet++
		}
	}
	return out
}

func requireOnsets(tb testing.TB, got, want []float64, tol float64) {
	tb.Helper()
	require.Len(tb, got, len(want), "onsets %v, want %v", got, want)
	for i := range want {
		require.InDelta(tb, want[i], got[i], tol, "onset %d: got %.4f s, want %.4f s (all: %v)", i, got[i], want[i], got)
	}
}

// requireSomeOnsets checks that got holds the first of want and that each
// onset in got is one of want, in order.
func requireSomeOnsets(tb testing.TB, got, want []float64, tol float64) {
	tb.Helper()
	require.NotEmpty(tb, got, "want at least the onset at %.3f s", want[0])
	require.InDelta(tb, want[0], got[0], tol, "first onset (all: %v)", got)
	j := 0
	for _, g := range got {
		for j < len(want) && math.Abs(want[j]-g) > tol {
			j++
		}
		require.Less(tb, j, len(want), "onset %.4f s is none of %v (all: %v)", g, want, got)
		j++
	}
}

// rmsDB is the RMS level in dB of samples in [from, to) seconds.
func rmsDB(samples []float32, rate int, from, to float64) float64 {
	var e float64
	a, b := int(from*float64(rate)), min(int(to*float64(rate)), len(samples))
	for _, x := range samples[a:b] {
		e += float64(x) * float64(x)
	}
	return 10 * math.Log10(e/float64(b-a))
}

func peak(samples []float32) float64 {
	var p float64
	for _, x := range samples {
		p = math.Max(p, math.Abs(float64(x)))
	}
	return p
}

// layoutCopy cuts the first length seconds after 1 s of src and converts
// them with the ffmpeg CLI to a channel layout, the way FFmpeg converts a
// mono voice to it (swresample's matrix, as `ffmpeg -ac N` does), and
// encodes the result with codec. Layout "dual" is stereo with the voice
// at full level in both channels. Once per test binary, like mustTrack.
func layoutCopy(tb testing.TB, src, layout string, length float64, codec []string, ext string) string {
	tb.Helper()
	key := fmt.Sprintf("copy %s %s %g %v %s", src, layout, length, codec, ext)
	fixtureMu.Lock()
	f, ok := fixtures[key]
	if !ok {
		f = &fixture{n: len(fixtures)}
		fixtures[key] = f
	}
	fixtureMu.Unlock()
	f.once.Do(func() {
		af := "aformat=channel_layouts=" + layout
		if layout == "dual" {
			af = "pan=stereo|c0=c0|c1=c0"
		}
		f.path = filepath.Join(fixtureDir(tb), fmt.Sprintf("copy-%d.%s", f.n, ext))
		args := append([]string{"-hide_banner", "-loglevel", "error", "-y", "-ss", "1", "-t", fmt.Sprint(length), "-i", src,
			"-af", af}, codec...)
		if out, err := exec.Command("ffmpeg", append(args, f.path)...).CombinedOutput(); err != nil {
			f.err = fmt.Errorf("ffmpeg %v: %w: %s", args, err, out)
		}
	})
	require.NoError(tb, f.err)
	return f.path
}

// downmixCLI decodes a file with the ffmpeg CLI's own downmix to mono
// (`-ac 1`, float samples: swresample's matrix, not normalised).
func downmixCLI(tb testing.TB, path string, rate int) []float32 {
	tb.Helper()
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", path, "-ac", "1", "-ar", fmt.Sprint(rate),
		"-f", "f32le", "-")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	require.NoError(tb, cmd.Run(), stderr.String())
	samples := make([]float32, out.Len()/4)
	require.NoError(tb, binary.Read(&out, binary.LittleEndian, samples))
	return samples
}
