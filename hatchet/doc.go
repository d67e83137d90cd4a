// Package hatchet is Parley's thin adapter to the Hatchet Go SDK: a client
// built from the environment, one worker that registers every workflow, and
// the adapter that runs a plain Go step (context.Context in, typed output
// out) as a Hatchet task with progress reporting, audit records and error
// classification (permanent errors stop retries). It also holds what the
// engine needs worked around: Start never returns the id of a run the
// engine accepted but will not run, aliases reach workflows from clients
// that lowercase names, and the readiness probe proves that a run goes
// through (README, "Hatchet").
package hatchet
