package pipeline

import (
	"context"
	"time"
)

// PoolCPU is the worker pool of the CPU-heavy steps (pad_track,
// mixdown_tracks): workers started with PARLEY_WORKER_POOL=cpu get them
// first; when no such worker exists or none has a free slot, any worker
// runs them (hatchet.Policy.Pool).
const PoolCPU = "cpu"

// MaxTracks is the most tracks one recording may have (the API refuses
// more).
const MaxTracks = 64

// Mixdown deadline: a fixed start-up allowance, a share per track (each is
// fetched, decoded and resampled) and a tenth of the meeting's length (the
// mix is encoded at well over 10x real time on one core).
const (
	mixdownBase     = 300 * time.Second
	mixdownPerTrack = 60 * time.Second
	mixdownRealTime = 10
)

// MixdownTimeout is mixdown_tracks' deadline for a meeting of tracks
// tracks lasting duration: 300 s + 60 s × tracks + duration / 10. A
// 1-hour 4-track meeting gets 300 + 240 + 360 s = 15 min.
func MixdownTimeout(tracks int, duration time.Duration) time.Duration {
	return mixdownBase + time.Duration(max(tracks, 0))*mixdownPerTrack + max(duration, 0)/mixdownRealTime
}

// DefaultMixdownTimeout is mixdown_tracks' declared execution timeout: the
// deadline of the largest meeting Parley accepts by default (MaxTracks
// tracks of media.DefaultMaxTrackDuration, 8 h), 1 h 57 min. The step
// itself ends sooner (Steps.mixdownDeadline).
var DefaultMixdownTimeout = MixdownTimeout(MaxTracks, 8*time.Hour)

// mixdownDeadline bounds one mixdown attempt.
//
// Hatchet's execution timeout is declared once, with the workflow, so it
// cannot follow the meeting. The declared timeout is therefore the upper
// bound, the deadline of the largest meeting accepted (cmd/parley sets it
// from PARLEY_MEDIA_MAX_DURATION), and the step sets the meeting's own
// deadline on its context: a mixdown that overruns it is cancelled (its
// media child killed) and fails as a timeout would, and Hatchet retries it
// by its policy. When the duration is not known yet (uploads: the mix
// measures it) only the declared bound applies. A fixed
// PARLEY_STEP_MIXDOWN_TRACKS_TIMEOUT (Settings.MixdownTimeout) replaces
// both.
func (s *Steps) mixdownDeadline(ctx context.Context, tracks int, durationSeconds float64) (context.Context, context.CancelFunc, time.Duration) {
	if s.Settings.MixdownTimeout > 0 || durationSeconds <= 0 {
		// The declared timeout (the override, or the bound) ends the attempt.
		ctx, cancel := context.WithCancel(ctx)
		return ctx, cancel, 0
	}
	d := MixdownTimeout(tracks, time.Duration(durationSeconds*float64(time.Second)))
	ctx, cancel := context.WithTimeout(ctx, d)
	return ctx, cancel, d
}
