package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/parley-dev/parley"
)

// Step attempt states stored in the audit.
const (
	AttemptRunning   = "running"
	AttemptCompleted = "completed"
	AttemptFailed    = "failed"
	// AttemptRetrying is a failed attempt that Hatchet will retry.
	AttemptRetrying = "retrying"
)

// StepAttempt identifies one attempt of one step.
type StepAttempt struct {
	TranscriptID  string
	WorkflowRunID string
	TaskRunID     string
	Name          string
	TrackIndex    *int
	// ChildIndex is the topic chunk or subject of a fan-out child's step
	// (nil for other steps).
	ChildIndex *int
	// Attempt is 1-based.
	Attempt   int
	StartedAt time.Time
}

// StartStepAttempt records that an attempt started and returns its row id.
// Recording the same (task run, attempt) twice returns the first row.
func (db *DB) StartStepAttempt(ctx context.Context, a StepAttempt) (int64, error) {
	var id int64
	err := db.q.QueryRow(ctx, `INSERT INTO steps (transcript_id, workflow_run_id, task_run_id, name, track_index, child_index, attempt, status, started_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 'running', $8)
		ON CONFLICT (transcript_id, task_run_id, attempt) WHERE task_run_id <> ''
		DO UPDATE SET status = 'running', started_at = EXCLUDED.started_at, finished_at = NULL, error = ''
		RETURNING id`,
		a.TranscriptID, a.WorkflowRunID, a.TaskRunID, a.Name, a.TrackIndex, a.ChildIndex, a.Attempt, a.StartedAt).Scan(&id)
	return id, wrapDBError("start step attempt", err)
}

// FinishStepAttempt records how an attempt ended, with the step's note
// (what it did when worth saying, such as why it was skipped; "" for none).
func (db *DB) FinishStepAttempt(ctx context.Context, id int64, status string, finishedAt time.Time, usage parley.Usage, errMsg, note string) error {
	u, err := json.Marshal(usage)
	if err != nil {
		return err
	}
	_, err = db.q.Exec(ctx, `UPDATE steps SET status = $2, finished_at = $3, usage = $4, error = $5, note = $6 WHERE id = $1`,
		id, status, finishedAt, u, errMsg, note)
	return wrapDBError("finish step attempt", err)
}

// ListSteps returns the audit of a transcript: one row per step (and per
// track for track steps) with the state of its latest attempt, the number
// of attempts and the usage summed over every attempt, in start order.
// Track steps carry what the recogniser got for their track
// (TrackState.Source).
func (db *DB) ListSteps(ctx context.Context, transcriptID string) ([]parley.StepRecord, error) {
	rows, err := db.q.Query(ctx, `WITH a AS (
			SELECT *, row_number() OVER (PARTITION BY name, track_index, child_index ORDER BY id DESC) AS rn,
			       count(*) OVER (PARTITION BY name, track_index, child_index) AS attempts,
			       min(started_at) OVER (PARTITION BY name, track_index, child_index) AS first_start
			FROM steps WHERE transcript_id = $1)
		SELECT a.name, a.track_index, a.child_index, a.workflow_run_id, a.status, a.attempts, a.first_start, a.finished_at, a.error, a.note,
		       (SELECT coalesce(jsonb_agg(s.usage), '[]') FROM steps s
		        WHERE s.transcript_id = $1 AND s.name = a.name AND s.track_index IS NOT DISTINCT FROM a.track_index
		          AND s.child_index IS NOT DISTINCT FROM a.child_index),
		       coalesce((SELECT t.source FROM tracks t WHERE t.transcript_id = $1 AND t.idx = a.track_index), '')
		FROM a WHERE rn = 1 ORDER BY first_start, name, track_index, child_index`, transcriptID)
	if err != nil {
		return nil, wrapDBError("list steps", err)
	}
	defer rows.Close()
	out := []parley.StepRecord{}
	for rows.Next() {
		var r parley.StepRecord
		var usages []byte
		if err := rows.Scan(&r.Name, &r.TrackIndex, &r.ChildIndex, &r.WorkflowRunID, &r.Status, &r.Attempts, &r.StartedAt,
			&r.FinishedAt, &r.Error, &r.Note, &usages, &r.Source); err != nil {
			return nil, wrapDBError("list steps", err)
		}
		var us []parley.Usage
		if err := json.Unmarshal(usages, &us); err != nil {
			return nil, err
		}
		for _, u := range us {
			r.Usage.Add(u)
		}
		if r.FinishedAt != nil {
			r.DurationMS = r.FinishedAt.Sub(r.StartedAt).Milliseconds()
		}
		out = append(out, r)
	}
	return out, wrapDBError("list steps", rows.Err())
}

// CompletedSteps returns the names of steps whose latest attempt completed
// in the given run (track steps counted once per track, fan-out children's
// once per child).
func (db *DB) CompletedSteps(ctx context.Context, transcriptID, workflowRunID string) (map[string]int, error) {
	rows, err := db.q.Query(ctx, `SELECT name, count(DISTINCT (coalesce(track_index, -1), coalesce(child_index, -1))) FROM steps
		WHERE transcript_id = $1 AND workflow_run_id = $2 AND status = 'completed' GROUP BY name`,
		transcriptID, workflowRunID)
	if err != nil {
		return nil, wrapDBError("completed steps", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var n string
		var c int
		if err := rows.Scan(&n, &c); err != nil {
			return nil, wrapDBError("completed steps", err)
		}
		out[n] = c
	}
	return out, wrapDBError("completed steps", rows.Err())
}

// FailedAttempts returns the attempts of a run that failed for good (not
// those that were retried), in the order they started.
func (db *DB) FailedAttempts(ctx context.Context, transcriptID, workflowRunID string) ([]parley.StepRecord, error) {
	rows, err := db.q.Query(ctx, `SELECT name, track_index, child_index, workflow_run_id, status, attempt, started_at, finished_at, error
		FROM steps WHERE transcript_id = $1 AND workflow_run_id = $2 AND status = 'failed' ORDER BY id`,
		transcriptID, workflowRunID)
	if err != nil {
		return nil, wrapDBError("failed attempts", err)
	}
	defer rows.Close()
	var out []parley.StepRecord
	for rows.Next() {
		var r parley.StepRecord
		if err := rows.Scan(&r.Name, &r.TrackIndex, &r.ChildIndex, &r.WorkflowRunID, &r.Status, &r.Attempts,
			&r.StartedAt, &r.FinishedAt, &r.Error); err != nil {
			return nil, wrapDBError("failed attempts", err)
		}
		out = append(out, r)
	}
	return out, wrapDBError("failed attempts", rows.Err())
}

// FailedTaskRuns returns the task run ids of the named steps whose latest
// attempt in a run failed for good.
func (db *DB) FailedTaskRuns(ctx context.Context, transcriptID, workflowRunID string, names []string) ([]string, error) {
	rows, err := db.q.Query(ctx, `SELECT DISTINCT ON (name, track_index, child_index) task_run_id, status FROM steps
		WHERE transcript_id = $1 AND workflow_run_id = $2 AND name = ANY($3) AND task_run_id <> ''
		ORDER BY name, track_index, child_index, id DESC`, transcriptID, workflowRunID, names)
	if err != nil {
		return nil, wrapDBError("failed task runs", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, status string
		if err := rows.Scan(&id, &status); err != nil {
			return nil, wrapDBError("failed task runs", err)
		}
		if status == AttemptFailed {
			out = append(out, id)
		}
	}
	return out, wrapDBError("failed task runs", rows.Err())
}
