package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/parley-dev/parley/store"
)

func init() {
	register("migrate", "apply database migrations", runMigrate)
}

func runMigrate(ctx context.Context, env *Env, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2, err: err}
	}
	cfg, err := loadConfig(env)
	if err != nil {
		return err
	}
	log := newLogger(env.Stderr, cfg)
	db, err := store.Open(ctx, store.Config{URL: cfg.DatabaseURL, MaxConns: 2, Logger: log})
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := db.Migrate(ctx)
	if err != nil {
		return err
	}
	current, _, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "applied %d migration(s); schema version %d\n", n, current)
	return nil
}
