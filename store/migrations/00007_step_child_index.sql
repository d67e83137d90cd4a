-- +goose Up
-- Which child run of a fan-out step an audit row belongs to: the topic
-- chunk (TopicChunkProcessing) or the subject (SubjectProcessing), from 0;
-- NULL for other steps. Track steps keep track_index.
ALTER TABLE steps ADD COLUMN child_index int;

-- +goose Down
ALTER TABLE steps DROP COLUMN child_index;
