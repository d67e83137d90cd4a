package media

import (
	"context"
	"errors"
	"math"

	"github.com/asticode/go-astiav"

	"github.com/parley-dev/parley"
)

// Gap is a discontinuity in a track's packet timestamps, such as Daily
// leaves while a participant is muted.
type Gap struct {
	// At is the track time (s, on the track's own clock, i.e. meeting
	// time) where the timestamps jump; Length is the jump (s).
	At     float64 `json:"at"`
	Length float64 `json:"length"`
}

// Info describes an audio track.
type Info struct {
	// StartOffset is the track's start on meeting time (s), from container
	// metadata exactly as the reference computes it: the first positive of
	// the audio stream's start_time, the container's start_time, the first
	// packet's dts; 0 otherwise.
	StartOffset float64 `json:"start_offset"`
	// Duration is the track's length (s) from its first to its last
	// packet, gaps included, so StartOffset+Duration is its end on
	// meeting time.
	Duration float64 `json:"duration"`
	// Codec is FFmpeg's codec name ("opus").
	Codec string `json:"codec"`
	// SampleRate (Hz) and Channels of the audio stream.
	SampleRate int `json:"sample_rate"`
	Channels   int `json:"channels"`
	// Gaps are the timestamp jumps of at least MinGap, in order.
	Gaps []Gap `json:"gaps"`
	// Tags are the container's global metadata tags (for Ogg, where
	// comments live on the stream, the audio stream's tags too).
	Tags map[string]string `json:"tags,omitempty"`
	// Format is FFmpeg's name of the container ("matroska,webm", "ogg").
	Format string `json:"format"`
	// Size is the input's size in bytes, -1 when unknown.
	Size int64 `json:"size"`
}

// MinGap is the smallest timestamp jump (s) reported as a gap by Probe.
// Pad and Mixdown fill every jump over fillTolerance.
const MinGap = 0.05

// Probe reads a track's metadata and scans its packets for timestamp gaps
// (demuxing only, no decoding: about a second per hour of Opus). Bad input
// gives a parley.EINVALID error naming src.
func Probe(ctx context.Context, src string) (Info, error) {
	in, err := openInput(ctx, src)
	if err != nil {
		return Info{}, err
	}
	defer in.close()
	st := in.stream
	cp := st.CodecParameters()
	tb := st.TimeBase().Float64()
	info := Info{Codec: cp.CodecID().Name(), SampleRate: cp.SampleRate(), Channels: cp.ChannelLayout().NbChannels(),
		Gaps: []Gap{}, Tags: tags(in.fc.Metadata()), Size: ioSize(in.fc)}
	if f := in.fc.InputFormat(); f != nil {
		info.Format = f.Name()
	}
	for k, v := range tags(st.Metadata()) {
		if _, ok := info.Tags[k]; !ok {
			info.Tags[k] = v
		}
	}
	if info.Channels == 0 {
		info.Channels = cp.Channels()
	}
	if s := st.StartTime(); s != astiav.NoPtsValue && s > 0 {
		info.StartOffset = float64(s) * tb
	} else if s := in.fc.StartTime(); s != astiav.NoPtsValue && s > 0 {
		info.StartOffset = float64(s) / 1e6
	}
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	first := true
	firstTS, lastEnd := math.NaN(), math.NaN()
	end := math.Inf(-1)
	for n := 0; ; n++ {
		if n%256 == 0 && ctx.Err() != nil {
			return Info{}, context.Cause(ctx)
		}
		if err := in.fc.ReadFrame(pkt); err != nil {
			if errors.Is(err, astiav.ErrEof) {
				break
			}
			return Info{}, classify(ctx, in.name, "cannot read", err)
		}
		if pkt.StreamIndex() != st.Index() {
			pkt.Unref()
			continue
		}
		ts := pkt.Pts()
		if ts == astiav.NoPtsValue {
			ts = pkt.Dts()
		}
		if first {
			first = false
			if info.StartOffset == 0 && pkt.Dts() != astiav.NoPtsValue && pkt.Dts() > 0 {
				info.StartOffset = float64(pkt.Dts()) * tb
			}
		}
		if ts != astiav.NoPtsValue {
			t := float64(ts) * tb
			if math.IsNaN(firstTS) {
				firstTS = t
			}
			if !math.IsNaN(lastEnd) && t-lastEnd >= MinGap {
				info.Gaps = append(info.Gaps, Gap{At: round3(lastEnd), Length: round3(t - lastEnd)})
			}
			lastEnd = t + float64(pkt.Duration())*tb
			end = math.Max(end, lastEnd)
		}
		pkt.Unref()
	}
	if first {
		return Info{}, parley.Errorf(parley.EINVALID, "%s: the audio stream has no data", in.name)
	}
	switch {
	case !math.IsNaN(firstTS) && end > firstTS:
		info.Duration = end - firstTS
	case st.Duration() > 0 && st.Duration() != astiav.NoPtsValue:
		info.Duration = float64(st.Duration()) * tb
	case in.fc.Duration() > 0 && in.fc.Duration() != astiav.NoPtsValue:
		info.Duration = float64(in.fc.Duration()) / 1e6
	}
	if info.StartOffset > MaxMeetingTime {
		return Info{}, parley.Errorf(parley.EINVALID, "%s: starts at %.0f s on meeting time, beyond the %d s limit (corrupt timestamps?)",
			in.name, info.StartOffset, MaxMeetingTime)
	}
	if info.Duration > MaxTrackDuration().Seconds() {
		return Info{}, tooLong(in.name)
	}
	info.StartOffset = round3(info.StartOffset)
	info.Duration = round3(info.Duration)
	return info, nil
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// tags copies a dictionary into a map.
func tags(d *astiav.Dictionary) map[string]string {
	out := map[string]string{}
	if d == nil {
		return out
	}
	var e *astiav.DictionaryEntry
	for {
		e = d.Get("", e, astiav.NewDictionaryFlags(astiav.DictionaryFlagIgnoreSuffix))
		if e == nil {
			break
		}
		out[e.Key()] = e.Value()
	}
	return out
}

// CheckAudio returns a parley.EINVALID error naming the problem when src
// is not audio Parley can decode. It reads only the start of src.
func CheckAudio(ctx context.Context, src string) error {
	t, err := openTrack(ctx, src, 16000, nil)
	if err != nil {
		return err
	}
	t.close()
	return nil
}
