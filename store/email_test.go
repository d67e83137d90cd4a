package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
)

func TestRoomEmailRecipients(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.NewDB(t)
	r, err := db.CreateRoom(ctx, parley.Room{Name: "standup"})
	require.NoError(t, err)
	require.Equal(t, []string{}, r.EmailRecipients)
	list := []string{"ana@example.com", "ben@example.com"}
	r, err = db.UpdateRoom(ctx, r.ID, store.RoomUpdate{EmailRecipients: &list})
	require.NoError(t, err)
	require.Equal(t, list, r.EmailRecipients)
	on := true
	r, err = db.UpdateRoom(ctx, r.ID, store.RoomUpdate{SkipConsent: &on})
	require.NoError(t, err)
	require.Equal(t, list, r.EmailRecipients, "an update without the field keeps it")
	none := []string{}
	r, err = db.UpdateRoom(ctx, r.ID, store.RoomUpdate{EmailRecipients: &none})
	require.NoError(t, err)
	require.Empty(t, r.EmailRecipients)
}

func TestEmailRequestsAndClaims(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.NewDB(t)
	tr, err := db.CreateTranscript(ctx, store.NewTranscript{})
	require.NoError(t, err)

	d, created, err := db.AddEmailRequest(ctx, tr.ID, "Ana@Example.com", 3)
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, store.EmailPending, d.Status)
	_, created, err = db.AddEmailRequest(ctx, tr.ID, "ana@example.COM", 3)
	require.NoError(t, err)
	require.False(t, created, "the same mailbox in another case is the same request")
	require.NoError(t, db.AddRoomRecipients(ctx, tr.ID, []string{"ana@example.com", "ben@example.com"}))
	all, err := db.ListEmailDeliveries(ctx, tr.ID)
	require.NoError(t, err)
	require.Len(t, all, 2)
	require.Equal(t, "Ana@Example.com", all[0].Address, "kept as first given")
	require.Equal(t, store.EmailFromRequest, all[0].Source)
	require.Equal(t, store.EmailFromRoom, all[1].Source)

	_, _, err = db.AddEmailRequest(ctx, tr.ID, "cy@example.com", 3)
	require.NoError(t, err)
	_, _, err = db.AddEmailRequest(ctx, tr.ID, "dee@example.com", 3)
	require.Equal(t, parley.ECONFLICT, parley.ErrorCode(err), "the fourth address is over the limit")

	// Concurrent claimants: exactly one wins.
	var wg sync.WaitGroup
	wins := make(chan string, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			claimant := []string{"run-a", "run-b"}[i%2]
			if _, ok, err := db.ClaimEmail(ctx, tr.ID, "ben@example.com", claimant+"-"+string(rune('0'+i)), time.Minute); err == nil && ok {
				wins <- claimant
			}
		}()
	}
	wg.Wait()
	close(wins)
	require.Len(t, wins, 1)

	// The same claimant (a retried attempt) takes its own claim back; a
	// stale claim is free after the lease.
	_, ok, err := db.ClaimEmail(ctx, tr.ID, "ana@example.com", "run-a", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	_, ok, err = db.ClaimEmail(ctx, tr.ID, "ana@example.com", "run-b", time.Minute)
	require.NoError(t, err)
	require.False(t, ok, "held by run-a")
	_, ok, err = db.ClaimEmail(ctx, tr.ID, "ana@example.com", "run-a", time.Minute)
	require.NoError(t, err)
	require.True(t, ok, "run-a's next attempt")
	// A negative lease makes every claim stale without waiting for one.
	_, ok, err = db.ClaimEmail(ctx, tr.ID, "ana@example.com", "run-b", -time.Second)
	require.NoError(t, err)
	require.True(t, ok, "run-a's claim is older than the lease")

	require.Equal(t, parley.ECONFLICT, parley.ErrorCode(db.EmailSentTo(ctx, tr.ID, "ana@example.com", "run-a", "m1", "ok")),
		"run-a lost its claim")
	require.NoError(t, db.EmailFailed(ctx, tr.ID, "ana@example.com", "run-b", "451 try later", false))
	_, ok, err = db.ClaimEmail(ctx, tr.ID, "ana@example.com", "run-c", time.Minute)
	require.NoError(t, err)
	require.True(t, ok, "a failed delivery is tried again")
	require.NoError(t, db.EmailSentTo(ctx, tr.ID, "ana@example.com", "run-c", "m2", "250 ok"))
	_, ok, err = db.ClaimEmail(ctx, tr.ID, "ana@example.com", "run-c", -time.Second)
	require.NoError(t, err)
	require.False(t, ok, "sent: never claimed again")
	// A refused address is not claimed again until it is requested again.
	_, ok, err = db.ClaimEmail(ctx, tr.ID, "ben@example.com", "run-c", -time.Second)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, db.EmailFailed(ctx, tr.ID, "ben@example.com", "run-c", "550 no such user", true))
	_, ok, err = db.ClaimEmail(ctx, tr.ID, "ben@example.com", "run-d", -time.Second)
	require.NoError(t, err)
	require.False(t, ok, "refused for good")
	d, created, err = db.AddEmailRequest(ctx, tr.ID, "ben@example.com", 3)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, store.EmailPending, d.Status, "asking again re-arms it")
	_, ok, err = db.ClaimEmail(ctx, tr.ID, "ben@example.com", "run-d", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)

	all, err = db.ListEmailDeliveries(ctx, tr.ID)
	require.NoError(t, err)
	require.Equal(t, store.EmailSent, all[0].Status)
	require.Equal(t, 4, all[0].Attempts)
	require.Equal(t, "m2", all[0].MessageID)
	require.Empty(t, all[0].Error)
}
