// Package hatchettest helps tests of code that declares Hatchet workflows.
package hatchettest

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/parley-dev/parley/hatchet"
)

// Offline returns a client that can declare workflows but never reaches
// an engine: its token names no real server (127.0.0.1:1). Use it to
// inspect declarations (Workflow.Declared) in tests that run without the
// stack.
func Offline(tb testing.TB) *hatchet.Client {
	tb.Helper()
	claims, err := json.Marshal(map[string]any{
		"sub":                    "00000000-0000-4000-8000-000000000000",
		"server_url":             "http://127.0.0.1:1",
		"grpc_broadcast_address": "127.0.0.1:1",
		"exp":                    time.Now().Add(24 * time.Hour).Unix(),
	})
	if err != nil {
		tb.Fatal(err)
	}
	token := "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString(claims) + ".offline"
	c, err := hatchet.NewClient(hatchet.Config{Token: token, Namespace: "offline",
		Logger: slog.New(slog.DiscardHandler), SDKLogOutput: io.Discard})
	if err != nil {
		tb.Fatalf("offline hatchet client: %v", err)
	}
	return c
}
