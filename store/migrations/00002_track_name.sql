-- +goose Up
-- A speaker name for the track when no participant list knows it (the
-- uploaded file's name, e.g. "alice.webm" -> "Alice").
ALTER TABLE tracks ADD COLUMN name text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE tracks DROP COLUMN name;
