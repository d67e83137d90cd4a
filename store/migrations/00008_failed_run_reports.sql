-- +goose Up
-- The failed DiarizationPipeline runs FailedRunsMonitor reported to Zulip.
-- A run is claimed by one monitor tick (claimed_by, claimed_at) before the
-- message goes out and marked reported (reported_at, zulip_message_id)
-- once Zulip took it, so overlapping or repeated ticks never report a run
-- twice. A claim without a report is taken over after its lease (a tick
-- that died); a failed post releases its claims at once.
CREATE TABLE failed_run_reports (
    workflow_run_id  text PRIMARY KEY,
    claimed_by       text NOT NULL,
    claimed_at       timestamptz NOT NULL DEFAULT now(),
    reported_at      timestamptz,
    zulip_message_id bigint
);

-- +goose Down
DROP TABLE failed_run_reports;
