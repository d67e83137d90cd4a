package media_test

import (
	"bytes"
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley/media"
)

// packetTimes lists, with ffprobe, the timestamps (s) of a file's audio
// packets and the MD5 of each packet's bytes (ffmpeg's framemd5 of a
// stream copy; the last is the codec's extradata), both independent of
// package media.
func packetTimes(tb testing.TB, path string) ([]float64, []string) {
	tb.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "packet=pts_time",
		"-of", "csv=p=0", path).Output()
	require.NoError(tb, err)
	var ts []float64
	for _, line := range strings.Fields(string(out)) {
		v, err := strconv.ParseFloat(strings.TrimSuffix(line, ","), 64)
		require.NoError(tb, err, line)
		ts = append(ts, v)
	}
	out, err = exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", path, "-map", "0:a:0", "-c", "copy",
		"-f", "framemd5", "-").Output()
	require.NoError(tb, err)
	var sums []string
	extradata := ""
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, ",")
		switch {
		case strings.HasPrefix(line, "#extradata"):
			extradata = strings.TrimSpace(f[len(f)-1])
		case line == "" || strings.HasPrefix(line, "#"):
		default: // stream, dts, pts, duration, size, hash[, side data]
			require.GreaterOrEqual(tb, len(f), 6, line)
			sums = append(sums, strings.TrimSpace(f[5]))
		}
	}
	require.Len(tb, sums, len(ts))
	require.NotEmpty(tb, extradata)
	return ts, append(sums, extradata)
}

// format48k is lossless FLAC at the Opus rate: the reference decode of a
// whole track on meeting time.
var format48k = media.Format{Name: "flac-48k", Ext: "flac", ContentType: "audio/flac", Codec: "flac", Muxer: "flac", SampleRate: 48000}

// TestPadSplitsAtMuteGaps: a WebM or Ogg Opus track whose only jumps are
// mute gaps is cut into one file per gapless run by stream copy: the
// segments hold exactly the original's packets (same bytes, in order),
// each starts at 0, its Shift is the meeting time of its first sample
// exact to the packet, and decoding it gives the samples the padded track
// has there (after the Opus decoder's pre-roll, which a fresh decoder
// needs after a gap).
func TestPadSplitsAtMuteGaps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bursts := []burst{{0.5, 0.4, 440, 0}, {2.3, 0.4, 660, 0}, {4.2, 0.4, 550, 0}}
	tests := []struct {
		name   string
		spec   trackSpec
		gaps   []float64 // lengths, in order
		offset *float64
	}{
		// Like Daily: a 2 s mute and a 5 min mute, the track joining at 2.5 s.
		{"WebM", trackSpec{duration: 5, offset: 2.5, bursts: bursts, gapAt: 1.5, gapLen: 2, moreGaps: [][2]float64{{3.5, 300}}},
			[]float64{2, 300}, nil},
		{"Ogg", trackSpec{duration: 5, offset: 1, bursts: bursts, gapAt: 1.5, gapLen: 1.2, ext: "ogg"}, []float64{1.2}, nil},
		{"WebMExplicitOffset", trackSpec{duration: 5, offset: 2.5, bursts: bursts, gapAt: 1.5, gapLen: 2}, []float64{2}, ptr(7.0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := mustTrack(t, tt.spec)
			jumps := packetJumps(t, src)
			require.Len(t, jumps, len(tt.gaps), "the fixture's gaps: %v", jumps)
			for i, j := range jumps {
				require.InDelta(t, tt.gaps[i], j[1], 0.005)
			}
			dir := t.TempDir()
			dst := filepath.Join(dir, "padded")
			res, err := media.Pad(ctx, src, dst, media.PadOptions{ReuseOriginal: true, SplitGaps: true, Offset: tt.offset})
			require.NoError(t, err)
			require.False(t, res.UseOriginal)
			require.Len(t, res.Segments, len(tt.gaps)+1)
			ext := map[string]string{"webm": "webm", "ogg": "ogg"}[strings.TrimPrefix(filepath.Ext(src), ".")]
			require.Equal(t, ext, res.Ext)
			_, err = os.Stat(dst)
			require.ErrorIs(t, err, os.ErrNotExist, "dst is not written when the track is split")

			// The reference: the track padded onto meeting time, lossless
			// at 48 kHz, from meeting time 0.
			ref := filepath.Join(dir, "ref.flac")
			pres, err := media.Pad(ctx, src, ref, media.PadOptions{LeadingSilence: true, Format: format48k, Offset: tt.offset})
			require.NoError(t, err)
			require.InDelta(t, pres.Offset, res.Offset, 0.0005)
			require.InDelta(t, pres.Duration, res.Duration, 0.03)
			refSamples := decodeCLI(t, ref, 48000, true)

			origTS, origSums := packetTimes(t, src)
			origExtra := origSums[len(origSums)-1]
			origSums = origSums[:len(origSums)-1]
			var total int64
			next := 0 // the original's next packet
			for k, seg := range res.Segments {
				require.Equal(t, media.SegmentPath(dst, k, ext), seg.Path)
				st, err := os.Stat(seg.Path)
				require.NoError(t, err)
				require.Equal(t, st.Size(), seg.Size)
				total += seg.Size
				// Stream copy: the run's packets, byte for byte, rebased to 0.
				ts, sums := packetTimes(t, seg.Path)
				require.Equal(t, origExtra, sums[len(sums)-1], "segment %d has the original's codec header", k)
				sums = sums[:len(sums)-1]
				require.NotEmpty(t, ts)
				require.LessOrEqual(t, next+len(sums), len(origSums))
				require.Equal(t, origSums[next:next+len(sums)], sums, "segment %d holds the original's packets", k)
				// (WebM counts the 6.5 ms Opus pre-skip before 0, to the ms.)
				require.InDelta(t, 0, ts[0], 0.0075, "segment %d starts at 0", k)
				for i := range ts {
					require.InDelta(t, origTS[next+i]-origTS[next], ts[i]-ts[0], 0.0015, "segment %d packet %d", k, i)
				}
				// Its start, exact to the packet: the Shift moves with the
				// original's packet times from segment to segment.
				require.InDelta(t, origTS[next]-origTS[0], seg.Shift-res.Segments[0].Shift, 0.0015, "segment %d shift", k)
				next += len(sums)

				// Its samples are the padded track's at Shift on (an
				// independent decoder; after 80 ms of pre-roll), give or
				// take the container's timestamp resolution (1 ms in WebM).
				got := decodeCLI(t, seg.Path, 48000, true)
				require.Greater(t, len(got), 48000/2)
				lag, maxDiff := bestLag(got, refSamples, int(math.Round(seg.Shift*48000)), 80*48, 96)
				t.Logf("segment %d: shift %.4f s, %.3f s, %d bytes; samples match at %+d samples, max difference %.5f",
					k, seg.Shift, seg.Duration, seg.Size, lag, maxDiff)
				require.LessOrEqual(t, math.Abs(float64(lag)), 0.0015*48000, "segment %d is placed within 1.5 ms", k)
				require.Less(t, maxDiff, 0.002, "segment %d decodes to the padded track's samples", k)
			}
			require.Equal(t, len(origSums), next, "every packet is in one segment")
			require.Equal(t, total, res.Size)

			// Every burst's onset on meeting time, from the segments alone.
			var got []float64
			for _, seg := range res.Segments {
				for _, o := range onsets(decodeCLI(t, seg.Path, 48000, true), 48000) {
					got = append(got, o+seg.Shift)
				}
			}
			want := onsets(refSamples, 48000)
			require.Len(t, want, len(bursts))
			requireOnsets(t, got, want, 0.001)

			// Bit-exact: the same track splits into the same bytes (the
			// recogniser's cache keys on them).
			again := filepath.Join(t.TempDir(), "padded")
			res2, err := media.Pad(ctx, src, again, media.PadOptions{ReuseOriginal: true, SplitGaps: true, Offset: tt.offset})
			require.NoError(t, err)
			require.Len(t, res2.Segments, len(res.Segments))
			for k := range res.Segments {
				a, err := os.ReadFile(res.Segments[k].Path)
				require.NoError(t, err)
				b, err := os.ReadFile(res2.Segments[k].Path)
				require.NoError(t, err)
				require.True(t, bytes.Equal(a, b), "segment %d differs between two splits", k)
				require.Equal(t, res.Segments[k].Shift, res2.Segments[k].Shift)
			}
		})
	}
}

// TestPadDoesNotSplit: tracks that are not just mute gaps are padded as
// before (gaps filled, one MP3), or reused when they have no gap.
func TestPadDoesNotSplit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bursts := []burst{{0.5, 0.3, 440, 0}, {2.5, 0.3, 440, 0}}
	tests := []struct {
		name  string
		spec  trackSpec
		opts  media.PadOptions
		reuse bool
	}{
		{"JitterGap", trackSpec{duration: 4, offset: 1, bursts: bursts, gapAt: 1.5, gapLen: 0.3}, media.PadOptions{}, false},
		{"MuteAndJitter", trackSpec{duration: 4, offset: 1, bursts: bursts, gapAt: 1.5, gapLen: 2, moreGaps: [][2]float64{{3, 0.2}}},
			media.PadOptions{}, false},
		{"TooManySegments", trackSpec{duration: 4, offset: 1, bursts: bursts, gapAt: 1.5, gapLen: 2, moreGaps: [][2]float64{{3, 2}}},
			media.PadOptions{MaxSegments: 2}, false},
		{"ShortSegment", trackSpec{duration: 4, offset: 1, bursts: bursts, gapAt: 1.5, gapLen: 2, moreGaps: [][2]float64{{1.8, 2}}},
			media.PadOptions{}, false},
		{"SegmentTooLarge", trackSpec{duration: 4, offset: 1, bursts: bursts, gapAt: 1.5, gapLen: 2}, media.PadOptions{MaxOriginalBytes: 2000}, false},
		{"Vorbis", trackSpec{duration: 4, rate: 44100, bursts: bursts, gapAt: 1.5, gapLen: 2, codec: []string{"-c:a", "libvorbis"}, ext: "ogg"},
			media.PadOptions{}, false},
		{"Gapless", trackSpec{duration: 4, offset: 1, bursts: bursts}, media.PadOptions{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := mustTrack(t, tt.spec)
			if tt.spec.gapLen > 0 {
				require.NotEmpty(t, packetJumps(t, src), "the fixture must have a jump")
			}
			dst := filepath.Join(t.TempDir(), "padded.mp3")
			opts := tt.opts
			opts.ReuseOriginal, opts.SplitGaps = true, true
			res, err := media.Pad(ctx, src, dst, opts)
			require.NoError(t, err)
			require.Empty(t, res.Segments)
			require.Equal(t, tt.reuse, res.UseOriginal)
			matches, err := filepath.Glob(dst + ".seg*")
			require.NoError(t, err)
			require.Empty(t, matches, "no segment is left behind")
			if tt.reuse {
				return
			}
			require.Equal(t, "mp3", res.Ext)
			require.Positive(t, res.GapsFilled)
			st, err := os.Stat(dst)
			require.NoError(t, err)
			require.Equal(t, st.Size(), res.Size)
		})
	}
}

// bestLag finds the lag in [-maxLag, maxLag] samples at which seg[i]
// (from skip on) best matches ref[at+lag+i], and the largest difference
// there.
func bestLag(seg, ref []float32, at, skip, maxLag int) (int, float64) {
	best, bestDiff := 0, math.Inf(1)
	for lag := -maxLag; lag <= maxLag; lag++ {
		var d float64
		for i := skip; i < len(seg); i++ {
			j := at + lag + i
			if j < 0 || j >= len(ref) {
				d = math.Inf(1)
				break
			}
			d = math.Max(d, math.Abs(float64(seg[i]-ref[j])))
		}
		if d < bestDiff {
			best, bestDiff = lag, d
		}
	}
	return best, bestDiff
}
