package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/hatchet"
	"github.com/parley-dev/parley/notify"
	"github.com/parley-dev/parley/store"
)

// WorkflowEmail sends a finished transcript to the addresses that asked
// for it after it was ready (POST /v1/transcripts/{id}/email-requests):
// one task, send_email, the same step the pipeline runs after
// cleanup_consent.
const WorkflowEmail = "TranscriptEmail"

// MaxEmailRecipients bounds the addresses one transcript is sent to: a
// room's recipients and participants' requests together.
const MaxEmailRecipients = 100

// MaxRoomEmailRecipients bounds a room's email_recipients.
const MaxRoomEmailRecipients = 50

// Mailer sends one email (package notify).
type Mailer interface {
	Send(ctx context.Context, msg notify.Email) (notify.SendResult, error)
	From() string
}

// EmailOutput is send_email's output.
type EmailOutput struct {
	// Sent is how many addresses this attempt sent to; AlreadySent how many
	// had been sent to before (an earlier attempt or run); Busy how many
	// another run was sending at the same time; Pending how many are left
	// for a retry after a temporary failure.
	Sent        int `json:"sent"`
	AlreadySent int `json:"already_sent,omitempty"`
	Busy        int `json:"busy,omitempty"`
	Pending     int `json:"pending,omitempty"`
	// Refused counts addresses an earlier attempt or run had refused for
	// good (asking again for the address re-arms it).
	Refused int `json:"refused,omitempty"`
	// Failed lists the addresses that failed for good in this attempt (a
	// 5xx), with the server's answer.
	Failed  []string `json:"failed,omitempty"`
	Skipped string   `json:"skipped,omitempty"`
}

// AuditNote is what the audit says of the step.
func (o EmailOutput) AuditNote() string {
	if o.Skipped != "" {
		return "skipped: " + o.Skipped
	}
	total := o.Sent + o.AlreadySent + o.Busy + o.Pending + o.Refused + len(o.Failed)
	note := fmt.Sprintf("sent to %d of %d recipients", o.Sent+o.AlreadySent, total)
	var extra []string
	if o.AlreadySent > 0 {
		extra = append(extra, fmt.Sprintf("%d before", o.AlreadySent))
	}
	if o.Busy > 0 {
		extra = append(extra, fmt.Sprintf("%d being sent by another run", o.Busy))
	}
	if o.Refused > 0 {
		extra = append(extra, fmt.Sprintf("%d refused before", o.Refused))
	}
	if len(extra) > 0 {
		note += " (" + strings.Join(extra, ", ") + ")"
	}
	return note
}

// emailLease is how long a claim on an address holds against other runs:
// longer than any attempt of send_email can take.
const emailLease = 15 * time.Minute

// SendEmail emails the transcript (title, summary, action items, link) to
// the room's email_recipients and to everyone who asked for it
// (email-requests), one message per address, each address at most once:
// the deliveries are recorded, and an address is claimed before its
// message goes out, so a retried or replayed attempt, a second run, or the
// TranscriptEmail workflow running at the same time never send it twice.
// A temporary failure (4xx, network) stops the attempt and fails it so
// that Hatchet retries (the addresses sent to stay sent); a permanent one
// (5xx) is recorded for that address, the others are still sent, and the
// step then fails without a retry. Without SMTP (SMTP_HOST) the step is
// skipped and says so in the audit.
func (s *Steps) SendEmail(ctx context.Context, in Input) (EmailOutput, error) {
	if s.Mailer == nil {
		return EmailOutput{Skipped: "email is off (SMTP_HOST is not set)"}, nil
	}
	t, err := s.DB.GetTranscript(ctx, in.TranscriptID)
	if err != nil {
		return EmailOutput{}, err
	}
	if t.Status != parley.StatusEnded {
		return EmailOutput{Skipped: fmt.Sprintf("the transcript is %s, not ended", t.Status)}, nil
	}
	if t.RoomID != nil && *t.RoomID != "" {
		room, err := s.DB.GetRoom(ctx, *t.RoomID)
		if err != nil && parley.ErrorCode(err) != parley.ENOTFOUND {
			return EmailOutput{}, err
		}
		if err == nil && len(room.EmailRecipients) > 0 {
			if err := s.DB.AddRoomRecipients(ctx, t.ID, room.EmailRecipients); err != nil {
				return EmailOutput{}, err
			}
		}
	}
	all, err := s.DB.ListEmailDeliveries(ctx, t.ID)
	if err != nil {
		return EmailOutput{}, err
	}
	if len(all) == 0 {
		return EmailOutput{Skipped: "no recipients (the room's email_recipients and email requests are empty)"}, nil
	}
	subject, text, html, err := s.Notify.TranscriptEmail(t)
	if err != nil {
		return EmailOutput{}, err
	}
	a := hatchet.AttemptFromContext(ctx)
	claimant := a.WorkflowRunID + "/" + a.Task
	var out EmailOutput
	var transient error
	for _, d := range all {
		switch d.Status {
		case store.EmailSent:
			out.AlreadySent++
			continue
		case store.EmailRefused:
			out.Refused++ // by an earlier run; requesting it again re-arms it
			continue
		}
		if transient != nil {
			out.Pending++ // left for the retry
			continue
		}
		_, ok, err := s.DB.ClaimEmail(ctx, t.ID, d.Address, claimant, emailLease)
		if err != nil {
			return out, err
		}
		if !ok {
			out.Busy++
			continue
		}
		res, err := s.Mailer.Send(ctx, notify.Email{To: d.Address, Subject: subject, Text: text, HTML: html,
			MessageID: messageID(t.ID, d.Address, s.Mailer.From())})
		// Record the outcome even when the attempt's context has ended.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		if err == nil {
			rerr := s.DB.EmailSentTo(rctx, t.ID, d.Address, claimant, res.MessageID, res.Response)
			cancel()
			if rerr != nil {
				return out, fmt.Errorf("email to %s was sent: %w", d.Address, rerr)
			}
			out.Sent++
			continue
		}
		msg := d.Address + ": " + parley.ErrorMessage(err)
		rerr := s.DB.EmailFailed(rctx, t.ID, d.Address, claimant, parley.ErrorMessage(err), !parley.IsRetryable(err))
		cancel()
		if rerr != nil {
			return out, rerr
		}
		if parley.IsRetryable(err) {
			transient = parley.WrapError(parley.ETRANSIENT, err, "%s", msg)
			out.Pending++
			continue
		}
		out.Failed = append(out.Failed, msg)
	}
	if len(out.Failed) > 0 {
		// Permanent: no automatic retry (a resume of the run tries again).
		e := parley.Errorf(parley.EINVALID, "%d of %d email recipients refused: %s", len(out.Failed), len(all),
			strings.Join(out.Failed, "; "))
		if transient != nil {
			e.Message += "; and " + parley.ErrorMessage(transient)
		}
		return out, e
	}
	if transient != nil {
		return out, transient
	}
	if t.Error != nil && t.Error.Step == "send_email" {
		// An earlier failure of this step is repaired.
		if err := s.DB.SetStepError(ctx, t.ID, nil); err != nil {
			return out, err
		}
	}
	return out, nil
}

// messageID is the Message-ID of the transcript's email to addr: the same
// for every attempt, so that a message sent again after a crash between
// the server's answer and its record is recognisably the same one.
func messageID(tid, addr, from string) string {
	h := sha256.Sum256([]byte(strings.ToLower(addr)))
	domain := from[strings.LastIndexByte(from, '@')+1:]
	return fmt.Sprintf("parley.%s.%s@%s", tid, hex.EncodeToString(h[:8]), domain)
}

// DefineEmail declares the TranscriptEmail workflow: send_email alone, one
// run at a time per transcript (the rest queue), recorded in the audit
// without moving the transcript's progress; a final failure is stored as
// the transcript's step error, as for the pipeline's send_email.
func DefineEmail(c *hatchet.Client, s *Steps, p Policies) *hatchet.Workflow {
	wf := c.NewWorkflow(WorkflowEmail, "Emails a finished transcript to the addresses that asked for it after it was ready.",
		&observer{s: s, rows: map[string]int64{}, auditOnly: true}, hatchet.WithConcurrencyKey("input.transcript_id", 1)...)
	hatchet.Task(wf, "send_email", p.Of("send_email"), s.SendEmail)
	hatchet.OnFailure(wf, p.Of(hatchet.OnFailureTask), func(ctx context.Context, in Input, failures map[string]string) error {
		a := hatchet.AttemptFromContext(ctx)
		stepErr, err := s.failedStep(ctx, in.TranscriptID, a.WorkflowRunID, failures)
		if err != nil {
			return err
		}
		err = s.DB.SetStepError(ctx, in.TranscriptID, stepErr)
		if parley.ErrorCode(err) == parley.ENOTFOUND {
			return nil
		}
		return err
	})
	return wf
}

// EmailNow starts a TranscriptEmail run for a transcript that has ended
// (for an address that asked after it was ready) and returns its id.
func (d *Dispatcher) EmailNow(ctx context.Context, t *parley.Transcript) (string, error) {
	if t.Status != parley.StatusEnded {
		return "", errors.New("email now: the transcript has not ended")
	}
	in := Input{TranscriptID: t.ID, Language: t.SourceLanguage}
	if t.RoomID != nil {
		in.RoomID = *t.RoomID
	}
	return d.Runner.Start(ctx, WorkflowEmail, in, map[string]string{"transcript_id": t.ID})
}
