package pipeline_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/internal/e2e"
	"github.com/parley-dev/parley/sim"
	"github.com/parley-dev/parley/store"
)

// burstTrack writes a WebM/Opus track like Daily's raw tracks: tone bursts
// at the given times of its own clock, its timestamps starting at offset,
// and with gapLen > 0 a real timestamp jump (a mute gap) at gapAt.
func burstTrack(t *testing.T, dir, name string, dur, offset float64, bursts [][2]float64, freq int, gapAt, gapLen float64) string {
	t.Helper()
	var terms []string
	for _, b := range bursts {
		terms = append(terms, fmt.Sprintf("0.5*sin(2*PI*%d*t)*between(t,%g,%g)", freq, b[0], b[0]+b[1]))
	}
	args := []string{"-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
		fmt.Sprintf("aevalsrc='%s':s=48000:d=%g", strings.Join(terms, "+"), dur)}
	if gapLen > 0 {
		args = append(args, "-af", fmt.Sprintf("asetpts='if(gte(T,%g),PTS+%g/TB,PTS)'", gapAt, gapLen))
	}
	p := filepath.Join(dir, name)
	args = append(args, "-ac", "1", "-c:a", "libopus", "-b:a", "32k", "-output_ts_offset", fmt.Sprint(offset), p)
	out, err := exec.Command("ffmpeg", args...).CombinedOutput()
	require.NoError(t, err, string(out))
	return p
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestReuseOriginals: a gapless WebM track goes to the recogniser as it is
// (the very bytes that were stored) and its words land on meeting time by
// its offset; a Daily-like track with a 5-minute mute gap is split at the
// gap into two segments by stream copy, each sent on its own, and its
// words land on meeting time on both sides of the gap; a track with a
// short (jitter) gap is still padded (gap filled), and its words after the
// gap land on meeting time too. All within 20 ms. The audit says which
// path each track took; finalize deletes the padded copy, the segments and
// their list, and never an original.
func TestReuseOriginals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := e2e.New(t, e2e.Options{})
	s.StartWorker()
	s.StartServe()
	dir := t.TempDir()
	// Bursts start 5 ms into the simulated recogniser's 20 ms frames, as
	// placed on meeting time by the WebM timestamps (7 ms before the
	// signal: the Opus pre-skip and the millisecond timestamps); the
	// segment after the mute starts 34 ms after the mute's place on the
	// source's clock (the next packet, less the pre-skip).
	const offA, offB, offC = 2.5, 1.0, 1.5
	const muteAt, muteLen = 3.0, 300.0
	const jitterAt, jitterLen = 3.0, 0.3
	a := burstTrack(t, dir, "a.webm", 8, offA, [][2]float64{{1.005, 0.6}, {4.305, 0.5}}, 440, 0, 0)
	b := burstTrack(t, dir, "b.webm", 8, offB, [][2]float64{{1.205, 0.6}, {5.046, 0.6}}, 660, muteAt, muteLen)
	c := burstTrack(t, dir, "c.webm", 8, offC, [][2]float64{{1.205, 0.6}, {5.005, 0.6}}, 550, jitterAt, jitterLen)
	want := map[int][]float64{
		0: {offA + 1.005, offA + 4.305},
		1: {offB + 1.205, offB + 5.046 + muteLen}, // the second burst comes after the mute
		2: {offC + 1.205, offC + 5.005 + jitterLen},
	}
	keys := []string{s.Upload(ctx, a, "reuse/a.webm"), s.Upload(ctx, b, "reuse/b.webm"), s.Upload(ctx, c, "reuse/c.webm")}
	var acc accepted
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/process", map[string]any{"tracks": []map[string]string{
		{"s3_key": keys[0]}, {"s3_key": keys[1]}, {"s3_key": keys[2]}}}, &acc))
	tr := s.WaitStatus(ctx, acc.TranscriptID, 3*time.Minute, parley.StatusEnded, parley.StatusError)
	require.Equal(t, parley.StatusEnded, tr.Status, "error: %+v", tr.Error)

	// What reached the recogniser.
	reqs, err := (&sim.Client{Base: s.SimURL}).Requests(ctx, sim.EndpointASR)
	require.NoError(t, err)
	byName := map[string]sim.Request{}
	for _, r := range reqs {
		byName[r.Fields["file"]] = r
	}
	require.Len(t, byName, 4, "one request per file: %+v", reqs)
	require.Contains(t, byName, "a.webm", "the gapless track is sent as it is: %+v", reqs)
	require.Equal(t, sha256File(t, a), byName["a.webm"].Fields["file_sha256"], "byte-identical to the original")
	st, err := os.Stat(a)
	require.NoError(t, err)
	require.Equal(t, fmt.Sprint(st.Size()), byName["a.webm"].Fields["file_size"])
	// The muted track, as two WebM segments (stream copies: together
	// about the original's size).
	var segBytes int64
	for k := range 2 {
		name := fmt.Sprintf("padded_1.seg%03d.webm", k)
		require.Contains(t, byName, name, "the muted track is sent as segments: %+v", reqs)
		n, err := strconv.ParseInt(byName[name].Fields["file_size"], 10, 64)
		require.NoError(t, err)
		segBytes += n
	}
	stB, err := os.Stat(b)
	require.NoError(t, err)
	require.InEpsilon(t, stB.Size(), segBytes, 0.15, "segments of %d bytes for an original of %d", segBytes, stB.Size())
	require.Contains(t, byName, "padded_2.mp3", "the track with a jitter gap is padded: %+v", reqs)

	// Words on meeting time: each burst's first word within 20 ms.
	words, err := s.DB.ListWords(ctx, tr.ID)
	require.NoError(t, err)
	for speaker, ats := range want {
		for _, at := range ats {
			best := math.Inf(1)
			for _, w := range words {
				if w.Speaker == speaker && math.Abs(w.Start-at) < math.Abs(best) {
					best = w.Start - at
				}
			}
			t.Logf("track %d: burst at %.3f s, first word %+.1f ms off", speaker, at, best*1000)
			require.LessOrEqual(t, math.Abs(best), 0.020, "track %d: burst at %.3f s has its first word %+.1f ms off", speaker, at, best*1000)
		}
	}

	// The audit and the tracks say which path each took.
	steps, err := s.DB.ListSteps(ctx, tr.ID)
	require.NoError(t, err)
	sources := map[string]string{}
	for _, st := range steps {
		if st.TrackIndex != nil {
			sources[fmt.Sprintf("%s/%d", st.Name, *st.TrackIndex)] = st.Source
		}
	}
	require.Equal(t, map[string]string{"pad_track/0": store.SourceOriginal, "transcribe_track/0": store.SourceOriginal,
		"pad_track/1": store.SourceSegments, "transcribe_track/1": store.SourceSegments,
		"pad_track/2": store.SourcePadded, "transcribe_track/2": store.SourcePadded}, sources)

	// finalize deleted the padded copy, the segments and their list, and
	// only them.
	left, err := s.S3.List(ctx, s.S3.Bucket(), tr.ID+"/tracks/")
	require.NoError(t, err)
	require.Empty(t, left, "no padded copy or segment is left")
	for _, k := range keys {
		ok, err := s.S3.Exists(ctx, s.S3.Bucket(), k)
		require.NoError(t, err)
		require.True(t, ok, "the original %s is kept", k)
	}
}
