package media

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/parley-dev/parley"
)

// What media accepts, checked before anything is decoded: a whitelisted
// container read through a whitelisted protocol, a whitelisted codec, a
// sane sample rate and channel count. While decoding, a packet may not
// decode to more than MaxFrameSamples samples and a track may not last
// longer than MaxTrackDuration. Anything else is a parley.EINVALID error
// naming the file and the reason.
const (
	// MinSampleRate and MaxSampleRate (Hz) bound the rate an input may
	// claim. A file claiming 1 Hz would otherwise be resampled 16000-fold.
	MinSampleRate = 8000
	MaxSampleRate = 192000
	// MaxChannels bounds an input's channel count (7.1 is 8).
	MaxChannels = 8
	// MaxFrameSamples bounds the samples (per channel) one packet may
	// decode to: FLAC's largest block is 65535, a WAV packet at most
	// 32768 samples.
	MaxFrameSamples = 1 << 17
	// DefaultMaxTrackDuration is the default of MaxTrackDuration.
	DefaultMaxTrackDuration = 8 * time.Hour
	// maxStreams bounds the streams a container may declare.
	maxStreams = 16
)

// Containers are the demuxers media opens (FFmpeg's names; an input is
// accepted when one of its demuxer's names is listed).
var Containers = []string{"ogg", "matroska", "webm", "mp3", "wav", "flac", "mov", "mp4", "m4a", "aac"}

// containersText names the accepted containers in errors.
const containersText = "Ogg, WebM/Matroska, MP3, WAV, FLAC, MP4/M4A/MOV, AAC"

// Codecs are the audio codecs media decodes (FFmpeg codec names).
var Codecs = []string{"opus", "vorbis", "mp3", "mp2", "aac", "flac", "alac",
	"pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be", "pcm_s32le", "pcm_s32be",
	"pcm_f32le", "pcm_f32be", "pcm_f64le", "pcm_f64be", "pcm_u8", "pcm_s8", "pcm_alaw", "pcm_mulaw"}

// decoders are the FFmpeg decoders allowed to run (codec_whitelist): the
// decoders of Codecs. Decoders of any other stream (video, subtitles,
// cover art) are not even opened while the input is probed.
var decoders = append([]string{"libopus", "libvorbis", "mp3float", "mp2float", "aac_fixed"}, Codecs...)

// Protocols for local files and for http(s) inputs (presigned storage
// URLs). A playlist or a reference inside a file can reach nothing else.
const (
	fileProtocols = "file"
	httpProtocols = "http,https,tcp,tls"
)

var maxTrackSamples48k atomic.Int64

func init() { SetMaxTrackDuration(DefaultMaxTrackDuration) }

// SetMaxTrackDuration sets how long one track may last (its decoded
// audio, and its span on meeting time including filled gaps); longer
// tracks are refused as invalid while they are decoded or probed. d <= 0
// restores DefaultMaxTrackDuration. Safe for concurrent use.
func SetMaxTrackDuration(d time.Duration) {
	if d <= 0 {
		d = DefaultMaxTrackDuration
	}
	maxTrackSamples48k.Store(int64(d.Seconds() * 48000))
}

// MaxTrackDuration is the current limit (see SetMaxTrackDuration).
func MaxTrackDuration() time.Duration {
	return time.Duration(float64(maxTrackSamples48k.Load()) / 48000 * float64(time.Second))
}

// maxTrackSamples is the limit in samples at rate.
func maxTrackSamples(rate int) int64 {
	return maxTrackSamples48k.Load() * int64(rate) / 48000
}

func tooLong(name string) error {
	return parley.Errorf(parley.EINVALID, "%s: longer than the limit of %s per track (PARLEY_MEDIA_MAX_DURATION)",
		name, fmtDuration(MaxTrackDuration()))
}

func fmtDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func listed(list []string, name string) bool {
	for _, n := range strings.Split(name, ",") {
		for _, l := range list {
			if n == l {
				return true
			}
		}
	}
	return false
}

// checkParams refuses an audio stream outside the whitelists and ranges.
func checkParams(name, format, codec string, rate, channels int) error {
	switch {
	case !listed(Containers, format):
		return parley.Errorf(parley.EINVALID, "%s: the %s container is not supported (use %s)", name, format, containersText)
	case !listed(Codecs, codec):
		return parley.Errorf(parley.EINVALID, "%s: the %s codec is not supported (Opus, Vorbis, MP3, AAC, FLAC, ALAC or PCM)", name, codec)
	case rate < MinSampleRate || rate > MaxSampleRate:
		return parley.Errorf(parley.EINVALID, "%s: a sample rate of %d Hz is outside %d to %d Hz", name, rate, MinSampleRate, MaxSampleRate)
	case channels < 1 || channels > MaxChannels:
		return parley.Errorf(parley.EINVALID, "%s: %d channels (1 to %d are supported)", name, channels, MaxChannels)
	}
	return nil
}

// checkFrame refuses a decoded frame outside the ranges: a rate or
// channel count that differs from what was checked, or too many samples
// for one packet.
func checkFrame(name string, rate, channels, samples int) error {
	switch {
	case rate < MinSampleRate || rate > MaxSampleRate:
		return parley.Errorf(parley.EINVALID, "%s: decodes at %d Hz, outside %d to %d Hz", name, rate, MinSampleRate, MaxSampleRate)
	case channels > MaxChannels:
		return parley.Errorf(parley.EINVALID, "%s: decodes to %d channels (at most %d)", name, channels, MaxChannels)
	case samples > MaxFrameSamples:
		return parley.Errorf(parley.EINVALID, "%s: one packet decodes to %d samples, more than %d (corrupt or hostile file)",
			name, samples, MaxFrameSamples)
	}
	return nil
}

// openOptions are the demuxer options of an input: the whitelists, and
// for http(s) the reconnect options.
func openOptions(url bool) [][2]string {
	protocols := fileProtocols
	if url {
		protocols = httpProtocols
	}
	opts := [][2]string{
		{"format_whitelist", strings.Join(Containers, ",")},
		{"protocol_whitelist", protocols},
		{"codec_whitelist", strings.Join(decoders, ",")},
		{"max_streams", fmt.Sprint(maxStreams)},
	}
	if url {
		opts = append(opts, httpOptions...)
	}
	return opts
}
