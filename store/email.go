package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-dev/parley"
)

// Email delivery states (email_deliveries.status).
const (
	EmailPending = "pending"
	EmailSending = "sending"
	EmailSent    = "sent"
	// EmailRetry is a delivery whose last attempt failed temporarily.
	EmailRetry = "failed"
	// EmailRefused is a delivery the server refused for good (5xx): it is
	// not tried again until the address is requested again.
	EmailRefused = "refused"
)

// Email delivery sources.
const (
	EmailFromRoom    = "room"
	EmailFromRequest = "request"
)

// EmailDelivery is one address a transcript is to be emailed to, and what
// became of it.
type EmailDelivery struct {
	TranscriptID string     `json:"transcript_id"`
	Address      string     `json:"email"`
	Source       string     `json:"source"`
	Status       string     `json:"status"`
	Attempts     int        `json:"attempts"`
	MessageID    string     `json:"message_id,omitempty"`
	Error        string     `json:"error,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	SentAt       *time.Time `json:"sent_at,omitempty"`
	claimedBy    string
}

const emailColumns = `transcript_id, address, source, status, attempts, message_id, error, created_at, sent_at, claimed_by`

func scanEmail(row pgx.Row) (EmailDelivery, error) {
	var d EmailDelivery
	err := row.Scan(&d.TranscriptID, &d.Address, &d.Source, &d.Status, &d.Attempts, &d.MessageID, &d.Error, &d.CreatedAt,
		&d.SentAt, &d.claimedBy)
	return d, err
}

// emailKey is the address's identity: the same mailbox however it is
// capitalised.
func emailKey(addr string) string { return strings.ToLower(addr) }

// AddEmailRequest records that addr asked for a transcript by email. The
// same address twice (in any case) is one request: the existing delivery
// is returned with created false (one the server refused is made pending
// again: asking again is how a refused address is retried). At most limit addresses (requests and
// room recipients together) per transcript: one more is an ECONFLICT
// error. The address must have been validated (notify.ValidateEmail).
func (db *DB) AddEmailRequest(ctx context.Context, tid, addr string, limit int) (d EmailDelivery, created bool, err error) {
	err = db.InTx(ctx, func(tx *DB) error {
		// One request at a time per transcript, so that the limit holds
		// under concurrency.
		if _, err := tx.q.Exec(ctx, `SELECT 1 FROM transcripts WHERE id = $1 FOR UPDATE`, tid); err != nil {
			return wrapDBError("add email request", err)
		}
		d, err = scanEmail(tx.q.QueryRow(ctx, `UPDATE email_deliveries
			SET status = CASE WHEN status = 'refused' THEN 'pending' ELSE status END
			WHERE transcript_id = $1 AND address_key = $2 RETURNING `+emailColumns, tid, emailKey(addr)))
		if err == nil {
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return wrapDBError("add email request", err)
		}
		var n int
		if err := tx.q.QueryRow(ctx, `SELECT count(*) FROM email_deliveries WHERE transcript_id = $1`, tid).Scan(&n); err != nil {
			return wrapDBError("add email request", err)
		}
		if n >= limit {
			return parley.Errorf(parley.ECONFLICT, "this transcript already has %d email recipients, the most it can have", limit)
		}
		d, err = scanEmail(tx.q.QueryRow(ctx, `INSERT INTO email_deliveries (transcript_id, address_key, address, source)
			VALUES ($1, $2, $3, 'request') RETURNING `+emailColumns, tid, emailKey(addr), addr))
		created = err == nil
		return wrapDBError("add email request", err)
	})
	return d, created, err
}

// AddRoomRecipients adds a room's recipients to a transcript's deliveries
// (addresses it has already are left as they are).
func (db *DB) AddRoomRecipients(ctx context.Context, tid string, addrs []string) error {
	for _, a := range addrs {
		if _, err := db.q.Exec(ctx, `INSERT INTO email_deliveries (transcript_id, address_key, address, source)
			VALUES ($1, $2, $3, 'room') ON CONFLICT DO NOTHING`, tid, emailKey(a), a); err != nil {
			return wrapDBError("add room recipients", err)
		}
	}
	return nil
}

// ListEmailDeliveries returns a transcript's deliveries, oldest first.
func (db *DB) ListEmailDeliveries(ctx context.Context, tid string) ([]EmailDelivery, error) {
	rows, err := db.q.Query(ctx, `SELECT `+emailColumns+` FROM email_deliveries WHERE transcript_id = $1
		ORDER BY created_at, address_key`, tid)
	if err != nil {
		return nil, wrapDBError("list email deliveries", err)
	}
	defer rows.Close()
	out := []EmailDelivery{}
	for rows.Next() {
		d, err := scanEmail(rows)
		if err != nil {
			return nil, wrapDBError("list email deliveries", err)
		}
		out = append(out, d)
	}
	return out, wrapDBError("list email deliveries", rows.Err())
}

// ClaimEmail takes a delivery for sending: it succeeds when the delivery is
// pending or failed temporarily, or is being sent by the same claimant (an
// earlier attempt of the same step that died), or its claim is older than
// lease (a claimant that died). ok is false when the address was sent to
// already, was refused, or another claimant holds it.
func (db *DB) ClaimEmail(ctx context.Context, tid, addr, claimant string, lease time.Duration) (d EmailDelivery, ok bool, err error) {
	d, err = scanEmail(db.q.QueryRow(ctx, `UPDATE email_deliveries
		SET status = 'sending', claimed_by = $3, claimed_at = now(), attempts = attempts + 1
		WHERE transcript_id = $1 AND address_key = $2 AND (status IN ('pending', 'failed')
			OR (status = 'sending' AND (claimed_by = $3 OR claimed_at < now() - $4 * interval '1 millisecond')))
		RETURNING `+emailColumns, tid, emailKey(addr), claimant, lease.Milliseconds()))
	if errors.Is(err, pgx.ErrNoRows) {
		return EmailDelivery{}, false, nil
	}
	if err != nil {
		return EmailDelivery{}, false, wrapDBError("claim email", err)
	}
	return d, true, nil
}

// EmailSentTo records that the server took the message for addr.
func (db *DB) EmailSentTo(ctx context.Context, tid, addr, claimant, messageID, response string) error {
	tag, err := db.q.Exec(ctx, `UPDATE email_deliveries SET status = 'sent', sent_at = now(), message_id = $4, response = $5,
		error = '' WHERE transcript_id = $1 AND address_key = $2 AND claimed_by = $3 AND status = 'sending'`,
		tid, emailKey(addr), claimant, messageID, truncateText(response, 500))
	if err != nil {
		return wrapDBError("record email sent", err)
	}
	if tag.RowsAffected() == 0 {
		return parley.Errorf(parley.ECONFLICT, "email to %s: the delivery was no longer claimed by %s", addr, claimant)
	}
	return nil
}

// EmailFailed records why sending to addr failed: temporarily (a later
// attempt or run tries again) or, permanent, refused for good.
func (db *DB) EmailFailed(ctx context.Context, tid, addr, claimant, errMsg string, permanent bool) error {
	status := EmailRetry
	if permanent {
		status = EmailRefused
	}
	_, err := db.q.Exec(ctx, `UPDATE email_deliveries SET status = $5, error = $4
		WHERE transcript_id = $1 AND address_key = $2 AND claimed_by = $3 AND status = 'sending'`,
		tid, emailKey(addr), claimant, truncateText(errMsg, 1000), status)
	return wrapDBError("record email failure", err)
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
