package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/notify"
	"github.com/parley-dev/parley/pipeline"
	"github.com/parley-dev/parley/store"
)

// Emailer starts the email of a transcript that is ready (package
// pipeline: a TranscriptEmail run).
type Emailer interface {
	EmailNow(ctx context.Context, t *parley.Transcript) (string, error)
}

type emailRequest struct {
	Email string `json:"email"`
}

// emailRequestDoc is the answer to an email request.
type emailRequestDoc struct {
	store.EmailDelivery
	// When says when the message goes out: "now" (the transcript is ready;
	// workflow_run_id is the TranscriptEmail run), "when_ready" (send_email
	// sends it when the pipeline ends) or "sent" (it was sent before).
	When          string `json:"when"`
	WorkflowRunID string `json:"workflow_run_id,omitempty"`
}

// postEmailRequest records that a participant wants the transcript by
// email: sent when the run ends, or at once when it already has. Asking
// again for the same address is answered with the same request (200) and
// never sends twice.
func (s *Server) postEmailRequest(w http.ResponseWriter, r *http.Request) error {
	if s.emailer == nil {
		return withStatus(http.StatusConflict, parley.Errorf(parley.ECONFLICT,
			"email is off on this server: SMTP_HOST is not set"))
	}
	var req emailRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	addr := strings.TrimSpace(req.Email)
	if err := notify.ValidateEmail(addr); err != nil {
		return err
	}
	t, err := s.transcript(r)
	if err != nil {
		return err
	}
	if t.DeletedAt != nil {
		return parley.Errorf(parley.ECONFLICT, "transcript %s is in the trash: restore it first", t.ID)
	}
	d, created, err := s.db.AddEmailRequest(r.Context(), t.ID, addr, pipeline.MaxEmailRecipients)
	if err != nil {
		return err
	}
	doc := emailRequestDoc{EmailDelivery: d, When: "when_ready"}
	status := http.StatusAccepted
	if !created {
		status = http.StatusOK
	}
	switch {
	case d.Status == store.EmailSent:
		doc.When = "sent"
	case t.Status == parley.StatusEnded:
		// Ready: send now. The pipeline's own send_email may be running
		// too; the deliveries' claims keep it to one message.
		runID, err := s.emailer.EmailNow(r.Context(), t)
		if err != nil {
			return err
		}
		doc.When, doc.WorkflowRunID = "now", runID
	}
	writeJSON(w, status, doc)
	return nil
}

// getEmailRequests lists a transcript's email recipients (the room's,
// once send_email has run, and the requests) with what became of each.
func (s *Server) getEmailRequests(w http.ResponseWriter, r *http.Request) error {
	t, err := s.transcript(r)
	if err != nil {
		return err
	}
	all, err := s.db.ListEmailDeliveries(r.Context(), t.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": all})
	return nil
}

// validEmailRecipients checks a room's email_recipients: each address
// strictly valid, no duplicates, at most pipeline.MaxRoomEmailRecipients.
// It returns the list trimmed.
func validEmailRecipients(list []string) ([]string, error) {
	if len(list) > pipeline.MaxRoomEmailRecipients {
		return nil, parley.Errorf(parley.EINVALID, "email_recipients: at most %d addresses (got %d)",
			pipeline.MaxRoomEmailRecipients, len(list))
	}
	out := make([]string, 0, len(list))
	seen := map[string]bool{}
	for i, a := range list {
		a = strings.TrimSpace(a)
		if err := notify.ValidateEmail(a); err != nil {
			return nil, parley.Errorf(parley.EINVALID, "email_recipients[%d]: %s", i, parley.ErrorMessage(err))
		}
		if seen[strings.ToLower(a)] {
			return nil, parley.Errorf(parley.EINVALID, "email_recipients[%d]: %s is listed twice", i, a)
		}
		seen[strings.ToLower(a)] = true
		out = append(out, a)
	}
	return out, nil
}
