// Package pipeline defines the DiarizationPipeline workflow: the DAG that
// turns a multitrack recording into a transcript, and each of its steps as a
// plain Go method on Steps, which holds the dependencies (store, storage,
// media, llm, daily, notify, clock, logger). The Hatchet wiring goes through
// package hatchet; steps never see a hatchet.Context. The whole DAG is in
// Define (dag.go).
//
// # Data flow
//
// Task outputs carry ids, counts and S3 keys only (the LLM fan-out's
// children return their short results, which their parent stores: see
// fanout.go). Every step writes what
// it makes to PostgreSQL (words per track, topics, subjects, summaries) or
// to object storage (padded tracks, the MP3) and the next step reads it
// back, so a retried or replayed step finds its own finished work: writes
// replace rather than append, keys are deterministic, and paid provider
// calls go through a content-addressed cache.
//
// # Events
//
// Events are appended to one gapless sequence per transcript and announced
// with PostgreSQL NOTIFY in the same transaction (stored before broadcast).
// Which step emits what (the Emits of pipeline.StepTable; TestEventDictionary keeps this
// table in step):
//
//	| step | events | payload |
//	|---|---|---|
//	| get_recording | STATUS | {value} |
//	| get_participants | DURATION | {duration} |
//	| process_tracks | (PIPELINE_PROGRESS only) | |
//	| pad_track | (PIPELINE_PROGRESS only) | |
//	| transcribe_track | (PIPELINE_PROGRESS only) | |
//	| mixdown_tracks | DURATION | {duration} |
//	| generate_waveform | WAVEFORM | {waveform} |
//	| detect_topics | TOPIC | {id, title, summary, timestamp, duration, transcript, words} |
//	| detect_chunk_topic | (PIPELINE_PROGRESS only) | |
//	| generate_title | FINAL_TITLE | {title} |
//	| extract_subjects | (PIPELINE_PROGRESS only) | |
//	| process_subjects | (PIPELINE_PROGRESS only) | |
//	| generate_detailed_summary | (PIPELINE_PROGRESS only) | |
//	| generate_recap | FINAL_SHORT_SUMMARY | {short_summary} |
//	|  | FINAL_LONG_SUMMARY | {long_summary} |
//	| identify_action_items | ACTION_ITEMS | {action_items} |
//	| finalize | TRANSCRIPT | {text, translation} |
//	|  | STATUS | {value} |
//	| cleanup_consent | (PIPELINE_PROGRESS only) | |
//	| post_zulip | (PIPELINE_PROGRESS only) | |
//	| send_webhook | (PIPELINE_PROGRESS only) | |
//	| send_email | (PIPELINE_PROGRESS only) | |
//	| on_failure | STATUS | {value} |
//	| (every step) | PIPELINE_PROGRESS | {workflow_run_id, current_step, step_index, total_steps, step_status, percent, track_index, detail, attempt} |
//
// # Failure
//
// A failed attempt that Hatchet will retry shows as in progress ("attempt
// 2 of 4"); the transcript's status never flaps to error. When a run fails
// for good, on_failure names the failing step (a child's step, such as a
// track step inside process_tracks or detect_chunk_topic inside
// detect_topics, when that is where it failed) in transcript.error, sets
// the status to error and sends transcript.failed to the room's webhook.
// Dispatcher.Process resumes such a run by replaying the failed task and
// its descendants (failed children first: only they run again).
package pipeline
