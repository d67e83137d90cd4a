package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
)

// WaveformPoints is the number of values in a waveform (the reference's
// WAVEFORM_SEGMENTS).
const WaveformPoints = 255

// peaks keeps the peak absolute sample of every 10 ms of audio while it
// streams (its total length is unknown until the end), to compute the
// waveform at the end: 1.4 M values (5.8 MB) for 4 hours.
type peaks struct {
	bucket int // samples per bucket (10 ms, all channels)
	cur    float32
	n      int
	vals   []float32
}

func newPeaks(rate, channels int) *peaks { return &peaks{bucket: max(rate/100, 1) * max(channels, 1)} }

func (p *peaks) add(block []float32) {
	for len(block) > 0 {
		k := min(p.bucket-p.n, len(block))
		cur := p.cur
		for _, x := range block[:k] {
			if x < 0 {
				x = -x
			}
			if x > cur {
				cur = x
			}
		}
		p.cur, p.n, block = cur, p.n+k, block[k:]
		if p.n == p.bucket {
			p.vals = append(p.vals, p.cur)
			p.cur, p.n = 0, 0
		}
	}
}

// addSilence is add of n zero samples.
func (p *peaks) addSilence(n int) {
	for n > 0 {
		k := min(p.bucket-p.n, n)
		p.n, n = p.n+k, n-k
		if p.n == p.bucket {
			p.vals = append(p.vals, p.cur)
			p.cur, p.n = 0, 0
		}
	}
}

// waveform follows the reference (§2.4): the audio is cut into 255 equal
// chunks, each chunk's peak absolute sample is taken, and the peaks are
// divided by the global peak and rounded to two decimals (all zeros for
// silence). Chunk edges fall on 10 ms boundaries here; the reference's
// fall on samples and drop a partial tail. Always WaveformPoints values.
func (p *peaks) waveform() []float64 {
	vals := p.vals
	if p.n > 0 {
		vals = append(vals, p.cur)
	}
	out := make([]float64, WaveformPoints)
	if len(vals) == 0 {
		return out
	}
	per := float64(len(vals)) / WaveformPoints
	raw := make([]float32, WaveformPoints)
	var top float32
	for i := range raw {
		from := min(int(float64(i)*per), len(vals)-1)
		to := min(max(int(float64(i+1)*per), from+1), len(vals))
		for _, v := range vals[from:to] {
			raw[i] = max(raw[i], v)
		}
		top = max(top, raw[i])
	}
	if top == 0 {
		return out
	}
	for i, v := range raw {
		out[i] = math.Round(float64(v/top)*100) / 100
	}
	return out
}

// Waveform computes the waveform of an audio file or http(s) URL with the
// reference's algorithm (see WaveformPoints): peaks of the decoded samples
// at the file's own rate, over all channels. Bad input gives a
// parley.EINVALID error naming src.
func Waveform(ctx context.Context, src string) ([]float64, error) {
	d, err := openDecoder(ctx, src, 0)
	if err != nil {
		return nil, fmt.Errorf("waveform: %w", err)
	}
	defer d.close()
	var pk *peaks
	for {
		c, err := d.next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("waveform: %w", err)
		}
		if pk == nil {
			pk = newPeaks(d.outRate, d.channels)
		}
		pk.add(c.Samples)
	}
	if pk == nil {
		pk = newPeaks(100, 1)
	}
	return pk.waveform(), nil
}
