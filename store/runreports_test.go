package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley/store/storetest"
)

// TestRunReportClaims: a run is claimed by one claimant at a time, taken
// over after the lease, freed by a release, and never claimed again once
// reported; concurrent claimants never share a run.
func TestRunReportClaims(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.NewDB(t)
	runs := []string{"run-a", "run-b", "run-c"}

	got, err := db.ClaimRunReports(ctx, runs[:2], "tick-1", time.Hour)
	require.NoError(t, err)
	require.Equal(t, []string{"run-a", "run-b"}, got)
	got, err = db.ClaimRunReports(ctx, runs, "tick-2", time.Hour)
	require.NoError(t, err)
	require.Equal(t, []string{"run-c"}, got, "held runs are not claimed by another")
	got, err = db.ClaimRunReports(ctx, runs[:1], "tick-1", time.Hour)
	require.NoError(t, err)
	require.Equal(t, []string{"run-a"}, got, "the same claimant claims again")

	require.NoError(t, db.RunsReported(ctx, []string{"run-a"}, "tick-1", 42))
	require.NoError(t, db.RunsReported(ctx, []string{"run-c"}, "tick-1", 43), "another's claim is not marked")
	reported, err := db.ReportedRuns(ctx, runs)
	require.NoError(t, err)
	require.Len(t, reported, 1)
	require.Contains(t, reported, "run-a")

	require.NoError(t, db.ReleaseRunReports(ctx, []string{"run-a", "run-b"}, "tick-1"))
	got, err = db.ClaimRunReports(ctx, runs, "tick-3", time.Hour)
	require.NoError(t, err)
	require.Equal(t, []string{"run-b"}, got, "released runs are free, reported ones never again, run-c still held")
	got, err = db.ClaimRunReports(ctx, runs, "tick-4", time.Nanosecond)
	require.NoError(t, err)
	require.Equal(t, []string{"run-b", "run-c"}, got, "claims older than the lease are taken over")
	got, err = db.ClaimRunReports(ctx, []string{"run-a"}, "tick-1", time.Nanosecond)
	require.NoError(t, err)
	require.Empty(t, got, "a reported run is never claimed again")

	// Concurrent claimants of the same runs: each run goes to one.
	var many []string
	for i := range 20 {
		many = append(many, fmt.Sprintf("run-%02d", i))
	}
	const claimants = 6
	results := make([][]string, claimants)
	errs := make([]error, claimants)
	var wg sync.WaitGroup
	for i := range claimants {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = db.ClaimRunReports(ctx, many, fmt.Sprintf("c-%d", i), time.Hour)
		}()
	}
	wg.Wait()
	owner := map[string]int{}
	for i, r := range results {
		require.NoError(t, errs[i])
		for _, id := range r {
			owner[id]++
		}
	}
	require.Len(t, owner, len(many))
	for id, n := range owner {
		require.Equal(t, 1, n, "%s claimed once", id)
	}
}
