package pipeline

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/hatchet"
	"github.com/parley-dev/parley/notify"
	"github.com/parley-dev/parley/store"
)

// emailStore is memStore with deliveries kept in memory, claims included.
type emailStore struct {
	*memStore
	emu    sync.Mutex
	room   *parley.Room
	order  []string
	byAddr map[string]*store.EmailDelivery
	claims map[string]string
}

func newEmailStore(room *parley.Room, requests ...string) *emailStore {
	db := newMemStore(tid)
	db.t.Status = parley.StatusEnded
	db.t.Name = "Weekly"
	if room != nil {
		db.t.RoomID = &room.ID
	}
	s := &emailStore{memStore: db, room: room, byAddr: map[string]*store.EmailDelivery{}, claims: map[string]string{}}
	for _, r := range requests {
		s.add(r, store.EmailFromRequest)
	}
	return s
}

func (s *emailStore) add(addr, source string) {
	k := strings.ToLower(addr)
	if _, ok := s.byAddr[k]; ok {
		return
	}
	s.order = append(s.order, k)
	s.byAddr[k] = &store.EmailDelivery{TranscriptID: tid, Address: addr, Source: source, Status: store.EmailPending}
}

func (s *emailStore) GetRoom(_ context.Context, id string) (*parley.Room, error) {
	if s.room == nil || s.room.ID != id {
		return nil, parley.Errorf(parley.ENOTFOUND, "room %s not found", id)
	}
	return s.room, nil
}

func (s *emailStore) AddRoomRecipients(_ context.Context, _ string, addrs []string) error {
	s.emu.Lock()
	defer s.emu.Unlock()
	for _, a := range addrs {
		s.add(a, store.EmailFromRoom)
	}
	return nil
}

func (s *emailStore) ListEmailDeliveries(context.Context, string) ([]store.EmailDelivery, error) {
	s.emu.Lock()
	defer s.emu.Unlock()
	out := []store.EmailDelivery{}
	for _, k := range s.order {
		out = append(out, *s.byAddr[k])
	}
	return out, nil
}

func (s *emailStore) ClaimEmail(_ context.Context, _, addr, claimant string, _ time.Duration) (store.EmailDelivery, bool, error) {
	s.emu.Lock()
	defer s.emu.Unlock()
	d := s.byAddr[strings.ToLower(addr)]
	switch {
	case d.Status == store.EmailPending, d.Status == store.EmailRetry,
		d.Status == store.EmailSending && s.claims[strings.ToLower(addr)] == claimant:
	default:
		return store.EmailDelivery{}, false, nil
	}
	d.Status = store.EmailSending
	d.Attempts++
	s.claims[strings.ToLower(addr)] = claimant
	return *d, true, nil
}

func (s *emailStore) EmailSentTo(_ context.Context, _, addr, _, messageID, _ string) error {
	s.emu.Lock()
	defer s.emu.Unlock()
	d := s.byAddr[strings.ToLower(addr)]
	d.Status, d.MessageID = store.EmailSent, messageID
	return nil
}

func (s *emailStore) EmailFailed(_ context.Context, _, addr, _, errMsg string, permanent bool) error {
	s.emu.Lock()
	defer s.emu.Unlock()
	d := s.byAddr[strings.ToLower(addr)]
	d.Status, d.Error = store.EmailRetry, errMsg
	if permanent {
		d.Status = store.EmailRefused
	}
	return nil
}

// fakeMailer answers each address with the error in fail (nil: sent).
type fakeMailer struct {
	mu   sync.Mutex
	fail map[string]error
	sent []notify.Email
	seen []string
}

func (m *fakeMailer) From() string { return "parley@example.com" }

func (m *fakeMailer) Send(_ context.Context, e notify.Email) (notify.SendResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seen = append(m.seen, e.To)
	if err := m.fail[e.To]; err != nil {
		return notify.SendResult{}, err
	}
	m.sent = append(m.sent, e)
	return notify.SendResult{MessageID: e.MessageID, Response: "2.0.0 OK"}, nil
}

// fakeEmailNotify renders a fixed message.
type fakeEmailNotify struct{ Notifications }

func (fakeEmailNotify) TranscriptEmail(t *parley.Transcript) (string, string, string, error) {
	return "Meeting notes: " + t.DisplayTitle(), "text", "<p>html</p>", nil
}

func emailCtx() context.Context {
	return hatchet.ContextWithAttempt(context.Background(), hatchet.Attempt{Workflow: WorkflowPipeline, Task: "send_email",
		WorkflowRunID: "run1", Number: 1, MaxAttempts: 6})
}

func TestSendEmail(t *testing.T) {
	t.Parallel()
	room := &parley.Room{ID: "room-1", EmailRecipients: []string{"ana@example.com", "ben@example.com"}}
	temp := parley.Errorf(parley.ETRANSIENT, "smtp x: temporary failure (451 4.7.1 try later)")
	perm := parley.Errorf(parley.EINVALID, "smtp x: refused (550 5.1.1 no such user)")
	tests := []struct {
		name      string
		room      *parley.Room
		requests  []string
		fail      map[string]error
		mailerOff bool
		status    parley.Status
		wantCode  string // of the step's error, "" for none
		wantSeen  []string
		want      EmailOutput
		note      string
	}{
		{name: "RoomAndRequest", room: room, requests: []string{"Ana@Example.com", "carol@example.com"},
			wantSeen: []string{"Ana@Example.com", "carol@example.com", "ben@example.com"},
			want:     EmailOutput{Sent: 3}, note: "sent to 3 of 3 recipients"},
		{name: "PermanentFailureSendsTheOthers", room: room, fail: map[string]error{"ana@example.com": perm},
			wantCode: parley.EINVALID, wantSeen: []string{"ana@example.com", "ben@example.com"},
			want: EmailOutput{Sent: 1, Failed: []string{"ana@example.com: smtp x: refused (550 5.1.1 no such user)"}}},
		{name: "TemporaryFailureStopsTheAttempt", room: room, fail: map[string]error{"ana@example.com": temp},
			wantCode: parley.ETRANSIENT, wantSeen: []string{"ana@example.com"}, want: EmailOutput{Pending: 2}},
		{name: "NoRecipients", wantSeen: nil,
			want: EmailOutput{Skipped: "no recipients (the room's email_recipients and email requests are empty)"},
			note: "skipped: no recipients (the room's email_recipients and email requests are empty)"},
		{name: "EmailOff", room: room, mailerOff: true,
			want: EmailOutput{Skipped: "email is off (SMTP_HOST is not set)"}, note: "skipped: email is off (SMTP_HOST is not set)"},
		{name: "NotEnded", room: room, status: parley.StatusProcessing,
			want: EmailOutput{Skipped: "the transcript is processing, not ended"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := newEmailStore(tt.room, tt.requests...)
			if tt.status != "" {
				db.t.Status = tt.status
			}
			m := &fakeMailer{fail: tt.fail}
			s := newSteps(t, db.memStore)
			s.DB, s.Notify = db, fakeEmailNotify{}
			if !tt.mailerOff {
				s.Mailer = m
			}
			out, err := s.SendEmail(emailCtx(), Input{TranscriptID: tid})
			require.Equal(t, tt.wantCode, parley.ErrorCode(err), "%v", err)
			require.Equal(t, tt.want, out)
			require.Equal(t, tt.wantSeen, m.seen)
			if tt.note != "" {
				require.Equal(t, tt.note, out.AuditNote())
			}
			for _, e := range m.sent {
				require.Equal(t, "Meeting notes: Weekly", e.Subject)
				require.True(t, strings.HasPrefix(e.MessageID, "parley."+tid+"."), e.MessageID)
				require.True(t, strings.HasSuffix(e.MessageID, "@example.com"), e.MessageID)
			}
		})
	}
}

// TestSendEmailTwiceSendsOnce: a second attempt (a retry, a replay, the
// TranscriptEmail run) sends only what the first did not.
func TestSendEmailTwiceSendsOnce(t *testing.T) {
	t.Parallel()
	db := newEmailStore(&parley.Room{ID: "room-1", EmailRecipients: []string{"ana@example.com", "ben@example.com"}})
	m := &fakeMailer{fail: map[string]error{"ben@example.com": parley.Errorf(parley.ETRANSIENT, "451")}}
	s := newSteps(t, db.memStore)
	s.DB, s.Notify, s.Mailer = db, fakeEmailNotify{}, m
	_, err := s.SendEmail(emailCtx(), Input{TranscriptID: tid})
	require.Equal(t, parley.ETRANSIENT, parley.ErrorCode(err))
	m.fail = nil
	out, err := s.SendEmail(emailCtx(), Input{TranscriptID: tid})
	require.NoError(t, err)
	require.Equal(t, EmailOutput{Sent: 1, AlreadySent: 1}, out)
	out, err = s.SendEmail(emailCtx(), Input{TranscriptID: tid})
	require.NoError(t, err)
	require.Equal(t, EmailOutput{AlreadySent: 2}, out)
	require.Equal(t, "sent to 2 of 2 recipients (2 before)", out.AuditNote())
	require.Equal(t, []string{"ana@example.com", "ben@example.com", "ben@example.com"}, m.seen)
	require.Len(t, m.sent, 2)
	// The same address always gets the same Message-ID.
	require.Equal(t, messageID(tid, "BEN@example.com", m.From()), m.sent[1].MessageID)
}

// TestObserverNotesAndAuditOnly: a step's output note goes into the audit;
// the TranscriptEmail workflow's observer records attempts without moving
// the transcript's progress.
func TestObserverNotesAndAuditOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newMemStore(tid)
	db.t.Status = parley.StatusEnded
	in := Input{TranscriptID: tid}
	o := &observer{s: newSteps(t, db), rows: map[string]int64{}, auditOnly: true}
	require.NoError(t, o.Started(ctx, attempt("send_email", 1), in))
	o.Finished(ctx, attempt("send_email", 1), in, EmailOutput{Skipped: "email is off (SMTP_HOST is not set)"}, parley.Usage{}, nil, false)
	require.Equal(t, []string{store.AttemptCompleted}, db.finished)
	require.Equal(t, []string{"skipped: email is off (SMTP_HOST is not set)"}, db.notes)
	require.Empty(t, progressOf(t, db), "no progress event")

	o = newObserver(newSteps(t, db))
	require.NoError(t, o.Started(ctx, attempt("post_zulip", 1), in))
	o.Finished(ctx, attempt("post_zulip", 1), in, ZulipOutput{Skipped: "no room"}, parley.Usage{}, nil, false)
	require.Equal(t, "skipped: no room", db.notes[1])
	require.NotEmpty(t, progressOf(t, db))
}
