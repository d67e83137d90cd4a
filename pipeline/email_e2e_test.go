package pipeline_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/internal/e2e"
	"github.com/parley-dev/parley/internal/testenv"
	"github.com/parley-dev/parley/pipeline"
	"github.com/parley-dev/parley/sim"
	"github.com/parley-dev/parley/store"
)

// emailRequestAnswer is POST /v1/transcripts/{id}/email-requests' answer.
type emailRequestAnswer struct {
	Email         string `json:"email"`
	Status        string `json:"status"`
	When          string `json:"when"`
	WorkflowRunID string `json:"workflow_run_id"`
}

// acceptedMail returns the addresses of the messages the SMTP sink accepted,
// sorted.
func acceptedMail(s *e2e.Stack) []string {
	var to []string
	for _, m := range s.Sim.SMTPMessages() {
		if m.Accepted() {
			to = append(to, m.To...)
		}
	}
	sort.Strings(to)
	return to
}

// uploadMeeting creates a transcript in a room and uploads the sample
// meeting's tracks through the API, without starting it.
func uploadMeeting(t *testing.T, s *e2e.Stack, roomID string) string {
	t.Helper()
	ctx := context.Background()
	var tr parley.Transcript
	require.Equal(t, 201, s.API(ctx, "POST", "/v1/transcripts", map[string]any{"name": "Email meeting", "room_id": roomID}, &tr))
	for _, n := range names {
		f, err := os.ReadFile(filepath.Join(testenv.Root(t), "testdata", "meeting", n+".webm"))
		require.NoError(t, err)
		req, err := http.NewRequestWithContext(ctx, "POST", s.APIURL+"/v1/transcripts/"+tr.ID+"/tracks", bytes.NewReader(f))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "audio/webm")
		req.Header.Set("Content-Disposition", `attachment; filename="`+n+`.webm"`)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, 201, resp.StatusCode)
	}
	return tr.ID
}

// stepOf returns a step's audit row.
func stepOf(t *testing.T, s *e2e.Stack, tid, name string) parley.StepRecord {
	t.Helper()
	steps, err := s.DB.ListSteps(context.Background(), tid)
	require.NoError(t, err)
	for _, st := range steps {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no %s in the audit: %+v", name, steps)
	return parley.StepRecord{}
}

// TestEmail: a room with two recipients plus one participant's request
// give three messages (STARTTLS, text and HTML with title, summary, action
// items and the link); an address asking after the transcript is ready
// gets it at once; asking again, or running the email step again, sends
// nothing twice. Then the failures (one stack for all: the second meeting
// is answered from the ASR and LLM caches).
func TestEmail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := e2e.New(t, e2e.Options{Env: map[string]string{"UI_BASE_URL": "https://parley.example.com",
		"PARLEY_STEP_SEND_EMAIL_BACKOFF": "0"}})
	worker := s.StartWorker()
	s.StartServe()

	// Bad addresses are refused where they come in.
	for _, bad := range []any{
		map[string]any{"name": "r", "email_recipients": []string{"ana@example.com\r\nBcc: evil@example.com"}},
		map[string]any{"name": "r", "email_recipients": []string{"ana@example.com", "ANA@example.com"}},
		map[string]any{"name": "r", "email_recipients": []string{strings.Repeat("a", 250) + "@example.com"}},
	} {
		require.Equal(t, 400, s.API(ctx, "POST", "/v1/rooms", bad, nil), "%v", bad)
	}
	var room parley.Room
	require.Equal(t, 201, s.API(ctx, "POST", "/v1/rooms", map[string]any{"name": "email-room",
		"email_recipients": []string{"ana@example.com", " ben@example.com "}}, &room))
	require.Equal(t, []string{"ana@example.com", "ben@example.com"}, room.EmailRecipients)

	tid := uploadMeeting(t, s, room.ID)
	var ans emailRequestAnswer
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/transcripts/"+tid+"/email-requests", map[string]any{"email": "carol@example.com"}, &ans))
	require.Equal(t, "when_ready", ans.When)
	require.Equal(t, 200, s.API(ctx, "POST", "/v1/transcripts/"+tid+"/email-requests", map[string]any{"email": "Carol@Example.com"}, &ans),
		"the same address again is the same request")
	for _, bad := range []string{"carol@example.com\r\nBcc: evil@example.com", "Carol <carol@example.com>", "",
		strings.Repeat("c", 65) + "@example.com"} {
		require.Equal(t, 400, s.API(ctx, "POST", "/v1/transcripts/"+tid+"/email-requests", map[string]any{"email": bad}, nil), "%q", bad)
	}
	require.Equal(t, 404, s.API(ctx, "POST", "/v1/transcripts/00000000-0000-4000-8000-000000000000/email-requests",
		map[string]any{"email": "x@example.com"}, nil))

	require.Equal(t, 202, s.API(ctx, "POST", "/v1/transcripts/"+tid+"/process", nil, nil))
	tr := s.WaitStatus(ctx, tid, 3*time.Minute, parley.StatusEnded, parley.StatusError)
	require.Equal(t, parley.StatusEnded, tr.Status, "error: %+v", tr.Error)
	waitRunDone(t, s, tr)

	require.Equal(t, []string{"ana@example.com", "ben@example.com", "carol@example.com"}, acceptedMail(s))
	require.Len(t, s.Sim.SMTPMessages(), 3, "one message per recipient, no retry")
	link := "https://parley.example.com/transcripts/" + tid
	for _, m := range s.Sim.SMTPMessages() {
		require.True(t, m.TLS, "STARTTLS")
		require.Equal(t, "parley", m.Username)
		require.Equal(t, "parley@example.com", m.From)
		require.Equal(t, "Meeting notes: Email meeting", m.Subject)
		require.Contains(t, m.Text, "Email meeting")
		require.Contains(t, m.Text, "Summary\n"+strings.TrimSpace(tr.ShortSummary))
		require.Contains(t, m.Text, "Transcript: "+link)
		require.Contains(t, m.HTML, `<a href="`+link+`">`)
		if n := len(tr.ActionItems.NextSteps); n > 0 {
			require.Contains(t, m.Text, "Action items")
			require.Contains(t, m.Text, strings.Join(strings.Fields(tr.ActionItems.NextSteps[0].Task), " "))
		}
		require.NotContains(t, m.Raw, "sim-smtp-password")
	}
	st := stepOf(t, s, tid, "send_email")
	require.Equal(t, store.AttemptCompleted, st.Status)
	require.Equal(t, "sent to 3 of 3 recipients", st.Note)

	// Asking after the transcript is ready: sent now, by a TranscriptEmail
	// run.
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/transcripts/"+tid+"/email-requests", map[string]any{"email": "dan@example.com"}, &ans))
	require.Equal(t, "now", ans.When)
	require.NotEmpty(t, ans.WorkflowRunID)
	s.WaitFor("the email to dan", time.Minute, func() bool { return len(acceptedMail(s)) == 4 })
	require.Equal(t, []string{"ana@example.com", "ben@example.com", "carol@example.com", "dan@example.com"}, acceptedMail(s))
	hc := s.Hatchet()
	s.WaitFor("the email run to be done", time.Minute, func() bool {
		st, err := hc.State(ctx, ans.WorkflowRunID)
		return err == nil && st.Done
	})
	// An address already sent to: nothing is sent again.
	require.Equal(t, 200, s.API(ctx, "POST", "/v1/transcripts/"+tid+"/email-requests", map[string]any{"email": "ana@example.com"}, &ans))
	require.Equal(t, "sent", ans.When)
	// The step run again (as a replay would): nothing is sent twice.
	runID, err := hc.Start(ctx, pipeline.WorkflowEmail, pipeline.Input{TranscriptID: tid}, nil)
	require.NoError(t, err)
	s.WaitFor("the second email run to be done", time.Minute, func() bool {
		st, err := hc.State(ctx, runID)
		return err == nil && st.Done
	})
	require.Len(t, s.Sim.SMTPMessages(), 4, "no address got a second message")
	require.Equal(t, "sent to 4 of 4 recipients (4 before)", stepOf(t, s, tid, "send_email").Note)
	var list struct {
		Items []store.EmailDelivery `json:"items"`
	}
	require.Equal(t, 200, s.API(ctx, "GET", "/v1/transcripts/"+tid+"/email-requests", nil, &list))
	require.Len(t, list.Items, 4)
	for _, d := range list.Items {
		require.Equal(t, store.EmailSent, d.Status, "%+v", d)
		require.Equal(t, 1, d.Attempts)
	}

	// A 5xx on the first try (another room, another meeting) is not
	// retried and the step's error is stored (transcript error and
	// /steps), the transcript staying ended; a 4xx is retried; asking
	// again re-arms the refused address. Without SMTP the step is skipped,
	// and says so.
	s.Sim.SetFault(sim.EndpointSMTP, sim.Fault{FailNext: 1, ErrorStatus: 550})
	var room2 parley.Room
	require.Equal(t, 201, s.API(ctx, "POST", "/v1/rooms", map[string]any{"name": "refusing-room",
		"email_recipients": []string{"ana@example.com"}}, &room2))
	tracks := recording(t, s, "rec-email-550")
	var acc accepted
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/process", map[string]any{"tracks": tracks, "recording_id": "rec-email-550",
		"room_id": room2.ID}, &acc))
	tr = s.WaitStatus(ctx, acc.TranscriptID, 3*time.Minute, parley.StatusEnded, parley.StatusError)
	require.Equal(t, parley.StatusEnded, tr.Status, "error: %+v", tr.Error)
	waitRunDone(t, s, tr)

	msgs := s.Sim.SMTPMessages()[4:]
	require.Len(t, msgs, 1, "a 5xx is not retried")
	require.Equal(t, 550, msgs[0].Status)
	st = stepOf(t, s, tr.ID, "send_email")
	require.Equal(t, store.AttemptFailed, st.Status)
	require.Equal(t, 1, st.Attempts)
	require.Contains(t, st.Error, "550")
	require.Contains(t, st.Error, "ana@example.com")
	tr, err = s.DB.GetTranscript(ctx, tr.ID)
	require.NoError(t, err)
	require.Equal(t, parley.StatusEnded, tr.Status, "a delivery step's failure leaves the transcript complete")
	require.NotNil(t, tr.Error)
	require.Equal(t, "send_email", tr.Error.Step)
	require.Contains(t, tr.Error.Message, "550")

	// A 4xx is retried. Asking again for the refused address re-arms it.
	s.Sim.SetFault(sim.EndpointSMTP, sim.Fault{FailNext: 1, ErrorStatus: 451})
	require.Equal(t, 200, s.API(ctx, "POST", "/v1/transcripts/"+tr.ID+"/email-requests", map[string]any{"email": "ana@example.com"}, &ans))
	require.Equal(t, "now", ans.When)
	s.WaitFor("the email to ana", time.Minute, func() bool { return len(acceptedMail(s)) == 5 })
	msgs = s.Sim.SMTPMessages()[4:]
	require.Equal(t, []int{550, 451, 250}, []int{msgs[0].Status, msgs[1].Status, msgs[2].Status})
	s.WaitFor("the error to be cleared", time.Minute, func() bool {
		t2, err := s.DB.GetTranscript(ctx, tr.ID)
		require.NoError(t, err)
		return t2.Error == nil
	})
	require.Equal(t, 3, stepOf(t, s, tr.ID, "send_email").Attempts, "1 in the pipeline's run, 2 in the email run")

	// Without SMTP the step is skipped, and the audit says why.
	s.Stop(worker)
	s.Setenv("SMTP_HOST", "")
	s.StartWorker()
	require.Equal(t, 202, s.API(ctx, "POST", "/v1/transcripts/"+tr.ID+"/email-requests", map[string]any{"email": "erin@example.com"}, &ans))
	s.WaitFor("the skipped email run", time.Minute, func() bool {
		st := stepOf(t, s, tr.ID, "send_email")
		return st.Status == store.AttemptCompleted && strings.HasPrefix(st.Note, "skipped")
	})
	require.Equal(t, "skipped: email is off (SMTP_HOST is not set)", stepOf(t, s, tr.ID, "send_email").Note)
	require.Len(t, s.Sim.SMTPMessages(), 4+3)
}

// waitRunDone waits until the engine reports the transcript's run done
// (the delivery steps run on after the status is ended).
func waitRunDone(t *testing.T, s *e2e.Stack, tr *parley.Transcript) {
	t.Helper()
	require.NotNil(t, tr.WorkflowRunID)
	hc := s.Hatchet()
	s.WaitFor("the run to be done", 2*time.Minute, func() bool {
		st, err := hc.State(context.Background(), *tr.WorkflowRunID)
		return err == nil && st.Done
	})
}
