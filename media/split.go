package media

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/parley-dev/parley"
)

// SplitOptions configures Split.
type SplitOptions struct {
	// MaxDuration is the longest piece (s). Defaults to 20 minutes when
	// MaxBytes is 0 too, else no duration limit. At least 1 s.
	MaxDuration float64
	// MaxBytes is the largest piece file (bytes), e.g. MaxUploadBytes.
	// Defaults to no byte limit. For formats with a bit rate the piece
	// length follows from it; for FLAC from the size encoded so far.
	MaxBytes int64
	// Format of the pieces. Defaults to FormatASR.
	Format Format
	// Window is how far back from a piece's limit (s) Split looks for a
	// silence to cut at. Defaults to a fifth of the piece, at most 30 s.
	Window float64
}

// Piece is one part of a split file.
type Piece struct {
	// Path of the piece's file.
	Path string `json:"path"`
	// Start is the piece's start (s) from src's first sample; add it to
	// times inside the piece. Duration is the piece's length (s).
	Start    float64 `json:"start"`
	Duration float64 `json:"duration"`
}

// Split cuts src (a file or an http(s) URL) into pieces no longer than
// MaxDuration and no larger than MaxBytes, written into dstDir as
// piece_000.<ext>, piece_001.<ext>... in Format. Each cut is made at the
// quietest 100 ms of the last Window of the piece (a silence between
// words when there is one; at the limit when the audio never pauses).
// Times are in file order (as DecodeMono: timestamp gaps are not filled;
// use it on padded files). The pieces cover src without overlap. Memory
// holds one Window of samples. Bad input gives a parley.EINVALID error
// naming src.
func Split(ctx context.Context, src, dstDir string, opts SplitOptions) ([]Piece, error) {
	f := opts.Format
	if f.Codec == "" {
		f = FormatASR
	}
	rate := f.SampleRate
	maxDur := opts.MaxDuration
	if maxDur == 0 && opts.MaxBytes == 0 {
		maxDur = 20 * 60
	}
	if maxDur < 0 || opts.MaxBytes < 0 || (maxDur > 0 && maxDur < 1) {
		return nil, parley.Errorf(parley.EINVALID, "split: pieces must be at least 1 s long (max duration %v s, max bytes %d)",
			opts.MaxDuration, opts.MaxBytes)
	}
	if opts.MaxBytes > 0 && opts.MaxBytes < 64<<10 {
		return nil, parley.Errorf(parley.EINVALID, "split: pieces must be allowed at least 64 KiB (max bytes %d)", opts.MaxBytes)
	}
	s := &splitter{f: f, dir: dstDir, rate: rate, maxBytes: opts.MaxBytes, maxN: math.MaxInt64}
	if maxDur > 0 {
		s.maxN = int64(maxDur * float64(rate))
	}
	s.win = int64(opts.Window * float64(rate))
	if s.win <= 0 {
		s.win = 30 * int64(rate)
		if maxDur > 0 {
			s.win = min(s.win, s.maxN/5)
		}
	}
	err := DecodeMono(ctx, src, rate, func(samples []float32) error {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		return s.add(samples)
	})
	if err == nil {
		err = s.finish()
	}
	if err != nil {
		if s.enc != nil {
			s.enc.free()
			_ = os.Remove(s.enc.path)
		}
		return nil, fmt.Errorf("split: %w", err)
	}
	if len(s.pieces) == 0 {
		return nil, parley.Errorf(parley.EINVALID, "split: %s: no audio could be decoded", DisplayName(src))
	}
	return s.pieces, nil
}

// splitter streams samples into pieces. The current piece has written
// samples encoded and hold (the cut window) not yet encoded.
type splitter struct {
	f        Format
	dir      string
	rate     int
	maxN     int64
	maxBytes int64
	win      int64

	pieces  []Piece
	start   int64 // of the current piece, in src samples
	enc     *encoder
	written int64
	hold    []float32
}

// limit is the current piece's length limit in samples.
func (s *splitter) limit() int64 {
	n := s.maxN
	if s.maxBytes > 0 {
		// Bytes per sample: from the bit rate, or, without one, from
		// what the encoder wrote so far (2 bytes a sample until 10 s are
		// in: more than 16-bit FLAC ever takes).
		per := 2.0
		if s.f.BitRate > 0 {
			per = float64(s.f.BitRate) / 8 / float64(s.rate) * 1.03
		} else if s.enc != nil && s.written >= 10*int64(s.rate) {
			per = float64(s.enc.bytes()) / float64(s.written) * 1.2
		}
		budget := float64(s.maxBytes)*0.97 - 16<<10 // headers, last frames
		n = min(n, int64(budget/per))
	}
	return max(n, int64(s.rate)) // at least a second
}

func (s *splitter) add(samples []float32) error {
	s.hold = append(s.hold, samples...)
	for {
		lim := s.limit()
		if s.written+int64(len(s.hold)) >= lim {
			if err := s.cut(lim); err != nil {
				return err
			}
			continue
		}
		// Encode what cannot fall in the cut window.
		if k := lim - s.win - s.written; k > 0 && len(s.hold) > 0 {
			k = min(k, int64(len(s.hold)))
			if err := s.encode(s.hold[:k]); err != nil {
				return err
			}
			n := copy(s.hold, s.hold[k:])
			s.hold = s.hold[:n]
		}
		return nil
	}
}

// cut ends the current piece at the quietest 100 ms before lim and starts
// the next one with the rest.
func (s *splitter) cut(lim int64) error {
	from := max(lim-s.win, s.written) - s.written // in hold
	to := lim - s.written
	cut := to
	w := int64(s.rate / 10)
	if to-from >= w {
		best := math.Inf(1)
		for i := from; i+w <= to; i += w / 2 {
			var e float64
			for _, x := range s.hold[i : i+w] {
				e += float64(x) * float64(x)
			}
			if e <= best { // ties: the later cut, the longer piece
				best, cut = e, i+w/2
			}
		}
	}
	if err := s.encode(s.hold[:cut]); err != nil {
		return err
	}
	if err := s.close(); err != nil {
		return err
	}
	n := copy(s.hold, s.hold[cut:])
	s.hold = s.hold[:n]
	return nil
}

func (s *splitter) encode(samples []float32) error {
	if len(samples) == 0 {
		return nil
	}
	if s.enc == nil {
		path := filepath.Join(s.dir, fmt.Sprintf("piece_%03d.%s", len(s.pieces), s.f.Ext))
		enc, err := newEncoder(path, s.f, nil)
		if err != nil {
			return err
		}
		s.enc = enc
	}
	s.written += int64(len(samples))
	return s.enc.write(samples)
}

// close finishes the current piece.
func (s *splitter) close() error {
	if s.enc == nil {
		return nil
	}
	path := s.enc.path
	err := s.enc.close()
	s.enc = nil
	if err != nil {
		_ = os.Remove(path)
		return err
	}
	if s.maxBytes > 0 {
		if st, err := os.Stat(path); err == nil && st.Size() > s.maxBytes {
			return errors.New("media: a piece came out larger than the byte limit")
		}
	}
	s.pieces = append(s.pieces, Piece{Path: path, Start: float64(s.start) / float64(s.rate),
		Duration: float64(s.written) / float64(s.rate)})
	s.start += s.written
	s.written = 0
	return nil
}

func (s *splitter) finish() error {
	if err := s.encode(s.hold); err != nil {
		return err
	}
	s.hold = s.hold[:0]
	return s.close()
}
