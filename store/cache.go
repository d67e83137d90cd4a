package store

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jackc/pgx/v5"
)

// Cache is the content-addressed result cache in PostgreSQL (table cache).
// Keys are hashes of everything that determines a provider's answer; values
// are JSON documents.
type Cache struct {
	db *DB
}

// NewCache returns the cache stored in db.
func NewCache(db *DB) *Cache { return &Cache{db: db} }

// Get returns the value stored under key and counts the hit.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	var v []byte
	err := c.db.q.QueryRow(ctx, `UPDATE cache SET hit_count = hit_count + 1, last_hit_at = now()
		WHERE key = $1 RETURNING value`, key).Scan(&v)
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
	_, err := c.db.q.Exec(ctx, `INSERT INTO cache (key, kind, value) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING`,
		key, kind, value)
	return wrapDBError("cache put", err)
}
