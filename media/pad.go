package media

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/asticode/go-astiav"

	"github.com/parley-dev/parley"
)

// MaxUploadBytes is OpenAI's transcription upload limit (25 MB).
const MaxUploadBytes = 25 << 20

// blockSize is how many samples Pad and Mixdown process at a time.
const blockSize = 4096

// PadOptions configures Pad.
type PadOptions struct {
	// Offset is the track's start on meeting time (s). Defaults (nil) to
	// the first sample's timestamp, which is the container's start time
	// (the reference's offset) plus the codec's pre-skip (6.5 ms for Opus).
	Offset *float64
	// LeadingSilence writes the offset as silence at the start of the
	// file, so that file time equals meeting time. Defaults to false: the
	// file starts at the track's first sample and PadResult.Shift is the
	// meeting time of that sample (exact to the sample, and no hours of
	// encoded silence for a late joiner).
	LeadingSilence bool
	// Format of the output. Defaults to FormatASR.
	Format Format
	// ReuseOriginal lets Pad skip the re-encode when the original can go
	// to the speech recogniser as it is: its timestamps have no jump over
	// 10 ms, its container and codec are ones OpenAI's endpoint takes
	// (WebM, Ogg, MP3, FLAC, WAV, MP4/M4A) and it is at most
	// MaxOriginalBytes. Pad then writes nothing and returns UseOriginal
	// with the Shift to add to word times. Ignored with LeadingSilence.
	// Defaults to false.
	ReuseOriginal bool
	// MaxOriginalBytes bounds the size of an original that is reused, and
	// of each segment of a split one. Defaults to MaxUploadBytes.
	MaxOriginalBytes int64
	// SplitGaps, with ReuseOriginal, lets Pad skip the re-encode of a
	// track whose only problem is mute gaps: Opus in WebM or Ogg whose
	// every timestamp jump is a gap of at least MinSplitGap, with at most
	// MaxSegments stretches of at least MinSegment between them, each of
	// at most MaxOriginalBytes. Pad then copies each stretch's packets
	// (no decoding) into its own file, SegmentPath(dst, k, Ext), and
	// returns them in PadResult.Segments, each with its Shift; dst itself
	// is not written. Any other track is padded. Defaults to false.
	SplitGaps bool
	// MaxSegments bounds the segments of a split track. Defaults to
	// DefaultMaxSegments.
	MaxSegments int
}

// PadResult describes a padded track.
type PadResult struct {
	// Offset is the track's start on meeting time (s).
	Offset float64 `json:"offset"`
	// Duration is the track's length (s) from its first sample to its
	// end, gaps included (the offset is not included).
	Duration float64 `json:"duration"`
	// Shift is the meeting time (s) of the file's first sample: 0 with
	// LeadingSilence, else the offset. Add it to times in the file.
	Shift float64 `json:"shift"`
	// GapsFilled counts timestamp jumps of at least MinGap filled with
	// silence.
	GapsFilled int `json:"gaps_filled"`
	// UseOriginal tells that nothing was written: the original is fit for
	// the speech recogniser as it is (see PadOptions.ReuseOriginal).
	UseOriginal bool `json:"use_original,omitempty"`
	// Segments, when not empty, are the files written instead of dst: the
	// original split at its mute gaps (see PadOptions.SplitGaps). Shift
	// is then the first segment's.
	Segments []Segment `json:"segments,omitempty"`
	// Ext and ContentType describe the file to upload (the original's
	// with UseOriginal, the segments' with Segments); Size is its size in
	// bytes (the segments' total).
	Ext         string `json:"ext"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
}

// Pad decodes a track (a file or an http(s) URL) and writes it to dst on
// meeting time: timestamp gaps filled with silence, overlaps trimmed, and
// with LeadingSilence the offset too. The input's global metadata tags are
// copied to the output. Bad input gives a parley.EINVALID error naming
// src; on any error dst is removed.
func Pad(ctx context.Context, src, dst string, opts PadOptions) (PadResult, error) {
	f := opts.Format
	if f.Codec == "" {
		f = FormatASR
	}
	if opts.ReuseOriginal && !opts.LeadingSilence {
		res, ok, err := reuseOriginal(ctx, src, dst, opts)
		if err != nil {
			return PadResult{}, fmt.Errorf("pad: %w", err)
		}
		if ok {
			return res, nil
		}
	}
	rate := f.SampleRate
	t, err := openTrack(ctx, src, rate, opts.Offset)
	if err != nil {
		return PadResult{}, fmt.Errorf("pad: %w", err)
	}
	defer t.close()
	enc, err := newEncoder(dst, f, copiedTags(t.d.in))
	if err != nil {
		return PadResult{}, fmt.Errorf("pad: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			enc.free()
			_ = os.Remove(dst)
		}
	}()
	base := t.offset
	if opts.LeadingSilence {
		base = 0
	}
	// A downmix can exceed full scale (two channels that both carry the
	// voice at full level); the limiter keeps it within, touching nothing
	// below it.
	lim := newLimiter(rate)
	block := make([]float32, blockSize)
	for {
		if err := ctx.Err(); err != nil {
			return PadResult{}, fmt.Errorf("pad: %w", context.Cause(ctx))
		}
		n := int64(blockSize)
		if err := t.fill(ctx, base+n); err != nil {
			return PadResult{}, fmt.Errorf("pad: %w", err)
		}
		if t.eof && !t.hasNext {
			n = min(n, t.end-base)
		}
		if n <= 0 {
			break
		}
		b := block[:n]
		clear(b)
		added, err := t.addTo(ctx, b, base)
		if err != nil {
			return PadResult{}, fmt.Errorf("pad: %w", err)
		}
		if added || lim.gain != 1 {
			lim.process(b)
		}
		if err := enc.write(b); err != nil {
			return PadResult{}, fmt.Errorf("pad: %w", err)
		}
		base += n
	}
	if err := enc.close(); err != nil {
		return PadResult{}, fmt.Errorf("pad: %w", err)
	}
	ok = true
	res := PadResult{
		Offset:      round3(float64(t.offset) / float64(rate)),
		Duration:    round3(float64(t.end-t.offset) / float64(rate)),
		GapsFilled:  t.gaps,
		Ext:         f.Ext,
		ContentType: f.ContentType,
	}
	if !opts.LeadingSilence {
		res.Shift = float64(t.offset) / float64(rate)
	}
	if st, err := os.Stat(dst); err == nil {
		res.Size = st.Size()
	}
	return res, nil
}

// copiedTags are the input's global tags (and, for Ogg inputs, its audio
// stream's comments) without the ones muxers write themselves.
func copiedTags(in *input) map[string]string {
	out := tags(in.fc.Metadata())
	if f := in.fc.InputFormat(); f != nil && f.Name() == "ogg" {
		for k, v := range tags(in.stream.Metadata()) {
			if _, ok := out[k]; !ok {
				out[k] = v
			}
		}
	}
	for k := range out {
		switch strings.ToLower(k) {
		case "duration", "encoder", "major_brand", "minor_version", "compatible_brands":
			delete(out, k)
		}
	}
	return out
}

// asrContainers maps FFmpeg demuxer names and codecs that OpenAI's
// transcription endpoint takes to the extension and MIME type to upload
// them with.
var asrContainers = map[string]struct {
	codecs           []string
	ext, contentType string
}{
	"matroska,webm":           {[]string{"opus", "vorbis"}, "webm", "audio/webm"},
	"ogg":                     {[]string{"opus", "vorbis", "flac"}, "ogg", "audio/ogg"},
	"mp3":                     {[]string{"mp3"}, "mp3", "audio/mpeg"},
	"flac":                    {[]string{"flac"}, "flac", "audio/flac"},
	"wav":                     {[]string{"pcm_s16le", "pcm_f32le", "pcm_s24le", "pcm_s32le", "pcm_u8"}, "wav", "audio/wav"},
	"mov,mp4,m4a,3gp,3g2,mj2": {[]string{"aac"}, "m4a", "audio/mp4"},
}

// reuseOriginal checks whether src can be transcribed as it is and, if
// so, returns its result: no timestamp jump (so the recogniser's times are
// file times), a container the endpoint takes, a size under the limit. The
// shift is the first decoded sample's timestamp, as Pad would place it.
// With SplitGaps, a track whose only jumps are mute gaps is split into
// segments instead (canSplit, writeSegments).
func reuseOriginal(ctx context.Context, src, dst string, opts PadOptions) (PadResult, bool, error) {
	scan, err := scanTimestamps(ctx, src)
	if err != nil {
		return PadResult{}, false, err
	}
	kind, ok := asrContainers[scan.format]
	maxBytes := cmp.Or(opts.MaxOriginalBytes, MaxUploadBytes)
	reuse := ok && contains(kind.codecs, scan.codec) && scan.jumps == 0 && scan.size > 0 && scan.size <= maxBytes
	split := !reuse && opts.SplitGaps && canSplit(scan, cmp.Or(opts.MaxSegments, DefaultMaxSegments), maxBytes)
	if !reuse && !split {
		return PadResult{}, false, nil
	}
	// The first sample's place, exactly as Pad computes it.
	t, err := openTrack(ctx, src, 48000, opts.Offset)
	if err != nil {
		return PadResult{}, false, err
	}
	offset, delta := float64(t.offset)/48000, float64(t.shift)/48000
	t.close()
	res := PadResult{Offset: round3(offset), Duration: round3(scan.duration), Shift: offset, Ext: kind.ext,
		ContentType: kind.contentType}
	if reuse {
		res.UseOriginal, res.Size = true, scan.size
		return res, true, nil
	}
	segs, err := writeSegments(ctx, src, dst, scan, delta, maxBytes)
	if err != nil || segs == nil {
		return PadResult{}, false, err
	}
	res.Segments, res.Shift = segs, segs[0].Shift
	for _, s := range segs {
		res.Size += s.Size
	}
	return res, true, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// timestampScan is what scanTimestamps found.
type timestampScan struct {
	format, codec string
	size          int64
	jumps         int // discontinuities over fillTolerance, either way
	duration      float64
	// runs are the gapless stretches of packets (at most maxRuns are
	// kept; manyRuns tells there were more); splittable is false when a
	// jump is not a gap of at least MinSplitGap (an overlap, a shorter
	// gap, a packet without a timestamp).
	runs       []packetRun
	manyRuns   bool
	splittable bool
}

// packetRun is a stretch of packets without a timestamp jump: its first
// packet's timestamp (stream time base and s), its end (s) and the bytes
// of its packets.
type packetRun struct {
	firstTS    int64
	start, end float64
	bytes      int64
}

// maxRuns bounds the runs a scan keeps.
const maxRuns = 256

// scanTimestamps demuxes src and counts timestamp discontinuities of the
// audio stream over fillTolerance (gaps or overlaps).
func scanTimestamps(ctx context.Context, src string) (timestampScan, error) {
	in, err := openInput(ctx, src)
	if err != nil {
		return timestampScan{}, err
	}
	defer in.close()
	s := timestampScan{codec: in.stream.CodecParameters().CodecID().Name(), size: ioSize(in.fc)}
	if f := in.fc.InputFormat(); f != nil {
		s.format = f.Name()
	}
	tb := in.stream.TimeBase().Float64()
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	s.splittable = true
	first, lastEnd := math.NaN(), math.NaN()
	for n := 0; ; n++ {
		if n%256 == 0 && ctx.Err() != nil {
			return timestampScan{}, context.Cause(ctx)
		}
		if err := in.fc.ReadFrame(pkt); err != nil {
			if isEOF(err) {
				break
			}
			return timestampScan{}, classify(ctx, in.name, "cannot read", err)
		}
		if pkt.StreamIndex() == in.stream.Index() {
			ts := pkt.Pts()
			if ts == astiav.NoPtsValue {
				ts = pkt.Dts()
			}
			if ts == astiav.NoPtsValue {
				s.jumps++ // cannot tell: do not reuse
				s.splittable = false
			} else {
				t := float64(ts) * tb
				newRun := math.IsNaN(first)
				if newRun {
					first = t
				} else if d := t - lastEnd; math.Abs(d) > fillTolerance {
					s.jumps++
					newRun = true
					if d < MinSplitGap {
						s.splittable = false
					}
				}
				switch {
				case newRun && len(s.runs) < maxRuns:
					s.runs = append(s.runs, packetRun{firstTS: ts, start: t})
				case newRun:
					s.manyRuns = true
				}
				lastEnd = t + float64(pkt.Duration())*tb
				if r := &s.runs[len(s.runs)-1]; !s.manyRuns {
					r.end = lastEnd
					r.bytes += int64(pkt.Size())
				}
			}
		}
		pkt.Unref()
	}
	if math.IsNaN(first) {
		return timestampScan{}, parley.Errorf(parley.EINVALID, "%s: the audio stream has no data", in.name)
	}
	s.duration = lastEnd - first
	return s, nil
}
