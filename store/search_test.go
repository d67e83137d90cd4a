package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
)

// needStack skips a test that needs the local stack in the fast tier
// (go test -short).
func needStack(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the local stack (PostgreSQL)")
	}
}

// sentence turns text into words of one speaker, one second each from
// start.
func sentence(speaker int, start float64, text string) []parley.Word {
	var out []parley.Word
	for i, f := range strings.Fields(text) {
		out = append(out, parley.Word{Text: f, Start: start + float64(i), End: start + float64(i) + 0.9, Speaker: speaker})
	}
	return out
}

// meeting stores a transcript with one track per speaker's words.
func meeting(t *testing.T, db *store.DB, n store.NewTranscript, names []string, words ...[]parley.Word) *parley.Transcript {
	t.Helper()
	ctx := context.Background()
	tr, err := db.CreateTranscript(ctx, n)
	require.NoError(t, err)
	tracks := make([]parley.Track, len(words))
	ps := make([]parley.Participant, len(names))
	for i := range words {
		tracks[i] = parley.Track{Bucket: "b", Key: tr.ID + "/" + string(rune('a'+i))}
	}
	for i, name := range names {
		ps[i] = parley.Participant{ID: "p" + string(rune('0'+i)), Name: name, Speaker: i}
	}
	require.NoError(t, db.SetTracks(ctx, tr.ID, tracks))
	require.NoError(t, db.SetParticipants(ctx, tr.ID, ps))
	for i, ws := range words {
		require.NoError(t, db.ReplaceTrackWords(ctx, tr.ID, i, ws))
	}
	return tr
}

func search(t *testing.T, db *store.DB, q string) []store.SearchResult {
	t.Helper()
	res, err := db.Search(context.Background(), store.SearchQuery{Text: q})
	require.NoError(t, err, q)
	return res
}

func ids(rs []store.SearchResult) map[string]int {
	out := map[string]int{}
	for _, r := range rs {
		out[r.TranscriptID]++
	}
	return out
}

func TestSearch(t *testing.T) {
	needStack(t)
	t.Parallel()
	ctx := context.Background()
	db := storetest.NewDB(t)
	room, err := db.CreateRoom(ctx, parley.Room{Name: "standup"})
	require.NoError(t, err)
	a := meeting(t, db, store.NewTranscript{Name: "Launch planning", RoomID: &room.ID}, []string{"Alice", "Bob"},
		sentence(0, 0, "Good morning everyone. Let's start with the budget review for the mobile launch."),
		sentence(1, 20, "The budget shows we are ten percent over on design costs."))
	b := meeting(t, db, store.NewTranscript{Name: "Design sync"}, []string{"Carol"},
		sentence(0, 5, "Our design budget is fine, but the review of the logo slipped. <script>alert(1)</script> & \"quotes\""))

	t.Run("TwoMeetingsWithStartAndSpeaker", func(t *testing.T) {
		res := search(t, db, "budget")
		require.Equal(t, map[string]int{a.ID: 2, b.ID: 1}, ids(res))
		for _, r := range res {
			require.NotNil(t, r.Start, "segment hits have a start")
			require.NotNil(t, r.Speaker)
			switch {
			case r.TranscriptID == b.ID:
				require.Equal(t, 5.0, *r.Start)
				require.Equal(t, "Carol", *r.SpeakerName)
				require.Equal(t, "Design sync", r.Title)
			case *r.Speaker == 0:
				require.Equal(t, 0.0, *r.Start)
				require.Equal(t, "Alice", *r.SpeakerName)
			default:
				require.Equal(t, 20.0, *r.Start)
				require.Equal(t, "Bob", *r.SpeakerName)
				require.Equal(t, "Launch planning", r.Title)
			}
			require.Contains(t, r.Snippet, "<mark>budget</mark>")
		}
	})
	t.Run("Stemming", func(t *testing.T) {
		require.Equal(t, map[string]int{a.ID: 2, b.ID: 1}, ids(search(t, db, "budgets")))
	})
	t.Run("QuotedPhrase", func(t *testing.T) {
		res := search(t, db, `"budget review"`)
		require.Equal(t, map[string]int{a.ID: 1}, ids(res), "only where the words are adjacent")
		require.Contains(t, res[0].Snippet, "<mark>budget</mark> <mark>review</mark>")
	})
	t.Run("Exclusion", func(t *testing.T) {
		require.Equal(t, map[string]int{b.ID: 1}, ids(search(t, db, "budget -percent -launch")))
		require.Equal(t, map[string]int{a.ID: 1, b.ID: 1}, ids(search(t, db, "design -logo")),
			"Bob's design costs, and the title Design sync")
	})
	t.Run("HTMLIsEscaped", func(t *testing.T) {
		res := search(t, db, "alert")
		require.Len(t, res, 1)
		require.Contains(t, res[0].Snippet, "&lt;script&gt;<mark>alert</mark>(1)&lt;/script&gt; &amp; &#34;quotes")
		stripped := strings.NewReplacer("<mark>", "", "</mark>", "").Replace(res[0].Snippet)
		require.NotContains(t, stripped, "<")
		require.NotContains(t, stripped, ">")
		require.NotContains(t, stripped, `"`)
	})
	t.Run("TitlesAndSummaries", func(t *testing.T) {
		long := "# Quick recap\n\nThe <b>roadmap</b> was agreed."
		require.NoError(t, db.UpdateTranscript(ctx, b.ID, store.TranscriptUpdate{LongSummary: &long}))
		res := search(t, db, "roadmap")
		require.Len(t, res, 1)
		require.Nil(t, res[0].Start)
		require.Nil(t, res[0].Speaker)
		require.Nil(t, res[0].SpeakerName)
		require.Contains(t, res[0].Snippet, "&lt;b&gt;<mark>roadmap</mark>&lt;/b&gt;")
		res = search(t, db, "planning")
		require.Len(t, res, 1)
		require.Equal(t, a.ID, res[0].TranscriptID)
		require.Nil(t, res[0].Start, "a title hit")
		require.Equal(t, "Launch <mark>planning</mark>", res[0].Snippet)
	})
	t.Run("Filters", func(t *testing.T) {
		res, err := db.Search(ctx, store.SearchQuery{Text: "budget", RoomID: room.ID})
		require.NoError(t, err)
		require.Equal(t, map[string]int{a.ID: 2}, ids(res))
		future := time.Now().Add(time.Hour)
		res, err = db.Search(ctx, store.SearchQuery{Text: "budget", From: &future})
		require.NoError(t, err)
		require.Empty(t, res)
		res, err = db.Search(ctx, store.SearchQuery{Text: "budget", To: &future, Limit: 1})
		require.NoError(t, err)
		require.Len(t, res, 1)
	})
	t.Run("NothingOrStopWordsOnly", func(t *testing.T) {
		require.Empty(t, search(t, db, "zebra"))
		require.Empty(t, search(t, db, "the and of"))
		require.Empty(t, search(t, db, `"`))
		require.Empty(t, search(t, db, "-budget"))
	})
	t.Run("BadQueries", func(t *testing.T) {
		for _, q := range []string{"", "   ", strings.Repeat("x", 501), "a\x00b", "\xff"} {
			_, err := db.Search(ctx, store.SearchQuery{Text: q})
			require.Equal(t, parley.EINVALID, parley.ErrorCode(err), "%q", q)
		}
		// Operators and punctuation are text, never syntax errors.
		for _, q := range []string{"a & b", "!(x | y)", "a:* <-> b", "'; DROP TABLE words; --", `"unclosed`, "or or or", "-"} {
			_, err := db.Search(ctx, store.SearchQuery{Text: q})
			require.NoError(t, err, q)
		}
	})
}

// TestSearchRanksAmongTheNewestMeetings: with a bound of two meetings, a
// word said in three is found in the newest two only, whatever their rank;
// a rarer word is still found wherever it was said.
func TestSearchRanksAmongTheNewestMeetings(t *testing.T) {
	needStack(t)
	t.Parallel()
	ctx := context.Background()
	db := storetest.NewDB(t)
	oldest := meeting(t, db, store.NewTranscript{Name: "one"}, []string{"A"}, sentence(0, 0, "budget budget budget unique"))
	middle := meeting(t, db, store.NewTranscript{Name: "two"}, []string{"B"}, sentence(0, 0, "the budget was discussed at length today"))
	newest := meeting(t, db, store.NewTranscript{Name: "three"}, []string{"C"}, sentence(0, 0, "a budget"))
	res, err := db.Search(ctx, store.SearchQuery{Text: "budget", Meetings: 2})
	require.NoError(t, err)
	require.Equal(t, map[string]int{middle.ID: 1, newest.ID: 1}, ids(res), "the oldest ranks best but is not among the newest two")
	res, err = db.Search(ctx, store.SearchQuery{Text: "budget"})
	require.NoError(t, err)
	require.Equal(t, oldest.ID, res[0].TranscriptID, "with the default bound, the best match first")
	res, err = db.Search(ctx, store.SearchQuery{Text: "unique", Meetings: 2})
	require.NoError(t, err)
	require.Equal(t, map[string]int{oldest.ID: 1}, ids(res))
	_, err = db.Trash(ctx, newest.ID, store.TrashOptions{DispatchLease: time.Minute})
	require.NoError(t, err)
	res, err = db.Search(ctx, store.SearchQuery{Text: "budget", Meetings: 2})
	require.NoError(t, err)
	require.Equal(t, map[string]int{oldest.ID: 1, middle.ID: 1}, ids(res), "trashed meetings do not count")
}

func TestSearchIndexFollowsChanges(t *testing.T) {
	needStack(t)
	t.Parallel()
	ctx := context.Background()
	db := storetest.NewDB(t)
	tr := meeting(t, db, store.NewTranscript{}, []string{"Dana"}, sentence(0, 0, "We discussed the quarterly forecast."))
	require.Len(t, search(t, db, "forecast"), 1)

	t.Run("WordsChange", func(t *testing.T) {
		require.NoError(t, db.ReplaceTrackWords(ctx, tr.ID, 0, sentence(0, 3, "We discussed the hiring plan.")))
		require.Empty(t, search(t, db, "forecast"), "words that are gone are not found")
		res := search(t, db, "hiring")
		require.Len(t, res, 1)
		require.Equal(t, 3.0, *res[0].Start)
	})
	t.Run("Rename", func(t *testing.T) {
		_, err := db.RenameParticipant(ctx, tr.ID, "p0", "Dana Scully")
		require.NoError(t, err)
		require.Equal(t, "Dana Scully", *search(t, db, "hiring")[0].SpeakerName)
	})
	t.Run("Trash", func(t *testing.T) {
		_, err := db.Trash(ctx, tr.ID, store.TrashOptions{DispatchLease: time.Minute})
		require.NoError(t, err)
		require.Empty(t, search(t, db, "hiring"), "a trashed transcript is not found")
		_, err = db.Restore(ctx, tr.ID)
		require.NoError(t, err)
		require.Len(t, search(t, db, "hiring"), 1, "found again after restore")
	})
	t.Run("RefreshAndBackfill", func(t *testing.T) {
		_, err := db.Pool().Exec(ctx, `DELETE FROM search_segments`)
		require.NoError(t, err)
		require.Empty(t, search(t, db, "hiring"))
		require.NoError(t, db.RefreshSearch(ctx, tr.ID))
		require.Len(t, search(t, db, "hiring"), 1)
		err = db.RefreshSearch(ctx, "00000000-0000-4000-8000-000000000000")
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
	})
}

func TestConcurrentTracksKeepTheIndexWhole(t *testing.T) {
	needStack(t)
	t.Parallel()
	ctx := context.Background()
	db := storetest.NewDB(t)
	tr, err := db.CreateTranscript(ctx, store.NewTranscript{})
	require.NoError(t, err)
	const n = 6
	tracks := make([]parley.Track, n)
	for i := range tracks {
		tracks[i] = parley.Track{Bucket: "b", Key: "k" + string(rune('a'+i))}
	}
	require.NoError(t, db.SetTracks(ctx, tr.ID, tracks))
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			errs <- db.ReplaceTrackWords(ctx, tr.ID, i, sentence(i, float64(10*i), "token"+string(rune('a'+i))+" spoken here"))
		}()
	}
	for i := 0; i < n; i++ {
		require.NoError(t, <-errs)
	}
	for i := 0; i < n; i++ {
		require.Len(t, search(t, db, "token"+string(rune('a'+i))), 1, "track %d's words are in the index", i)
	}
}
