package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-dev/parley"
)

// TrashOptions tune Trash.
type TrashOptions struct {
	// DispatchLease is the dispatcher's claim lease: a transcript whose run
	// is being started (a claim younger than this) cannot be trashed.
	DispatchLease time.Duration
	// AllowProcessing trashes a transcript whose status is still
	// processing (the caller checked that its run is over: cancelled in
	// the dashboard, or lost).
	AllowProcessing bool
}

// Trash moves a transcript to the trash (deleted_at = now; a transcript
// already there keeps its date). A transcript with a run being started, or
// processing (unless AllowProcessing), is a conflict: the check and the
// change are one statement, so no run can start in between (the
// dispatcher refuses trashed transcripts under its claim).
func (db *DB) Trash(ctx context.Context, id string, o TrashOptions) (*parley.Transcript, error) {
	id, err := ParseID(id)
	if err != nil {
		return nil, err
	}
	row := db.q.QueryRow(ctx, `UPDATE transcripts SET deleted_at = coalesce(deleted_at, now()), updated_at = now()
		WHERE id = $1 AND ($2 OR status <> 'processing')
		AND (dispatch_claimed_at IS NULL OR dispatch_claimed_at < now() - make_interval(secs => $3))
		RETURNING `+transcriptColumns, id, o.AllowProcessing, o.DispatchLease.Seconds())
	t, err := scanTranscript(row)
	if errors.Is(err, pgx.ErrNoRows) {
		if _, gerr := db.GetTranscript(ctx, id); gerr != nil {
			return nil, gerr
		}
		return nil, parley.Errorf(parley.ECONFLICT, "transcript %s has a run in progress: wait for it to end (or cancel it) before deleting", id)
	}
	if err != nil {
		return nil, wrapDBError("trash transcript", err)
	}
	if t.Participants, err = db.ListParticipants(ctx, id); err != nil {
		return nil, err
	}
	return t, nil
}

// Restore takes a transcript out of the trash (a transcript not in the
// trash is left as it is).
func (db *DB) Restore(ctx context.Context, id string) (*parley.Transcript, error) {
	id, err := ParseID(id)
	if err != nil {
		return nil, err
	}
	if _, err := db.q.Exec(ctx, `UPDATE transcripts SET deleted_at = NULL, updated_at = now()
		WHERE id = $1 AND deleted_at IS NOT NULL`, id); err != nil {
		return nil, wrapDBError("restore transcript", err)
	}
	return db.GetTranscript(ctx, id)
}

// TrashedBefore returns up to limit transcripts moved to the trash before
// cutoff, oldest first.
func (db *DB) TrashedBefore(ctx context.Context, cutoff time.Time, limit int) ([]string, error) {
	rows, err := db.q.Query(ctx, `SELECT id::text FROM transcripts WHERE deleted_at IS NOT NULL AND deleted_at < $1
		ORDER BY deleted_at, id LIMIT $2`, cutoff, limit)
	if err != nil {
		return nil, wrapDBError("list expired trash", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, wrapDBError("list expired trash", err)
		}
		ids = append(ids, id)
	}
	return ids, wrapDBError("list expired trash", rows.Err())
}
