package notify_test

import (
	"flag"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/sim"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// startSim runs parley-sim for one test and returns it with its base URL.
func startSim(t *testing.T) (*sim.Server, string) {
	t.Helper()
	s, err := sim.New(sim.Config{})
	require.NoError(t, err)
	hs := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); hs.Close() })
	return s, hs.URL
}

// golden compares got with testdata/name (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "go test ./notify -update writes it")
	require.Equal(t, string(want), got)
}

// fixture returns a finished transcript with its topics and words: two
// named participants and a third speaker nobody named.
func fixture() (*parley.Transcript, []parley.Topic, []parley.Word) {
	room := "room-1"
	t := &parley.Transcript{ID: "8b0c5f0e-1111-4222-8333-944455556666", Title: "Budget Review", Status: parley.StatusEnded,
		ShortSummary: "We reviewed the budget.", LongSummary: "# Quick recap\n\nWe reviewed the budget.", DurationSeconds: 3725.4,
		SourceLanguage: "en", TargetLanguage: "en", RoomID: &room, CreatedAt: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC),
		ActionItems: parley.ActionItems{Decisions: []parley.Decision{{Decision: "Keep the budget", DecidedBy: "Ana"}},
			NextSteps: []parley.NextStep{{Task: "Send the sheet", AssignedTo: "Ben"}}},
		Participants: []parley.Participant{{ID: "p1", Name: "Ana", Speaker: 0}, {ID: "p2", Name: "Ben", Speaker: 1}}}
	words := []parley.Word{{Text: "Hello", Start: 1, End: 1.4, Speaker: 0}, {Text: "there.", Start: 1.4, End: 1.9, Speaker: 0},
		{Text: "Hi", Start: 2.5, End: 2.8, Speaker: 1}, {Text: "Ana.", Start: 2.8, End: 3.1, Speaker: 1},
		{Text: "Bye", Start: 3725, End: 3725.3, Speaker: 2}}
	topics := []parley.Topic{{Title: "Budget", Summary: "The budget.", Timestamp: 1, Duration: 2.1, Words: words[:4]},
		{Title: "Wrap-up", Summary: "Goodbyes.", Timestamp: 3725, Duration: 0.3, Words: words[4:]}}
	return t, topics, words
}
