package media

import (
	"context"
	"fmt"
	"math"
	"os"

	"github.com/parley-dev/parley"
)

// MixOptions configures Mixdown.
type MixOptions struct {
	// Offsets overrides the start offset (s) of each input; nil entries,
	// or a nil or short slice, take the offset from the input's timestamps
	// (as Pad does).
	Offsets []*float64
	// Format of the output. Defaults to FormatMix.
	Format Format
}

// MixResult is what Mixdown produced.
type MixResult struct {
	// Duration of the mix in seconds (the end of the last track on
	// meeting time).
	Duration float64 `json:"duration"`
	// Waveform holds WaveformPoints peaks in 0..1 of the mixed samples.
	Waveform []float64 `json:"waveform"`
	// Tracks is the number of inputs mixed.
	Tracks int `json:"tracks"`
	// LimitedSamples counts samples the clipping protection touched (0
	// when the plain sum never exceeds full scale).
	LimitedSamples int64 `json:"limited_samples"`
}

// Mixdown decodes every input (files or http(s) URLs) once, places each on
// meeting time (its start offset and timestamp gaps applied), sums them
// like amix=normalize=0 (the reference's graph), protects the sum against
// clipping with a limiter that only acts above full scale, encodes it to
// dst and computes the waveform of the mixed samples in the same pass.
// Inputs of any rate and channel layout are resampled to the output's
// mono rate with FFmpeg's downmix, which keeps the level of a voice the
// same in every layout (see decoder.initGraph). Memory stays
// bounded: the inputs are decoded in step, block by block. Bad input gives
// a parley.EINVALID error naming the file; on any error dst is removed.
func Mixdown(ctx context.Context, srcs []string, dst string, opts MixOptions) (MixResult, error) {
	if len(srcs) == 0 {
		return MixResult{}, parley.Errorf(parley.EINVALID, "mixdown: no input tracks")
	}
	f := opts.Format
	if f.Codec == "" {
		f = FormatMix
	}
	rate := f.SampleRate
	tracks := make([]*track, 0, len(srcs))
	defer func() {
		for _, t := range tracks {
			t.close()
		}
	}()
	for i, src := range srcs {
		var off *float64
		if i < len(opts.Offsets) {
			off = opts.Offsets[i]
		}
		t, err := openTrack(ctx, src, rate, off)
		if err != nil {
			return MixResult{}, fmt.Errorf("mixdown: %w", err)
		}
		tracks = append(tracks, t)
	}
	enc, err := newEncoder(dst, f, nil)
	if err != nil {
		return MixResult{}, fmt.Errorf("mixdown: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			enc.free()
			_ = os.Remove(dst)
		}
	}()
	lim := newLimiter(rate)
	pk := newPeaks(rate, 1)
	block := make([]float32, blockSize)
	var base int64
	for {
		if err := ctx.Err(); err != nil {
			return MixResult{}, fmt.Errorf("mixdown: %w", context.Cause(ctx))
		}
		n := int64(blockSize)
		ended, end := true, int64(0)
		for _, t := range tracks {
			if err := t.fill(ctx, base+n); err != nil {
				return MixResult{}, fmt.Errorf("mixdown: %w", err)
			}
			ended = ended && t.eof && !t.hasNext
			end = max(end, t.end)
		}
		if ended {
			n = min(n, end-base)
		}
		if n <= 0 {
			break
		}
		b := block[:n]
		clear(b)
		sound := false
		for _, t := range tracks {
			added, err := t.addTo(ctx, b, base)
			if err != nil {
				return MixResult{}, fmt.Errorf("mixdown: %w", err)
			}
			sound = sound || added
		}
		if sound || lim.gain != 1 {
			lim.process(b)
			pk.add(b)
		} else {
			pk.addSilence(len(b)) // nobody speaks: skip the per-sample work
		}
		if err := enc.write(b); err != nil {
			return MixResult{}, fmt.Errorf("mixdown: %w", err)
		}
		base += n
	}
	if err := enc.close(); err != nil {
		return MixResult{}, fmt.Errorf("mixdown: %w", err)
	}
	ok = true
	return MixResult{Duration: round3(float64(base) / float64(rate)), Waveform: pk.waveform(), Tracks: len(srcs),
		LimitedSamples: lim.active}, nil
}

// limiter keeps a mix within full scale without touching levels below it:
// when a sample would exceed full scale the gain drops at once to what
// brings it to full scale, then recovers towards 1 with a 100 ms time
// constant. Without such peaks the gain stays exactly 1 and the samples
// pass unchanged (not a normaliser or a compressor).
type limiter struct {
	gain    float64
	release float64
	active  int64 // samples whose gain was below 1
}

func newLimiter(rate int) *limiter {
	return &limiter{gain: 1, release: 1 - math.Exp(-1/(0.1*float64(rate)))}
}

func (l *limiter) process(block []float32) {
	for i, x := range block {
		if l.gain == 1 {
			if x <= 1 && x >= -1 {
				continue // the common case: untouched
			}
		} else {
			l.gain += (1 - l.gain) * l.release
			if l.gain > 0.999999 {
				l.gain = 1
			}
		}
		y := float64(x) * l.gain
		if a := math.Abs(y); a > 1 {
			l.gain /= a
			y = math.Copysign(1, y)
		}
		if l.gain < 1 || y != float64(x) {
			l.active++
		}
		block[i] = float32(y)
	}
}
