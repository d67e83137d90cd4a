package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/parley-dev/parley"
)

// NewTranscript is what a transcript is created from.
type NewTranscript struct {
	Name           string
	SourceLanguage string // defaults to "en"
	TargetLanguage string // defaults to SourceLanguage
	RoomID         *string
	RecordingID    *string
	Status         parley.Status // defaults to idle
}

const transcriptColumns = `id, name, status, title, short_summary, long_summary, action_items,
	duration_seconds, source_language, target_language, room_id, recording_id, workflow_run_id,
	progress, error, audio_key, audio_deleted, zulip_message_id, created_at, updated_at, deleted_at`

func scanTranscript(row pgx.Row) (*parley.Transcript, error) {
	var t parley.Transcript
	var id uuid.UUID
	var actionItems, progress, stepErr []byte
	if err := row.Scan(&id, &t.Name, &t.Status, &t.Title, &t.ShortSummary, &t.LongSummary, &actionItems,
		&t.DurationSeconds, &t.SourceLanguage, &t.TargetLanguage, &t.RoomID, &t.RecordingID, &t.WorkflowRunID,
		&progress, &stepErr, &t.AudioKey, &t.AudioDeleted, &t.ZulipMessageID, &t.CreatedAt, &t.UpdatedAt, &t.DeletedAt); err != nil {
		return nil, err
	}
	t.ID = id.String()
	if err := unmarshalOptional(actionItems, &t.ActionItems); err != nil {
		return nil, err
	}
	if t.ActionItems.Decisions == nil {
		t.ActionItems.Decisions = []parley.Decision{}
	}
	if t.ActionItems.NextSteps == nil {
		t.ActionItems.NextSteps = []parley.NextStep{}
	}
	if len(progress) > 0 && string(progress) != "null" {
		t.Progress = &parley.Progress{}
		if err := json.Unmarshal(progress, t.Progress); err != nil {
			return nil, err
		}
	}
	if len(stepErr) > 0 && string(stepErr) != "null" {
		t.Error = &parley.StepError{}
		if err := json.Unmarshal(stepErr, t.Error); err != nil {
			return nil, err
		}
	}
	t.Participants = []parley.Participant{}
	return &t, nil
}

func unmarshalOptional(b []byte, v any) error {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	return json.Unmarshal(b, v)
}

// ParseID checks that id is a transcript id (a UUID) and returns it in
// canonical form; other input is an invalid error.
func ParseID(id string) (string, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return "", parley.Errorf(parley.EINVALID, "%q is not a valid transcript id", id)
	}
	return u.String(), nil
}

// CreateTranscript inserts a transcript.
func (db *DB) CreateTranscript(ctx context.Context, n NewTranscript) (*parley.Transcript, error) {
	lang := n.SourceLanguage
	if lang == "" {
		lang = "en"
	}
	target := n.TargetLanguage
	if target == "" {
		target = lang
	}
	status := n.Status
	if status == "" {
		status = parley.StatusIdle
	}
	row := db.q.QueryRow(ctx, `INSERT INTO transcripts (id, name, status, source_language, target_language, room_id, recording_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+transcriptColumns,
		uuid.New(), n.Name, status, lang, target, n.RoomID, n.RecordingID)
	t, err := scanTranscript(row)
	if err != nil {
		return nil, wrapDBError("create transcript", err)
	}
	return t, nil
}

// CreateTranscriptForRecording returns the transcript of a Daily recording,
// creating it if there is none. created tells whether this call created it.
// Concurrent calls for one recording create exactly one transcript (the
// recording_id unique constraint decides).
func (db *DB) CreateTranscriptForRecording(ctx context.Context, n NewTranscript) (t *parley.Transcript, created bool, err error) {
	if n.RecordingID == nil || *n.RecordingID == "" {
		t, err := db.CreateTranscript(ctx, n)
		return t, err == nil, err
	}
	lang := n.SourceLanguage
	if lang == "" {
		lang = "en"
	}
	target := n.TargetLanguage
	if target == "" {
		target = lang
	}
	status := n.Status
	if status == "" {
		status = parley.StatusIdle
	}
	row := db.q.QueryRow(ctx, `INSERT INTO transcripts (id, name, status, source_language, target_language, room_id, recording_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (recording_id) DO NOTHING RETURNING `+transcriptColumns,
		uuid.New(), n.Name, status, lang, target, n.RoomID, n.RecordingID)
	t, err = scanTranscript(row)
	if err == nil {
		return t, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, false, wrapDBError("create transcript for recording", err)
	}
	row = db.q.QueryRow(ctx, `SELECT `+transcriptColumns+` FROM transcripts WHERE recording_id = $1`, *n.RecordingID)
	t, err = scanTranscript(row)
	if err != nil {
		return nil, false, wrapDBError("find transcript of recording "+*n.RecordingID, err)
	}
	return t, false, nil
}

// GetTranscript returns one transcript with its participants.
func (db *DB) GetTranscript(ctx context.Context, id string) (*parley.Transcript, error) {
	id, err := ParseID(id)
	if err != nil {
		return nil, err
	}
	t, err := scanTranscript(db.q.QueryRow(ctx, `SELECT `+transcriptColumns+` FROM transcripts WHERE id = $1`, id))
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, parley.Errorf(parley.ENOTFOUND, "transcript %s not found", id)
		}
		return nil, wrapDBError("get transcript", err)
	}
	if t.Participants, err = db.ListParticipants(ctx, id); err != nil {
		return nil, err
	}
	return t, nil
}

// ListFilter selects a page of transcripts, newest first.
type ListFilter struct {
	// Limit is the page size. Defaults to 50, at most 200.
	Limit int
	// Before is the cursor returned with the previous page ("" = first page).
	Before string
	// Trashed lists the transcripts in the trash instead of the others.
	Trashed bool
}

// ListTranscripts returns a page of transcripts, newest first, and the
// cursor of the next page ("" when this is the last).
func (db *DB) ListTranscripts(ctx context.Context, f ListFilter) ([]*parley.Transcript, string, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	if f.Limit > 200 {
		f.Limit = 200
	}
	args := []any{f.Limit + 1}
	where := "WHERE deleted_at IS NULL"
	if f.Trashed {
		where = "WHERE deleted_at IS NOT NULL"
	}
	if f.Before != "" {
		ts, id, err := decodeCursor(f.Before)
		if err != nil {
			return nil, "", err
		}
		where += ` AND (created_at, id) < ($2, $3)`
		args = append(args, ts, id)
	}
	rows, err := db.q.Query(ctx, `SELECT `+transcriptColumns+` FROM transcripts `+where+
		` ORDER BY created_at DESC, id DESC LIMIT $1`, args...)
	if err != nil {
		return nil, "", wrapDBError("list transcripts", err)
	}
	defer rows.Close()
	var out []*parley.Transcript
	for rows.Next() {
		t, err := scanTranscript(rows)
		if err != nil {
			return nil, "", wrapDBError("list transcripts", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, "", wrapDBError("list transcripts", err)
	}
	next := ""
	if len(out) > f.Limit {
		out = out[:f.Limit]
		last := out[len(out)-1]
		next = encodeCursor(last.CreatedAt, last.ID)
	}
	return out, next, nil
}

func encodeCursor(t time.Time, id string) string {
	return fmt.Sprintf("%d_%s", t.UnixMicro(), id)
}

func decodeCursor(c string) (time.Time, string, error) {
	var us int64
	var id string
	if _, err := fmt.Sscanf(c, "%d_%s", &us, &id); err != nil {
		return time.Time{}, "", parley.Errorf(parley.EINVALID, "invalid page cursor %q", c)
	}
	if _, err := uuid.Parse(id); err != nil {
		return time.Time{}, "", parley.Errorf(parley.EINVALID, "invalid page cursor %q", c)
	}
	return time.UnixMicro(us), id, nil
}

// TranscriptUpdate names the fields to change; nil fields are left alone.
type TranscriptUpdate struct {
	Name            *string
	Title           *string
	ShortSummary    *string
	LongSummary     *string
	ActionItems     *parley.ActionItems
	DurationSeconds *float64
	WorkflowRunID   *string
	AudioKey        *string
	AudioDeleted    *bool
	Waveform        []float64
	ZulipMessageID  *int64
	Progress        *parley.Progress
	// ClearError removes the stored step error.
	ClearError bool
}

// UpdateTranscript applies u.
func (db *DB) UpdateTranscript(ctx context.Context, id string, u TranscriptUpdate) error {
	sets := []string{"updated_at = now()"}
	args := []any{id}
	add := func(col string, v any) {
		args = append(args, v)
		sets = append(sets, fmt.Sprintf("%s = $%d", col, len(args)))
	}
	if u.Name != nil {
		add("name", *u.Name)
	}
	if u.Title != nil {
		add("title", *u.Title)
	}
	if u.ShortSummary != nil {
		add("short_summary", *u.ShortSummary)
	}
	if u.LongSummary != nil {
		add("long_summary", *u.LongSummary)
	}
	if u.ActionItems != nil {
		add("action_items", *u.ActionItems)
	}
	if u.DurationSeconds != nil {
		add("duration_seconds", *u.DurationSeconds)
	}
	if u.WorkflowRunID != nil {
		add("workflow_run_id", nullIfEmpty(*u.WorkflowRunID))
	}
	if u.AudioKey != nil {
		add("audio_key", *u.AudioKey)
	}
	if u.AudioDeleted != nil {
		add("audio_deleted", *u.AudioDeleted)
	}
	if u.Waveform != nil {
		add("waveform", u.Waveform)
	}
	if u.ZulipMessageID != nil {
		add("zulip_message_id", *u.ZulipMessageID)
	}
	if u.Progress != nil {
		add("progress", *u.Progress)
	}
	if u.ClearError {
		sets = append(sets, "error = NULL")
	}
	tag, err := db.q.Exec(ctx, "UPDATE transcripts SET "+join(sets)+" WHERE id = $1", args...)
	if err != nil {
		return wrapDBError("update transcript", err)
	}
	if tag.RowsAffected() == 0 {
		return parley.Errorf(parley.ENOTFOUND, "transcript %s not found", id)
	}
	return nil
}

func join(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ", "
		}
		out += v
	}
	return out
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Waveform returns the stored waveform of a transcript (nil when none).
func (db *DB) Waveform(ctx context.Context, id string) ([]float64, error) {
	var w []float64
	if err := db.q.QueryRow(ctx, `SELECT waveform FROM transcripts WHERE id = $1`, id).Scan(&w); err != nil {
		return nil, wrapDBError("get waveform", err)
	}
	return w, nil
}

// SetStatus sets the transcript's status and, when it changed, appends a
// STATUS event in the same transaction. stepErr is stored with StatusError
// and cleared with any other status.
func (db *DB) SetStatus(ctx context.Context, id string, status parley.Status, stepErr *parley.StepError) (changed bool, err error) {
	if !status.Valid() {
		return false, parley.Errorf(parley.EINVALID, "unknown status %q", status)
	}
	err = db.InTx(ctx, func(tx *DB) error {
		var old parley.Status
		if err := tx.q.QueryRow(ctx, `SELECT status FROM transcripts WHERE id = $1 FOR UPDATE`, id).Scan(&old); err != nil {
			return wrapDBError("set status", err)
		}
		var errJSON any
		if status == parley.StatusError && stepErr != nil {
			errJSON = stepErr
		}
		if _, err := tx.q.Exec(ctx, `UPDATE transcripts SET status = $2, error = $3, updated_at = now() WHERE id = $1`,
			id, status, errJSON); err != nil {
			return wrapDBError("set status", err)
		}
		if old == status {
			return nil
		}
		changed = true
		_, err := tx.AppendEvent(ctx, id, parley.EventStatus, parley.StatusData{Value: status})
		return err
	})
	return changed, err
}

// ClaimDispatch takes a short lease on starting a run for the transcript:
// it succeeds for one caller at a time when no run is recorded (or force is
// set) and no other claim is younger than lease.
func (db *DB) ClaimDispatch(ctx context.Context, id string, lease time.Duration, force bool) (bool, error) {
	tag, err := db.q.Exec(ctx, `UPDATE transcripts SET dispatch_claimed_at = now()
		WHERE id = $1 AND ($3 OR workflow_run_id IS NULL)
		AND (dispatch_claimed_at IS NULL OR dispatch_claimed_at < now() - make_interval(secs => $2))`,
		id, lease.Seconds(), force)
	if err != nil {
		return false, wrapDBError("claim dispatch", err)
	}
	return tag.RowsAffected() == 1, nil
}

// ReleaseDispatch ends a claim early (after the run id is stored, or when
// starting failed).
func (db *DB) ReleaseDispatch(ctx context.Context, id string) error {
	_, err := db.q.Exec(ctx, `UPDATE transcripts SET dispatch_claimed_at = NULL WHERE id = $1`, id)
	return wrapDBError("release dispatch", err)
}

// DeleteTranscript removes a transcript and everything that belongs to it:
// its rows, and the cached provider results only it used (its words and
// summaries; results another transcript also used stay). Its Daily
// recording stays known as deleted (RecordingDeleted). Not its stored
// audio: callers delete that first.
func (db *DB) DeleteTranscript(ctx context.Context, id string) error {
	return db.InTx(ctx, func(tx *DB) error {
		// Its Daily recording is remembered as deleted (never processed
		// again), without its track list.
		if _, err := tx.q.Exec(ctx, `UPDATE recordings SET deleted_at = now(), track_keys = '{}'
			WHERE transcript_id = $1 OR id = (SELECT recording_id FROM transcripts WHERE id = $1)`, id); err != nil {
			return wrapDBError("delete transcript", err)
		}
		if _, err := tx.q.Exec(ctx, `DELETE FROM cache c USING cache_owners o
			WHERE o.transcript_id = $1 AND c.key = o.key
			AND NOT EXISTS (SELECT 1 FROM cache_owners x WHERE x.key = c.key AND x.transcript_id <> $1)`, id); err != nil {
			return wrapDBError("delete transcript", err)
		}
		_, err := tx.q.Exec(ctx, `DELETE FROM transcripts WHERE id = $1`, id)
		return wrapDBError("delete transcript", err)
	})
}

// SetStepError records a failed step without changing the status (used for
// delivery steps after a transcript has ended).
func (db *DB) SetStepError(ctx context.Context, id string, e *parley.StepError) error {
	_, err := db.q.Exec(ctx, `UPDATE transcripts SET error = $2, updated_at = now() WHERE id = $1`, id, e)
	return wrapDBError("set step error", err)
}
