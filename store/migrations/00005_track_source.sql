-- +goose Up
-- What pad_track sent to the speech recogniser for the track: 'original'
-- (the raw track as it is, word times shifted by its offset) or 'padded'
-- (a copy on meeting time that finalize deletes); '' until it ran. Kept
-- after finalize forgets the padded copy, for the audit and consent
-- cleanup.
ALTER TABLE tracks ADD COLUMN source text NOT NULL DEFAULT '';
-- The file extension the recogniser must see for it ('webm', 'mp3', ...):
-- an original's key may have none (Daily's raw tracks).
ALTER TABLE tracks ADD COLUMN padded_ext text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE tracks DROP COLUMN padded_ext;
ALTER TABLE tracks DROP COLUMN source;
