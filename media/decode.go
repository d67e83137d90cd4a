package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/asticode/go-astiav"

	"github.com/parley-dev/parley"
)

// chunk is decoded audio with its place on the input's clock: Start is
// the timestamp of its first sample in samples at the decoder's rate, or
// noPTS when the input has no timestamps there.
type chunk struct {
	Start   int64
	Samples []float32
}

const noPTS = math.MinInt64

// decoder decodes one input to float samples: mono at a fixed rate
// (rate > 0), or at the input's own rate and channels, interleaved
// (rate == 0, for peaks). Nothing is read before the first next.
type decoder struct {
	in    *input
	cc    *astiav.CodecContext
	graph *astiav.FilterGraph
	src   *astiav.FilterContext
	sink  *astiav.FilterContext
	pkt   *astiav.Packet
	frame *astiav.Frame
	out   *astiav.Frame

	rate     int // 0: keep the input's rate and channels
	channels int // of the output
	outRate  int // of the output
	outTB    astiav.Rational

	nextPTS int64 // expected pts (stream time base) of the next frame
	decoded int64 // samples (per channel) output so far
	eof     bool
	flushed bool

	// pending chunks of the last step; their samples live in arena, which
	// is reused once they are all returned.
	pending []chunk
	head    int
	arena   []float32
}

// openDecoder opens src for decoding (see decoder for rate).
func openDecoder(ctx context.Context, src string, rate int) (*decoder, error) {
	in, err := openInput(ctx, src)
	if err != nil {
		return nil, err
	}
	d := &decoder{in: in, rate: rate, nextPTS: astiav.NoPtsValue}
	if err := d.init(); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

func (d *decoder) init() error {
	cp := d.in.stream.CodecParameters()
	codec := astiav.FindDecoder(cp.CodecID())
	if codec == nil {
		return parley.Errorf(parley.EINVALID, "%s: unsupported audio codec %s", d.in.name, cp.CodecID().Name())
	}
	if d.cc = astiav.AllocCodecContext(codec); d.cc == nil {
		return errors.New("media: cannot allocate a codec context")
	}
	if err := cp.ToCodecContext(d.cc); err != nil {
		return parley.WrapError(parley.EINVALID, err, "%s: bad codec parameters", d.in.name)
	}
	d.cc.SetTimeBase(d.in.stream.TimeBase())
	setPktTimebase(d.cc, d.in.stream.TimeBase())
	d.cc.SetThreadCount(1)
	if err := d.cc.Open(codec, nil); err != nil {
		return parley.WrapError(parley.EINVALID, err, "%s: cannot open the %s decoder", d.in.name, codec.Name())
	}
	d.pkt = astiav.AllocPacket()
	d.frame = astiav.AllocFrame()
	d.out = astiav.AllocFrame()
	if d.pkt == nil || d.frame == nil || d.out == nil {
		return errors.New("media: cannot allocate a frame")
	}
	return nil
}

// initGraph builds abuffer -> aresample/aformat -> abuffersink for the
// first decoded frame's format (inputs differ in rate and layout).
func (d *decoder) initGraph(f *astiav.Frame) error {
	if d.graph = astiav.AllocFilterGraph(); d.graph == nil {
		return errors.New("media: cannot allocate a filter graph")
	}
	d.graph.SetThreadCount(1)
	layout := f.ChannelLayout()
	if !layout.Valid() || layout.NbChannels() == 0 {
		layout = astiav.ChannelLayoutMono
	}
	// A layout of unspecified order ("2 channels", e.g. WAV without a
	// channel mask) cannot be negotiated by the sink: take the default
	// layout for that many channels, as the ffmpeg CLI does.
	layoutName := layout.String()
	if strings.HasSuffix(layoutName, "channels") {
		if def := defaultLayout(layout.NbChannels()); def != "" {
			layoutName = def
		}
	}
	var err error
	args := astiav.FilterArgs{
		"channel_layout": layoutName,
		"sample_fmt":     f.SampleFormat().Name(),
		"sample_rate":    strconv.Itoa(f.SampleRate()),
		"time_base":      d.in.stream.TimeBase().String(),
	}
	if d.src, err = d.graph.NewFilterContext(astiav.FindFilterByName("abuffer"), "in", args); err != nil {
		return parley.WrapError(parley.EINVALID, err, "%s: cannot convert its audio (%s, %d Hz, %s)", d.in.name,
			f.SampleFormat().Name(), f.SampleRate(), layout.String())
	}
	if d.sink, err = d.graph.NewFilterContext(astiav.FindFilterByName("abuffersink"), "out", nil); err != nil {
		return fmt.Errorf("media: abuffersink: %w", err)
	}
	outputs := astiav.AllocFilterInOut()
	defer outputs.Free()
	inputs := astiav.AllocFilterInOut()
	defer inputs.Free()
	outputs.SetName("in")
	outputs.SetFilterContext(d.src)
	outputs.SetPadIdx(0)
	outputs.SetNext(nil)
	inputs.SetName("out")
	inputs.SetFilterContext(d.sink)
	inputs.SetPadIdx(0)
	inputs.SetNext(nil)
	var spec string
	if d.rate > 0 {
		// The downmix is swresample's own matrix for float output, not
		// normalised (what `ffmpeg -ac 1` does): each layout's channels
		// enter at the level FFmpeg's upmix gives a mono voice in that
		// layout, so mono, stereo (both channels at -3 dB, as
		// `ffmpeg -ac 2` makes them), 5.1 (the voice in the centre) and
		// other layouts of the same voice come out at the same level. A
		// normalised matrix (rematrix_maxval=1, an average) would play a
		// stereo copy 3 dB and a 5.1 copy 10.7 dB quieter. A stereo track
		// whose two channels both carry the voice at full level is +3 dB,
		// as in the reference's stereo mix; the limiter keeps the sum
		// within full scale.
		spec = fmt.Sprintf("aresample=%d,aformat=sample_fmts=flt:channel_layouts=mono:sample_rates=%d",
			d.rate, d.rate)
		d.channels, d.outRate = 1, d.rate
		d.outTB = astiav.NewRational(1, d.rate)
	} else {
		spec = "aformat=sample_fmts=flt:channel_layouts=" + layoutName
		d.channels, d.outRate = layout.NbChannels(), f.SampleRate()
		d.outTB = d.in.stream.TimeBase()
	}
	if err := d.graph.Parse(spec, inputs, outputs); err != nil {
		return fmt.Errorf("media: parse filter graph: %w", err)
	}
	if err := d.graph.Configure(); err != nil {
		return parley.WrapError(parley.EINVALID, err, "%s: cannot convert its audio (%s, %d Hz, %s)", d.in.name,
			f.SampleFormat().Name(), f.SampleRate(), layout.String())
	}
	return nil
}

// close frees everything the decoder allocated; call it exactly once.
func (d *decoder) close() {
	if d.graph != nil {
		d.graph.Free()
	}
	if d.cc != nil {
		d.cc.Free()
	}
	if d.pkt != nil {
		d.pkt.Free()
	}
	if d.frame != nil {
		d.frame.Free()
	}
	if d.out != nil {
		d.out.Free()
	}
	d.in.close()
}

// next returns the next chunk, or io.EOF. Its samples are valid until the
// following call.
func (d *decoder) next(ctx context.Context) (chunk, error) {
	for d.head == len(d.pending) {
		d.pending, d.head, d.arena = d.pending[:0], 0, d.arena[:0]
		if d.flushed {
			return chunk{}, io.EOF
		}
		if err := ctx.Err(); err != nil {
			return chunk{}, context.Cause(ctx)
		}
		if err := d.step(ctx); err != nil {
			return chunk{}, err
		}
	}
	c := d.pending[d.head]
	d.head++
	return c, nil
}

// step reads one packet (or flushes at the end) and collects what the
// decoder and the filter graph produce.
func (d *decoder) step(ctx context.Context) error {
	if !d.eof {
		err := d.in.fc.ReadFrame(d.pkt)
		switch {
		case errors.Is(err, astiav.ErrEof):
			d.eof = true
			if err := d.cc.SendPacket(nil); err != nil && !errors.Is(err, astiav.ErrEof) {
				return classify(ctx, d.in.name, "cannot decode", err)
			}
		case err != nil:
			return classify(ctx, d.in.name, "cannot read", err)
		default:
			defer d.pkt.Unref()
			if d.pkt.StreamIndex() != d.in.stream.Index() {
				return nil
			}
			if err := d.cc.SendPacket(d.pkt); err != nil && !errors.Is(err, astiav.ErrEagain) {
				if errors.Is(err, astiav.ErrInvaliddata) {
					return nil // skip a damaged packet, as ffmpeg does
				}
				return classify(ctx, d.in.name, "cannot decode", err)
			}
		}
	}
	for {
		err := d.cc.ReceiveFrame(d.frame)
		switch {
		case errors.Is(err, astiav.ErrEagain):
			return nil
		case errors.Is(err, astiav.ErrEof):
			return d.flush()
		case errors.Is(err, astiav.ErrInvaliddata):
			continue
		case err != nil:
			return classify(ctx, d.in.name, "cannot decode", err)
		}
		if err := checkFrame(d.in.name, d.frame.SampleRate(), d.frame.ChannelLayout().NbChannels(), d.frame.NbSamples()); err != nil {
			d.frame.Unref()
			return err
		}
		err = d.filter(d.frame)
		d.frame.Unref()
		if err != nil {
			return err
		}
	}
}

// filter pushes a decoded frame (nil: end of stream) through the graph.
func (d *decoder) filter(f *astiav.Frame) error {
	if d.graph == nil {
		if f == nil {
			return nil // nothing was ever decoded
		}
		if err := d.initGraph(f); err != nil {
			return err
		}
	}
	if f != nil {
		if f.Pts() == astiav.NoPtsValue {
			f.SetPts(d.nextPTS)
		}
		if f.Pts() != astiav.NoPtsValue && f.SampleRate() > 0 {
			tb := d.in.stream.TimeBase()
			d.nextPTS = f.Pts() + int64(math.Round(float64(f.NbSamples())/float64(f.SampleRate())/tb.Float64()))
		}
	}
	if err := d.src.BuffersrcAddFrame(f, astiav.NewBuffersrcFlags(astiav.BuffersrcFlagKeepRef)); err != nil {
		if f != nil && errors.Is(err, astiav.ErrInvaliddata) {
			// The format changed mid-stream in a way the graph cannot take.
			return parley.WrapError(parley.EINVALID, err, "%s: its audio format changes mid-stream", d.in.name)
		}
		return fmt.Errorf("media: %s: filter: %w", d.in.name, err)
	}
	for {
		err := d.sink.BuffersinkGetFrame(d.out, astiav.NewBuffersinkFlags())
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("media: %s: filter: %w", d.in.name, err)
		}
		start := int64(noPTS)
		if pts := d.out.Pts(); pts != astiav.NoPtsValue {
			start = pts
		}
		d.decoded += int64(d.out.NbSamples())
		if d.decoded > maxTrackSamples(d.outRate) {
			d.out.Unref()
			return tooLong(d.in.name)
		}
		from := len(d.arena)
		d.arena = appendSamples(d.out, d.channels, d.arena)
		d.out.Unref()
		if len(d.arena) > from {
			d.pending = append(d.pending, chunk{Start: start, Samples: d.arena[from:len(d.arena):len(d.arena)]})
		}
	}
}

func (d *decoder) flush() error {
	if err := d.filter(nil); err != nil {
		return err
	}
	d.flushed = true
	return nil
}

// DecodeMono streams the decoded samples of src (a file or an http(s)
// URL) as mono float32 in [-1, 1] at sampleRate, in file order (timestamp
// gaps are not filled, as a plain decoder does), in chunks of a few
// milliseconds to a few tens of milliseconds. fn must not keep the slice;
// an error from fn stops decoding and is returned as is. Bad input gives a
// parley.EINVALID error naming src.
func DecodeMono(ctx context.Context, src string, sampleRate int, fn func(samples []float32) error) error {
	if sampleRate < 1000 || sampleRate > 384000 {
		return parley.Errorf(parley.EINVALID, "decode %s: sample rate %d Hz is out of range", DisplayName(src), sampleRate)
	}
	d, err := openDecoder(ctx, src, sampleRate)
	if err != nil {
		return err
	}
	defer d.close()
	for {
		c, err := d.next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(c.Samples); err != nil {
			return err
		}
	}
}

func isEOF(err error) bool { return errors.Is(err, astiav.ErrEof) }
