package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/parley-dev/parley"
)

const roomColumns = `id, name, webhook_url, webhook_secret, zulip_stream, zulip_topic, zulip_auto_post, skip_consent,
	email_recipients, created_at`

func scanRoom(row pgx.Row) (*parley.Room, error) {
	var r parley.Room
	err := row.Scan(&r.ID, &r.Name, &r.WebhookURL, &r.WebhookSecret, &r.ZulipStream, &r.ZulipTopic,
		&r.ZulipAutoPost, &r.SkipConsent, &r.EmailRecipients, &r.CreatedAt)
	return &r, err
}

// CreateRoom inserts a room; its id is generated when empty.
func (db *DB) CreateRoom(ctx context.Context, r parley.Room) (*parley.Room, error) {
	if r.ID == "" {
		r.ID = uuid.NewString()
	}
	if r.EmailRecipients == nil {
		r.EmailRecipients = []string{}
	}
	out, err := scanRoom(db.q.QueryRow(ctx, `INSERT INTO rooms (id, name, webhook_url, webhook_secret, zulip_stream,
		zulip_topic, zulip_auto_post, skip_consent, email_recipients) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING `+roomColumns,
		r.ID, r.Name, r.WebhookURL, r.WebhookSecret, r.ZulipStream, r.ZulipTopic, r.ZulipAutoPost, r.SkipConsent, r.EmailRecipients))
	if err != nil {
		var perr *parley.Error
		if err = wrapDBError("create room", err); errors.As(err, &perr) && perr.Code == parley.ECONFLICT {
			return nil, parley.Errorf(parley.ECONFLICT, "a room named %q already exists", r.Name)
		}
		return nil, err
	}
	return out, nil
}

// GetRoom returns a room by id.
func (db *DB) GetRoom(ctx context.Context, id string) (*parley.Room, error) {
	r, err := scanRoom(db.q.QueryRow(ctx, `SELECT `+roomColumns+` FROM rooms WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "room %s not found", id)
	}
	return r, wrapDBError("get room", err)
}

// GetRoomByName returns a room by name.
func (db *DB) GetRoomByName(ctx context.Context, name string) (*parley.Room, error) {
	r, err := scanRoom(db.q.QueryRow(ctx, `SELECT `+roomColumns+` FROM rooms WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "room %q not found", name)
	}
	return r, wrapDBError("get room", err)
}

// ListRooms returns every room by name.
func (db *DB) ListRooms(ctx context.Context) ([]*parley.Room, error) {
	rows, err := db.q.Query(ctx, `SELECT `+roomColumns+` FROM rooms ORDER BY name`)
	if err != nil {
		return nil, wrapDBError("list rooms", err)
	}
	defer rows.Close()
	out := []*parley.Room{}
	for rows.Next() {
		r, err := scanRoom(rows)
		if err != nil {
			return nil, wrapDBError("list rooms", err)
		}
		out = append(out, r)
	}
	return out, wrapDBError("list rooms", rows.Err())
}

// RoomUpdate names the settings to change; nil fields are left alone.
type RoomUpdate struct {
	Name          *string `json:"name"`
	WebhookURL    *string `json:"webhook_url"`
	WebhookSecret *string `json:"webhook_secret"`
	ZulipStream   *string `json:"zulip_stream"`
	ZulipTopic    *string `json:"zulip_topic"`
	ZulipAutoPost *bool   `json:"zulip_auto_post"`
	SkipConsent   *bool   `json:"skip_consent"`
	// EmailRecipients replaces the room's list (an empty list clears it).
	EmailRecipients *[]string `json:"email_recipients"`
}

// UpdateRoom applies u and returns the room.
func (db *DB) UpdateRoom(ctx context.Context, id string, u RoomUpdate) (*parley.Room, error) {
	r, err := scanRoom(db.q.QueryRow(ctx, `UPDATE rooms SET
		name = coalesce($2, name), webhook_url = coalesce($3, webhook_url), webhook_secret = coalesce($4, webhook_secret),
		zulip_stream = coalesce($5, zulip_stream), zulip_topic = coalesce($6, zulip_topic),
		zulip_auto_post = coalesce($7, zulip_auto_post), skip_consent = coalesce($8, skip_consent),
		email_recipients = coalesce($9, email_recipients), updated_at = now()
		WHERE id = $1 RETURNING `+roomColumns,
		id, u.Name, u.WebhookURL, u.WebhookSecret, u.ZulipStream, u.ZulipTopic, u.ZulipAutoPost, u.SkipConsent, recipients(u.EmailRecipients)))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "room %s not found", id)
	}
	return r, wrapDBError("update room", err)
}

// Recording is a Daily recording as stored.
type Recording struct {
	ID           string
	Bucket       string
	RoomName     string
	TrackKeys    []string
	RecordedAt   *time.Time
	TranscriptID *string
	MtgSessionID string
	DurationS    *int
}

// UpsertRecording stores a recording (first writer wins; later calls only
// fill a missing transcript id).
func (db *DB) UpsertRecording(ctx context.Context, r Recording) error {
	_, err := db.q.Exec(ctx, `INSERT INTO recordings (id, bucket, room_name, track_keys, recorded_at, transcript_id)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (id) DO UPDATE SET transcript_id = coalesce(recordings.transcript_id, EXCLUDED.transcript_id)`,
		r.ID, r.Bucket, r.RoomName, r.TrackKeys, r.RecordedAt, r.TranscriptID)
	return wrapDBError("upsert recording", err)
}

// GetRecording returns a stored recording.
func (db *DB) GetRecording(ctx context.Context, id string) (*Recording, error) {
	var r Recording
	err := db.q.QueryRow(ctx, `SELECT id, bucket, room_name, track_keys, recorded_at, transcript_id::text, mtg_session_id, duration_s
		FROM recordings WHERE id = $1`, id).Scan(&r.ID, &r.Bucket, &r.RoomName, &r.TrackKeys, &r.RecordedAt,
		&r.TranscriptID, &r.MtgSessionID, &r.DurationS)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "recording %s not found", id)
	}
	return &r, wrapDBError("get recording", err)
}

// SetRecordingInfo stores what Daily's API says of a recording.
func (db *DB) SetRecordingInfo(ctx context.Context, id, mtgSessionID string, durationS *int) error {
	tag, err := db.q.Exec(ctx, `UPDATE recordings SET mtg_session_id = $2, duration_s = $3 WHERE id = $1`,
		id, mtgSessionID, durationS)
	if err != nil {
		return wrapDBError("set recording info", err)
	}
	if tag.RowsAffected() == 0 {
		return parley.Errorf(parley.ENOTFOUND, "recording %s not found", id)
	}
	return nil
}

// RecordingDeleted reports whether a recording's transcript was deleted
// for good (such a recording is not processed again).
func (db *DB) RecordingDeleted(ctx context.Context, id string) (bool, error) {
	var deleted bool
	err := db.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM recordings WHERE id = $1 AND deleted_at IS NOT NULL)`, id).Scan(&deleted)
	return deleted, wrapDBError("recording deleted", err)
}

// RecordingExists reports whether a recording is known.
func (db *DB) RecordingExists(ctx context.Context, id string) (bool, error) {
	var ok bool
	err := db.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM recordings WHERE id = $1)`, id).Scan(&ok)
	return ok, wrapDBError("recording exists", err)
}

// AddConsent records a consent answer (one per participant; a later
// answer replaces an earlier one).
func (db *DB) AddConsent(ctx context.Context, transcriptID string, c parley.Consent) error {
	_, err := db.q.Exec(ctx, `INSERT INTO consent (transcript_id, participant_id, consent_given) VALUES ($1, $2, $3)
		ON CONFLICT (transcript_id, participant_id) DO UPDATE SET consent_given = EXCLUDED.consent_given, created_at = now()`,
		transcriptID, c.ParticipantID, c.ConsentGiven)
	return wrapDBError("add consent", err)
}

// ConsentDenied reports whether anyone denied consent for the transcript.
func (db *DB) ConsentDenied(ctx context.Context, transcriptID string) (bool, error) {
	var denied bool
	err := db.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM consent WHERE transcript_id = $1 AND NOT consent_given)`,
		transcriptID).Scan(&denied)
	return denied, wrapDBError("consent denied", err)
}

// recipients is the email_recipients parameter of an update: nil leaves
// the column alone, an empty list clears it.
func recipients(r *[]string) []string {
	if r == nil {
		return nil
	}
	if *r == nil {
		return []string{}
	}
	return *r
}
