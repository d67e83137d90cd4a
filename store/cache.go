package store

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/parley-dev/parley"
)

// Cache is the content-addressed result cache in PostgreSQL (table cache).
// Keys are hashes of everything that determines a provider's answer; values
// are JSON documents.
type Cache struct {
	db *DB
}

// NewCache returns the cache stored in db.
func NewCache(db *DB) *Cache { return &Cache{db: db} }

// owner is the transcript the context's work is for (NULL when none): the
// cache records which transcripts used an entry (see DeleteTranscript).
func owner(ctx context.Context) any {
	if s := parley.SubjectFromContext(ctx); s != "" {
		if _, err := ParseID(s); err == nil {
			return s
		}
	}
	return nil
}

// Get returns the value stored under key and counts the hit (and the
// context's transcript as one of the entry's users).
func (c *Cache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	var v []byte
	err := c.db.q.QueryRow(ctx, `WITH hit AS (
			UPDATE cache SET hit_count = hit_count + 1, last_hit_at = now() WHERE key = $1 RETURNING value),
		own AS (
			INSERT INTO cache_owners (transcript_id, key) SELECT $2::uuid, $1 FROM hit
			WHERE $2::uuid IS NOT NULL AND EXISTS (SELECT 1 FROM transcripts WHERE id = $2::uuid)
			ON CONFLICT DO NOTHING)
		SELECT value FROM hit`, key, owner(ctx)).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, wrapDBError("cache get", err)
	}
	return v, true, nil
}

// Put stores value (a JSON document) under key; an existing entry is kept
// (same key, same content).
func (c *Cache) Put(ctx context.Context, key, kind string, value []byte) error {
	if !json.Valid(value) {
		b, err := json.Marshal(string(value))
		if err != nil {
			return err
		}
		value = b
	}
	return c.db.InTx(ctx, func(tx *DB) error {
		if _, err := tx.q.Exec(ctx, `INSERT INTO cache (key, kind, value) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING`,
			key, kind, value); err != nil {
			return wrapDBError("cache put", err)
		}
		_, err := tx.q.Exec(ctx, `INSERT INTO cache_owners (transcript_id, key) SELECT $1::uuid, $2
			WHERE $1::uuid IS NOT NULL AND EXISTS (SELECT 1 FROM transcripts WHERE id = $1::uuid) ON CONFLICT DO NOTHING`,
			owner(ctx), key)
		return wrapDBError("cache put", err)
	})
}
