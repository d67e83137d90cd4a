package store

import (
	"context"
	"time"
)

// ReportedRuns returns when each of the runs (Hatchet workflow run ids)
// was reported by FailedRunsMonitor; runs never reported are absent.
func (db *DB) ReportedRuns(ctx context.Context, runIDs []string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	if len(runIDs) == 0 {
		return out, nil
	}
	rows, err := db.q.Query(ctx, `SELECT workflow_run_id, reported_at FROM failed_run_reports
		WHERE workflow_run_id = ANY($1::text[]) AND reported_at IS NOT NULL`, runIDs)
	if err != nil {
		return nil, wrapDBError("list reported runs", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			return nil, wrapDBError("list reported runs", err)
		}
		out[id] = at
	}
	return out, wrapDBError("list reported runs", rows.Err())
}

// ClaimRunReports claims, for claimant, the runs among runIDs that were
// not reported and that no other claimant holds (a claim older than lease
// is taken over), and returns them in the order given. Concurrent callers
// never get the same run.
func (db *DB) ClaimRunReports(ctx context.Context, runIDs []string, claimant string, lease time.Duration) ([]string, error) {
	if len(runIDs) == 0 {
		return []string{}, nil
	}
	// Rows are taken in id order, so that claimants of overlapping lists
	// wait for each other instead of deadlocking.
	rows, err := db.q.Query(ctx, `INSERT INTO failed_run_reports AS r (workflow_run_id, claimed_by)
		SELECT id, $2 FROM (SELECT DISTINCT unnest($1::text[]) AS id) ids ORDER BY id
		ON CONFLICT (workflow_run_id) DO UPDATE SET claimed_by = EXCLUDED.claimed_by, claimed_at = now()
		WHERE r.reported_at IS NULL AND (r.claimed_by = EXCLUDED.claimed_by OR r.claimed_at < now() - $3 * interval '1 millisecond')
		RETURNING workflow_run_id`, runIDs, claimant, lease.Milliseconds())
	if err != nil {
		return nil, wrapDBError("claim run reports", err)
	}
	defer rows.Close()
	got := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, wrapDBError("claim run reports", err)
		}
		got[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, wrapDBError("claim run reports", err)
	}
	out := []string{}
	for _, id := range runIDs {
		if got[id] {
			out = append(out, id)
			delete(got, id)
		}
	}
	return out, nil
}

// RunsReported marks the claimant's runs reported, by the Zulip message
// messageID.
func (db *DB) RunsReported(ctx context.Context, runIDs []string, claimant string, messageID int64) error {
	_, err := db.q.Exec(ctx, `UPDATE failed_run_reports SET reported_at = now(), zulip_message_id = $3
		WHERE workflow_run_id = ANY($1::text[]) AND claimed_by = $2 AND reported_at IS NULL`, runIDs, claimant, messageID)
	return wrapDBError("record reported runs", err)
}

// ReleaseRunReports drops the claimant's claims on runs it did not report
// (its message did not go out), so that the next tick reports them.
func (db *DB) ReleaseRunReports(ctx context.Context, runIDs []string, claimant string) error {
	_, err := db.q.Exec(ctx, `DELETE FROM failed_run_reports
		WHERE workflow_run_id = ANY($1::text[]) AND claimed_by = $2 AND reported_at IS NULL`, runIDs, claimant)
	return wrapDBError("release run reports", err)
}
