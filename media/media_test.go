package media_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/media"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
	os.Exit(code)
}

func mkdirTemp() (string, error) { return os.MkdirTemp("", "parley-media-fixtures-") }

// Fixtures shared by several tests.
var (
	// gapTrack: WebM/Opus starting at 4.1 s with a 2 s mute gap in its
	// packet timestamps at 1.5 s of track time.
	gapTrack = trackSpec{duration: 3, offset: 4.1, bursts: []burst{{0.5, 0.4, 550, 0}, {2.0, 0.4, 550, 0}}, gapAt: 1.5, gapLen: 2}
	// plainTrack: WebM/Opus at 0 s, one burst.
	plainTrack = trackSpec{duration: 1, bursts: []burst{{0.2, 0.3, 440, 0}}}
)

func TestProbe(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name     string
		spec     trackSpec
		offset   float64 // want (±10 ms: Opus packets carry ms timestamps)
		duration float64
		codec    string
		rate     int
		channels int
		gaps     []media.Gap
	}{
		{"WebMOpusWithOffset", trackSpec{duration: 2, offset: 2.5, bursts: []burst{{0.5, 0.3, 440, 0}}}, 2.5, 2, "opus", 48000, 1, []media.Gap{}},
		{"WebMOpusWithGap", gapTrack, 4.1, 5, "opus", 48000, 1, []media.Gap{{At: 4.1 + 1.5, Length: 2}}},
		{"OggVorbisStereo44k", trackSpec{duration: 1.5, rate: 44100, channels: 2, codec: []string{"-c:a", "libvorbis"}, ext: "ogg"},
			0, 1.5, "vorbis", 44100, 2, []media.Gap{}},
		{"FLAC16k", trackSpec{duration: 1, rate: 16000, codec: []string{"-c:a", "flac"}, ext: "flac"}, 0, 1, "flac", 16000, 1, []media.Gap{}},
		{"HoursOffset", trackSpec{duration: 1, offset: 2 * 3600, bursts: []burst{{0.2, 0.3, 440, 0}}}, 7200, 1, "opus", 48000, 1, []media.Gap{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := mustTrack(t, tt.spec)
			info, err := media.Probe(ctx, path)
			require.NoError(t, err)
			require.InDelta(t, tt.offset, info.StartOffset, 0.015)
			require.InDelta(t, tt.duration, info.Duration, 0.03)
			require.Equal(t, tt.codec, info.Codec)
			require.Equal(t, tt.rate, info.SampleRate)
			require.Equal(t, tt.channels, info.Channels)
			require.Len(t, info.Gaps, len(tt.gaps))
			for i, g := range tt.gaps {
				// The jump lands on an encoder frame boundary (20 ms).
				require.InDelta(t, g.At, info.Gaps[i].At, 0.03)
				require.InDelta(t, g.Length, info.Gaps[i].Length, 0.03)
			}
			// Independent check: ffprobe sees the same jumps in the packets.
			require.Len(t, packetJumps(t, path), len(tt.gaps))
		})
	}
}

func TestProbeTagsAndPadCopiesThem(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := mustTrack(t, trackSpec{duration: 1, bursts: []burst{{0.2, 0.3, 440, 0}},
		metadata: map[string]string{"PARLEY_TEXT": "hello there general", "title": "standup"}})
	info, err := media.Probe(ctx, src)
	require.NoError(t, err)
	require.Equal(t, "hello there general", info.Tags["PARLEY_TEXT"])
	require.Equal(t, "standup", info.Tags["title"])
	for _, f := range []media.Format{media.FormatMP3ASR, media.FormatOpus, media.FormatFLAC} {
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel()
			dst := filepath.Join(t.TempDir(), "out."+f.Ext)
			_, err := media.Pad(ctx, src, dst, media.PadOptions{Format: f})
			require.NoError(t, err)
			got, err := media.Probe(ctx, dst)
			require.NoError(t, err)
			require.Equal(t, "hello there general", got.Tags["PARLEY_TEXT"])
			require.Equal(t, "standup", got.Tags["title"])
		})
	}
}

func TestPadPutsBurstsOnMeetingTime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := mustTrack(t, trackSpec{duration: 4, offset: 1.5, bursts: []burst{{0.5, 0.3, 440, 0}, {2.5, 0.3, 440, 0}},
		gapAt: 1.2, gapLen: 1.2})
	require.Len(t, packetJumps(t, src), 1, "the fixture must have a real timestamp jump")
	want := []float64{1.5 + 0.5, 1.5 + 2.5 + 1.2}
	tests := []struct {
		name   string
		opts   media.PadOptions
		want   []float64
		shift  float64
		offset float64
	}{
		{"LeadingSilenceMP3", media.PadOptions{LeadingSilence: true}, want, 0, 1.5},
		{"LeadingSilenceOpus", media.PadOptions{LeadingSilence: true, Format: media.FormatOpus}, want, 0, 1.5},
		{"LeadingSilenceFLAC", media.PadOptions{LeadingSilence: true, Format: media.FormatFLAC}, want, 0, 1.5},
		{"Shift", media.PadOptions{}, want, 1.5, 1.5},
		{"ExplicitOffset", media.PadOptions{Offset: ptr(3.0), LeadingSilence: true}, []float64{3.5, 3 + 2.5 + 1.2}, 0, 3},
		// The shift is what the reuse would give (no reuse: the track has a gap).
		{"ReuseRefusedForGaps", media.PadOptions{ReuseOriginal: true}, want, 1.5, 1.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := tt.opts.Format
			if f.Codec == "" {
				f = media.FormatASR
			}
			out := filepath.Join(t.TempDir(), "padded."+f.Ext)
			res, err := media.Pad(ctx, src, out, tt.opts)
			require.NoError(t, err)
			require.False(t, res.UseOriginal)
			require.Equal(t, 1, res.GapsFilled)
			require.InDelta(t, tt.offset, res.Offset, 0.015)
			require.InDelta(t, tt.shift, res.Shift, 0.015)
			require.InDelta(t, 4+1.2, res.Duration, 0.03)
			require.Equal(t, f.Ext, res.Ext)
			st, err := os.Stat(out)
			require.NoError(t, err)
			require.Equal(t, st.Size(), res.Size)
			samples := decodeCLI(t, out, 16000, true)
			got := onsets(samples, 16000)
			for i := range got {
				got[i] += res.Shift
			}
			requireOnsets(t, got, tt.want, 0.020)
			// The file ends where the track ends.
			require.InDelta(t, tt.offset+res.Duration, res.Shift+float64(len(samples))/16000, 0.06)
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestPadReuseOriginalIsExact checks the claim behind ReuseOriginal: a
// recogniser decoding the untouched original (here the ffmpeg CLI, as
// speech services do) sees every burst at its meeting time minus Shift,
// to the millisecond, i.e. exactly where the padded file has it.
func TestPadReuseOriginalIsExact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name   string
		spec   trackSpec
		reuse  bool
		offset float64
	}{
		{"WebMOpusWithOffset", trackSpec{duration: 5, offset: 2.5, bursts: []burst{{0.5, 0.3, 440, 0}, {3.1, 0.3, 660, 0}}}, true, 2.5},
		{"WebMOpusAtZero", trackSpec{duration: 4, bursts: []burst{{1.0, 0.3, 440, 0}, {2.2, 0.3, 660, 0}}}, true, 0},
		// Vorbis in Ogg: the scan sees packet timestamps that do not line
		// up with the durations (block switching), so it is padded instead.
		{"OggVorbis44k", trackSpec{duration: 4, rate: 44100, bursts: []burst{{1.0, 0.3, 440, 0}}, codec: []string{"-c:a", "libvorbis"}, ext: "ogg"}, false, 0},
		{"WithGap", gapTrack, false, 4.1},
		{"PCMInMatroskaIsNotTaken", trackSpec{duration: 2, bursts: []burst{{1.0, 0.3, 440, 0}}, codec: []string{"-c:a", "pcm_s16le"}, ext: "mka"}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := mustTrack(t, tt.spec)
			dst := filepath.Join(t.TempDir(), "padded.mp3")
			res, err := media.Pad(ctx, src, dst, media.PadOptions{ReuseOriginal: true})
			require.NoError(t, err)
			require.Equal(t, tt.reuse, res.UseOriginal)
			require.InDelta(t, tt.offset, res.Shift, 0.015)
			if !tt.reuse {
				return
			}
			_, err = os.Stat(dst)
			require.ErrorIs(t, err, os.ErrNotExist, "nothing is written when the original is reused")
			st, err := os.Stat(src)
			require.NoError(t, err)
			require.Equal(t, st.Size(), res.Size)

			padded := filepath.Join(t.TempDir(), "padded.flac")
			pres, err := media.Pad(ctx, src, padded, media.PadOptions{Format: media.FormatFLAC})
			require.NoError(t, err)
			require.Equal(t, pres.Shift, res.Shift)
			orig := onsets(decodeCLI(t, src, 48000, true), 48000)
			pad := onsets(decodeCLI(t, padded, 48000, true), 48000)
			require.Len(t, orig, len(tt.spec.bursts))
			require.Len(t, pad, len(orig))
			for i := range orig {
				require.InDelta(t, pad[i], orig[i], 0.001, "burst %d: original %.4f s vs padded %.4f s", i, orig[i], pad[i])
				require.InDelta(t, tt.offset+tt.spec.bursts[i].at, orig[i]+res.Shift, 0.015)
			}
		})
	}
}

func TestMixdownPlacesEveryBurstOnMeetingTime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Tracks with different offsets, codecs, rates and channel counts, one
	// with a 2 s mute gap in its timestamps.
	a := mustTrack(t, trackSpec{duration: 4, offset: 0.7, bursts: []burst{{0.5, 0.4, 440, 0}, {3.2, 0.4, 440, 0}}})
	b := mustTrack(t, trackSpec{duration: 3, offset: 2.3, rate: 44100, channels: 2, bursts: []burst{{1.0, 0.4, 660, 0}},
		codec: []string{"-c:a", "libvorbis"}, ext: "ogg"})
	c := mustTrack(t, gapTrack)
	d := mustTrack(t, trackSpec{duration: 3, rate: 16000, bursts: []burst{{2.0, 0.3, 300, 0}}, codec: []string{"-c:a", "flac"}, ext: "flac"})
	require.Len(t, packetJumps(t, c), 1, "the fixture must have a real timestamp jump")

	out := filepath.Join(t.TempDir(), "mix.mp3")
	res, err := media.Mixdown(ctx, []string{a, b, c, d}, out, media.MixOptions{})
	require.NoError(t, err)
	require.Equal(t, 4, res.Tracks)
	require.Zero(t, res.LimitedSamples, "nothing clips: the limiter must not act")
	require.InDelta(t, 4.1+3+2, res.Duration, 0.03)
	require.Len(t, res.Waveform, media.WaveformPoints)

	want := []float64{0.7 + 0.5, 2.0, 2.3 + 1.0, 0.7 + 3.2, 4.1 + 0.5, 4.1 + 2.0 + 2.0}
	samples := decodeCLI(t, out, 16000, true)
	requireOnsets(t, onsets(samples, 16000), want, 0.020)
	require.InDelta(t, res.Duration, float64(len(samples))/16000, 0.06)
}

// TestMixdownLevelsMatchFFmpegAmix compares levels with the ffmpeg CLI
// doing the reference's graph (per-input offset, amix normalize=0).
func TestMixdownLevelsMatchFFmpegAmix(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Overlapping bursts at 1.0-2.0 s meeting time, and solo parts; b is
	// stereo at 44.1 kHz.
	a := mustTrack(t, trackSpec{duration: 3, bursts: []burst{{0.5, 1.5, 300, 0.3}}, codec: []string{"-c:a", "flac"}, ext: "flac"})
	b := mustTrack(t, trackSpec{duration: 3, offset: 0.5, rate: 44100, channels: 2, bursts: []burst{{0.5, 1.5, 500, 0.25}},
		codec: []string{"-c:a", "libopus", "-b:a", "96k"}})
	c := mustTrack(t, trackSpec{duration: 2, offset: 1.5, bursts: []burst{{0.1, 1.2, 700, 0.2}}})
	out := filepath.Join(t.TempDir(), "ours.mp3")
	res, err := media.Mixdown(ctx, []string{a, b, c}, out, media.MixOptions{})
	require.NoError(t, err)
	require.Zero(t, res.LimitedSamples)

	ref := filepath.Join(t.TempDir(), "ref.mp3")
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", a, "-i", b, "-i", c, "-filter_complex",
		"[0]aresample=48000:async=1:first_pts=0[x];"+
			"[1]aresample=48000:async=1:first_pts=0,aformat=sample_fmts=flt:channel_layouts=mono,adelay=500:all=1[y];"+
			"[2]aresample=48000:async=1:first_pts=0,adelay=1500:all=1[z];[x][y][z]amix=inputs=3:normalize=0",
		"-c:a", "libmp3lame", ref)
	outb, err := cmd.CombinedOutput()
	require.NoError(t, err, string(outb))

	// Both are mono: the reference downmixes the stereo track itself with
	// FFmpeg's matrix (as Parley does), as amix would otherwise upmix the
	// mono inputs at -3 dB (swresample's centre mix level) to the stereo
	// input's layout.
	ours, theirs := decodeCLI(t, out, 16000, true), decodeCLI(t, ref, 16000, true)
	for _, w := range [][2]float64{{0.6, 0.95}, {1.1, 1.45}, {1.6, 1.95}, {2.1, 2.45}, {2.55, 2.75}} {
		require.InDelta(t, rmsDB(theirs, 16000, w[0], w[1]), rmsDB(ours, 16000, w[0], w[1]), 0.5,
			"level in %.2f-%.2f s differs from ffmpeg amix normalize=0", w[0], w[1])
	}
}

// TestMixdownLevelSameInEveryLayout mixes a spoken utterance (mono, the
// demo's voice) with a copy of it in another channel layout, made by the
// ffmpeg CLI the way FFmpeg converts layouts, and requires both at the same
// level within 0.5 dB; the copy's level in the mix also matches the ffmpeg
// CLI's own downmix of it (`-ac 1`). A stereo file whose two channels both
// carry the voice at full level is +3 dB louder, in Parley and the CLI.
func TestMixdownLevelSameInEveryLayout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const cut, at, rate = 6.0, 7.0, 16000 // utterance length, the copy's offset (s), analysis rate
	voice := filepath.Join("..", "testdata", "meeting", "alice.webm")
	opus := []string{"-c:a", "libopus", "-b:a", "64k"}
	flac := []string{"-c:a", "flac"}
	mono := layoutCopy(t, voice, "mono", cut, opus, "webm")
	tests := []struct {
		name   string
		layout string // as FFmpeg names it; "dual" = stereo with the voice at full level in both
		codec  []string
		ext    string
		wantDB float64 // copy minus mono
	}{
		{"StereoOpus", "stereo", opus, "webm", 0},
		{"StereoFLAC", "stereo", flac, "flac", 0},
		{"StereoVorbis", "stereo", []string{"-c:a", "libvorbis"}, "ogg", 0},
		{"Surround51", "5.1", flac, "flac", 0},
		{"Surround51Side", "5.1(side)", []string{"-c:a", "pcm_s16le"}, "wav", 0},
		{"Quad", "quad", flac, "flac", 0},
		{"TwoPointOne", "2.1", flac, "flac", 0},
		{"ThreePointZero", "3.0", flac, "flac", 0},
		{"DualMono", "dual", flac, "flac", 10 * math.Log10(2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cp := layoutCopy(t, voice, tt.layout, cut, tt.codec, tt.ext)
			out := filepath.Join(t.TempDir(), "mix.mp3")
			_, err := media.Mixdown(ctx, []string{mono, cp}, out, media.MixOptions{Offsets: []*float64{ptr(0.0), ptr(at)}})
			require.NoError(t, err)
			mix := decodeCLI(t, out, rate, true)
			monoDB, copyDB := rmsDB(mix, rate, 0, cut), rmsDB(mix, rate, at, at+cut)
			t.Logf("%s: mono %.2f dB, copy %.2f dB (%+.2f dB)", tt.layout, monoDB, copyDB, copyDB-monoDB)
			require.InDelta(t, tt.wantDB, copyDB-monoDB, 0.5, "%s copy at %.2f dB, mono at %.2f dB", tt.layout, copyDB, monoDB)
			refDB := rmsDB(downmixCLI(t, cp, rate), rate, 0, cut)
			require.InDelta(t, refDB, copyDB, 0.5, "%s copy: ffmpeg -ac 1 gives %.2f dB, the mix %.2f dB", tt.layout, refDB, copyDB)
		})
	}
}

func TestMixdownProtectsAgainstClipping(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	loud := trackSpec{duration: 2, bursts: []burst{{0.5, 1, 440, 0.9}}, codec: []string{"-c:a", "flac"}, ext: "flac"}
	a := mustTrack(t, loud)
	quiet := mustTrack(t, trackSpec{duration: 2, bursts: []burst{{0.5, 1, 440, 0.45}}, codec: []string{"-c:a", "flac"}, ext: "flac"})
	tests := []struct {
		name    string
		srcs    []string
		limited bool
	}{
		{"SumOverFullScale", []string{a, a}, true}, // 1.8 x full scale
		{"SumJustUnderFullScale", []string{quiet, quiet}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "mix.mp3")
			res, err := media.Mixdown(ctx, tt.srcs, out, media.MixOptions{})
			require.NoError(t, err)
			samples := decodeCLI(t, out, 24000, true)
			if tt.limited {
				require.Positive(t, res.LimitedSamples)
				require.LessOrEqual(t, peak(samples), 1.05, "MP3 coding may overshoot slightly, never clip hard")
				return
			}
			require.Zero(t, res.LimitedSamples)
			require.InDelta(t, 0.9, peak(samples), 0.05, "levels untouched below full scale")
		})
	}
}

// TestPadKeepsDownmixWithinFullScale: a stereo track whose two channels
// both carry a 0.9 tone downmixes to 1.27 (FFmpeg's matrix); the padded
// file for the speech recogniser stays within full scale.
func TestPadKeepsDownmixWithinFullScale(t *testing.T) {
	t.Parallel()
	src := mustTrack(t, trackSpec{duration: 2, channels: 2, bursts: []burst{{0.5, 1, 440, 0.9}},
		codec: []string{"-c:a", "flac"}, ext: "flac"})
	out := filepath.Join(t.TempDir(), "padded.mp3")
	_, err := media.Pad(context.Background(), src, out, media.PadOptions{})
	require.NoError(t, err)
	samples := decodeCLI(t, out, 16000, true)
	require.LessOrEqual(t, peak(samples), 1.05, "MP3 coding may overshoot slightly, never clip hard")
	require.Greater(t, peak(samples), 0.9, "loud, not attenuated as a whole")
}

func TestWaveform(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := mustTrack(t, trackSpec{duration: 10, bursts: []burst{{2, 1, 440, 0.8}, {6, 1, 440, 0.2}}, codec: []string{"-c:a", "flac"}, ext: "flac"})
	stereo := mustTrack(t, trackSpec{duration: 10, rate: 44100, channels: 2, bursts: []burst{{2, 1, 440, 0.8}, {6, 1, 440, 0.2}},
		codec: []string{"-c:a", "flac"}, ext: "flac"})
	silent := mustTrack(t, trackSpec{duration: 2, codec: []string{"-c:a", "flac"}, ext: "flac"})
	tests := []struct {
		name string
		src  string
	}{{"Mono", src}, {"Stereo44k", stereo}}
	// at is the waveform point of a time in the 10 s tracks.
	at := func(sec float64) int { return int(sec / 10 * media.WaveformPoints) }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, err := media.Waveform(ctx, tt.src)
			require.NoError(t, err)
			require.Len(t, w, media.WaveformPoints)
			require.Equal(t, 1.0, maxOf(w))
			require.Zero(t, w[10], "silence at the start")
			require.Equal(t, 1.0, w[at(2.5)])
			require.InDelta(t, 0.25, w[at(6.5)], 0.02, "the quieter burst is a quarter of the loud one")
		})
	}
	t.Run("Silence", func(t *testing.T) {
		t.Parallel()
		w, err := media.Waveform(ctx, silent)
		require.NoError(t, err)
		require.Len(t, w, media.WaveformPoints)
		require.Zero(t, maxOf(w))
	})
	t.Run("MixdownWaveformMatchesWaveformOfTheMix", func(t *testing.T) {
		t.Parallel()
		out := filepath.Join(t.TempDir(), "mix.mp3")
		res, err := media.Mixdown(ctx, []string{src}, out, media.MixOptions{})
		require.NoError(t, err)
		w, err := media.Waveform(ctx, out)
		require.NoError(t, err)
		for i := range w {
			require.InDelta(t, w[i], res.Waveform[i], 0.06, "point %d", i)
		}
	})
}

func maxOf(xs []float64) float64 {
	m := math.Inf(-1)
	for _, x := range xs {
		m = math.Max(m, x)
	}
	return m
}

func TestDecodeMono(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := mustTrack(t, trackSpec{duration: 3, rate: 44100, channels: 2, bursts: []burst{{1, 1, 440, 0.8}},
		codec: []string{"-c:a", "flac"}, ext: "flac"})
	var all []float32
	chunks := 0
	require.NoError(t, media.DecodeMono(ctx, src, 16000, func(s []float32) error {
		chunks++
		all = append(all, s...)
		return nil
	}))
	require.Greater(t, chunks, 1, "streams in chunks")
	require.InDelta(t, 48000, len(all), 16)
	requireOnsets(t, onsets(all, 16000), []float64{1}, 0.005)
	require.InDelta(t, 0.8*math.Sqrt2, peak(all), 0.03,
		"FFmpeg's downmix: two channels that both carry a voice at full level give it +3 dB in mono")

	stop := errors.New("enough")
	err := media.DecodeMono(ctx, src, 8000, func([]float32) error { return stop })
	require.ErrorIs(t, err, stop)
	err = media.DecodeMono(ctx, src, 0, func([]float32) error { return nil })
	require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
}

func TestSplit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Speech-like bursts: 1.5 s on, 0.5 s off.
	var bs []burst
	for at := 0.0; at < 30; at += 2 {
		bs = append(bs, burst{at, 1.5, 440, 0.5})
	}
	src := mustTrack(t, trackSpec{duration: 30, bursts: bs})
	steady := mustTrack(t, trackSpec{duration: 12, bursts: []burst{{0, 12, 440, 0.5}}})
	tests := []struct {
		name      string
		src       string
		opts      media.SplitOptions
		total     float64
		minPieces int
		atSilence bool
		maxDur    float64
	}{
		{"MaxDuration", src, media.SplitOptions{MaxDuration: 7}, 30, 5, true, 7},
		{"MaxBytesMP3", src, media.SplitOptions{MaxBytes: 64 << 10}, 30, 2, true, 30},
		{"MaxBytesFLAC", src, media.SplitOptions{MaxBytes: 200 << 10, Format: media.FormatFLAC}, 30, 2, true, 30},
		{"NoSilenceCutsAtTheLimit", steady, media.SplitOptions{MaxDuration: 5}, 12, 3, false, 5},
		{"ShortFileOnePiece", src, media.SplitOptions{}, 30, 1, false, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			pieces, err := media.Split(ctx, tt.src, dir, tt.opts)
			require.NoError(t, err)
			require.GreaterOrEqual(t, len(pieces), tt.minPieces)
			total := 0.0
			for i, p := range pieces {
				require.LessOrEqual(t, p.Duration, tt.maxDur+0.001)
				require.InDelta(t, total, p.Start, 0.001, "piece %d starts where the previous ended", i)
				total += p.Duration
				st, err := os.Stat(p.Path)
				require.NoError(t, err)
				require.Equal(t, dir, filepath.Dir(p.Path))
				if tt.opts.MaxBytes > 0 {
					require.LessOrEqual(t, st.Size(), tt.opts.MaxBytes)
				}
				if tt.atSilence && i < len(pieces)-1 {
					// Every cut lands in a silence: 1.5-2.0 s of each 2 s cycle.
					end := math.Mod(p.Start+p.Duration, 2)
					require.True(t, end >= 1.5 && end <= 2.0, "piece %d ends at %.3f s, inside a burst", i, p.Start+p.Duration)
				}
				got, err := media.Probe(ctx, p.Path)
				require.NoError(t, err)
				// The container's duration counts the codec's padding of the
				// last frame (an MP3 frame is 72 ms at 16 kHz).
				require.InDelta(t, p.Duration, got.Duration, 0.15)
			}
			require.InDelta(t, tt.total, total, 0.03)
		})
	}
	t.Run("TooShortPieces", func(t *testing.T) {
		t.Parallel()
		_, err := media.Split(ctx, src, t.TempDir(), media.SplitOptions{MaxDuration: 0.5})
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
	})
}

// TestBadInput: every bad input gives either a correct output or an
// EINVALID error naming the file and the problem; never a crash or a hang.
func TestBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o600))
		return p
	}
	ffmpeg := func(name string, args ...string) string {
		p := filepath.Join(dir, name)
		out, err := exec.Command("ffmpeg", append(append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...), p)...).CombinedOutput()
		require.NoError(t, err, string(out))
		return p
	}
	normal := mustTrack(t, plainTrack)
	good, err := os.ReadFile(mustTrack(t, trackSpec{duration: 4, bursts: []burst{{0.5, 0.3, 440, 0}, {3, 0.3, 440, 0}}}))
	require.NoError(t, err)
	garbled := append([]byte(nil), good...)
	for i := len(garbled) / 3; i < len(garbled)*2/3; i += 7 {
		garbled[i] ^= 0x5a
	}
	srt := write("subs.srt", []byte("1\n00:00:00,000 --> 00:00:01,000\nhello\n"))

	type outcome int
	const (
		invalid outcome = iota // EINVALID naming the file
		ok                     // a correct output
	)
	tests := []struct {
		name   string
		src    string
		want   outcome
		msg    string    // for invalid: part of the message
		bursts []float64 // for ok: meeting times of bursts in Pad's output
	}{
		{"Corrupt", write("corrupt.webm", bytes.Repeat([]byte{0x1a, 0x45, 0xdf, 0xa3, 0x42, 0x86, 0x81, 0x01, 0xff, 0x13}, 3000)),
			invalid, "corrupt.webm: ", nil},
		{"Empty", write("empty.webm", nil), invalid, "empty.webm: the file is empty", nil},
		{"NotAudio", write("notes.txt", []byte("these are meeting notes, not audio\n")), invalid, "notes.txt: cannot open", nil},
		{"NoAudioStream", ffmpeg("subs.mkv", "-i", srt), invalid, "subs.mkv: no audio stream", nil},
		{"VideoOnly", ffmpeg("video.webm", "-f", "lavfi", "-i", "testsrc=d=1:s=64x48", "-c:v", "libvpx"), invalid,
			"video.webm: has video but no audio stream", nil},
		{"Missing", filepath.Join(dir, "nope.webm"), invalid, "nope.webm: no such file", nil},
		{"Directory", dir, invalid, "is a directory", nil},
		{"OffsetBeyondLimit", mustTrack(t, trackSpec{duration: 0.5, offset: 30 * 3600}), invalid, "beyond the 86400 s limit", nil},
		{"Truncated", write("truncated.webm", good[:len(good)*55/100]), ok, "", []float64{0.5, 3}},
		{"Garbled", write("garbled.webm", garbled), ok, "", []float64{0.5, 3}},
		{"TenthOfASecond", mustTrack(t, trackSpec{duration: 0.1, offset: 0.8, bursts: []burst{{0, 0.1, 440, 0}}}), ok, "", []float64{0.8}},
		{"HoursOffset", mustTrack(t, trackSpec{duration: 1, offset: 2 * 3600, bursts: []burst{{0.2, 0.3, 440, 0}}}), ok, "", []float64{7200.2}},
		{"StereoVorbis44k", mustTrack(t, trackSpec{duration: 1, rate: 44100, channels: 2, bursts: []burst{{0.3, 0.3, 440, 0}},
			codec: []string{"-c:a", "libvorbis"}, ext: "ogg"}), ok, "", []float64{0.3}},
		// An MP3's start time (ffprobe's, the reference's offset) counts
		// LAME's encoder delay, 1105 samples.
		{"MP3At8kHz", mustTrack(t, trackSpec{duration: 1, rate: 8000, bursts: []burst{{0.4, 0.3, 440, 0}},
			codec: []string{"-c:a", "libmp3lame"}, ext: "mp3"}), ok, "", []float64{0.4 + 1105.0/8000}},
		{"WAV22kStereo", mustTrack(t, trackSpec{duration: 1, rate: 22050, channels: 2, bursts: []burst{{0.4, 0.3, 440, 0}},
			codec: []string{"-c:a", "pcm_s16le"}, ext: "wav"}), ok, "", []float64{0.4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := t.TempDir()
			ops := []struct {
				op  string
				run func() error
			}{
				{"probe", func() error { _, err := media.Probe(ctx, tt.src); return err }},
				{"pad", func() error {
					res, err := media.Pad(ctx, tt.src, filepath.Join(out, "pad.mp3"), media.PadOptions{})
					if err == nil && tt.want == ok {
						got := onsets(decodeCLI(t, filepath.Join(out, "pad.mp3"), 16000, true), 16000)
						for i := range got {
							got[i] += res.Shift
						}
						// Damaged input: what survives is not known in advance;
						// at least the first burst, and each one at its time.
						if tt.name == "Truncated" || tt.name == "Garbled" {
							requireSomeOnsets(t, got, tt.bursts, 0.020)
						} else {
							requireOnsets(t, got, tt.bursts, 0.020)
						}
					}
					return err
				}},
				{"mixdown", func() error {
					_, err := media.Mixdown(ctx, []string{normal, tt.src}, filepath.Join(out, "mix.mp3"), media.MixOptions{})
					return err
				}},
				{"waveform", func() error { _, err := media.Waveform(ctx, tt.src); return err }},
				{"decode", func() error { return media.DecodeMono(ctx, tt.src, 16000, func([]float32) error { return nil }) }},
				{"check", func() error { return media.CheckAudio(ctx, tt.src) }},
			}
			for _, o := range ops {
				if tt.name == "HoursOffset" && o.op == "mixdown" {
					continue // two hours of mix: TestMixdownHoursOffset
				}
				if tt.name == "OffsetBeyondLimit" && (o.op == "waveform" || o.op == "decode") {
					continue // they read the file's samples, not its place on meeting time
				}
				err := o.run()
				if tt.want == ok {
					require.NoError(t, err, o.op)
					continue
				}
				require.Error(t, err, o.op)
				require.Equal(t, parley.EINVALID, parley.ErrorCode(err), "%s: %v", o.op, err)
				require.Contains(t, parley.ErrorMessage(err), tt.msg, o.op)
				_, statErr := os.Stat(filepath.Join(out, o.op+".mp3"))
				require.ErrorIs(t, statErr, os.ErrNotExist, "%s: no output is left behind", o.op)
			}
		})
	}
	t.Run("NoInputs", func(t *testing.T) {
		t.Parallel()
		_, err := media.Mixdown(ctx, nil, filepath.Join(t.TempDir(), "o.mp3"), media.MixOptions{})
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
	})
	t.Run("BadOffset", func(t *testing.T) {
		t.Parallel()
		_, err := media.Pad(ctx, normal, filepath.Join(t.TempDir(), "o.mp3"), media.PadOptions{Offset: ptr(-1.0)})
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
		require.Contains(t, parley.ErrorMessage(err), "offset -1 s is out of range")
	})
	t.Run("UnwritableOutput", func(t *testing.T) {
		t.Parallel()
		_, err := media.Pad(ctx, normal, filepath.Join(dir, "no", "such", "dir", "o.mp3"), media.PadOptions{})
		require.Error(t, err)
	})
}

// TestMixdownHoursOffset mixes a track that joins two hours in: the mix is
// two hours long with the late burst in place (silence costs little).
func TestMixdownHoursOffset(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("two hours of mix")
	}
	ctx := context.Background()
	late := mustTrack(t, trackSpec{duration: 1, offset: 2 * 3600, bursts: []burst{{0.2, 0.3, 440, 0}}})
	out := filepath.Join(t.TempDir(), "mix.mp3")
	res, err := media.Mixdown(ctx, []string{mustTrack(t, plainTrack), late}, out, media.MixOptions{})
	require.NoError(t, err)
	require.InDelta(t, 7201, res.Duration, 0.03)
	require.Equal(t, 1.0, res.Waveform[media.WaveformPoints-1])
	require.Zero(t, res.Waveform[media.WaveformPoints/2])
	// The end of the mix, decoded by the ffmpeg CLI.
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-ss", "7199", "-i", out, "-ac", "1", "-ar", "16000", "-f", "wav", "-")
	wav, err := cmd.Output()
	require.NoError(t, err)
	tail := filepath.Join(t.TempDir(), "tail.wav")
	require.NoError(t, os.WriteFile(tail, wav, 0o600))
	requireOnsets(t, onsets(decodeCLI(t, tail, 16000, true), 16000), []float64{1.2}, 0.030)
}

func TestCancellation(t *testing.T) {
	t.Parallel()
	long := mustTrack(t, trackSpec{duration: 120, bursts: []burst{{1, 100, 440, 0.3}}})
	tests := []struct {
		name string
		run  func(ctx context.Context, dst string) error
	}{
		{"Mixdown", func(ctx context.Context, dst string) error {
			_, err := media.Mixdown(ctx, []string{long, long}, dst, media.MixOptions{})
			return err
		}},
		{"Pad", func(ctx context.Context, dst string) error {
			_, err := media.Pad(ctx, long, dst, media.PadOptions{})
			return err
		}},
		{"Split", func(ctx context.Context, dst string) error {
			_, err := media.Split(ctx, long, filepath.Dir(dst), media.SplitOptions{MaxDuration: 30})
			return err
		}},
		{"Waveform", func(ctx context.Context, _ string) error { _, err := media.Waveform(ctx, long); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			dst := filepath.Join(t.TempDir(), "out.mp3")
			t0 := time.Now()
			err := tt.run(ctx, dst)
			require.ErrorIs(t, err, context.Canceled)
			require.Less(t, time.Since(t0), 5*time.Second)
			_, statErr := os.Stat(dst)
			require.ErrorIs(t, statErr, os.ErrNotExist, "the partial output is removed")
		})
	}
	t.Run("AlreadyCancelled", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := media.Probe(ctx, long)
		require.ErrorIs(t, err, context.Canceled)
	})
}

// TestHTTPInput reads tracks over http as from S3 presigned URLs; a server
// that never answers is interrupted by ctx.
func TestHTTPInput(t *testing.T) {
	t.Parallel()
	src := mustTrack(t, trackSpec{duration: 3, offset: 1.5, bursts: []burst{{0.5, 0.3, 440, 0}}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/bucket/track.webm":
			http.ServeFile(w, r, src)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	url := srv.URL + "/bucket/track.webm?X-Amz-Signature=secret"

	info, err := media.Probe(ctx, url)
	require.NoError(t, err)
	require.InDelta(t, 1.5, info.StartOffset, 0.015)
	out := filepath.Join(t.TempDir(), "mix.mp3")
	res, err := media.Mixdown(ctx, []string{url}, out, media.MixOptions{})
	require.NoError(t, err)
	require.InDelta(t, 4.5, res.Duration, 0.03)

	_, err = media.Probe(ctx, srv.URL+"/bucket/missing.webm?X-Amz-Signature=secret")
	require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
	require.Contains(t, parley.ErrorMessage(err), "bucket/missing.webm")
	require.NotContains(t, err.Error(), "secret", "presigned credentials never reach errors")

	t.Run("HangingServer", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		t.Cleanup(func() { _ = ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { _ = c.Close() }) // accept, never answer
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		t0 := time.Now()
		_, err = media.Probe(ctx, fmt.Sprintf("http://%s/track.webm", ln.Addr()))
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Less(t, time.Since(t0), 3*time.Second, "the interrupt callback stops the blocking read")
	})
}

func TestDisplayName(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"/tmp/a.webm", "/tmp/a.webm"},
		{"https://s3.example.com/bucket/room/123-cam-audio-456?X-Amz-Signature=abc", "bucket/room/123-cam-audio-456"},
		{"http://127.0.0.1:9000/b/k.webm", "b/k.webm"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, media.DisplayName(tt.in))
		})
	}
}

func TestResultsAreJSON(t *testing.T) {
	t.Parallel()
	info, err := media.Probe(context.Background(), mustTrack(t, gapTrack))
	require.NoError(t, err)
	b, err := json.Marshal(info)
	require.NoError(t, err)
	for _, k := range []string{`"start_offset":`, `"duration":`, `"codec":"opus"`, `"sample_rate":48000`, `"channels":1`, `"gaps":[{"at":`} {
		require.Contains(t, string(b), k)
	}
}
