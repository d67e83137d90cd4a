package llm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// Cache stores provider results by content (package store implements it
// in PostgreSQL). Keys are hashes of everything that determines an answer.
type Cache interface {
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
	Put(ctx context.Context, key, kind string, value []byte) error
}

// cacheKey hashes the parts (JSON-encoded, so that no two part lists
// collide).
func cacheKey(kind string, parts ...any) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	_ = enc.Encode(kind)
	for _, p := range parts {
		_ = enc.Encode(p)
	}
	return kind + ":" + hex.EncodeToString(h.Sum(nil))
}
