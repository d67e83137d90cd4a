package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/parley-dev/parley/hatchet"
)

func init() {
	register("ready", "wait until a Hatchet run starts and finishes promptly: parley ready [--timeout D]", runReady)
}

// runReady triggers the worker's readiness workflow and waits for it to
// complete. `make up` calls it last, so that "ready" means a run would
// start now, not merely that every process answers its health check.
func runReady(ctx context.Context, env *Env, args []string) error {
	fs := flag.NewFlagSet("ready", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2, err: nil}
	}
	cfg, err := loadConfig(env)
	if err != nil {
		return err
	}
	c, err := hatchet.NewClient(hatchet.Config{Debug: cfg.HatchetDebug, Logger: newLogger(env.Stderr, cfg),
		Namespace: cfg.HatchetNamespace})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	res, err := c.Probe(ctx)
	if err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	fmt.Fprintf(env.Stdout, "ready: a %s run started %.2f s and finished %.2f s after its trigger\n",
		hatchet.ReadinessWorkflow, res.Started.Seconds(), res.Finished.Seconds())
	return nil
}
