package store

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley-dev/parley"
)

// EventChannel is the PostgreSQL NOTIFY channel on which AppendEvent
// announces new events as "<transcript id>:<seq>".
const EventChannel = "parley_events"

// AppendEvent stores an event and announces it with NOTIFY, in one
// transaction: the event is stored before anyone can hear of it, and its
// seq is the next of the transcript's gapless sequence (concurrent appends
// serialise on the transcript row, so none is lost or reordered).
func (db *DB) AppendEvent(ctx context.Context, transcriptID, name string, data any) (parley.Event, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return parley.Event{}, fmt.Errorf("append event %s: %w", name, err)
	}
	ev := parley.Event{TranscriptID: transcriptID, Name: name, Data: raw}
	err = db.InTx(ctx, func(tx *DB) error {
		if err := tx.q.QueryRow(ctx, `WITH s AS (
				UPDATE transcripts SET event_seq = event_seq + 1 WHERE id = $1 RETURNING event_seq)
			INSERT INTO events (transcript_id, seq, name, data)
			SELECT $1, event_seq, $2, $3 FROM s RETURNING seq, created_at`,
			transcriptID, name, raw).Scan(&ev.Seq, &ev.CreatedAt); err != nil {
			return wrapDBError("append event "+name, err)
		}
		_, err := tx.q.Exec(ctx, `SELECT pg_notify($1, $2)`, EventChannel, transcriptID+":"+strconv.FormatInt(ev.Seq, 10))
		return wrapDBError("notify event "+name, err)
	})
	return ev, err
}

// ListEvents returns up to limit events of a transcript with seq > after,
// in order. limit <= 0 means all.
func (db *DB) ListEvents(ctx context.Context, transcriptID string, after int64, limit int) ([]parley.Event, error) {
	sql := `SELECT seq, name, data, created_at FROM events WHERE transcript_id = $1 AND seq > $2 ORDER BY seq`
	args := []any{transcriptID, after}
	if limit > 0 {
		sql += ` LIMIT $3`
		args = append(args, limit)
	}
	rows, err := db.q.Query(ctx, sql, args...)
	if err != nil {
		return nil, wrapDBError("list events", err)
	}
	defer rows.Close()
	var out []parley.Event
	for rows.Next() {
		ev := parley.Event{TranscriptID: transcriptID}
		if err := rows.Scan(&ev.Seq, &ev.Name, &ev.Data, &ev.CreatedAt); err != nil {
			return nil, wrapDBError("list events", err)
		}
		out = append(out, ev)
	}
	return out, wrapDBError("list events", rows.Err())
}

// Notification is one NOTIFY received by Listen.
type Notification struct {
	TranscriptID string
	Seq          int64
}

// Listen holds a connection that LISTENs on EventChannel and calls fn for
// every notification until ctx ends. It reconnects after connection loss
// (with backoff). It calls onConnect (when not nil) each time it is
// listening, the first time included, because notifications sent while
// not listening are lost: callers (re-)read the event table then. fn must
// not block for long.
func (db *DB) Listen(ctx context.Context, fn func(Notification), onConnect func()) error {
	backoff := 100 * time.Millisecond
	for {
		err := db.listenOnce(ctx, fn, func() {
			backoff = 100 * time.Millisecond
			if onConnect != nil {
				onConnect()
			}
		})
		if ctx.Err() != nil {
			return nil
		}
		db.log.WarnContext(ctx, "event listener lost its connection; reconnecting", slog.Any("error", err), slog.Duration("backoff", backoff))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (db *DB) listenOnce(ctx context.Context, fn func(Notification), connected func()) error {
	conn, err := acquire(ctx, db.pool)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+EventChannel); err != nil {
		conn.Conn().Close(context.Background())
		return err
	}
	connected()
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			// The connection may be in an unknown state: do not return it
			// to the pool listening.
			conn.Conn().Close(context.Background())
			return err
		}
		tid, seqStr, ok := strings.Cut(n.Payload, ":")
		if !ok {
			continue
		}
		seq, err := strconv.ParseInt(seqStr, 10, 64)
		if err != nil {
			continue
		}
		fn(Notification{TranscriptID: tid, Seq: seq})
	}
}

func acquire(ctx context.Context, pool *pgxpool.Pool) (*pgxpool.Conn, error) {
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return pool.Acquire(actx)
}
