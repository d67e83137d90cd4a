package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/store"
)

func TestMixdownTimeout(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		tracks   int
		duration time.Duration
		want     time.Duration
	}{
		{"Nothing", 0, 0, 300 * time.Second},
		{"OneShortTrack", 1, time.Minute, 300*time.Second + 60*time.Second + 6*time.Second},
		{"ThreeTracksOneHour", 3, time.Hour, 300*time.Second + 180*time.Second + 360*time.Second},
		{"FourTracksOneHour", 4, time.Hour, 15 * time.Minute},
		{"LargestAccepted", MaxTracks, 8 * time.Hour, 300*time.Second + 64*60*time.Second + 2880*time.Second},
		{"Negative", -2, -time.Hour, 300 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, MixdownTimeout(tt.tracks, tt.duration))
		})
	}
	require.Equal(t, 117*time.Minute, DefaultMixdownTimeout, "the declared bound: 64 tracks of 8 h")
	require.Equal(t, DefaultMixdownTimeout, DefaultPolicies()["mixdown_tracks"].Timeout)
}

// TestMixdownDeadline: the step bounds the mix by the meeting's deadline
// when its duration is known; otherwise, or with a fixed
// PARLEY_STEP_MIXDOWN_TRACKS_TIMEOUT, only the declared timeout applies.
func TestMixdownDeadline(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		duration float64
		fixed    time.Duration
		want     time.Duration // 0: no deadline of the step's own
	}{
		{"KnownDuration", 3600, 0, MixdownTimeout(2, time.Hour)},
		{"UnknownDuration", 0, 0, 0},
		{"FixedTimeout", 3600, 45 * time.Minute, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := newMemStore(tid)
			db.t.DurationSeconds = tt.duration
			db.tracks = []store.TrackState{{Track: parley.Track{Index: 0, Bucket: "daily", Key: "a.webm"}},
				{Track: parley.Track{Index: 1, Bucket: "daily", Key: "b.webm"}}}
			s := newSteps(t, db)
			s.Settings.MixdownTimeout = tt.fixed
			media := &fakeMedia{res: MixResult{Duration: 3600}}
			s.Media = media
			_, err := s.MixdownTracks(context.Background(), Input{TranscriptID: tid})
			require.NoError(t, err)
			require.Equal(t, 1, media.mixes)
			if tt.want == 0 {
				require.Zero(t, media.left, "no deadline but Hatchet's")
				return
			}
			require.LessOrEqual(t, media.left, tt.want)
			require.Greater(t, media.left, tt.want-time.Minute)
		})
	}
}
