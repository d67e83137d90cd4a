// Package storetest gives each test its own migrated schema on the real
// PostgreSQL, and access to the real MinIO, both from the local stack.
package storetest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-dev/parley/internal/testenv"
	"github.com/parley-dev/parley/store"
)

// DatabaseURL returns the test database URL (TEST_DATABASE_URL).
func DatabaseURL(tb testing.TB) string {
	tb.Helper()
	return testenv.Getenv(tb, "TEST_DATABASE_URL")
}

// NewSchema creates an empty schema and drops it when the test ends. It
// returns the schema name.
func NewSchema(tb testing.TB) string {
	tb.Helper()
	url := DatabaseURL(tb)
	schema := testenv.Name(tb, "t_")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatalf("connect to the test database: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			tb.Logf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Logf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// NewDB returns a DB on a fresh, migrated schema of its own.
func NewDB(tb testing.TB) *store.DB {
	tb.Helper()
	db, _ := NewDBWithSchema(tb)
	return db
}

// NewDBWithSchema is NewDB that also returns the schema name (for child
// processes that must share it: DATABASE_URL's search_path).
func NewDBWithSchema(tb testing.TB) (*store.DB, string) {
	tb.Helper()
	schema := NewSchema(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db, err := store.Open(ctx, store.Config{URL: DatabaseURL(tb), Schema: schema, MaxConns: 4,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatalf("open test database: %v", err)
	}
	tb.Cleanup(db.Close)
	if _, err := db.Migrate(ctx); err != nil {
		tb.Fatalf("migrate test schema: %v", err)
	}
	return db, schema
}

// NewS3 returns storage on the stack's MinIO, in a fresh bucket of its own.
func NewS3(tb testing.TB) *store.S3 {
	tb.Helper()
	bucket := testenv.Name(tb, "test-")
	s3, err := store.OpenS3(store.S3Config{
		Endpoint:  testenv.Getenv(tb, "S3_ENDPOINT"),
		AccessKey: testenv.Getenv(tb, "AWS_ACCESS_KEY_ID"),
		SecretKey: testenv.Getenv(tb, "AWS_SECRET_ACCESS_KEY"),
		Bucket:    bucket,
	})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s3.EnsureBucket(ctx, bucket); err != nil {
		tb.Fatalf("create test bucket: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		keys, _ := s3.List(ctx, bucket, "")
		for _, k := range keys {
			_ = s3.Delete(ctx, bucket, k)
		}
		if err := s3.RemoveBucket(ctx, bucket); err != nil {
			tb.Logf("remove test bucket: %v", err)
		}
	})
	return s3
}
