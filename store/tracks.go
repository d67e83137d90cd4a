package store

import (
	"context"
	"fmt"

	"github.com/parley-dev/parley"
)

// TrackState is a stored track with what pad_track and transcribe_track
// recorded about it.
type TrackState struct {
	parley.Track
	StartOffset *float64
	Duration    *float64
	Padded      PaddedTrack
	Transcribed bool
	// Source is what pad_track sent to the recogniser (SourceOriginal,
	// SourceSegments or SourcePadded; "" before it ran). Unlike Padded it
	// outlives finalize.
	Source string
}

// What pad_track sends to the speech recogniser (TrackState.Source).
const (
	// SourceOriginal: the raw track as it is; word times are shifted by
	// PaddedTrack.Shift, and PaddedTrack names the original itself.
	SourceOriginal = "original"
	// SourcePadded: a copy on meeting time under the transcript's prefix,
	// deleted by finalize.
	SourcePadded = "padded"
	// SourceSegments: the raw track split at its mute gaps by stream copy
	// (no re-encode), each segment sent on its own and its word times
	// shifted by the segment's start; PaddedTrack names the list of
	// segments (package tracks), and the list and the segments lie under
	// the transcript's prefix, deleted by finalize like a padded copy.
	SourceSegments = "segments"
)

// PaddedTrack is the result of pad_track: where the meeting-time audio is
// and how to read it.
type PaddedTrack struct {
	Bucket string  `json:"bucket"`
	Key    string  `json:"key"`
	SHA256 string  `json:"sha256"`
	Size   int64   `json:"size"`
	Shift  float64 `json:"shift"`
	// RunID is the pipeline run that made the file.
	RunID string `json:"run_id"`
	// Source is SourceOriginal, SourceSegments or SourcePadded.
	Source string `json:"source"`
	// Ext is the file extension the recogniser must see ("webm", "mp3"):
	// an original's key may have none.
	Ext string `json:"ext"`
}

// SetTracks stores the tracks of a transcript. It replaces an earlier list
// only while none of them has been padded, so a replayed trigger cannot
// change the inputs of a run under way.
func (db *DB) SetTracks(ctx context.Context, transcriptID string, tracks []parley.Track) error {
	return db.InTx(ctx, func(tx *DB) error {
		// Serialise concurrent callers on the transcript row.
		if _, err := tx.q.Exec(ctx, `SELECT 1 FROM transcripts WHERE id = $1 FOR UPDATE`, transcriptID); err != nil {
			return wrapDBError("set tracks", err)
		}
		var padded int
		if err := tx.q.QueryRow(ctx, `SELECT count(*) FROM tracks WHERE transcript_id = $1 AND padded_key <> ''`,
			transcriptID).Scan(&padded); err != nil {
			return wrapDBError("set tracks", err)
		}
		existing, err := tx.ListTracks(ctx, transcriptID)
		if err != nil {
			return err
		}
		if sameTracks(existing, tracks) {
			return nil // a repeated call (a re-delivered trigger)
		}
		if padded > 0 {
			return parley.Errorf(parley.ECONFLICT, "transcript %s already has processed tracks", transcriptID)
		}
		if _, err := tx.q.Exec(ctx, `DELETE FROM tracks WHERE transcript_id = $1`, transcriptID); err != nil {
			return wrapDBError("set tracks", err)
		}
		for i, t := range tracks {
			if _, err := tx.q.Exec(ctx, `INSERT INTO tracks (transcript_id, idx, bucket, s3_key, participant_id, name)
				VALUES ($1, $2, $3, $4, $5, $6)`, transcriptID, i, t.Bucket, t.Key, t.ParticipantID, t.Name); err != nil {
				return wrapDBError("set tracks", err)
			}
		}
		return nil
	})
}

func sameTracks(a []TrackState, b []parley.Track) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Bucket != b[i].Bucket || a[i].Key != b[i].Key {
			return false
		}
	}
	return true
}

// AddTrack appends one uploaded track and returns its index. A
// transcript that already has maxTracks tracks (when maxTracks > 0) gets
// none: the count is checked in the same transaction as the insert, under
// the transcript's lock, so parallel uploads cannot pass it together.
func (db *DB) AddTrack(ctx context.Context, transcriptID string, t parley.Track, maxTracks int) (int, error) {
	var idx int
	err := db.InTx(ctx, func(tx *DB) error {
		// Lock the transcript so concurrent uploads get distinct indexes.
		if _, err := tx.q.Exec(ctx, `SELECT 1 FROM transcripts WHERE id = $1 FOR UPDATE`, transcriptID); err != nil {
			return wrapDBError("add track", err)
		}
		if maxTracks > 0 {
			n, err := tx.CountTracks(ctx, transcriptID)
			if err != nil {
				return err
			}
			if n >= maxTracks {
				return parley.Errorf(parley.EINVALID, "transcript %s already has %d tracks, the most allowed", transcriptID, n)
			}
		}
		if err := tx.q.QueryRow(ctx, `INSERT INTO tracks (transcript_id, idx, bucket, s3_key, participant_id, name)
			SELECT $1, coalesce(max(idx) + 1, 0), $2, $3, $4, $5 FROM tracks WHERE transcript_id = $1 RETURNING idx`,
			transcriptID, t.Bucket, t.Key, t.ParticipantID, t.Name).Scan(&idx); err != nil {
			return wrapDBError("add track", err)
		}
		return nil
	})
	return idx, err
}

// CountTracks returns how many tracks a transcript has.
func (db *DB) CountTracks(ctx context.Context, transcriptID string) (int, error) {
	var n int
	err := db.q.QueryRow(ctx, `SELECT count(*) FROM tracks WHERE transcript_id = $1`, transcriptID).Scan(&n)
	return n, wrapDBError("count tracks", err)
}

// OtherReferences counts the transcripts other than transcriptID whose
// tracks use bucket/key and that keep their audio (not deleted, no consent
// denied): a shared object (a Daily raw track processed twice) stays while
// one of them needs it. A denial is stored before its deletion runs, so of
// two transcripts sharing an object and denied at once, at least one sees
// the other's denial and deletes it.
func (db *DB) OtherReferences(ctx context.Context, transcriptID, bucket, key string) (int, error) {
	var n int
	err := db.q.QueryRow(ctx, `SELECT count(DISTINCT tr.transcript_id) FROM tracks tr
		JOIN transcripts t ON t.id = tr.transcript_id
		WHERE tr.bucket = $2 AND tr.s3_key = $3 AND tr.transcript_id <> $1 AND NOT t.audio_deleted
		AND NOT EXISTS (SELECT 1 FROM consent c WHERE c.transcript_id = t.id AND NOT c.consent_given)`,
		transcriptID, bucket, key).Scan(&n)
	return n, wrapDBError("count track references", err)
}

// ListTracks returns the tracks of a transcript in index order.
func (db *DB) ListTracks(ctx context.Context, transcriptID string) ([]TrackState, error) {
	rows, err := db.q.Query(ctx, `SELECT idx, bucket, s3_key, participant_id, name, start_offset, duration,
		padded_bucket, padded_key, padded_sha256, padded_size, padded_shift, padded_run_id, transcribed, source,
		padded_ext FROM tracks WHERE transcript_id = $1 ORDER BY idx`, transcriptID)
	if err != nil {
		return nil, wrapDBError("list tracks", err)
	}
	defer rows.Close()
	var out []TrackState
	for rows.Next() {
		var t TrackState
		if err := rows.Scan(&t.Index, &t.Bucket, &t.Key, &t.ParticipantID, &t.Name, &t.StartOffset, &t.Duration,
			&t.Padded.Bucket, &t.Padded.Key, &t.Padded.SHA256, &t.Padded.Size, &t.Padded.Shift, &t.Padded.RunID, &t.Transcribed,
			&t.Source, &t.Padded.Ext); err != nil {
			return nil, wrapDBError("list tracks", err)
		}
		t.Padded.Source = t.Source // one column: what SetTrackPadded recorded
		out = append(out, t)
	}
	return out, wrapDBError("list tracks", rows.Err())
}

// GetTrack returns one track.
func (db *DB) GetTrack(ctx context.Context, transcriptID string, idx int) (*TrackState, error) {
	tracks, err := db.ListTracks(ctx, transcriptID)
	if err != nil {
		return nil, err
	}
	for i := range tracks {
		if tracks[i].Index == idx {
			return &tracks[i], nil
		}
	}
	return nil, parley.Errorf(parley.ENOTFOUND, "transcript %s has no track %d", transcriptID, idx)
}

// SetTrackPadded records pad_track's result for one track.
func (db *DB) SetTrackPadded(ctx context.Context, transcriptID string, idx int, offset, duration float64, p PaddedTrack) error {
	tag, err := db.q.Exec(ctx, `UPDATE tracks SET start_offset = $3, duration = $4, padded_bucket = $5,
		padded_key = $6, padded_sha256 = $7, padded_size = $8, padded_shift = $9, padded_run_id = $10, source = $11,
		padded_ext = $12 WHERE transcript_id = $1 AND idx = $2`,
		transcriptID, idx, offset, duration, p.Bucket, p.Key, p.SHA256, p.Size, p.Shift, p.RunID, p.Source, p.Ext)
	if err != nil {
		return wrapDBError("record padded track", err)
	}
	if tag.RowsAffected() == 0 {
		return parley.Errorf(parley.ENOTFOUND, "transcript %s has no track %d", transcriptID, idx)
	}
	return nil
}

// ClearPaddedTracks forgets the padded files (after finalize deleted them).
func (db *DB) ClearPaddedTracks(ctx context.Context, transcriptID string) error {
	_, err := db.q.Exec(ctx, `UPDATE tracks SET padded_key = '', padded_bucket = '', padded_size = 0, padded_run_id = ''
		WHERE transcript_id = $1`, transcriptID)
	return wrapDBError("clear padded tracks", err)
}

// ReplaceTrackWords stores the words of one track (speaker = track index),
// replacing any earlier words of that track, marks the track transcribed
// and rebuilds the transcript's search segments, all in one transaction: a
// retried transcription never duplicates words, and search never sees
// words that are gone.
func (db *DB) ReplaceTrackWords(ctx context.Context, transcriptID string, speaker int, words []parley.Word) error {
	return db.InTx(ctx, func(tx *DB) error {
		// The transcript's lock first: concurrent tracks serialise here,
		// so each rebuild of the search index sees the others' words.
		if err := tx.lockTranscript(ctx, transcriptID, "replace track words"); err != nil {
			return err
		}
		if _, err := tx.q.Exec(ctx, `DELETE FROM words WHERE transcript_id = $1 AND speaker = $2`, transcriptID, speaker); err != nil {
			return wrapDBError("replace track words", err)
		}
		if len(words) > 0 {
			texts := make([]string, len(words))
			starts := make([]float64, len(words))
			ends := make([]float64, len(words))
			for i, w := range words {
				if w.Speaker != speaker {
					return parley.Errorf(parley.EINTERNAL, "word %d of track %d has speaker %d", i, speaker, w.Speaker)
				}
				texts[i], starts[i], ends[i] = w.Text, w.Start, w.End
			}
			if _, err := tx.q.Exec(ctx, `INSERT INTO words (transcript_id, speaker, seq, text, start_s, end_s)
				SELECT $1, $2, s.ord - 1, s.text, s.start_s, s.end_s
				FROM unnest($3::text[], $4::float8[], $5::float8[]) WITH ORDINALITY AS s(text, start_s, end_s, ord)`,
				transcriptID, speaker, texts, starts, ends); err != nil {
				return wrapDBError("replace track words", err)
			}
		}
		tag, err := tx.q.Exec(ctx, `UPDATE tracks SET transcribed = true WHERE transcript_id = $1 AND idx = $2`, transcriptID, speaker)
		if err != nil {
			return wrapDBError("replace track words", err)
		}
		if tag.RowsAffected() == 0 {
			return parley.Errorf(parley.ENOTFOUND, "transcript %s has no track %d", transcriptID, speaker)
		}
		return tx.refreshSearch(ctx, transcriptID)
	})
}

// ListWords returns all words of a transcript in meeting-time order (a
// stable order: start, then speaker, then position in the track).
func (db *DB) ListWords(ctx context.Context, transcriptID string) ([]parley.Word, error) {
	return db.listWords(ctx, `SELECT text, start_s, end_s, speaker FROM words WHERE transcript_id = $1
		ORDER BY start_s, speaker, seq`, transcriptID)
}

// ListWordRange returns words [from, to) of the meeting-time order.
func (db *DB) ListWordRange(ctx context.Context, transcriptID string, from, to int) ([]parley.Word, error) {
	return db.listWords(ctx, `SELECT text, start_s, end_s, speaker FROM words WHERE transcript_id = $1
		ORDER BY start_s, speaker, seq OFFSET $2 LIMIT $3`, transcriptID, from, to-from)
}

func (db *DB) listWords(ctx context.Context, sql string, args ...any) ([]parley.Word, error) {
	rows, err := db.q.Query(ctx, sql, args...)
	if err != nil {
		return nil, wrapDBError("list words", err)
	}
	defer rows.Close()
	out := []parley.Word{}
	for rows.Next() {
		var w parley.Word
		if err := rows.Scan(&w.Text, &w.Start, &w.End, &w.Speaker); err != nil {
			return nil, wrapDBError("list words", err)
		}
		out = append(out, w)
	}
	return out, wrapDBError("list words", rows.Err())
}

// CountWords returns how many words a transcript has.
func (db *DB) CountWords(ctx context.Context, transcriptID string) (int, error) {
	var n int
	err := db.q.QueryRow(ctx, `SELECT count(*) FROM words WHERE transcript_id = $1`, transcriptID).Scan(&n)
	return n, wrapDBError("count words", err)
}

// SetParticipants replaces the participants of a transcript with the
// names Daily (or the uploads) gave. A user's renames are kept: they stay
// attached to the participant id across re-runs.
func (db *DB) SetParticipants(ctx context.Context, transcriptID string, ps []parley.Participant) error {
	return db.InTx(ctx, func(tx *DB) error {
		custom := map[string]string{}
		rows, err := tx.q.Query(ctx, `DELETE FROM participants WHERE transcript_id = $1 RETURNING id, custom_name`, transcriptID)
		if err != nil {
			return wrapDBError("set participants", err)
		}
		for rows.Next() {
			var id, name string
			if err := rows.Scan(&id, &name); err != nil {
				rows.Close()
				return wrapDBError("set participants", err)
			}
			custom[id] = name
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return wrapDBError("set participants", err)
		}
		for _, p := range ps {
			if p.ID == "" {
				p.ID = fmt.Sprintf("speaker-%d", p.Speaker)
			}
			if _, err := tx.q.Exec(ctx, `INSERT INTO participants (transcript_id, id, speaker, name, user_id, custom_name)
				VALUES ($1, $2, $3, $4, $5, $6)`, transcriptID, p.ID, p.Speaker, p.Name, p.UserID, custom[p.ID]); err != nil {
				return wrapDBError("set participants", err)
			}
		}
		return nil
	})
}

// participantColumns select a participant with its shown name (a user's
// correction, else the default) and, when renamed, the default name.
const participantColumns = `id, speaker, CASE WHEN custom_name <> '' THEN custom_name ELSE name END,
	CASE WHEN custom_name <> '' THEN name ELSE '' END, user_id`

// ListParticipants returns the participants of a transcript by speaker,
// with the names to show (see parley.Participant).
func (db *DB) ListParticipants(ctx context.Context, transcriptID string) ([]parley.Participant, error) {
	rows, err := db.q.Query(ctx, `SELECT `+participantColumns+` FROM participants
		WHERE transcript_id = $1 ORDER BY speaker`, transcriptID)
	if err != nil {
		return nil, wrapDBError("list participants", err)
	}
	defer rows.Close()
	out := []parley.Participant{}
	for rows.Next() {
		var p parley.Participant
		if err := rows.Scan(&p.ID, &p.Speaker, &p.Name, &p.DefaultName, &p.UserID); err != nil {
			return nil, wrapDBError("list participants", err)
		}
		out = append(out, p)
	}
	return out, wrapDBError("list participants", rows.Err())
}
