-- +goose Up
-- Which transcripts used a cached provider result (the task's subject,
-- recorded on every write and hit): deleting a transcript for good deletes
-- the results only it used (its words, its summaries), keeps those another
-- transcript also used. Results cached before this table have no owner and
-- are kept.
CREATE TABLE cache_owners (
    transcript_id uuid NOT NULL REFERENCES transcripts (id) ON DELETE CASCADE,
    key           text NOT NULL REFERENCES cache (key) ON DELETE CASCADE,
    PRIMARY KEY (transcript_id, key)
);
CREATE INDEX cache_owners_key ON cache_owners (key);

-- A Daily recording whose transcript was deleted for good: a webhook
-- delivered again (or the polling fallback) must not bring it back.
ALTER TABLE recordings ADD COLUMN deleted_at timestamptz;

-- +goose Down
ALTER TABLE recordings DROP COLUMN deleted_at;
DROP TABLE cache_owners;
