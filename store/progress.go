package store

import (
	"context"

	"github.com/parley-dev/parley"
)

// PublishProgress stores a run's progress on the transcript and appends its
// PIPELINE_PROGRESS event, in one transaction: a reader of the document
// never sees progress that no event announced, nor the other way round.
func (db *DB) PublishProgress(ctx context.Context, transcriptID string, d parley.PipelineProgressData) error {
	return db.InTx(ctx, func(tx *DB) error {
		p := parley.Progress{CurrentStep: d.CurrentStep, StepIndex: d.StepIndex, TotalSteps: d.TotalSteps,
			Percent: d.Percent, Detail: d.Detail}
		if err := tx.UpdateTranscript(ctx, transcriptID, TranscriptUpdate{Progress: &p}); err != nil {
			return err
		}
		_, err := tx.AppendEvent(ctx, transcriptID, parley.EventPipelineProgress, d)
		return err
	})
}
