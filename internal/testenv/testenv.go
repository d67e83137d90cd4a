// Package testenv connects tests to the real local stack that `make test`
// (scripts/stack.sh infra) starts: PostgreSQL, hatchet-lite and MinIO. It
// reads .stack/env when the variables are not already in the environment,
// and fails with instructions when the stack is missing. Under -short (the
// fast tier, `make check`) every test that needs the stack skips instead:
// they all reach it through Load.
package testenv

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
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
