// Package testenv connects tests to the real local stack that `make test`
// (scripts/stack.sh infra) starts: PostgreSQL, hatchet-lite and MinIO. It
// reads .stack/env when the variables are not already in the environment,
// and fails with instructions when the stack is missing. Under -short (the
// fast tier, `make check`) every test that needs the stack skips instead:
// they all reach it through Load.
package testenv

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

var (
	rootOnce sync.Once
	rootErr  error
	root     string

	loadOnce sync.Once
	loadErr  error
)

// Root returns the repository root (no stack needed).
func Root(tb testing.TB) string {
	tb.Helper()
	rootOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			rootErr = err
			return
		}
		root = filepath.Dir(strings.TrimSpace(string(out)))
	})
	if rootErr != nil {
		tb.Fatalf("find the repository root: %v", rootErr)
	}
	return root
}

// Load makes the stack's variables (.stack/env) part of the process
// environment, once. Variables already set win. Under -short it skips the
// test: the fast tier runs without the stack.
func Load(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("needs the local stack (PostgreSQL, hatchet-lite, MinIO): skipped under -short")
	}
	dir := os.Getenv("PARLEY_STACK_DIR")
	if dir == "" {
		dir = filepath.Join(Root(tb), ".stack")
	}
	loadOnce.Do(func() {
		f, err := os.Open(filepath.Join(dir, "env"))
		if err != nil {
			if os.Getenv("HATCHET_CLIENT_TOKEN") == "" {
				loadErr = err
			}
			return
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			line, ok := strings.CutPrefix(line, "export ")
			if !ok {
				continue
			}
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			v = strings.Trim(v, "'\"")
			if _, set := os.LookupEnv(k); !set {
				if err := os.Setenv(k, v); err != nil {
					loadErr = err
					return
				}
			}
		}
		loadErr = sc.Err()
	})
	if loadErr != nil {
		tb.Fatalf("the local stack is not running (%v): run the tests with `make test`, or `make up` first", loadErr)
	}
}

// Getenv returns a stack variable, failing the test when it is empty.
func Getenv(tb testing.TB, key string) string {
	tb.Helper()
	Load(tb)
	v := os.Getenv(key)
	if v == "" {
		tb.Fatalf("%s is not set: run the tests with `make test`, or `make up` first", key)
	}
	return v
}

// Name returns a short unique lowercase name for per-test resources
// (schemas, Hatchet namespaces, buckets, key prefixes).
func Name(tb testing.TB, prefix string) string {
	tb.Helper()
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

// DropHatchetQueues removes the engine's task queues of a test namespace
// (HATCHET_DATABASE_URL), and its rate limits (Parley prefixes their keys
// with the namespace). The engine keeps a queue per task and namespace
// and scans every queue that was active in the last day, so each test
// namespace left behind makes the shared engine's scheduling slower; the
// engine has no API to remove them. Call it after the namespace's workers
// have stopped and its workflows are deleted.
func DropHatchetQueues(tb testing.TB, namespace string) {
	tb.Helper()
	if namespace == "" {
		tb.Fatal("DropHatchetQueues: empty namespace")
	}
	url := Getenv(tb, "HATCHET_DATABASE_URL")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Errorf("drop the namespace's Hatchet queues: %v", err)
		return
	}
	defer conn.Close(context.Background())
	prefix := strings.ToLower(namespace) + "_"
	if _, err := conn.Exec(ctx, `DELETE FROM v1_queue WHERE starts_with(name, $1)`, prefix); err != nil {
		tb.Errorf("drop the namespace's Hatchet queues: %v", err)
	}
	// The deleted workflows' steps still point at their rate limits (the
	// API deletes a workflow by marking it).
	if _, err := conn.Exec(ctx, `DELETE FROM "StepRateLimit" WHERE starts_with("rateLimitKey", $1)`, prefix); err != nil {
		tb.Errorf("drop the namespace's Hatchet step rate limits: %v", err)
	}
	if _, err := conn.Exec(ctx, `DELETE FROM "RateLimit" WHERE starts_with("key", $1)`, prefix); err != nil {
		tb.Errorf("drop the namespace's Hatchet rate limits: %v", err)
	}
}
