package media

/*
#cgo pkg-config: libavutil libavformat libavcodec
#cgo LDFLAGS: -lm
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/dict.h>
#include <libavutil/channel_layout.h>
#include <libavutil/frame.h>

// An interrupt flag in C memory: FFmpeg polls it during blocking I/O, Go
// sets it when the context is cancelled.
typedef struct { int flag; } parley_intr;

static int parley_intr_cb(void *p) {
	return __atomic_load_n(&((parley_intr *)p)->flag, __ATOMIC_RELAXED);
}

static parley_intr *parley_intr_install(AVFormatContext *fc) {
	parley_intr *i = calloc(1, sizeof *i);
	if (i == NULL) return NULL;
	fc->interrupt_callback.callback = parley_intr_cb;
	fc->interrupt_callback.opaque = i;
	return i;
}

static void parley_intr_set(parley_intr *i) {
	__atomic_store_n(&i->flag, 1, __ATOMIC_RELAXED);
}

// Describes the default layout for n channels (as the ffmpeg CLI guesses
// one for inputs that do not say which channels they carry).
static int parley_default_layout(int n, char *buf, size_t size) {
	AVChannelLayout l;
	av_channel_layout_default(&l, n);
	int r = av_channel_layout_describe(&l, buf, size);
	av_channel_layout_uninit(&l);
	return r;
}

static void parley_set_pkt_timebase(AVCodecContext *c, int num, int den) {
	c->pkt_timebase = (AVRational){num, den};
}

static int parley_small_last_frame(AVCodecContext *c) {
	return c->codec != NULL &&
		(c->codec->capabilities & (AV_CODEC_CAP_VARIABLE_FRAME_SIZE | AV_CODEC_CAP_SMALL_LAST_FRAME)) != 0;
}

static int64_t parley_avio_size(AVFormatContext *fc) {
	if (fc->pb == NULL) return -1;
	return avio_size(fc->pb);
}

static int64_t parley_avio_tell(AVFormatContext *fc) {
	if (fc->pb == NULL) return -1;
	return avio_tell(fc->pb);
}

// Appends the samples of a packed float frame (all channels interleaved).
static int parley_copy_flt(const AVFrame *f, float *dst, int max) {
	int n = f->nb_samples * f->ch_layout.nb_channels;
	if (n > max) n = max;
	if (n <= 0 || f->data[0] == NULL) return 0;
	memcpy(dst, f->data[0], (size_t)n * sizeof(float));
	return n;
}

// Fills a mono frame whose buffer is allocated, converting from float to
// the frame's sample format (for one channel, planar and packed are the
// same layout).
static int parley_fill(AVFrame *f, const float *src, int n) {
	if (f->data[0] == NULL || n > f->nb_samples) return -1;
	switch (f->format) {
	case AV_SAMPLE_FMT_FLT:
	case AV_SAMPLE_FMT_FLTP:
		memcpy(f->data[0], src, (size_t)n * sizeof(float));
		return n;
	case AV_SAMPLE_FMT_S16:
	case AV_SAMPLE_FMT_S16P: {
		int16_t *d = (int16_t *)f->data[0];
		for (int i = 0; i < n; i++) {
			float x = src[i] * 32768.0f;
			if (x > 32767.0f) x = 32767.0f;
			if (x < -32768.0f) x = -32768.0f;
			d[i] = (int16_t)lrintf(x);
		}
		return n;
	}
	case AV_SAMPLE_FMT_S32:
	case AV_SAMPLE_FMT_S32P: {
		int32_t *d = (int32_t *)f->data[0];
		for (int i = 0; i < n; i++) {
			double x = (double)src[i] * 2147483648.0;
			if (x > 2147483647.0) x = 2147483647.0;
			if (x < -2147483648.0) x = -2147483648.0;
			d[i] = (int32_t)lrint(x);
		}
		return n;
	}
	}
	return -1;
}
*/
import "C"

import (
	"sync"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// The go-astiav v0.16 types used below are structs whose first field is
// the C pointer; the accessors read it where go-astiav has no setter.

// formatContextC returns the AVFormatContext of fc.
func formatContextC(fc *astiav.FormatContext) *C.AVFormatContext {
	return (*C.AVFormatContext)(*(*unsafe.Pointer)(unsafe.Pointer(fc)))
}

// codecContextC returns the AVCodecContext of cc.
func codecContextC(cc *astiav.CodecContext) *C.AVCodecContext {
	return (*C.AVCodecContext)(*(*unsafe.Pointer)(unsafe.Pointer(cc)))
}

// interrupter is an I/O interrupt flag installed on a format context. mu
// orders interrupt (from a context's AfterFunc goroutine) before free.
type interrupter struct {
	mu sync.Mutex
	c  *C.parley_intr
}

// installInterrupter sets fc's interrupt callback to a flag in C memory
// (go-astiav's own keeps the flag in Go memory that C holds on to). The
// caller frees it with free after the format context is closed.
func installInterrupter(fc *astiav.FormatContext) *interrupter {
	c := C.parley_intr_install(formatContextC(fc))
	if c == nil {
		return nil
	}
	return &interrupter{c: c}
}

// interrupt makes FFmpeg's blocking I/O on the context return.
func (i *interrupter) interrupt() {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.c != nil {
		C.parley_intr_set(i.c)
	}
}

func (i *interrupter) free() {
	i.mu.Lock()
	defer i.mu.Unlock()
	C.free(unsafe.Pointer(i.c))
	i.c = nil
}

// defaultLayout names FFmpeg's default channel layout for n channels
// ("stereo" for 2).
func defaultLayout(n int) string {
	var buf [64]C.char
	if C.parley_default_layout(C.int(n), &buf[0], C.size_t(len(buf))) < 0 {
		return ""
	}
	return C.GoString(&buf[0])
}

// setPktTimebase tells the decoder the packets' time base, so that it
// moves the timestamps of frames it trims (Opus pre-skip) accordingly.
func setPktTimebase(cc *astiav.CodecContext, r astiav.Rational) {
	C.parley_set_pkt_timebase(codecContextC(cc), C.int(r.Num()), C.int(r.Den()))
}

// smallLastFrame reports whether an opened encoder takes a last frame
// shorter than its frame size.
func smallLastFrame(cc *astiav.CodecContext) bool {
	return C.parley_small_last_frame(codecContextC(cc)) != 0
}

// ioSize is the byte size of an opened input (-1 when unknown).
func ioSize(fc *astiav.FormatContext) int64 {
	return int64(C.parley_avio_size(formatContextC(fc)))
}

// ioTell is the byte position of an output (its size while writing).
func ioTell(fc *astiav.FormatContext) int64 {
	return int64(C.parley_avio_tell(formatContextC(fc)))
}

// appendSamples appends the samples of a packed float frame (channels
// interleaved) to buf.
func appendSamples(f *astiav.Frame, channels int, buf []float32) []float32 {
	n := f.NbSamples() * channels
	if n <= 0 {
		return buf
	}
	start := len(buf)
	buf = grow(buf, n)
	got := C.parley_copy_flt((*C.AVFrame)(f.UnsafePointer()), (*C.float)(unsafe.Pointer(&buf[start])), C.int(n))
	return buf[:start+int(got)]
}

// grow extends buf by n elements, reusing its capacity.
func grow(buf []float32, n int) []float32 {
	if len(buf)+n <= cap(buf) {
		return buf[:len(buf)+n]
	}
	nb := make([]float32, len(buf)+n, 2*cap(buf)+n)
	copy(nb, buf)
	return nb
}

// fillFrame writes samples into an allocated mono frame, converting them
// to the frame's sample format.
func fillFrame(f *astiav.Frame, samples []float32) bool {
	if len(samples) == 0 {
		return true
	}
	return C.parley_fill((*C.AVFrame)(f.UnsafePointer()), (*C.float)(unsafe.Pointer(&samples[0])), C.int(len(samples))) >= 0
}

// setMetadata sets tags on a dictionary of a context before its header is
// written.
func setMetadata(d **C.AVDictionary, tags map[string]string) {
	for k, v := range tags {
		ck, cv := C.CString(k), C.CString(v)
		C.av_dict_set(d, ck, cv, 0)
		C.free(unsafe.Pointer(ck))
		C.free(unsafe.Pointer(cv))
	}
}

// setFormatMetadata sets global tags on an output.
func setFormatMetadata(fc *astiav.FormatContext, tags map[string]string) {
	setMetadata(&formatContextC(fc).metadata, tags)
}

// setStreamMetadata sets tags on stream i of an output (Ogg keeps its
// comments on the stream).
func setStreamMetadata(fc *astiav.FormatContext, i int, tags map[string]string) {
	c := formatContextC(fc)
	if i < 0 || i >= int(c.nb_streams) {
		return
	}
	st := unsafe.Slice(c.streams, c.nb_streams)[i]
	setMetadata(&st.metadata, tags)
}
