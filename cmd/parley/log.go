package main

import (
	"io"
	"log/slog"
)

// newLogger returns the process logger: text lines on w at the configured
// level.
func newLogger(w io.Writer, cfg Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
