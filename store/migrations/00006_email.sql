-- +goose Up
-- Email: a room's standing recipients, and every address a transcript is
-- to be sent to (the room's, copied when send_email runs, and participants'
-- requests). One row per transcript and address (case-insensitive): a
-- message is sent to an address at most once, however often the step is
-- retried, replayed or run again. status: pending (not sent yet), sending
-- (claimed by a run, claimed_by, since claimed_at), sent, failed (a
-- temporary failure, error; a later attempt or run tries again), refused
-- (a permanent failure, error; tried again only when the address is
-- requested again).
ALTER TABLE rooms ADD COLUMN email_recipients text[] NOT NULL DEFAULT '{}';

CREATE TABLE email_deliveries (
    transcript_id uuid NOT NULL REFERENCES transcripts (id) ON DELETE CASCADE,
    address_key   text NOT NULL,
    address       text NOT NULL,
    source        text NOT NULL CHECK (source IN ('room', 'request')),
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'refused')),
    claimed_by    text NOT NULL DEFAULT '',
    claimed_at    timestamptz,
    attempts      int NOT NULL DEFAULT 0,
    message_id    text NOT NULL DEFAULT '',
    response      text NOT NULL DEFAULT '',
    error         text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz,
    PRIMARY KEY (transcript_id, address_key)
);

-- The audit's note: what a step did when it did nothing or something worth
-- saying ("skipped: email is off"), shown next to its status.
ALTER TABLE steps ADD COLUMN note text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE steps DROP COLUMN note;
DROP TABLE email_deliveries;
ALTER TABLE rooms DROP COLUMN email_recipients;
