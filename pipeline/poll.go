package pipeline

import (
	"context"
	"time"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/hatchet"
)

// PolledRecording is a finished Daily recording found by polling.
type PolledRecording struct {
	ID string
	// RoomName is the room's own name (Daily's date suffix removed).
	RoomName string
	// CamAudioKeys are the microphone tracks, in order.
	CamAudioKeys []string
}

// DailyLister lists recent raw-tracks recordings (every page).
type DailyLister interface {
	RecentRawTracks(ctx context.Context, since time.Time) ([]PolledRecording, error)
}

// PollOutput is poll_daily_recordings' output.
type PollOutput struct {
	Seen    int      `json:"seen"`
	Started []string `json:"started"`
}

// PollInput is the cron workflow's (empty) input.
type PollInput struct{}

// Poller is the polling fallback: it finds finished raw-tracks recordings
// whose webhook never arrived and starts them (the dispatcher makes this
// idempotent with the webhook path).
type Poller struct {
	Steps      *Steps
	Lister     DailyLister
	Dispatcher *Dispatcher
	// Bucket is the Daily bucket the raw tracks are in.
	Bucket string
	// Window is how far back to look. Default 24h.
	Window time.Duration
}

// Poll runs one polling pass.
func (p *Poller) Poll(ctx context.Context, _ PollInput) (PollOutput, error) {
	window := p.Window
	if window == 0 {
		window = 24 * time.Hour
	}
	recs, err := p.Lister.RecentRawTracks(ctx, p.Steps.Now().Add(-window))
	if err != nil {
		return PollOutput{}, err
	}
	out := PollOutput{Seen: len(recs), Started: []string{}}
	for _, r := range recs {
		if len(r.CamAudioKeys) == 0 {
			continue
		}
		known, err := p.Steps.DB.RecordingExists(ctx, r.ID)
		if err != nil {
			return out, err
		}
		if known {
			continue
		}
		req := TriggerRequest{RecordingID: r.ID}
		for _, k := range r.CamAudioKeys {
			req.Tracks = append(req.Tracks, parley.Track{Bucket: p.Bucket, Key: k})
		}
		if room, err := p.Steps.DB.GetRoomByName(ctx, r.RoomName); err == nil {
			req.RoomID = room.ID
		}
		res, err := p.Dispatcher.Trigger(ctx, req)
		if err != nil {
			p.Steps.Log.WarnContext(ctx, "polling: could not start a missed recording", "recording_id", r.ID, "error", err)
			continue
		}
		out.Started = append(out.Started, res.TranscriptID)
	}
	return out, nil
}

// DefinePolling declares the DailyPolling cron workflow (every 3 minutes)
// when a lister is given.
func DefinePolling(c *hatchet.Client, p *Poller, cron string) *hatchet.Workflow {
	if p == nil || p.Lister == nil {
		return nil
	}
	if cron == "" {
		cron = "*/3 * * * *"
	}
	wf := c.NewWorkflow(WorkflowDailyPolling, "Finds finished Daily recordings whose webhook was missed and starts them.", nil,
		hatchet.WithCron(cron))
	hatchet.Task(wf, "poll_daily_recordings", hatchet.Policy{Timeout: 2 * time.Minute, Retries: 1}, p.Poll)
	return wf
}
