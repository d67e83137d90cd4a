package media

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/asticode/go-astiav"

	"github.com/parley-dev/parley"
)

// Splitting a track at its mute gaps (PadOptions.SplitGaps).
const (
	// MinSplitGap (s) is the shortest timestamp gap Pad splits a track
	// at. Daily writes no packets while a participant is muted, and a
	// mute lasts seconds at least; the jumps that packet loss or jitter
	// leave are tens to a few hundred milliseconds, and can fall inside
	// a word, which a cut would leave half in each of two files sent to
	// the recogniser on their own. At 1 s and above nothing was heard
	// from the track for a full second: no word goes on across it (a
	// word cut by the mute itself was cut anyway). A track with any
	// shorter jump is padded.
	MinSplitGap = 1.0
	// MinSegment (s) is the shortest segment Pad sends on its own: a
	// track with a shorter stretch of audio between gaps is padded
	// instead (a segment is never dropped, since it could hold a word,
	// and a recogniser may refuse audio that short: OpenAI's answers 400
	// under 0.1 s).
	MinSegment = 0.5
	// DefaultMaxSegments is PadOptions.MaxSegments' default: each
	// segment is one recogniser request.
	DefaultMaxSegments = 32
)

// Segment is one gapless stretch of a track, written by stream copy (no
// decoding, no encoding) into a file of the original's container with its
// timestamps rebased to start at 0. Segments carry no metadata tags: a
// tag describing the whole track (parley-sim's text) would be wrong for
// each part.
type Segment struct {
	// Path of the segment's file (SegmentPath).
	Path string `json:"path"`
	// Shift is the meeting time (s) of the file's first decoded sample:
	// add it to times in the file.
	Shift float64 `json:"shift"`
	// Duration (s) of the segment's packets; Size of its file (bytes).
	Duration float64 `json:"duration"`
	Size     int64   `json:"size"`
}

// SegmentPath is where Pad writes segment k (from 0) of a track split for
// dst.
func SegmentPath(dst string, k int, ext string) string {
	return fmt.Sprintf("%s.seg%03d.%s", dst, k, ext)
}

// splitMuxers are the containers Pad splits, with the muxer of their
// segments. Only Opus is split: its packets decode on their own (the
// segment's first 6.5 ms, the pre-skip, are dropped like the original's),
// so each segment's first sample is exactly its first packet's.
var splitMuxers = map[string]string{"matroska,webm": "webm", "ogg": "ogg"}

// canSplit tells whether a scanned track is one whose only problem is
// mute gaps: Opus in WebM or Ogg, every jump a gap of at least
// MinSplitGap, 2 to maxSegments runs, each at least MinSegment long and
// under maxBytes.
func canSplit(scan timestampScan, maxSegments int, maxBytes int64) bool {
	if _, ok := splitMuxers[scan.format]; !ok || scan.codec != "opus" {
		return false
	}
	if !scan.splittable || scan.manyRuns || len(scan.runs) < 2 || len(scan.runs) > maxSegments {
		return false
	}
	for _, r := range scan.runs {
		if r.end-r.start < MinSegment || r.bytes > maxBytes {
			return false
		}
	}
	return true
}

// writeSegments copies the packets of each of scan's runs of src into
// SegmentPath(dst, k, ext), timestamps rebased to 0, and places each
// segment on meeting time: delta (s) is meeting time minus the original's
// timestamps. It returns nil and no error, with nothing left behind, when
// a segment comes out larger than maxBytes.
func writeSegments(ctx context.Context, src, dst string, scan timestampScan, delta float64, maxBytes int64) (_ []Segment, err error) {
	muxer, ext := splitMuxers[scan.format], asrContainers[scan.format].ext
	var segs []Segment
	var w *segmentWriter
	defer func() {
		if err != nil || segs == nil {
			if w != nil {
				w.free()
			}
			for k := range scan.runs {
				_ = os.Remove(SegmentPath(dst, k, ext))
			}
		}
	}()
	in, err := openInput(ctx, src)
	if err != nil {
		return nil, err
	}
	defer in.close()
	tb := in.stream.TimeBase()
	pkt := astiav.AllocPacket()
	if pkt == nil {
		return nil, errors.New("media: cannot allocate a packet")
	}
	defer pkt.Free()
	k, lastEnd := -1, math.NaN()
	for n := 0; ; n++ {
		if n%256 == 0 && ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		if err := in.fc.ReadFrame(pkt); err != nil {
			if isEOF(err) {
				break
			}
			return nil, classify(ctx, in.name, "cannot read", err)
		}
		if pkt.StreamIndex() != in.stream.Index() {
			pkt.Unref()
			continue
		}
		ts := pkt.Pts()
		if ts == astiav.NoPtsValue {
			ts = pkt.Dts()
		}
		t := float64(ts) * tb.Float64()
		if ts != astiav.NoPtsValue && (k < 0 || math.Abs(t-lastEnd) > fillTolerance) {
			// The next run: the same packets the scan saw, or the input
			// changed under us.
			if k+1 >= len(scan.runs) || scan.runs[k+1].firstTS != ts {
				return nil, parley.Errorf(parley.ETRANSIENT, "%s: its packets changed while it was split", in.name)
			}
			if w != nil {
				if err := w.close(); err != nil {
					return nil, err
				}
				w = nil
			}
			k++
			if w, err = newSegmentWriter(SegmentPath(dst, k, ext), muxer, in.stream); err != nil {
				return nil, err
			}
		}
		if w == nil || ts == astiav.NoPtsValue {
			return nil, parley.Errorf(parley.ETRANSIENT, "%s: its packets changed while it was split", in.name)
		}
		lastEnd = t + float64(pkt.Duration())*tb.Float64()
		if err := w.write(pkt, tb, scan.runs[k].firstTS); err != nil {
			return nil, err
		}
		pkt.Unref()
	}
	if w != nil {
		if err := w.close(); err != nil {
			return nil, err
		}
		w = nil
	}
	if k+1 != len(scan.runs) {
		return nil, parley.Errorf(parley.ETRANSIENT, "%s: its packets changed while it was split", in.name)
	}
	out := make([]Segment, 0, len(scan.runs))
	for k, r := range scan.runs {
		path := SegmentPath(dst, k, ext)
		st, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("media: segment %d: %w", k, err)
		}
		if st.Size() > maxBytes {
			return nil, nil
		}
		// Where the segment's first decoded sample lies on its own clock,
		// from its first packet (what the recogniser's time 0 is).
		lead, err := firstSampleLead(ctx, path)
		if err != nil {
			return nil, fmt.Errorf("media: segment %d: %w", k, err)
		}
		out = append(out, Segment{Path: path, Shift: r.start + lead + delta, Duration: round3(r.end - r.start), Size: st.Size()})
	}
	segs = out
	return segs, nil
}

// firstSampleLead is how far (s) the first decoded sample of a file lies
// after its first audio packet's timestamp (negative when the decoder
// drops leading samples the timestamps count, as Opus's pre-skip).
func firstSampleLead(ctx context.Context, path string) (float64, error) {
	in, err := openInput(ctx, path)
	if err != nil {
		return 0, err
	}
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	first := int64(astiav.NoPtsValue)
	for first == astiav.NoPtsValue {
		if err := in.fc.ReadFrame(pkt); err != nil {
			in.close()
			return 0, classify(ctx, in.name, "cannot read", err)
		}
		if pkt.StreamIndex() == in.stream.Index() {
			first = pkt.Pts()
		}
		pkt.Unref()
	}
	firstS := float64(first) * in.stream.TimeBase().Float64()
	in.close()
	d, err := openDecoder(ctx, path, 48000)
	if err != nil {
		return 0, err
	}
	defer d.close()
	c, err := d.next(ctx)
	if err != nil {
		return 0, err
	}
	if c.Start == noPTS {
		return 0, parley.Errorf(parley.EINVALID, "%s: no timestamp on its first samples", DisplayName(path))
	}
	return float64(c.Start)/48000 - firstS, nil
}

// segmentWriter stream-copies packets into one segment file.
type segmentWriter struct {
	path   string
	fc     *astiav.FormatContext
	io     *astiav.IOContext
	stream *astiav.Stream
}

// newSegmentWriter creates path with one stream of in's parameters. The
// output is bit-exact (no random ids or dates): the same run of packets
// makes the same bytes, so the recogniser's cache recognises it.
func newSegmentWriter(path, muxer string, in *astiav.Stream) (_ *segmentWriter, err error) {
	w := &segmentWriter{path: path}
	defer func() {
		if err != nil {
			w.free()
			_ = os.Remove(path)
		}
	}()
	if w.fc, err = astiav.AllocOutputFormatContext(nil, muxer, path); err != nil || w.fc == nil {
		return nil, fmt.Errorf("media: output %s: %w", path, errors.Join(err, errors.New("no muxer")))
	}
	w.fc.SetFlags(w.fc.Flags().Add(astiav.FormatContextFlagBitexact))
	if w.stream = w.fc.NewStream(nil); w.stream == nil {
		return nil, errors.New("media: cannot add an output stream")
	}
	if err = in.CodecParameters().Copy(w.stream.CodecParameters()); err != nil {
		return nil, fmt.Errorf("media: copy codec parameters: %w", err)
	}
	w.stream.CodecParameters().SetCodecTag(0)
	w.stream.SetTimeBase(in.TimeBase())
	if w.io, err = astiav.OpenIOContext(path, astiav.NewIOContextFlags(astiav.IOContextFlagWrite)); err != nil {
		return nil, parley.WrapError(parley.EINVALID, err, "cannot write %s", path)
	}
	w.fc.SetPb(w.io)
	if err = w.fc.WriteHeader(nil); err != nil {
		return nil, fmt.Errorf("media: write the header of %s: %w", path, err)
	}
	return w, nil
}

// write copies pkt (timestamps in tb) with base subtracted from its
// timestamps.
func (w *segmentWriter) write(pkt *astiav.Packet, tb astiav.Rational, base int64) error {
	if pts := pkt.Pts(); pts != astiav.NoPtsValue {
		pkt.SetPts(pts - base)
	}
	if dts := pkt.Dts(); dts != astiav.NoPtsValue {
		pkt.SetDts(dts - base)
	}
	pkt.SetStreamIndex(w.stream.Index())
	pkt.RescaleTs(tb, w.stream.TimeBase())
	pkt.SetPos(-1)
	if err := w.fc.WriteInterleavedFrame(pkt); err != nil {
		return parley.WrapError(parley.ETRANSIENT, err, "cannot write %s", w.path)
	}
	return nil
}

// close finishes the file and frees the writer.
func (w *segmentWriter) close() error {
	defer w.free()
	if err := w.fc.WriteTrailer(); err != nil {
		return fmt.Errorf("media: write the trailer of %s: %w", w.path, err)
	}
	err := w.io.Close()
	w.io = nil
	if err != nil {
		return parley.WrapError(parley.ETRANSIENT, err, "cannot write %s", w.path)
	}
	return nil
}

// free releases everything; safe to call more than once.
func (w *segmentWriter) free() {
	if w.io != nil {
		_ = w.io.Close()
		w.io = nil
	}
	if w.fc != nil {
		w.fc.Free()
		w.fc = nil
	}
}
