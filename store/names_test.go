package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
)

func TestRenameParticipant(t *testing.T) {
	needStack(t)
	t.Parallel()
	ctx := context.Background()
	db := storetest.NewDB(t)
	tr := meeting(t, db, store.NewTranscript{}, []string{"Alice", "Bob", "Speaker 3"},
		sentence(0, 0, "Hello"), sentence(1, 2, "Hi"), sentence(2, 4, "Yo"))
	title, short, long := "Bob's budget plan", "Bob proposed a cut; Bobby disagreed.", "# Quick recap\n\nBob proposed a cut.\n\n# Summary\n\n**Budget**\nBob and Alice."
	items := parley.ActionItems{
		Decisions: []parley.Decision{{Decision: "Adopt Bob's plan", DecidedBy: "Bob", DecidedByParticipantID: "p1"}},
		NextSteps: []parley.NextStep{
			{Task: "Bob sends the sheet", AssignedTo: "Bob"},
			{Task: "Review", AssignedTo: "B.", AssignedToParticipantID: "p1"},
			{Task: "Call", AssignedTo: "Alice", AssignedToParticipantID: "p0"},
		},
	}
	require.NoError(t, db.UpdateTranscript(ctx, tr.ID, store.TranscriptUpdate{Title: &title, ShortSummary: &short, LongSummary: &long, ActionItems: &items}))
	require.NoError(t, db.ReplaceTopics(ctx, tr.ID, []store.StoredTopic{{Topic: parley.Topic{Title: "Bob's budget", Summary: "Bob talks."}}}))
	require.NoError(t, db.ReplaceSubjects(ctx, tr.ID, []string{"Budget"}))
	require.NoError(t, db.SetSubjectSummaries(ctx, tr.ID, 0, "Bob said it in detail.", "Bob said it."))
	before := len(events(t, db, tr.ID))

	res, err := db.RenameParticipant(ctx, tr.ID, "p1", "  Robert Smith ")
	require.NoError(t, err)
	require.Equal(t, "Bob", res.OldName)
	require.Equal(t, parley.Participant{ID: "p1", Name: "Robert Smith", Speaker: 1, DefaultName: "Bob"}, res.Participant)
	require.True(t, res.Texts)

	got, err := db.GetTranscript(ctx, tr.ID)
	require.NoError(t, err)
	require.Equal(t, "Robert Smith", got.Participants[1].Name)
	require.Equal(t, "Bob", got.Participants[1].DefaultName, "the Daily name stays the default")
	require.Equal(t, "Alice", got.Participants[0].Name)
	require.Empty(t, got.Participants[0].DefaultName)
	require.Equal(t, "Robert Smith's budget plan", got.Title)
	require.Equal(t, "Robert Smith proposed a cut; Bobby disagreed.", got.ShortSummary)
	require.Equal(t, "# Quick recap\n\nRobert Smith proposed a cut.\n\n# Summary\n\n**Budget**\nRobert Smith and Alice.", got.LongSummary)
	require.Equal(t, parley.ActionItems{
		Decisions: []parley.Decision{{Decision: "Adopt Robert Smith's plan", DecidedBy: "Robert Smith", DecidedByParticipantID: "p1"}},
		NextSteps: []parley.NextStep{
			{Task: "Robert Smith sends the sheet", AssignedTo: "Robert Smith"},
			{Task: "Review", AssignedTo: "Robert Smith", AssignedToParticipantID: "p1"},
			{Task: "Call", AssignedTo: "Alice", AssignedToParticipantID: "p0"},
		},
	}, got.ActionItems)
	topics, err := db.ListTopics(ctx, tr.ID, false)
	require.NoError(t, err)
	require.Equal(t, "Robert Smith's budget", topics[0].Title)
	require.Equal(t, "Robert Smith talks.", topics[0].Summary)
	subjects, err := db.ListSubjects(ctx, tr.ID)
	require.NoError(t, err)
	require.Equal(t, "Robert Smith said it.", subjects[0].Paragraph)
	require.Equal(t, "Robert Smith said it in detail.", subjects[0].Detailed)

	evs := events(t, db, tr.ID)[before:]
	var names []string
	for _, e := range evs {
		names = append(names, e.Name)
	}
	require.Equal(t, []string{parley.EventParticipants, parley.EventFinalTitle, parley.EventFinalShortSummary,
		parley.EventFinalLongSummary, parley.EventActionItems}, names, "the changes are announced")
	var pd parley.ParticipantsData
	require.NoError(t, json.Unmarshal(evs[0].Data, &pd))
	require.Equal(t, "Robert Smith", pd.Participants[1].Name)

	t.Run("ARerunKeepsTheName", func(t *testing.T) {
		require.NoError(t, db.SetParticipants(ctx, tr.ID, []parley.Participant{
			{ID: "p0", Name: "Alice", Speaker: 0}, {ID: "p1", Name: "Bob", Speaker: 1}, {ID: "p2", Name: "Speaker 3", Speaker: 2}}))
		ps, err := db.ListParticipants(ctx, tr.ID)
		require.NoError(t, err)
		require.Equal(t, "Robert Smith", ps[1].Name)
		require.Equal(t, "Bob", ps[1].DefaultName)
	})
	t.Run("BackToTheDefault", func(t *testing.T) {
		_, err := db.RenameParticipant(ctx, tr.ID, "p1", "")
		require.NoError(t, err)
		got, err := db.GetTranscript(ctx, tr.ID)
		require.NoError(t, err)
		require.Equal(t, parley.Participant{ID: "p1", Name: "Bob", Speaker: 1}, got.Participants[1])
		require.Equal(t, "Bob proposed a cut; Bobby disagreed.", got.ShortSummary)
		_, err = db.RenameParticipant(ctx, tr.ID, "p1", "Bob")
		require.NoError(t, err)
		ps, err := db.ListParticipants(ctx, tr.ID)
		require.NoError(t, err)
		require.Empty(t, ps[1].DefaultName, "renaming to the default name is no correction")
	})
	t.Run("AmbiguousNamesLeaveFreeTextAlone", func(t *testing.T) {
		_, err := db.RenameParticipant(ctx, tr.ID, "p2", "Alice")
		require.NoError(t, err)
		_, err = db.RenameParticipant(ctx, tr.ID, "p2", "Carol")
		require.NoError(t, err)
		got, err := db.GetTranscript(ctx, tr.ID)
		require.NoError(t, err)
		require.Contains(t, got.LongSummary, "Bob and Alice.", "two speakers were called Alice: the text is not guessed at")
		require.Equal(t, "Alice", got.ActionItems.NextSteps[2].AssignedTo, "p0's item is p0's")
		require.Equal(t, "Carol", got.Participants[2].Name)
	})
	t.Run("Errors", func(t *testing.T) {
		_, err := db.RenameParticipant(ctx, tr.ID, "nobody", "X")
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		_, err = db.RenameParticipant(ctx, "00000000-0000-4000-8000-000000000000", "p0", "X")
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		_, err = db.RenameParticipant(ctx, tr.ID, "p0", "line\nbreak")
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
		_, err = db.RenameParticipant(ctx, "not-a-uuid", "p0", "X")
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
	})
}

func events(t *testing.T, db *store.DB, id string) []parley.Event {
	t.Helper()
	evs, err := db.ListEvents(context.Background(), id, 0, 0)
	require.NoError(t, err)
	return evs
}

func TestTrash(t *testing.T) {
	needStack(t)
	t.Parallel()
	ctx := context.Background()
	db := storetest.NewDB(t)
	a := meeting(t, db, store.NewTranscript{Name: "A"}, []string{"Alice"}, sentence(0, 0, "alpha"))
	b := meeting(t, db, store.NewTranscript{Name: "B"}, []string{"Bob"}, sentence(0, 0, "beta"))
	lease := store.TrashOptions{DispatchLease: time.Minute}

	trashed, err := db.Trash(ctx, a.ID, lease)
	require.NoError(t, err)
	require.NotNil(t, trashed.DeletedAt)
	again, err := db.Trash(ctx, a.ID, lease)
	require.NoError(t, err)
	require.Equal(t, trashed.DeletedAt, again.DeletedAt, "trashing twice keeps the first date")

	list := func(trash bool) []string {
		items, _, err := db.ListTranscripts(ctx, store.ListFilter{Trashed: trash})
		require.NoError(t, err)
		var out []string
		for _, it := range items {
			out = append(out, it.Name)
		}
		return out
	}
	require.Equal(t, []string{"B"}, list(false))
	require.Equal(t, []string{"A"}, list(true))

	cut, err := db.TrashedBefore(ctx, time.Now().Add(time.Minute), 10)
	require.NoError(t, err)
	require.Equal(t, []string{a.ID}, cut)
	cut, err = db.TrashedBefore(ctx, time.Now().Add(-time.Minute), 10)
	require.NoError(t, err)
	require.Empty(t, cut)

	restored, err := db.Restore(ctx, a.ID)
	require.NoError(t, err)
	require.Nil(t, restored.DeletedAt)
	require.Equal(t, []string{"Alice"}, []string{restored.Participants[0].Name}, "restored whole")
	require.Equal(t, []string{"B", "A"}, list(false))

	t.Run("ConflictWhileProcessingOrStarting", func(t *testing.T) {
		_, err := db.SetStatus(ctx, b.ID, parley.StatusProcessing, nil)
		require.NoError(t, err)
		_, err = db.Trash(ctx, b.ID, lease)
		require.Equal(t, parley.ECONFLICT, parley.ErrorCode(err))
		_, err = db.Trash(ctx, b.ID, store.TrashOptions{DispatchLease: time.Minute, AllowProcessing: true})
		require.NoError(t, err, "the caller found the run over")
		_, err = db.Restore(ctx, b.ID)
		require.NoError(t, err)
		_, err = db.SetStatus(ctx, b.ID, parley.StatusEnded, nil)
		require.NoError(t, err)
		ok, err := db.ClaimDispatch(ctx, b.ID, time.Minute, true)
		require.NoError(t, err)
		require.True(t, ok)
		_, err = db.Trash(ctx, b.ID, lease)
		require.Equal(t, parley.ECONFLICT, parley.ErrorCode(err), "a run is being started")
		require.NoError(t, db.ReleaseDispatch(ctx, b.ID))
		_, err = db.Trash(ctx, "00000000-0000-4000-8000-000000000000", lease)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
	})
}

// TestCacheOwners: deleting a transcript for good deletes the cached
// provider results only it used, and keeps those another transcript (or
// no transcript) used.
func TestCacheOwners(t *testing.T) {
	needStack(t)
	t.Parallel()
	ctx := context.Background()
	db := storetest.NewDB(t)
	c := store.NewCache(db)
	a, err := db.CreateTranscript(ctx, store.NewTranscript{Name: "a"})
	require.NoError(t, err)
	b, err := db.CreateTranscript(ctx, store.NewTranscript{Name: "b"})
	require.NoError(t, err)
	ctxA, ctxB := parley.NewContextWithSubject(ctx, a.ID), parley.NewContextWithSubject(ctx, b.ID)
	require.NoError(t, c.Put(ctxA, "shared", "llm", []byte(`"x"`)))
	require.NoError(t, c.Put(ctxA, "a-only", "asr", []byte(`"y"`)))
	require.NoError(t, c.Put(ctx, "nobody", "llm", []byte(`"z"`)))
	require.NoError(t, c.Put(parley.NewContextWithSubject(ctx, "00000000-0000-4000-8000-000000000000"), "gone", "llm", []byte(`1`)),
		"a subject that does not exist is no error")
	_, ok, err := c.Get(ctxB, "shared")
	require.NoError(t, err)
	require.True(t, ok, "b uses the shared entry")
	has := func(key string) bool {
		_, ok, err := c.Get(ctx, key)
		require.NoError(t, err)
		return ok
	}
	require.NoError(t, db.DeleteTranscript(ctx, a.ID))
	require.False(t, has("a-only"), "what only a used is gone")
	require.True(t, has("shared"), "what b used too stays")
	require.True(t, has("nobody"))
	require.NoError(t, db.DeleteTranscript(ctx, b.ID))
	require.False(t, has("shared"), "gone with its last user")
	require.True(t, has("nobody"), "results of no transcript stay")
}
