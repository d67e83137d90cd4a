package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
)

func TestMigrateAndSchemaCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := storetest.NewSchema(t)
	db, err := store.Open(ctx, store.Config{URL: storetest.DatabaseURL(t), Schema: schema, MaxConns: 2})
	require.NoError(t, err)
	defer db.Close()

	err = db.CheckSchema(ctx)
	require.Error(t, err, "an empty schema must be reported as outdated")
	require.Contains(t, err.Error(), "parley migrate")

	n, err := db.Migrate(ctx)
	require.NoError(t, err)
	require.Positive(t, n)
	require.NoError(t, db.CheckSchema(ctx))

	n, err = db.Migrate(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "a second migrate has nothing to do")
}

func TestOpenUnreachable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := store.Open(ctx, store.Config{URL: "postgres://127.0.0.1:1/none?sslmode=disable&connect_timeout=2"})
	require.Error(t, err)
	require.Equal(t, parley.ETRANSIENT, parley.ErrorCode(err))
	require.Contains(t, parley.ErrorMessage(err), "127.0.0.1:1/none")

	_, err = store.Open(ctx, store.Config{URL: "mysql://nope"})
	require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
}

func TestTranscripts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("CreateGetUpdate", func(t *testing.T) {
		t.Parallel()
		db := storetest.NewDB(t)
		tr, err := db.CreateTranscript(ctx, store.NewTranscript{Name: "Weekly", SourceLanguage: "de"})
		require.NoError(t, err)
		require.Equal(t, parley.StatusIdle, tr.Status)
		require.Equal(t, "de", tr.SourceLanguage)
		require.Equal(t, "de", tr.TargetLanguage)

		title := "Budget review"
		dur := 61.5
		require.NoError(t, db.UpdateTranscript(ctx, tr.ID, store.TranscriptUpdate{Title: &title, DurationSeconds: &dur,
			ActionItems: &parley.ActionItems{NextSteps: []parley.NextStep{{Task: "send notes", AssignedTo: "Ana"}}}}))
		got, err := db.GetTranscript(ctx, tr.ID)
		require.NoError(t, err)
		require.Equal(t, "Budget review", got.Title)
		require.Equal(t, "Weekly", got.Name)
		require.InDelta(t, 61.5, got.DurationSeconds, 1e-9)
		require.Equal(t, "send notes", got.ActionItems.NextSteps[0].Task)
		require.NotNil(t, got.ActionItems.Decisions)
	})

	t.Run("ErrNotFoundAndInvalidID", func(t *testing.T) {
		t.Parallel()
		db := storetest.NewDB(t)
		_, err := db.GetTranscript(ctx, "00000000-0000-0000-0000-000000000001")
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		_, err = db.GetTranscript(ctx, "../etc/passwd")
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
		require.Contains(t, parley.ErrorMessage(err), "not a valid transcript id")
	})

	t.Run("OnePerRecordingUnderConcurrency", func(t *testing.T) {
		t.Parallel()
		db := storetest.NewDB(t)
		rec := "rec-1"
		var wg sync.WaitGroup
		var mu sync.Mutex
		ids := map[string]int{}
		created := 0
		var errs []error
		for range 10 {
			wg.Go(func() {
				tr, c, err := db.CreateTranscriptForRecording(ctx, store.NewTranscript{RecordingID: &rec})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				ids[tr.ID]++
				if c {
					created++
				}
			})
		}
		wg.Wait()
		require.Empty(t, errs)
		require.Len(t, ids, 1)
		require.Equal(t, 1, created)
	})

	t.Run("StatusEventsOnlyOnChange", func(t *testing.T) {
		t.Parallel()
		db := storetest.NewDB(t)
		tr, err := db.CreateTranscript(ctx, store.NewTranscript{})
		require.NoError(t, err)
		changed, err := db.SetStatus(ctx, tr.ID, parley.StatusProcessing, nil)
		require.NoError(t, err)
		require.True(t, changed)
		changed, err = db.SetStatus(ctx, tr.ID, parley.StatusProcessing, nil)
		require.NoError(t, err)
		require.False(t, changed)
		_, err = db.SetStatus(ctx, tr.ID, parley.StatusError, &parley.StepError{Step: "generate_title", Message: "boom"})
		require.NoError(t, err)
		got, err := db.GetTranscript(ctx, tr.ID)
		require.NoError(t, err)
		require.Equal(t, &parley.StepError{Step: "generate_title", Message: "boom"}, got.Error)
		evs, err := db.ListEvents(ctx, tr.ID, 0, 0)
		require.NoError(t, err)
		require.Len(t, evs, 2)
		require.JSONEq(t, `{"value":"processing"}`, string(evs[0].Data))
		require.JSONEq(t, `{"value":"error"}`, string(evs[1].Data))
		_, err = db.SetStatus(ctx, tr.ID, "bogus", nil)
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
	})

	t.Run("ListPaginatesNewestFirst", func(t *testing.T) {
		t.Parallel()
		db := storetest.NewDB(t)
		for i := range 5 {
			_, err := db.CreateTranscript(ctx, store.NewTranscript{Name: fmt.Sprint(i)})
			require.NoError(t, err)
		}
		page, next, err := db.ListTranscripts(ctx, store.ListFilter{Limit: 3})
		require.NoError(t, err)
		require.Len(t, page, 3)
		require.Equal(t, "4", page[0].Name)
		require.NotEmpty(t, next)
		page2, next2, err := db.ListTranscripts(ctx, store.ListFilter{Limit: 3, Before: next})
		require.NoError(t, err)
		require.Len(t, page2, 2)
		require.Equal(t, "1", page2[0].Name)
		require.Empty(t, next2)
		_, _, err = db.ListTranscripts(ctx, store.ListFilter{Before: "garbage"})
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
	})

	t.Run("DispatchClaimIsExclusive", func(t *testing.T) {
		t.Parallel()
		db := storetest.NewDB(t)
		tr, err := db.CreateTranscript(ctx, store.NewTranscript{})
		require.NoError(t, err)
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		var errs []error
		for range 8 {
			wg.Go(func() {
				ok, err := db.ClaimDispatch(ctx, tr.ID, time.Minute, false)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
				} else if ok {
					wins++
				}
			})
		}
		wg.Wait()
		require.Empty(t, errs)
		require.Equal(t, 1, wins)
		require.NoError(t, db.ReleaseDispatch(ctx, tr.ID))
		ok, err := db.ClaimDispatch(ctx, tr.ID, time.Minute, false)
		require.NoError(t, err)
		require.True(t, ok)
	})
}

func TestEventsAreGaplessUnderConcurrency(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.NewDB(t)
	tr, err := db.CreateTranscript(ctx, store.NewTranscript{})
	require.NoError(t, err)

	heard := make(chan store.Notification, 100)
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	listening := make(chan struct{})
	go func() {
		_ = db.Listen(lctx, func(n store.Notification) {
			if n.TranscriptID == tr.ID {
				heard <- n
			}
		}, nil)
	}()
	// Wait until the listener is subscribed: append probe events until one
	// is heard (no sleeps).
	go func() {
		defer close(listening)
		for {
			select {
			case n := <-heard:
				_ = n
				return
			case <-time.After(50 * time.Millisecond):
				_, _ = db.AppendEvent(ctx, tr.ID, "PROBE", map[string]int{})
			}
		}
	}()
	<-listening
	probes, err := db.ListEvents(ctx, tr.ID, 0, 0)
	require.NoError(t, err)
	base := int64(len(probes))
	for len(heard) > 0 {
		<-heard
	}

	const n = 40
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = db.AppendEvent(ctx, tr.ID, parley.EventTopic, map[string]int{"i": i})
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	evs, err := db.ListEvents(ctx, tr.ID, base, 0)
	require.NoError(t, err)
	require.Len(t, evs, n)
	for i, ev := range evs {
		require.Equal(t, base+int64(i)+1, ev.Seq, "events must be numbered without gaps")
	}
	seen := map[int64]bool{}
	deadline := time.After(10 * time.Second)
	for len(seen) < n {
		select {
		case note := <-heard:
			if note.Seq > base {
				seen[note.Seq] = true
			}
		case <-deadline:
			t.Fatalf("heard %d of %d notifications", len(seen), n)
		}
	}
}

func TestTracksWordsTopics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.NewDB(t)
	tr, err := db.CreateTranscript(ctx, store.NewTranscript{})
	require.NoError(t, err)
	require.NoError(t, db.SetTracks(ctx, tr.ID, []parley.Track{{Bucket: "b", Key: "k0"}, {Bucket: "b", Key: "k1"}}))

	words0 := []parley.Word{{Text: "hello", Start: 1, End: 1.5, Speaker: 0}, {Text: "there", Start: 3, End: 3.4, Speaker: 0}}
	words1 := []parley.Word{{Text: "hi", Start: 2, End: 2.2, Speaker: 1}}
	require.NoError(t, db.ReplaceTrackWords(ctx, tr.ID, 0, words0))
	require.NoError(t, db.ReplaceTrackWords(ctx, tr.ID, 0, words0), "a retry replaces, never duplicates")
	require.NoError(t, db.ReplaceTrackWords(ctx, tr.ID, 1, words1))
	all, err := db.ListWords(ctx, tr.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"hello", "hi", "there"}, texts(all))

	err = db.ReplaceTrackWords(ctx, tr.ID, 1, []parley.Word{{Text: "x", Speaker: 0}})
	require.Equal(t, parley.EINTERNAL, parley.ErrorCode(err))

	require.NoError(t, db.SetTrackPadded(ctx, tr.ID, 0, 1.25, 60, store.PaddedTrack{Bucket: "b", Key: "p0", Size: 10,
		Source: store.SourceSegments, Ext: "webm", SHA256: "s", Shift: 1.5, RunID: "r"}))
	got0, err := db.GetTrack(ctx, tr.ID, 0)
	require.NoError(t, err)
	require.Equal(t, store.PaddedTrack{Bucket: "b", Key: "p0", Size: 10, Source: store.SourceSegments, Ext: "webm", SHA256: "s",
		Shift: 1.5, RunID: "r"}, got0.Padded, "what was recorded, source included")
	require.Equal(t, store.SourceSegments, got0.Source)
	err = db.SetTracks(ctx, tr.ID, []parley.Track{{Bucket: "b", Key: "other"}})
	require.Equal(t, parley.ECONFLICT, parley.ErrorCode(err), "tracks of a run under way cannot be swapped")
	require.NoError(t, db.SetTracks(ctx, tr.ID, []parley.Track{{Bucket: "b", Key: "k0"}, {Bucket: "b", Key: "k1"}}),
		"the same tracks again are accepted (replayed trigger)")
	tracks, err := db.ListTracks(ctx, tr.ID)
	require.NoError(t, err)
	require.True(t, tracks[0].Transcribed)
	require.InDelta(t, 1.25, *tracks[0].StartOffset, 1e-9)

	topics := []store.StoredTopic{
		{Topic: parley.Topic{Title: "A", Summary: "s", Timestamp: 1, Duration: 1.2}, WordFrom: 0, WordTo: 2},
		{Topic: parley.Topic{Title: "B", Summary: "s", Timestamp: 3, Duration: 0.4}, WordFrom: 2, WordTo: 3},
	}
	require.NoError(t, db.ReplaceTopics(ctx, tr.ID, topics))
	require.NoError(t, db.ReplaceTopics(ctx, tr.ID, topics))
	got, err := db.ListTopics(ctx, tr.ID, true)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, store.TopicID(tr.ID, 0), got[0].ID, "topic ids are stable across replays")
	require.Equal(t, []string{"hello", "hi"}, texts(got[0].Words))
	require.Equal(t, []string{"there"}, texts(got[1].Words))
}

func texts(ws []parley.Word) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.Text
	}
	return out
}

func TestStepsAuditAndCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.NewDB(t)
	tr, err := db.CreateTranscript(ctx, store.NewTranscript{})
	require.NoError(t, err)
	t0 := time.Now().Add(-time.Minute)
	for i, status := range []string{store.AttemptRetrying, store.AttemptCompleted} {
		id, err := db.StartStepAttempt(ctx, store.StepAttempt{TranscriptID: tr.ID, WorkflowRunID: "run", TaskRunID: "task-1",
			Name: "generate_title", Attempt: i + 1, StartedAt: t0.Add(time.Duration(i) * time.Second)})
		require.NoError(t, err)
		require.NoError(t, db.FinishStepAttempt(ctx, id, status, t0.Add(time.Duration(i)*time.Second+500*time.Millisecond),
			parley.Usage{LLMCalls: 1, LLMPromptTokens: 100}, "", fmt.Sprintf("note %d", i)))
	}
	steps, err := db.ListSteps(ctx, tr.ID)
	require.NoError(t, err)
	require.Len(t, steps, 1)
	require.Equal(t, "note 1", steps[0].Note, "the latest attempt's note")
	require.Equal(t, 2, steps[0].Attempts)
	require.Equal(t, store.AttemptCompleted, steps[0].Status)
	require.Equal(t, 2, steps[0].Usage.LLMCalls, "usage sums every attempt")
	done, err := db.CompletedSteps(ctx, tr.ID, "run")
	require.NoError(t, err)
	require.Equal(t, map[string]int{"generate_title": 1}, done)

	c := store.NewCache(db)
	_, ok, err := c.Get(ctx, "k")
	require.NoError(t, err)
	require.False(t, ok)
	require.NoError(t, c.Put(ctx, "k", "llm", []byte(`{"title":"x"}`)))
	require.NoError(t, c.Put(ctx, "k", "llm", []byte(`{"title":"y"}`)))
	v, ok, err := c.Get(ctx, "k")
	require.NoError(t, err)
	require.True(t, ok)
	require.JSONEq(t, `{"title":"x"}`, string(v))
}

func TestRoomsConsentRecordings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.NewDB(t)
	r, err := db.CreateRoom(ctx, parley.Room{Name: "standup", WebhookURL: "http://x"})
	require.NoError(t, err)
	_, err = db.CreateRoom(ctx, parley.Room{Name: "standup"})
	require.Equal(t, parley.ECONFLICT, parley.ErrorCode(err))
	on := true
	r2, err := db.UpdateRoom(ctx, r.ID, store.RoomUpdate{ZulipAutoPost: &on})
	require.NoError(t, err)
	require.True(t, r2.ZulipAutoPost)
	require.Equal(t, "http://x", r2.WebhookURL)
	_, err = db.UpdateRoom(ctx, "nope", store.RoomUpdate{})
	require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))

	tr, err := db.CreateTranscript(ctx, store.NewTranscript{RoomID: &r.ID})
	require.NoError(t, err)
	denied, err := db.ConsentDenied(ctx, tr.ID)
	require.NoError(t, err)
	require.False(t, denied)
	require.NoError(t, db.AddConsent(ctx, tr.ID, parley.Consent{ParticipantID: "p1", ConsentGiven: false}))
	denied, err = db.ConsentDenied(ctx, tr.ID)
	require.NoError(t, err)
	require.True(t, denied)
	require.NoError(t, db.AddConsent(ctx, tr.ID, parley.Consent{ParticipantID: "p1", ConsentGiven: true}))
	denied, err = db.ConsentDenied(ctx, tr.ID)
	require.NoError(t, err)
	require.False(t, denied, "a later answer replaces the earlier one")

	require.NoError(t, db.UpsertRecording(ctx, store.Recording{ID: "r1", Bucket: "daily", TrackKeys: []string{"a"}}))
	ok, err := db.RecordingExists(ctx, "r1")
	require.NoError(t, err)
	require.True(t, ok)
}
