package media_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/media"
)

// HostileWAV returns a WAV file whose header claims what the caller says
// (format tag, channels, rate, block_align) followed by n bytes of data.
func hostileWAV(format, channels uint16, rate uint32, blockAlign, bits uint16, n int) []byte {
	fmtChunk := make([]byte, 16)
	binary.LittleEndian.PutUint16(fmtChunk[0:], format)
	binary.LittleEndian.PutUint16(fmtChunk[2:], channels)
	binary.LittleEndian.PutUint32(fmtChunk[4:], rate)
	binary.LittleEndian.PutUint32(fmtChunk[8:], rate*uint32(blockAlign))
	binary.LittleEndian.PutUint16(fmtChunk[12:], blockAlign)
	binary.LittleEndian.PutUint16(fmtChunk[14:], bits)
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i * 37)
	}
	var b []byte
	b = append(b, "WAVEfmt "...)
	b = binary.LittleEndian.AppendUint32(b, 16)
	b = append(b, fmtChunk...)
	b = append(b, "data"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = append(b, data...)
	out := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(b)))...)
	return append(out, b...)
}

// countingListener is a local HTTP server that counts every request it
// gets: the address a hostile file points FFmpeg at.
func countingListener(t *testing.T) (string, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		_, _ = w.Write([]byte("RIFF"))
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), &n
}

// TestHostileInput feeds every media operation files built to exhaust or
// steer FFmpeg: each is refused as invalid, naming the file and the
// reason, before any large allocation (the 1 Hz WAV took 1 GB and 24 s
// of CPU to pad before; the block_align bomb 3.6 GB), and a file that
// points at URLs makes no request at all.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o600))
		return p
	}
	ffmpeg := func(name string, args ...string) string {
		p := filepath.Join(dir, name)
		out, err := exec.Command("ffmpeg", append(append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...), p)...).CombinedOutput()
		require.NoError(t, err, string(out))
		return p
	}
	target, requests := countingListener(t)
	playlist := fmt.Sprintf("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nhttp://%s/latest/meta-data/?x.ts\n#EXTINF:2.0,\nhttp://%s/segment.ts\n#EXT-X-ENDLIST\n", target, target)
	concat := fmt.Sprintf("ffconcat version 1.0\nfile 'http://%s/a.wav'\nfile '/etc/passwd'\n", target)
	// A playlist served as a presigned URL would be: the http input is
	// allowed, what it lists is not.
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write([]byte(playlist))
	}))
	t.Cleanup(files.Close)

	tests := []struct {
		name, src, msg string
	}{
		{"OneHertzWAV", write("onehz.wav", hostileWAV(1, 1, 1, 2, 16, 4096)), "onehz.wav: a sample rate of 1 Hz is outside 8000 to 192000 Hz"},
		{"BlockAlignBomb", write("bomb.wav", hostileWAV(1, 1, 1, 16384, 16, 16384)), "bomb.wav: a sample rate of 1 Hz"},
		{"TooManyChannels", write("wide.wav", hostileWAV(1, 64, 8000, 128, 16, 16384)), "wide.wav: 64 channels (1 to 8 are supported)"},
		{"UnlistedCodec", write("adpcm.wav", hostileWAV(0x11, 1, 8000, 256, 4, 4096)), "adpcm.wav: the adpcm_ima_wav codec is not supported"},
		{"HLSPlaylist", write("meeting.bin", []byte(playlist)), "meeting.bin: not a supported audio file"},
		{"HLSPlaylistOverHTTP", files.URL + "/bucket/meeting.webm?X-Amz-Signature=s", "bucket/meeting.webm: not a supported audio file"},
		{"ConcatList", write("list.webm", []byte(concat)), "list.webm: not a supported audio file"},
		{"UnlistedContainer", ffmpeg("tone.au", "-f", "lavfi", "-i", "sine=d=1", "-c:a", "pcm_s16be"), "tone.au: not a supported audio file"},
		{"HugePacket", ffmpeg("huge.mkv", "-f", "lavfi", "-i", "sine=d=12:r=48000:samples_per_frame=300000", "-c:a", "pcm_s16le"),
			"huge.mkv: one packet decodes to 300000 samples"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := t.TempDir()
			ops := map[string]func() error{
				"probe": func() error { _, err := media.Probe(ctx, tt.src); return err },
				"pad": func() error {
					_, err := media.Pad(ctx, tt.src, filepath.Join(out, "pad.mp3"), media.PadOptions{})
					return err
				},
				"mixdown": func() error {
					_, err := media.Mixdown(ctx, []string{tt.src}, filepath.Join(out, "mix.mp3"), media.MixOptions{})
					return err
				},
				"waveform": func() error { _, err := media.Waveform(ctx, tt.src); return err },
				"check":    func() error { return media.CheckAudio(ctx, tt.src) },
			}
			for op, run := range ops {
				if tt.name == "HugePacket" && op == "probe" {
					continue // probe does not decode
				}
				err := run()
				require.Error(t, err, op)
				require.Equal(t, parley.EINVALID, parley.ErrorCode(err), "%s: %v", op, err)
				require.Contains(t, parley.ErrorMessage(err), tt.msg, op)
				require.NotContains(t, err.Error(), "X-Amz-Signature", op)
			}
			entries, err := os.ReadDir(out)
			require.NoError(t, err)
			require.Empty(t, entries, "no output is left behind")
		})
	}
	t.Cleanup(func() {
		require.Zero(t, requests.Load(), "a hostile file made FFmpeg send requests")
	})
}

// TestMaxTrackDuration refuses a track longer than the configured limit,
// counting filled gaps. Not parallel: the limit is process-wide.
func TestMaxTrackDuration(t *testing.T) {
	ctx := context.Background()
	media.SetMaxTrackDuration(2 * time.Second)
	defer media.SetMaxTrackDuration(0)
	require.Equal(t, 2*time.Second, media.MaxTrackDuration())
	long := mustTrack(t, trackSpec{duration: 3, bursts: []burst{{0.5, 0.3, 440, 0}}})
	gappy := mustTrack(t, trackSpec{duration: 1.5, gapAt: 0.5, gapLen: 2, bursts: []burst{{0.2, 0.2, 440, 0}}})
	for _, src := range []string{long, gappy} {
		_, err := media.Pad(ctx, src, filepath.Join(t.TempDir(), "pad.mp3"), media.PadOptions{})
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err), "%v", err)
		require.Contains(t, parley.ErrorMessage(err), "longer than the limit of 2s per track")
	}
	_, err := media.Probe(ctx, long)
	require.Contains(t, parley.ErrorMessage(err), "longer than the limit of 2s per track")
	media.SetMaxTrackDuration(0)
	require.Equal(t, media.DefaultMaxTrackDuration, media.MaxTrackDuration())
	_, err = media.Pad(ctx, long, filepath.Join(t.TempDir(), "pad.mp3"), media.PadOptions{})
	require.NoError(t, err)
}
