package media

import (
	"context"
	"errors"
	"io"
	"math"

	"github.com/parley-dev/parley"
)

// MaxMeetingTime (s) bounds start offsets, gaps and the total length of a
// meeting: timestamps beyond it are taken for corrupt rather than encoded
// as days of silence.
const MaxMeetingTime = 24 * 3600

// fillTolerance (s) is how far a chunk's timestamp may stray from where
// the previous one ended before it counts as a jump: smaller deviations
// (timestamp rounding, e.g. 1 ms in WebM) are ignored, larger ones are
// filled with silence (gaps) or trimmed (overlaps), so a track never
// drifts more than this from its timestamps.
const fillTolerance = 0.010

// track is one input placed on meeting time at the decoder's rate. It
// holds a contiguous run of samples (buf, from meeting sample pos) and, at
// most, the next run after a gap; what lies between runs is silence.
type track struct {
	d    *decoder
	name string
	rate int

	fixed   bool  // offset given by the caller
	offset  int64 // meeting sample of the first sample
	started bool
	shift   int64 // meeting sample = decoder pts + shift

	buf     []float32
	pos     int64
	next    []float32
	nextPos int64
	hasNext bool
	eof     bool

	end     int64 // meeting sample after the last one placed
	tol     int64
	gaps    int   // jumps of at least MinGap filled
	limit   int64 // MaxMeetingTime in samples
	decoded int64 // samples decoded
}

// openTrack opens src and reads its first samples, which fix its place on
// meeting time: offset (s) when not nil, else the first sample's timestamp
// (Daily's timestamps count from the recording's start; a negative start
// is moved to 0, as the reference does).
func openTrack(ctx context.Context, src string, rate int, offset *float64) (*track, error) {
	d, err := openDecoder(ctx, src, rate)
	if err != nil {
		return nil, err
	}
	t := &track{d: d, name: d.in.name, rate: rate, tol: int64(fillTolerance * float64(rate)),
		limit: int64(MaxMeetingTime) * int64(rate)}
	if offset != nil {
		if math.IsNaN(*offset) || *offset < 0 || *offset > MaxMeetingTime {
			d.close()
			return nil, parley.Errorf(parley.EINVALID, "%s: offset %v s is out of range (0 to %d s)", t.name, *offset, MaxMeetingTime)
		}
		t.fixed, t.offset = true, int64(math.Round(*offset*float64(rate)))
	}
	if err := t.pull(ctx); err != nil {
		d.close()
		return nil, err
	}
	if !t.started {
		d.close()
		return nil, parley.Errorf(parley.EINVALID, "%s: no audio could be decoded", t.name)
	}
	return t, nil
}

func (t *track) close() { t.d.close() }

// pull decodes one chunk and places it.
func (t *track) pull(ctx context.Context) error {
	c, err := t.d.next(ctx)
	if errors.Is(err, io.EOF) {
		t.eof = true
		return nil
	}
	if err != nil {
		return err
	}
	t.decoded += int64(len(c.Samples))
	if !t.started {
		t.started = true
		switch {
		case c.Start == noPTS:
			t.shift = t.offset
		case t.fixed:
			t.shift = t.offset - c.Start
		default:
			t.offset = max(c.Start, 0)
			t.shift = t.offset - c.Start
		}
		if t.offset > t.limit {
			return parley.Errorf(parley.EINVALID, "%s: starts at %.0f s on meeting time, beyond the %d s limit (corrupt timestamps?)",
				t.name, float64(t.offset)/float64(t.rate), MaxMeetingTime)
		}
		t.pos, t.end = t.offset, t.offset
	}
	start := t.end // no timestamp: right after the previous samples
	if c.Start != noPTS {
		start = c.Start + t.shift
	}
	samples := c.Samples
	d := start - t.end
	switch {
	case d < -t.tol: // overlap: keep the audio already placed
		skip := min(-d, int64(len(samples)))
		samples = samples[skip:]
		if len(samples) == 0 {
			return nil
		}
		start = t.end
	case d <= t.tol: // timestamp rounding: stay contiguous
		start = t.end
	default: // a gap, filled with silence
		if start > t.limit {
			return parley.Errorf(parley.EINVALID, "%s: its timestamps jump to %.0f s, beyond the %d s limit (corrupt timestamps?)",
				t.name, float64(start)/float64(t.rate), MaxMeetingTime)
		}
		if float64(d) >= MinGap*float64(t.rate) {
			t.gaps++
		}
	}
	switch {
	case start == t.pos+int64(len(t.buf)) && !t.hasNext:
		t.buf = append(t.buf, samples...)
	case len(t.buf) == 0 && !t.hasNext:
		t.buf, t.pos = append(t.buf, samples...), start
	case t.hasNext && start == t.nextPos+int64(len(t.next)):
		t.next = append(t.next, samples...)
	default:
		t.next, t.nextPos, t.hasNext = append(t.next[:0], samples...), start, true
	}
	t.end = start + int64(len(samples))
	if t.end-t.offset > maxTrackSamples(t.rate) {
		return tooLong(t.name) // hours of filled gaps count too
	}
	return nil
}

// fill decodes until the track's content up to meeting sample to is known
// (or the track ended, or a gap reaches past to).
func (t *track) fill(ctx context.Context, to int64) error {
	for !t.eof && !t.hasNext && t.pos+int64(len(t.buf)) < to {
		if err := t.pull(ctx); err != nil {
			return err
		}
	}
	return nil
}

// addTo adds the track's samples in [base, base+len(block)) to block,
// drops them, and reports whether there were any.
func (t *track) addTo(ctx context.Context, block []float32, base int64) (bool, error) {
	to := base + int64(len(block))
	added := false
	for {
		if err := t.fill(ctx, to); err != nil {
			return added, err
		}
		bufEnd := t.pos + int64(len(t.buf))
		if from, upto := max(t.pos, base), min(bufEnd, to); from < upto {
			src := t.buf[from-t.pos : upto-t.pos]
			dst := block[from-base : upto-base]
			for i, x := range src {
				dst[i] += x
			}
			added = true
		}
		if bufEnd > to {
			if to > t.pos { // drop what was consumed
				k := to - t.pos
				n := copy(t.buf, t.buf[k:])
				t.buf, t.pos = t.buf[:n], to
			}
			return added, nil
		}
		t.pos, t.buf = bufEnd, t.buf[:0]
		if !t.hasNext || t.nextPos >= to {
			return added, nil
		}
		t.buf, t.next = append(t.buf, t.next...), t.next[:0]
		t.pos, t.hasNext = t.nextPos, false
	}
}
