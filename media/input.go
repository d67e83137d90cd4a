package media

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/asticode/go-astiav"

	"github.com/parley-dev/parley"
)

var logOnce sync.Once

// quietFFmpeg keeps FFmpeg's own logging off: every problem comes back as
// an error naming the input.
func quietFFmpeg() {
	logOnce.Do(func() { astiav.SetLogLevel(astiav.LogLevelQuiet) })
}

// DisplayName is how errors name an input: a file path, or a URL without
// its query (presigned URLs carry credentials in the query).
func DisplayName(src string) string {
	if u, err := url.Parse(src); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		return strings.TrimPrefix(u.Path, "/")
	}
	return src
}

func isURL(src string) bool {
	return strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://")
}

// httpOptions are the extra demuxer options for http(s) inputs: reconnect as the
// reference does, and give up on a connection silent for 30 s.
var httpOptions = [][2]string{
	{"reconnect", "1"},
	{"reconnect_streamed", "1"},
	{"reconnect_on_network_error", "1"},
	{"reconnect_delay_max", "5"},
	{"rw_timeout", "30000000"}, // µs
}

// input is an opened audio input: its demuxer and its first audio stream.
type input struct {
	name   string
	fc     *astiav.FormatContext
	stream *astiav.Stream
	intr   *interrupter
	stop   func() bool
}

// openInput opens src (a local file, or an http(s) URL read with
// reconnects) and finds its first audio stream. Cancelling ctx interrupts
// blocking reads. Errors name the input; bad input is EINVALID.
func openInput(ctx context.Context, src string) (*input, error) {
	quietFFmpeg()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	name := DisplayName(src)
	if !isURL(src) {
		st, err := os.Stat(src)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return nil, parley.Errorf(parley.EINVALID, "%s: no such file", name)
		case err != nil:
			return nil, parley.WrapError(parley.EINVALID, err, "%s: cannot open: %v", name, unwrapPathErr(err))
		case st.IsDir():
			return nil, parley.Errorf(parley.EINVALID, "%s: is a directory, not an audio file", name)
		case st.Size() == 0:
			return nil, parley.Errorf(parley.EINVALID, "%s: the file is empty", name)
		}
	}
	fc := astiav.AllocFormatContext()
	if fc == nil {
		return nil, errors.New("media: cannot allocate a format context")
	}
	in := &input{name: name, fc: fc}
	if in.intr = installInterrupter(fc); in.intr == nil {
		fc.Free()
		return nil, errors.New("media: cannot allocate an interrupt flag")
	}
	in.stop = context.AfterFunc(ctx, in.intr.interrupt)
	// The whitelists hold from the first byte: a playlist, a concat list
	// or any other demuxer that opens further inputs is refused before it
	// reads a line, and no protocol but file (or http(s) for a URL) can be
	// opened at all.
	opts := astiav.NewDictionary()
	defer opts.Free()
	for _, kv := range openOptions(isURL(src)) {
		if err := opts.Set(kv[0], kv[1], 0); err != nil {
			in.stop()
			in.intr.free()
			fc.Free()
			return nil, fmt.Errorf("media: option %s: %w", kv[0], err)
		}
	}
	if err := fc.OpenInput(src, nil, opts); err != nil {
		// avformat_open_input has freed the context and set it to NULL;
		// Free only drops go-astiav's bookkeeping (avformat_free_context
		// accepts NULL).
		in.stop()
		fc.Free()
		in.intr.free()
		if ctx.Err() == nil && errors.Is(err, errInval) {
			// What the whitelists refuse: another container, or a
			// protocol other than the input's own.
			return nil, parley.WrapError(parley.EINVALID, err, "%s: not a supported audio file (%s)", name, containersText)
		}
		return nil, classify(ctx, name, "cannot open", err)
	}
	if f := fc.InputFormat(); f == nil || !listed(Containers, f.Name()) {
		in.close()
		return nil, parley.Errorf(parley.EINVALID, "%s: not a supported audio file (%s)", name, containersText)
	}
	if err := fc.FindStreamInfo(nil); err != nil {
		in.close()
		return nil, classify(ctx, name, "cannot read", err)
	}
	var video bool
	for _, s := range fc.Streams() {
		switch s.CodecParameters().MediaType() {
		case astiav.MediaTypeAudio:
			if in.stream == nil {
				in.stream = s
			}
		case astiav.MediaTypeVideo:
			video = true
		}
	}
	if in.stream == nil {
		in.close()
		if video {
			return nil, parley.Errorf(parley.EINVALID, "%s: has video but no audio stream", name)
		}
		return nil, parley.Errorf(parley.EINVALID, "%s: no audio stream (corrupt, or not an audio file)", name)
	}
	cp := in.stream.CodecParameters()
	channels := cp.ChannelLayout().NbChannels()
	if channels == 0 {
		channels = cp.Channels()
	}
	if err := checkParams(name, fc.InputFormat().Name(), cp.CodecID().Name(), cp.SampleRate(), channels); err != nil {
		in.close()
		return nil, err
	}
	return in, nil
}

// close closes the demuxer and frees everything openInput allocated;
// call it exactly once.
func (in *input) close() {
	in.stop()
	in.fc.CloseInput()
	in.intr.free()
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// errNoEntry is FFmpeg's AVERROR(ENOENT), errInval AVERROR(EINVAL).
var (
	errNoEntry = astiav.Error(-int(syscall.ENOENT))
	errInval   = astiav.Error(-int(syscall.EINVAL))
)

// classify turns an FFmpeg error into a parley error naming the input:
// cancellation stays as such, network trouble is transient, access and
// missing objects keep their meaning, anything else means the input is bad.
func classify(ctx context.Context, name, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %s: %w", name, op, context.Cause(ctx))
	}
	switch {
	case errors.Is(err, astiav.ErrEtimedout), errors.Is(err, astiav.ErrEio), errors.Is(err, astiav.ErrExit):
		return parley.WrapError(parley.ETRANSIENT, err, "%s: %s: %v", name, op, err)
	case errors.Is(err, astiav.ErrHttpServerError):
		return parley.WrapError(parley.ETRANSIENT, err, "%s: %s: storage server error", name, op)
	case errors.Is(err, astiav.ErrHttpNotFound):
		return parley.WrapError(parley.ENOTFOUND, err, "%s: %s: not found", name, op)
	case errors.Is(err, astiav.ErrHttpForbidden), errors.Is(err, astiav.ErrHttpUnauthorized):
		return parley.WrapError(parley.EUNAUTHORIZED, err, "%s: %s: access denied", name, op)
	case errors.Is(err, errNoEntry):
		return parley.WrapError(parley.EINVALID, err, "%s: no such file", name)
	}
	msg := strings.ToLower(err.Error())
	if strings.Contains(msg, "connection") || strings.Contains(msg, "network") {
		return parley.WrapError(parley.ETRANSIENT, err, "%s: %s: %v", name, op, err)
	}
	return parley.WrapError(parley.EINVALID, err, "%s: %s (corrupt or unsupported audio): %v", name, op, err)
}
