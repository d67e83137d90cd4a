package main

import (
	"context"
	"flag"
	"io"

	"github.com/parley-dev/parley/hatchet"
	"github.com/parley-dev/parley/pipeline"
)

func init() {
	register("worker", "run the Hatchet worker (all workflows)", runWorker)
}

func runWorker(ctx context.Context, env *Env, args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2, err: err}
	}
	cfg, err := loadConfig(env)
	if err != nil {
		return err
	}
	a, err := openApp(ctx, env, cfg)
	if err != nil {
		return err
	}
	defer a.close()
	steps, trackSteps, err := a.steps()
	if err != nil {
		return err
	}
	wfs := pipeline.Define(a.hatchet, steps, trackSteps, cfg.Policies, cfg.MaxRuns)
	all := append(wfs.All(), wfs.Alias, a.hatchet.NewReadinessWorkflow(), pipeline.DefineEmail(a.hatchet, steps, cfg.Policies))
	if d, ok := steps.Daily.(dailyAdapter); ok {
		poller := &pipeline.Poller{Steps: steps, Lister: d, Dispatcher: a.dispatcher(), Bucket: cfg.S3.DailyBucket}
		all = append(all, pipeline.DefinePolling(a.hatchet, poller, cfg.DailyPollCron))
	}
	// The failed-runs monitor posts through the pipeline's Zulip client (the
	// egress policy applies); off without a stream.
	if fr := cfg.FailedRuns; fr.Stream != "" && steps.Zulip != nil {
		all = append(all, pipeline.DefineFailedRunsMonitor(a.hatchet, &pipeline.FailedRunsMonitor{Finder: a.failedRuns(),
			Reports: a.db, Zulip: steps.Zulip, Stream: fr.Stream, Topic: fr.Topic, Window: fr.Window, Log: a.log}, fr.Cron))
	}
	all = append(all, pipeline.DefineTrashPurge(a.hatchet, &pipeline.Purger{DB: a.db, Storage: a.s3,
		Retention: cfg.TrashRetention, Log: a.log}, cfg.TrashPurgeCron))
	name := "parley-worker"
	if cfg.WorkerPool != "" {
		name += "-" + cfg.WorkerPool // as the dashboard's Workers page shows it
	}
	w, err := a.hatchet.NewWorker(hatchet.WorkerConfig{Name: name, Slots: cfg.WorkerSlots,
		DrainTimeout: cfg.DrainTimeout, HealthAddr: cfg.WorkerHealthAddr, Pool: cfg.WorkerPool}, all...)
	if err != nil {
		return err
	}
	return w.Run(ctx)
}
