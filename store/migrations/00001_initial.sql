-- +goose Up
-- Parley's application schema. Times are timestamptz; audio times are
-- seconds (double precision) on meeting time.

CREATE TABLE rooms (
    id              text PRIMARY KEY,
    name            text NOT NULL UNIQUE,
    webhook_url     text NOT NULL DEFAULT '',
    webhook_secret  text NOT NULL DEFAULT '',
    zulip_stream    text NOT NULL DEFAULT '',
    zulip_topic     text NOT NULL DEFAULT '',
    zulip_auto_post boolean NOT NULL DEFAULT false,
    skip_consent    boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE transcripts (
    id               uuid PRIMARY KEY,
    name             text NOT NULL DEFAULT '',
    status           text NOT NULL DEFAULT 'idle'
                     CHECK (status IN ('idle', 'uploaded', 'processing', 'ended', 'error')),
    title            text NOT NULL DEFAULT '',
    short_summary    text NOT NULL DEFAULT '',
    long_summary     text NOT NULL DEFAULT '',
    action_items     jsonb NOT NULL DEFAULT '{"decisions": [], "next_steps": []}',
    duration_seconds double precision NOT NULL DEFAULT 0,
    source_language  text NOT NULL DEFAULT 'en',
    target_language  text NOT NULL DEFAULT 'en',
    room_id          text REFERENCES rooms (id) ON DELETE SET NULL,
    -- One transcript per Daily recording: the trigger's idempotency.
    recording_id     text UNIQUE,
    workflow_run_id  text,
    -- When a dispatcher claimed the right to start a run (a short lease, so
    -- concurrent triggers start at most one run and a crashed dispatcher's
    -- claim expires).
    dispatch_claimed_at timestamptz,
    progress         jsonb,
    error            jsonb,
    audio_key        text NOT NULL DEFAULT '',
    audio_deleted    boolean NOT NULL DEFAULT false,
    waveform         jsonb,
    zulip_message_id bigint,
    -- Last event sequence number of this transcript (see events.seq).
    event_seq        bigint NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transcripts_created_at ON transcripts (created_at DESC, id DESC);

-- Daily recordings as delivered by the webhook or found by polling.
CREATE TABLE recordings (
    id            text PRIMARY KEY,
    bucket        text NOT NULL,
    room_name     text NOT NULL DEFAULT '',
    track_keys    text[] NOT NULL DEFAULT '{}',
    recorded_at   timestamptz,
    -- From Daily's GET /recordings/{id}, written by get_recording.
    mtg_session_id text NOT NULL DEFAULT '',
    duration_s    int,
    transcript_id uuid REFERENCES transcripts (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- The tracks of a transcript, in speaker order, and what pad_track made of
-- each.
CREATE TABLE tracks (
    transcript_id  uuid NOT NULL REFERENCES transcripts (id) ON DELETE CASCADE,
    idx            int NOT NULL CHECK (idx >= 0),
    bucket         text NOT NULL,
    s3_key         text NOT NULL,
    participant_id text NOT NULL DEFAULT '',
    start_offset   double precision,
    duration       double precision,
    padded_bucket  text NOT NULL DEFAULT '',
    padded_key     text NOT NULL DEFAULT '',
    padded_sha256  text NOT NULL DEFAULT '',
    padded_size    bigint NOT NULL DEFAULT 0,
    -- Seconds to add to times in the padded audio to get meeting time (0
    -- when the padded file is already on meeting time).
    padded_shift   double precision NOT NULL DEFAULT 0,
    -- The pipeline run that made the padded file (a retry of that run
    -- reuses it; a new run pads again).
    padded_run_id  text NOT NULL DEFAULT '',
    transcribed    boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (transcript_id, idx)
);

CREATE TABLE participants (
    transcript_id uuid NOT NULL REFERENCES transcripts (id) ON DELETE CASCADE,
    id            text NOT NULL,
    speaker       int NOT NULL,
    name          text NOT NULL,
    user_id       text NOT NULL DEFAULT '',
    PRIMARY KEY (transcript_id, id)
);
CREATE UNIQUE INDEX participants_speaker ON participants (transcript_id, speaker);

-- Words per track, written in one transaction by transcribe_track (a retry
-- replaces the track's words, never duplicates them).
CREATE TABLE words (
    transcript_id uuid NOT NULL REFERENCES transcripts (id) ON DELETE CASCADE,
    speaker       int NOT NULL,
    seq           int NOT NULL,
    text          text NOT NULL,
    start_s       double precision NOT NULL,
    end_s         double precision NOT NULL,
    PRIMARY KEY (transcript_id, speaker, seq)
);
CREATE INDEX words_by_time ON words (transcript_id, start_s, speaker, seq);

CREATE TABLE topics (
    transcript_id uuid NOT NULL REFERENCES transcripts (id) ON DELETE CASCADE,
    idx           int NOT NULL,
    id            uuid NOT NULL UNIQUE,
    title         text NOT NULL,
    summary       text NOT NULL,
    timestamp_s   double precision NOT NULL,
    duration_s    double precision NOT NULL,
    transcript    text NOT NULL DEFAULT '',
    -- Index range [word_from, word_to) into the transcript's words in
    -- meeting-time order.
    word_from     int NOT NULL,
    word_to       int NOT NULL,
    PRIMARY KEY (transcript_id, idx)
);

CREATE TABLE subjects (
    transcript_id     uuid NOT NULL REFERENCES transcripts (id) ON DELETE CASCADE,
    idx               int NOT NULL,
    subject           text NOT NULL,
    detailed_summary  text NOT NULL DEFAULT '',
    paragraph_summary text NOT NULL DEFAULT '',
    PRIMARY KEY (transcript_id, idx)
);

-- Append-only event log. seq is gapless and ordered per transcript: it is
-- taken from transcripts.event_seq under that row's lock in the inserting
-- transaction, so commit order equals seq order and a reader that has seen
-- seq n never misses n+1.
CREATE TABLE events (
    transcript_id uuid NOT NULL REFERENCES transcripts (id) ON DELETE CASCADE,
    seq           bigint NOT NULL,
    name          text NOT NULL,
    data          jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (transcript_id, seq)
);

-- Audit: one row per attempt of a step (per track for track steps).
CREATE TABLE steps (
    id              bigserial PRIMARY KEY,
    transcript_id   uuid NOT NULL REFERENCES transcripts (id) ON DELETE CASCADE,
    workflow_run_id text NOT NULL DEFAULT '',
    task_run_id     text NOT NULL DEFAULT '',
    name            text NOT NULL,
    track_index     int,
    attempt         int NOT NULL,
    status          text NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'retrying')),
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz,
    usage           jsonb NOT NULL DEFAULT '{}',
    error           text NOT NULL DEFAULT ''
);
CREATE INDEX steps_by_transcript ON steps (transcript_id, name, track_index, id);
CREATE UNIQUE INDEX steps_attempt ON steps (transcript_id, task_run_id, attempt) WHERE task_run_id <> '';

-- Content-addressed provider results (ASR and LLM), so that a retried or
-- replayed step never pays twice for the same input.
CREATE TABLE cache (
    key        text PRIMARY KEY,
    kind       text NOT NULL,
    value      jsonb NOT NULL,
    hit_count  bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_hit_at timestamptz
);

-- Consent answers; a denial makes cleanup delete every stored audio object
-- of the transcript.
CREATE TABLE consent (
    id             bigserial PRIMARY KEY,
    transcript_id  uuid NOT NULL REFERENCES transcripts (id) ON DELETE CASCADE,
    participant_id text NOT NULL DEFAULT '',
    consent_given  boolean NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (transcript_id, participant_id)
);

-- +goose Down
DROP TABLE consent;
DROP TABLE cache;
DROP TABLE steps;
DROP TABLE events;
DROP TABLE subjects;
DROP TABLE topics;
DROP TABLE words;
DROP TABLE participants;
DROP TABLE tracks;
DROP TABLE recordings;
DROP TABLE transcripts;
DROP TABLE rooms;
