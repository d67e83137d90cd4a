// The pipeline's steps as the page shows them.

/** STEPS are the pipeline's steps in order, with the words shown for them. */
export const STEPS = [
  ["get_recording", "Fetch recording"],
  ["get_participants", "Identify participants"],
  ["process_tracks", "Prepare and transcribe tracks"],
  ["mixdown_tracks", "Mix down audio"],
  ["generate_waveform", "Draw waveform"],
  ["detect_topics", "Detect topics"],
  ["generate_title", "Write title"],
  ["extract_subjects", "Find subjects"],
  ["process_subjects", "Summarize subjects"],
  ["generate_recap", "Write summary"],
  ["identify_action_items", "List action items"],
  ["finalize", "Finalize transcript"],
  ["cleanup_consent", "Apply consent"],
  ["post_zulip", "Post to Zulip"],
  ["send_webhook", "Send webhook"],
];
const STEP_LABELS = Object.assign(Object.fromEntries(STEPS), {
  pad_track: "Prepare track", transcribe_track: "Transcribe track", on_failure: "Record failure",
});
/** TRACK_STEPS are the per-track child steps, with their key in a track's state. */
export const TRACK_STEPS = { pad_track: "pad", transcribe_track: "transcribe" };
/** Steps after finalize: a failure there leaves the transcript complete. */
export const POST_FINALIZE = new Set(["cleanup_consent", "post_zulip", "send_webhook"]);
/** STATE_WORDS are the step states, as screen readers say them. */
export const STATE_WORDS = { pending: "pending", in_progress: "in progress", completed: "completed", failed: "failed" };

/** stepLabel is the words shown for a step (its name when it has none). */
export function stepLabel(name) { return STEP_LABELS[name] || name; }

/** auditState maps an audit row's status to a step state. */
export function auditState(status) {
  switch (status) {
    case "completed": return "completed";
    case "failed": return "failed";
    case "running": case "retrying": return "in_progress";
    default: return "pending";
  }
}

