-- +goose Up
-- Trash: a trashed transcript is hidden from lists and search until it is
-- restored or purged (PARLEY_TRASH_RETENTION after deleted_at).
ALTER TABLE transcripts ADD COLUMN deleted_at timestamptz;
CREATE INDEX transcripts_trashed ON transcripts (deleted_at) WHERE deleted_at IS NOT NULL;

-- Speaker names: name stays what Daily (or the upload's file name) said;
-- custom_name, when not empty, is a user's correction and wins everywhere.
ALTER TABLE participants ADD COLUMN custom_name text NOT NULL DEFAULT '';

-- Full-text search. All text is indexed with the 'english' configuration
-- (stemming, stop words), queries are parsed with the same one.
--
-- What is indexed is the HTML-escaped text (parley_search_text): the
-- snippets are made from that same text by ts_headline, so they are
-- escaped with their <mark>s as the only markup, and the parser, which
-- skips HTML tags, sees no tags in plain text ("<script>alert" is words).
-- The highlight markers \x02 and \x03 are removed from it.
-- +goose StatementBegin
CREATE FUNCTION parley_search_text(t text) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT replace(replace(replace(replace(replace(translate(t, E'\x02\x03', ''),
        '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&#34;'), '''', '&#39;')
$$;
-- +goose StatementEnd
--
-- Titles and summaries live on the transcript row; a trigger keeps their
-- vectors current, and fires only when those columns are written (not on
-- the frequent progress and event-sequence updates).
ALTER TABLE transcripts ADD COLUMN search_title tsvector NOT NULL DEFAULT ''::tsvector;
ALTER TABLE transcripts ADD COLUMN search_summary tsvector NOT NULL DEFAULT ''::tsvector;

-- +goose StatementBegin
CREATE FUNCTION transcripts_search_vectors() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_title := to_tsvector('english'::regconfig, parley_search_text(NEW.name || ' ' || NEW.title));
    NEW.search_summary := to_tsvector('english'::regconfig, parley_search_text(NEW.short_summary || E'\n' || NEW.long_summary));
    RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER transcripts_search_vectors
    BEFORE INSERT OR UPDATE OF name, title, short_summary, long_summary ON transcripts
    FOR EACH ROW EXECUTE FUNCTION transcripts_search_vectors();
-- Existing rows: fire the trigger once.
UPDATE transcripts SET name = name;

CREATE INDEX transcripts_search_title ON transcripts USING gin (search_title);
CREATE INDEX transcripts_search_summary ON transcripts USING gin (search_summary);

-- Transcripts in the order they were made: searches rank among the
-- newest matching meetings by this number.
ALTER TABLE transcripts ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;

-- The words, grouped into speaker segments (parley.Segments: the lines of
-- the transcript as people read it), rebuilt by the store whenever the
-- words of a transcript change and when a transcript ends.
--
-- Each segment's vector also holds tokens no query text can produce: its
-- transcript's bucket (#b + seq / 32) and room (#r + md5 of the room id). A
-- search first picks the newest matching meetings from search_meetings,
-- then asks this GIN index for "query AND (their buckets) [AND room]": the
-- index intersects the posting lists, so only the matching segments of
-- about those meetings are read and ranked, however common the words are in
-- the whole library.
CREATE TABLE search_segments (
    transcript_id uuid NOT NULL REFERENCES transcripts (id) ON DELETE CASCADE,
    idx           int NOT NULL,
    speaker       int NOT NULL,
    start_s       double precision NOT NULL,
    end_s         double precision NOT NULL,
    text          text NOT NULL,
    tsv           tsvector NOT NULL,
    PRIMARY KEY (transcript_id, idx)
);
CREATE INDEX search_segments_tsv ON search_segments USING gin (tsv);

-- Every word of a meeting, once (no positions): which meetings can match
-- a query (its phrases loosened to AND, its exclusions dropped), found in
-- a small index.
CREATE TABLE search_meetings (
    transcript_id uuid PRIMARY KEY REFERENCES transcripts (id) ON DELETE CASCADE,
    words         tsvector NOT NULL
);
CREATE INDEX search_meetings_words ON search_meetings USING gin (words);

-- +goose Down
DROP TABLE search_meetings;
DROP TABLE search_segments;
ALTER TABLE transcripts DROP COLUMN seq;
DROP TRIGGER transcripts_search_vectors ON transcripts;
DROP FUNCTION transcripts_search_vectors();
DROP FUNCTION parley_search_text(text);
ALTER TABLE transcripts DROP COLUMN search_summary;
ALTER TABLE transcripts DROP COLUMN search_title;
ALTER TABLE participants DROP COLUMN custom_name;
DROP INDEX transcripts_trashed;
ALTER TABLE transcripts DROP COLUMN deleted_at;
