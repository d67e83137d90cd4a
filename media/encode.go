package media

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/asticode/go-astiav"

	"github.com/parley-dev/parley"
)

// Format is a mono output encoding.
type Format struct {
	// Name identifies the format in logs and benchmarks ("opus16k").
	Name string
	// Ext is the file extension (without dot); ContentType the MIME type.
	Ext, ContentType string
	// Codec is the FFmpeg encoder name, Muxer the container.
	Codec, Muxer string
	// SampleRate (Hz) of the output; BitRate (b/s) of the encoder, 0 for
	// its default (or for lossless codecs).
	SampleRate int
	BitRate    int64
	// Options are encoder options (e.g. "compression_level").
	Options map[string]string
}

// Output formats. The figures are from bench/media -formats on this
// project's machines (2 cores): encode CPU for one hour of speech-like
// audio decoded from 48 kHz Opus, and the size of that hour.
var (
	// FormatMP3ASR is 16 kHz mono MP3 at 32 kb/s (LAME quality 7): 14.4
	// MB an hour, so an upload of up to 1 h 44 min fits OpenAI's 25 MB
	// limit; MP3 is the cheapest lossy encode measured.
	FormatMP3ASR = Format{Name: "mp3-16k-32k", Ext: "mp3", ContentType: "audio/mpeg", Codec: "libmp3lame", Muxer: "mp3",
		SampleRate: 16000, BitRate: 32000, Options: map[string]string{"compression_level": "7"}}
	// FormatOpus is 16 kHz mono Opus (VoIP mode) at 24 kb/s in Ogg: the
	// smallest (10.8 MB an hour, 2 h 18 min per 25 MB) but the most
	// expensive to encode.
	FormatOpus = Format{Name: "opus-16k-24k", Ext: "ogg", ContentType: "audio/ogg", Codec: "libopus", Muxer: "ogg",
		SampleRate: 16000, BitRate: 24000, Options: map[string]string{"application": "voip"}}
	// FormatFLAC is lossless 16 kHz mono 16-bit FLAC: almost free to
	// encode but 30-70 MB an hour, so most tracks must be split for
	// OpenAI's upload limit.
	FormatFLAC = Format{Name: "flac-16k", Ext: "flac", ContentType: "audio/flac", Codec: "flac", Muxer: "flac",
		SampleRate: 16000}
	// FormatASR is what Pad writes by default: the speech recogniser's
	// input. See the package documentation for why it is FormatMP3ASR.
	FormatASR = FormatMP3ASR
	// FormatMix is the mixed recording people listen to: 24 kHz mono MP3
	// at 48 kb/s (voices keep 11 kHz of bandwidth; a quarter of the
	// reference's 48 kHz stereo 128 kb/s and a fraction of its encode CPU).
	FormatMix = Format{Name: "mp3-24k-48k", Ext: "mp3", ContentType: "audio/mpeg", Codec: "libmp3lame", Muxer: "mp3",
		SampleRate: 24000, BitRate: 48000, Options: map[string]string{"compression_level": "7"}}
)

// FormatForPath picks a format from a file extension: .ogg/.opus
// FormatOpus, .flac FormatFLAC, .mp3 def when def is MP3 (else
// FormatMP3ASR); anything else def.
func FormatForPath(path string, def Format) Format {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".ogg", ".opus":
		return FormatOpus
	case ".flac":
		return FormatFLAC
	case ".mp3":
		if def.Muxer == "mp3" {
			return def
		}
		return FormatMP3ASR
	}
	return def
}

// encoder writes mono float samples to a file.
type encoder struct {
	f      Format
	path   string
	fc     *astiav.FormatContext
	io     *astiav.IOContext
	cc     *astiav.CodecContext
	stream *astiav.Stream
	frame  *astiav.Frame
	pkt    *astiav.Packet
	fmt    astiav.SampleFormat
	size   int // samples per frame
	buf    []float32
	pts    int64
	// written counts the samples encoded.
	written int64
}

// newEncoder creates path and writes its header; tags become the
// output's global metadata.
func newEncoder(path string, f Format, tags map[string]string) (_ *encoder, err error) {
	quietFFmpeg()
	e := &encoder{f: f, path: path}
	defer func() {
		if err != nil {
			e.free()
			_ = os.Remove(path)
		}
	}()
	codec := astiav.FindEncoderByName(f.Codec)
	if codec == nil {
		return nil, fmt.Errorf("media: the FFmpeg build has no %s encoder", f.Codec)
	}
	if e.fc, err = astiav.AllocOutputFormatContext(nil, f.Muxer, path); err != nil || e.fc == nil {
		return nil, fmt.Errorf("media: output %s: %w", path, errors.Join(err, errors.New("no muxer")))
	}
	if e.stream = e.fc.NewStream(nil); e.stream == nil {
		return nil, errors.New("media: cannot add an output stream")
	}
	if e.cc = astiav.AllocCodecContext(codec); e.cc == nil {
		return nil, errors.New("media: cannot allocate an encoder")
	}
	e.fmt = pickSampleFormat(codec.SampleFormats())
	e.cc.SetSampleFormat(e.fmt)
	e.cc.SetSampleRate(f.SampleRate)
	e.cc.SetChannelLayout(astiav.ChannelLayoutMono)
	e.cc.SetTimeBase(astiav.NewRational(1, f.SampleRate))
	e.cc.SetThreadCount(1)
	if f.BitRate > 0 {
		e.cc.SetBitRate(f.BitRate)
	}
	if e.fc.OutputFormat().Flags().Has(astiav.IOFormatFlagGlobalheader) {
		e.cc.SetFlags(e.cc.Flags().Add(astiav.CodecContextFlagGlobalHeader))
	}
	var opts *astiav.Dictionary
	if len(f.Options) > 0 {
		opts = astiav.NewDictionary()
		defer opts.Free()
		for k, v := range f.Options {
			if err := opts.Set(k, v, 0); err != nil {
				return nil, fmt.Errorf("media: encoder option %s: %w", k, err)
			}
		}
	}
	if err = e.cc.Open(codec, opts); err != nil {
		return nil, fmt.Errorf("media: open the %s encoder: %w", f.Codec, err)
	}
	if err = e.stream.CodecParameters().FromCodecContext(e.cc); err != nil {
		return nil, fmt.Errorf("media: encoder parameters: %w", err)
	}
	e.stream.SetTimeBase(e.cc.TimeBase())
	if e.size = e.cc.FrameSize(); e.size <= 0 {
		e.size = 1024
	}
	if e.io, err = astiav.OpenIOContext(path, astiav.NewIOContextFlags(astiav.IOContextFlagWrite)); err != nil {
		return nil, parley.WrapError(parley.EINVALID, err, "cannot write %s", path)
	}
	e.fc.SetPb(e.io)
	if len(tags) > 0 {
		setFormatMetadata(e.fc, tags)
		if f.Muxer == "ogg" { // Ogg writes the stream's comments
			setStreamMetadata(e.fc, e.stream.Index(), tags)
		}
	}
	if err = e.fc.WriteHeader(nil); err != nil {
		return nil, fmt.Errorf("media: write the header of %s: %w", path, err)
	}
	e.frame = astiav.AllocFrame()
	e.pkt = astiav.AllocPacket()
	if e.frame == nil || e.pkt == nil {
		return nil, errors.New("media: cannot allocate a frame")
	}
	e.buf = make([]float32, 0, e.size)
	return e, nil
}

// pickSampleFormat prefers float (no conversion), then 16-bit, then 32-bit
// integers (FLAC).
func pickSampleFormat(have []astiav.SampleFormat) astiav.SampleFormat {
	for _, want := range []astiav.SampleFormat{astiav.SampleFormatFlt, astiav.SampleFormatFltp, astiav.SampleFormatS16,
		astiav.SampleFormatS16P, astiav.SampleFormatS32, astiav.SampleFormatS32P} {
		for _, sf := range have {
			if sf == want {
				return sf
			}
		}
	}
	return astiav.SampleFormatFltp
}

// write encodes samples (any number; buffered into codec frames).
func (e *encoder) write(samples []float32) error {
	for len(samples) > 0 {
		if len(e.buf) == 0 && len(samples) >= e.size {
			if err := e.encode(samples[:e.size]); err != nil {
				return err
			}
			samples = samples[e.size:]
			continue
		}
		n := min(e.size-len(e.buf), len(samples))
		e.buf = append(e.buf, samples[:n]...)
		samples = samples[n:]
		if len(e.buf) == e.size {
			if err := e.encode(e.buf); err != nil {
				return err
			}
			e.buf = e.buf[:0]
		}
	}
	return nil
}

func (e *encoder) encode(samples []float32) error {
	e.frame.Unref()
	e.frame.SetNbSamples(len(samples))
	e.frame.SetSampleFormat(e.fmt)
	e.frame.SetChannelLayout(astiav.ChannelLayoutMono)
	e.frame.SetSampleRate(e.f.SampleRate)
	if err := e.frame.AllocBuffer(0); err != nil {
		return fmt.Errorf("media: frame buffer: %w", err)
	}
	if !fillFrame(e.frame, samples) {
		return fmt.Errorf("media: %s samples are not supported", e.fmt.Name())
	}
	e.frame.SetPts(e.pts)
	e.pts += int64(len(samples))
	e.written += int64(len(samples))
	if err := e.cc.SendFrame(e.frame); err != nil {
		return fmt.Errorf("media: encode: %w", err)
	}
	return e.drain()
}

func (e *encoder) drain() error {
	for {
		e.pkt.Unref()
		err := e.cc.ReceivePacket(e.pkt)
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("media: encode: %w", err)
		}
		e.pkt.SetStreamIndex(e.stream.Index())
		e.pkt.RescaleTs(e.cc.TimeBase(), e.stream.TimeBase())
		if err := e.fc.WriteInterleavedFrame(e.pkt); err != nil {
			return parley.WrapError(parley.ETRANSIENT, err, "cannot write %s", e.path)
		}
	}
}

// bytes is the output's size so far.
func (e *encoder) bytes() int64 { return ioTell(e.fc) }

// zeros pads the last frame with silence.
var zeros = make([]float32, 4096)

// close flushes the encoder, finishes the file and frees the encoder.
func (e *encoder) close() error {
	defer e.free()
	if len(e.buf) > 0 {
		// Encoders that take only full frames get the last one padded with
		// silence (less than one frame, a few tens of ms).
		if !smallLastFrame(e.cc) {
			e.buf = append(e.buf, zeros[:e.size-len(e.buf)]...)
		}
		if err := e.encode(e.buf); err != nil {
			return err
		}
		e.buf = e.buf[:0]
	}
	if err := e.cc.SendFrame(nil); err != nil && !errors.Is(err, astiav.ErrEof) {
		return fmt.Errorf("media: flush encoder: %w", err)
	}
	if err := e.drain(); err != nil {
		return err
	}
	if err := e.fc.WriteTrailer(); err != nil {
		return fmt.Errorf("media: write the trailer of %s: %w", e.path, err)
	}
	if err := e.io.Close(); err != nil {
		e.io = nil
		return parley.WrapError(parley.ETRANSIENT, err, "cannot write %s", e.path)
	}
	e.io = nil
	return nil
}

// free releases everything; safe to call more than once.
func (e *encoder) free() {
	if e.frame != nil {
		e.frame.Free()
		e.frame = nil
	}
	if e.pkt != nil {
		e.pkt.Free()
		e.pkt = nil
	}
	if e.cc != nil {
		e.cc.Free()
		e.cc = nil
	}
	if e.io != nil {
		_ = e.io.Close()
		e.io = nil
	}
	if e.fc != nil {
		e.fc.Free()
		e.fc = nil
	}
}
