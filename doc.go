// Package parley holds the domain of the Parley service: transcripts, tracks,
// words, topics, participants, rooms, pipeline events and progress, usage
// accounting and the error type shared by every layer.
//
// Parley turns a multitrack meeting recording (one audio track per
// participant, as Daily.co "raw-tracks" recordings produce) into a
// speaker-attributed transcript, topics, a title, summaries and action items.
// The work runs as a durable Hatchet workflow (package pipeline); this package
// knows nothing about Hatchet, PostgreSQL, S3 or HTTP. Adapters live in their
// own packages:
//
//   - store: PostgreSQL (pgx) and S3 (minio-go)
//   - media: FFmpeg through go-astiav (probe, pad, mixdown, waveform)
//   - llm: ASR and chat models through openai-go, prompts, the result cache
//   - hatchet: the thin adapter to the Hatchet Go SDK
//   - pipeline, tracks: the DiarizationPipeline and TrackProcessing workflows
//   - api: HTTP, WebSocket and the web page
//   - daily, notify: Daily.co, Zulip and outbound webhooks
//
// Times on words and topics are seconds on meeting time; the speaker of a
// word is the index of the track it came from.
package parley
