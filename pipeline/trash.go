package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/hatchet"
	"github.com/parley-dev/parley/store"
)

// WorkflowTrashPurge is the cron workflow that empties the trash.
const WorkflowTrashPurge = "TrashPurge"

// DefaultTrashRetention is how long a transcript stays in the trash before
// the TrashPurge workflow deletes it for good (PARLEY_TRASH_RETENTION).
const DefaultTrashRetention = 30 * 24 * time.Hour

// DefaultTrashPurgeCron is when TrashPurge runs (PARLEY_TRASH_PURGE_CRON).
const DefaultTrashPurgeCron = "17 * * * *"

// DeleteTranscript deletes a transcript for good: it moves it to the trash
// first (a conflict while a run is active or being started, and no run can
// start afterwards), deletes every stored object it owns with DeleteAudio
// (the same ownership rules as a consent denial), then its rows. Objects go
// before rows, so a failure leaves a transcript to delete again, never
// objects nobody knows of. allowProcessing is store.TrashOptions'.
func DeleteTranscript(ctx context.Context, db *store.DB, st ObjectDeleter, tid string, allowProcessing bool) ([]string, error) {
	t, err := db.Trash(ctx, tid, store.TrashOptions{DispatchLease: DispatchLease, AllowProcessing: allowProcessing})
	if err != nil {
		return nil, err
	}
	deleted, err := DeleteAudio(ctx, db, st, t.ID)
	if err != nil {
		return deleted, fmt.Errorf("delete transcript %s: %w", t.ID, err)
	}
	if err := db.DeleteTranscript(ctx, t.ID); err != nil {
		return deleted, err
	}
	return deleted, nil
}

// Purger deletes transcripts whose time in the trash is over.
type Purger struct {
	DB      *store.DB
	Storage ObjectDeleter
	// Retention is how long a transcript stays in the trash. Defaults to
	// DefaultTrashRetention.
	Retention time.Duration
	// Batch bounds the transcripts deleted per run (the next run goes on).
	// Defaults to 200.
	Batch int
	Now   func() time.Time
	Log   *slog.Logger
}

// PurgeInput is the cron workflow's (empty) input.
type PurgeInput struct{}

// PurgeOutput is purge_trash's output.
type PurgeOutput struct {
	Deleted []string `json:"deleted"`
	Objects int      `json:"objects"`
	// Failed maps transcript ids to why they could not be deleted (they
	// stay in the trash and the next run tries again).
	Failed map[string]string `json:"failed,omitempty"`
}

// Purge deletes, for good, the transcripts trashed more than Retention ago.
// One failing transcript does not stop the others; the step fails (and is
// retried) when any failed.
func (p *Purger) Purge(ctx context.Context, _ PurgeInput) (PurgeOutput, error) {
	retention := p.Retention
	if retention <= 0 {
		retention = DefaultTrashRetention
	}
	batch := p.Batch
	if batch <= 0 {
		batch = 200
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	log := p.Log
	if log == nil {
		log = slog.Default()
	}
	ids, err := p.DB.TrashedBefore(ctx, now().Add(-retention), batch)
	if err != nil {
		return PurgeOutput{}, err
	}
	out := PurgeOutput{Deleted: []string{}}
	for _, id := range ids {
		objs, err := DeleteTranscript(ctx, p.DB, p.Storage, id, true)
		out.Objects += len(objs)
		if err != nil {
			if out.Failed == nil {
				out.Failed = map[string]string{}
			}
			out.Failed[id] = parley.ErrorMessage(err)
			log.WarnContext(ctx, "trash purge: could not delete a transcript", slog.String("transcript_id", id), slog.Any("error", err))
			continue
		}
		out.Deleted = append(out.Deleted, id)
	}
	if len(out.Failed) > 0 {
		return out, parley.Errorf(parley.ETRANSIENT, "trash purge: %d of %d transcripts could not be deleted", len(out.Failed), len(ids))
	}
	return out, nil
}

// DefineTrashPurge declares the TrashPurge cron workflow.
func DefineTrashPurge(c *hatchet.Client, p *Purger, cron string) *hatchet.Workflow {
	if cron == "" {
		cron = DefaultTrashPurgeCron
	}
	wf := c.NewWorkflow(WorkflowTrashPurge, "Deletes for good the transcripts whose time in the trash (PARLEY_TRASH_RETENTION) is over.", nil,
		hatchet.WithCron(cron))
	hatchet.Task(wf, "purge_trash", hatchet.Policy{Timeout: 10 * time.Minute, Retries: 2, BackoffFactor: 2, BackoffMax: time.Minute}, p.Purge)
	return wf
}
