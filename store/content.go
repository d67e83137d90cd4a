package store

import (
	"context"
	"strconv"

	"github.com/google/uuid"

	"github.com/parley-dev/parley"
)

// topicNamespace derives stable topic ids: the same transcript and topic
// index always give the same id, so a replayed detect_topics updates its
// topics in place instead of creating new ones.
var topicNamespace = uuid.MustParse("7f1d4a52-3c0b-4a86-9d0e-1b5e2c6a8f10")

// TopicID returns the stable id of a transcript's idx-th topic.
func TopicID(transcriptID string, idx int) string {
	return uuid.NewSHA1(topicNamespace, []byte(transcriptID+"/"+strconv.Itoa(idx))).String()
}

// StoredTopic is a topic with the word range it covers.
type StoredTopic struct {
	parley.Topic
	WordFrom, WordTo int
}

// ReplaceTopics stores the topics of a transcript (replacing earlier ones)
// in one transaction. Topic ids are derived with TopicID.
func (db *DB) ReplaceTopics(ctx context.Context, transcriptID string, topics []StoredTopic) error {
	return db.InTx(ctx, func(tx *DB) error {
		if _, err := tx.q.Exec(ctx, `DELETE FROM topics WHERE transcript_id = $1`, transcriptID); err != nil {
			return wrapDBError("replace topics", err)
		}
		for i, t := range topics {
			if _, err := tx.q.Exec(ctx, `INSERT INTO topics (transcript_id, idx, id, title, summary, timestamp_s,
				duration_s, transcript, word_from, word_to) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
				transcriptID, i, TopicID(transcriptID, i), t.Title, t.Summary, t.Timestamp, t.Duration,
				t.Transcript, t.WordFrom, t.WordTo); err != nil {
				return wrapDBError("replace topics", err)
			}
		}
		return nil
	})
}

// ListTopics returns the topics of a transcript in order; withWords fills
// each topic's words.
func (db *DB) ListTopics(ctx context.Context, transcriptID string, withWords bool) ([]parley.Topic, error) {
	rows, err := db.q.Query(ctx, `SELECT idx, id, title, summary, timestamp_s, duration_s, transcript, word_from, word_to
		FROM topics WHERE transcript_id = $1 ORDER BY idx`, transcriptID)
	if err != nil {
		return nil, wrapDBError("list topics", err)
	}
	var out []StoredTopic
	for rows.Next() {
		var t StoredTopic
		var id uuid.UUID
		if err := rows.Scan(&t.Index, &id, &t.Title, &t.Summary, &t.Timestamp, &t.Duration, &t.Transcript,
			&t.WordFrom, &t.WordTo); err != nil {
			rows.Close()
			return nil, wrapDBError("list topics", err)
		}
		t.ID = id.String()
		out = append(out, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, wrapDBError("list topics", err)
	}
	var words []parley.Word
	if withWords && len(out) > 0 {
		if words, err = db.ListWords(ctx, transcriptID); err != nil {
			return nil, err
		}
	}
	topics := make([]parley.Topic, len(out))
	for i, t := range out {
		topics[i] = t.Topic
		if withWords {
			from, to := min(t.WordFrom, len(words)), min(t.WordTo, len(words))
			topics[i].Words = append([]parley.Word{}, words[from:to]...)
		}
	}
	return topics, nil
}

// ReplaceSubjects stores the subjects found by extract_subjects (without
// summaries), replacing earlier ones.
func (db *DB) ReplaceSubjects(ctx context.Context, transcriptID string, subjects []string) error {
	return db.InTx(ctx, func(tx *DB) error {
		if _, err := tx.q.Exec(ctx, `DELETE FROM subjects WHERE transcript_id = $1`, transcriptID); err != nil {
			return wrapDBError("replace subjects", err)
		}
		for i, s := range subjects {
			if _, err := tx.q.Exec(ctx, `INSERT INTO subjects (transcript_id, idx, subject) VALUES ($1, $2, $3)`,
				transcriptID, i, s); err != nil {
				return wrapDBError("replace subjects", err)
			}
		}
		return nil
	})
}

// SetSubjectSummaries stores the summaries of one subject.
func (db *DB) SetSubjectSummaries(ctx context.Context, transcriptID string, idx int, detailed, paragraph string) error {
	tag, err := db.q.Exec(ctx, `UPDATE subjects SET detailed_summary = $3, paragraph_summary = $4
		WHERE transcript_id = $1 AND idx = $2`, transcriptID, idx, detailed, paragraph)
	if err != nil {
		return wrapDBError("set subject summaries", err)
	}
	if tag.RowsAffected() == 0 {
		return parley.Errorf(parley.ENOTFOUND, "transcript %s has no subject %d", transcriptID, idx)
	}
	return nil
}

// ListSubjects returns the subjects of a transcript in order.
func (db *DB) ListSubjects(ctx context.Context, transcriptID string) ([]parley.Subject, error) {
	rows, err := db.q.Query(ctx, `SELECT idx, subject, detailed_summary, paragraph_summary FROM subjects
		WHERE transcript_id = $1 ORDER BY idx`, transcriptID)
	if err != nil {
		return nil, wrapDBError("list subjects", err)
	}
	defer rows.Close()
	out := []parley.Subject{}
	for rows.Next() {
		var s parley.Subject
		if err := rows.Scan(&s.Index, &s.Subject, &s.Detailed, &s.Paragraph); err != nil {
			return nil, wrapDBError("list subjects", err)
		}
		out = append(out, s)
	}
	return out, wrapDBError("list subjects", rows.Err())
}
