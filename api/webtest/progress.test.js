// Progress math: folding PIPELINE_PROGRESS events, the states shown per
// step and track, the bar's percent and the line under it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Progress, errorInfo, progressDetail, shownPercent, stepMeta, stepState, trackStates, trackWord } from "../web/transcript/progress.js";
import { Pipeline, auditState } from "../web/transcript/steps.js";

// The server's step table (GET /v1/pipeline); TestPipelineRoute keeps the file equal to it.
const table = JSON.parse(readFileSync(new URL("./pipeline.json", import.meta.url)));
const pipe = new Pipeline(table);

function snapshot(p, over = {}) {
  return { pipeline: pipe, status: "processing", steps: p.steps, tracks: p.tracks, percent: p.percent, detail: p.detail, audit: [], error: null, participants: [], ...over };
}

test("the percent only moves forward and the detail follows the events", () => {
  const p = new Progress(pipe);
  for (const [pct, want] of [[10, 10], [40, 40], [25, 40], [150, 100], [-1, 100]]) {
    p.apply({ workflow_run_id: "r1", current_step: "get_recording", step_status: "in_progress", percent: pct, detail: `at ${pct}` });
    assert.equal(p.percent, want);
  }
  assert.equal(p.detail, "at -1");
  p.apply({ workflow_run_id: "r1", current_step: "get_recording", step_status: "completed", percent: 100 });
  assert.equal(p.detail, "at -1", "an event without detail keeps the last one");
});

test("events of an older run replayed before ours are skipped; a newer run starts over", () => {
  const p = new Progress(pipe);
  p.applyDoc({ workflow_run_id: "new", status: "processing", progress: { percent: 30, detail: "Transcribing" } });
  assert.equal(p.percent, 30);
  assert.equal(p.detail, "Transcribing");
  assert.equal(p.apply({ workflow_run_id: "old", current_step: "detect_topics", step_status: "failed", percent: 90 }), null);
  assert.equal(p.percent, 30);
  assert.equal(p.failure, null);
  assert.deepEqual(p.apply({ workflow_run_id: "new", current_step: "mixdown_tracks", step_status: "in_progress", percent: 35 }), { state: "in_progress", retrying: false });
  assert.equal(p.run.seen, true);
  // Once ours was seen, another run id is a newer run.
  p.apply({ workflow_run_id: "newer", current_step: "get_recording", step_status: "in_progress", percent: 1 });
  assert.equal(p.run.id, "newer");
  assert.equal(p.percent, 1);
  assert.equal(p.steps.has("mixdown_tracks"), false);
});

test("a document of another run replaces the run until an event was seen", () => {
  const p = new Progress(pipe);
  p.applyDoc({ workflow_run_id: "a", status: "processing", progress: { percent: 50 } });
  p.applyDoc({ workflow_run_id: "b", status: "processing", progress: { percent: 5 } });
  assert.equal(p.run.id, "b");
  assert.equal(p.percent, 5);
  p.apply({ workflow_run_id: "b", current_step: "get_recording", step_status: "completed", percent: 6 });
  p.applyDoc({ workflow_run_id: "c", status: "processing", progress: { percent: 1 } });
  assert.equal(p.run.id, "b", "the events' run stays");
  assert.equal(p.percent, 6);
});

test("unknown states count as pending and a retrying detail marks a retry", () => {
  const p = new Progress(pipe);
  assert.deepEqual(p.apply({ current_step: "detect_topics", step_status: "weird" }), { state: "pending", retrying: false });
  assert.deepEqual(p.apply({ current_step: "detect_topics", step_status: "in_progress", attempt: 2, detail: "Retrying detect topics" }), { state: "in_progress", retrying: true });
  assert.deepEqual(p.steps.get("detect_topics"), { state: "in_progress", attempt: 2, retrying: true, detail: "Retrying detect topics" });
});

test("track steps update their track and process_tracks; a failure without a track marks the tracks working on it", () => {
  const p = new Progress(pipe);
  p.apply({ current_step: "pad_track", step_status: "completed", track_index: 0 });
  p.apply({ current_step: "pad_track", step_status: "completed", track_index: 1 });
  p.apply({ current_step: "transcribe_track", step_status: "completed", track_index: 0 });
  p.apply({ current_step: "transcribe_track", step_status: "in_progress", track_index: 1, attempt: 3 });
  assert.deepEqual(p.steps.get("process_tracks"), { state: "in_progress", attempt: 1 });
  assert.equal(p.track(1).transcribe_track.attempt, 3);
  p.apply({ current_step: "transcribe_track", step_status: "failed", detail: "Failed at transcribe_track: HTTP 500" });
  assert.equal(p.track(0).transcribe_track.state, "completed");
  assert.equal(p.track(1).transcribe_track.state, "failed");
  assert.equal(p.steps.get("process_tracks").state, "failed");
  assert.deepEqual(p.failure, { step: "transcribe_track", message: "HTTP 500" });
  // A new attempt of the first step clears the failure.
  p.apply({ current_step: "get_recording", step_status: "in_progress" });
  assert.equal(p.failure, null);
});

test("a track failure with no track working on it marks every unfinished track", () => {
  const p = new Progress(pipe);
  p.track(0).pad_track = { state: "completed", attempt: 1 };
  p.track(1);
  p.apply({ current_step: "pad_track", step_status: "failed" });
  assert.equal(p.track(0).pad_track.state, "completed");
  assert.equal(p.track(1).pad_track.state, "failed");
  assert.equal(trackWord({ steps: [{ state: "failed", detail: "Preparing" }, { state: "pending", detail: "Transcribing" }] }), "preparing failed");
  assert.equal(trackWord({ steps: [{ state: "completed", detail: "Preparing" }, { state: "pending", detail: "Transcribing" }] }), "1 of 2 done");
});

test("stepState: events first, then the audit, then the status", () => {
  const p = new Progress(pipe);
  p.apply({ current_step: "get_recording", step_status: "completed" });
  const audit = [
    { name: "get_participants", status: "retrying", attempts: 2 },
    { name: "get_recording", status: "completed", attempts: 3 },
    { name: "pad_track", track_index: 0, status: "completed", attempts: 1 },
  ];
  const s = snapshot(p, { audit });
  assert.deepEqual(stepState(s, "get_recording"), { state: "completed", attempt: 3, retrying: false, detail: undefined, row: audit[1] });
  assert.deepEqual(stepState(s, "get_participants"), { state: "in_progress", attempt: 2, retrying: true, row: audit[0] });
  assert.deepEqual(stepState(s, "process_tracks"), { state: "pending", attempt: 0, row: undefined });
  // Ended: every step up to finalize is done, the ones after it are not implied.
  const ended = snapshot(p, { status: "ended" });
  assert.equal(stepState(ended, "finalize").state, "completed");
  assert.equal(stepState(ended, "post_zulip").state, "pending");
  // The error's step, and process_tracks for a track step's error, show failed.
  const failed = snapshot(p, { status: "error", error: { step: "transcribe_track", message: "x" } });
  assert.equal(stepState(failed, "process_tracks").state, "failed");
  assert.equal(stepState(snapshot(p, { status: "error", error: { step: "get_recording" } }), "get_recording").state, "failed");
});

test("trackStates lists tracks from events, participants and the audit", () => {
  const p = new Progress(pipe);
  p.apply({ current_step: "pad_track", step_status: "in_progress", track_index: 2 });
  const audit = [
    { name: "pad_track", track_index: 1, status: "completed", attempts: 1 },
    { name: "transcribe_track", track_index: 1, status: "running", attempts: 2 },
    { name: "pad_track", track_index: -1, status: "completed", attempts: 1 },
  ];
  const got = trackStates(snapshot(p, { audit, participants: [{ speaker: 0, name: "Alice" }] }));
  assert.deepEqual(got.map((t) => [t.index, t.steps[0].state, t.steps[1].state, t.steps[1].attempt]), [
    [0, "pending", "pending", 0],
    [1, "completed", "in_progress", 2],
    [2, "in_progress", "pending", 0],
  ]);
  const done = trackStates(snapshot(p, { status: "ended", audit }));
  assert.ok(done.every((t) => t.steps.every((st) => st.state === "completed")));
  assert.deepEqual(done.map(trackWord), ["done", "done"]);
  assert.deepEqual(got.map(trackWord), ["waiting", "transcribing", "preparing"]);
});

test("shownPercent and progressDetail", () => {
  const p = new Progress(pipe);
  p.apply({ current_step: "detect_topics", step_status: "in_progress", percent: 61.6, detail: "Detecting topics" });
  assert.equal(shownPercent(snapshot(p)), 62);
  assert.equal(shownPercent(snapshot(p, { status: "ended" })), 100);
  assert.equal(progressDetail(snapshot(p)), "Detecting topics");
  assert.equal(progressDetail(snapshot(new Progress(pipe))), "Starting…");
  assert.equal(progressDetail(snapshot(p, { status: "uploaded" })), "Waiting for the pipeline to start.");
  assert.equal(progressDetail(snapshot(p, { status: "idle" })), "Waiting for audio tracks to be uploaded.");
  const audit = [
    { name: "get_recording", status: "completed", attempts: 1, started_at: "2026-01-01T00:00:00Z", finished_at: "2026-01-01T00:00:01Z" },
    { name: "finalize", status: "completed", attempts: 1, started_at: "2026-01-01T00:00:03Z", finished_at: "2026-01-01T00:00:04.5Z" },
  ];
  assert.equal(progressDetail(snapshot(p, { status: "ended", audit })), "Completed in 4.5 s.");
  const q = new Progress(pipe);
  q.apply({ current_step: "post_zulip", step_status: "in_progress" });
  assert.equal(progressDetail(snapshot(q, { status: "ended" })), "Completed. Post to Zulip…");
  const r = new Progress(pipe);
  r.apply({ current_step: "get_recording", step_status: "completed" });
  r.apply({ current_step: "get_participants", step_status: "completed" });
  assert.equal(progressDetail(snapshot(r, { status: "error", error: { step: "process_tracks" } })), `Stopped after 2 of ${pipe.list.length} steps.`);
});

test("errorInfo prefers the document's error, then a failed event while the status is error", () => {
  const failure = { step: "detect_topics", message: "boom" };
  assert.deepEqual(errorInfo({ error: { step: "finalize", message: "m" } }, "error", failure), { step: "finalize", message: "m" });
  assert.deepEqual(errorInfo({ error: { step: "post_zulip", message: "m" } }, "ended", null), { step: "post_zulip", message: "m" });
  assert.deepEqual(errorInfo({}, "error", failure), failure);
  assert.equal(errorInfo({ error: { step: "x" } }, "processing", failure), null);
  assert.equal(errorInfo(null, "processing", null), null);
});

test("stepMeta and auditState", () => {
  const cases = [
    [{ state: "in_progress", attempt: 1 }, "running"],
    [{ state: "in_progress", attempt: 2, retrying: true }, "retrying · attempt 2"],
    [{ state: "completed", attempt: 1, row: { status: "completed", duration_ms: 4200 } }, "4.2 s"],
    [{ state: "completed", attempt: 3, row: { status: "completed", duration_ms: 800 } }, "800 ms · 3 attempts"],
    [{ state: "failed", attempt: 1 }, "failed"],
    [{ state: "failed", attempt: 4 }, "failed after 4 attempts"],
    [{ state: "pending", attempt: 0 }, ""],
  ];
  for (const [s, want] of cases) assert.equal(stepMeta(s), want, JSON.stringify(s));
  assert.deepEqual(["completed", "failed", "running", "retrying", "queued", undefined].map(auditState),
    ["completed", "failed", "in_progress", "in_progress", "pending", "pending"]);
});

test("Pipeline reads the step table: the list, the track steps and their parent, labels, artifacts", () => {
  assert.deepEqual(pipe.list.map((s) => s.name), ["get_recording", "get_participants", "process_tracks", "mixdown_tracks",
    "generate_waveform", "detect_topics", "generate_title", "extract_subjects", "process_subjects", "generate_recap",
    "identify_action_items", "finalize", "cleanup_consent", "post_zulip", "send_webhook", "send_email"]);
  assert.equal(pipe.first(), "get_recording");
  assert.equal(pipe.trackParent, "process_tracks");
  assert.deepEqual(pipe.trackSteps.map((s) => s.name), ["pad_track", "transcribe_track"]);
  assert.ok(pipe.isTrackStep("pad_track") && !pipe.isTrackStep("process_tracks"));
  assert.equal(pipe.list[pipe.endsAt].name, "finalize");
  assert.deepEqual(pipe.list.filter((s) => pipe.isAfter(s.name)).map((s) => s.name), ["cleanup_consent", "post_zulip", "send_webhook", "send_email"]);
  assert.equal(pipe.label("send_email"), "Send email");
  assert.deepEqual(pipe.makers("audio"), ["mixdown_tracks"]);
  assert.deepEqual(pipe.makers("waveform"), ["generate_waveform"]);
  assert.equal(pipe.label("detect_topics"), "Detect topics");
  assert.equal(pipe.label("transcribe_track"), "Transcribe track");
  assert.equal(pipe.label("on_failure"), "Record failure");
  assert.equal(pipe.label("no_such_step"), "no_such_step");
  assert.equal(pipe.index("no_such_step"), -1);
});

test("a step added to the table shows up without a change here", () => {
  const steps = table.steps.slice();
  const at = steps.findIndex((s) => s.name === "post_zulip");
  steps.splice(at, 0, { name: "send_email", label: "Send email", detail: "Sending email", workflow: table.workflow, parents: ["cleanup_consent"], phase: "after", ends: false, artifacts: [], events: [] });
  const more = new Pipeline({ workflow: table.workflow, steps });
  assert.equal(more.list.length, pipe.list.length + 1);
  assert.ok(more.isAfter("send_email"));
  const p = new Progress(more);
  p.apply({ current_step: "send_email", step_status: "in_progress" });
  assert.equal(progressDetail({ ...snapshot(p), pipeline: more, status: "ended" }), "Completed. Send email…");
});

test("fan-out children (topic chunks, subjects) update their parent, and their failure marks it failed", () => {
  assert.equal(pipe.parentOf("detect_chunk_topic"), "detect_topics");
  assert.equal(pipe.parentOf("generate_detailed_summary"), "process_subjects");
  assert.equal(pipe.parentOf("transcribe_track"), "process_tracks");
  assert.equal(pipe.parentOf("finalize"), "finalize");
  assert.ok(!pipe.isTrackStep("detect_chunk_topic"), "a topic chunk is not a track");
  const p = new Progress(pipe);
  p.apply({ current_step: "detect_topics", step_status: "in_progress" });
  p.apply({ current_step: "detect_chunk_topic", step_status: "in_progress", detail: "Detecting topics: chunk 3 of 12" });
  assert.deepEqual(p.steps.get("detect_topics"), { state: "in_progress", attempt: 1, retrying: false, detail: undefined });
  assert.equal(p.detail, "Detecting topics: chunk 3 of 12");
  assert.equal(p.steps.get("detect_chunk_topic"), undefined, "child steps are not listed");
  p.apply({ current_step: "generate_detailed_summary", step_status: "in_progress", detail: "Summarizing subject 2 of 5" });
  assert.deepEqual(p.steps.get("process_subjects"), { state: "in_progress", attempt: 1 });
  p.apply({ current_step: "detect_chunk_topic", step_status: "failed", detail: "Failed at detect_chunk_topic: HTTP 400" });
  assert.equal(p.steps.get("detect_topics").state, "failed");
  assert.deepEqual(p.failure, { step: "detect_chunk_topic", message: "HTTP 400" });
  // The document's error names the child step: its parent shows failed.
  const failed = snapshot(p, { status: "error", error: { step: "detect_chunk_topic", message: "HTTP 400" } });
  assert.equal(stepState(failed, "detect_topics").state, "failed");
  assert.equal(stepState(failed, "process_tracks").state, "pending");
  // Audit rows of chunks are no tracks.
  const audit = [{ name: "detect_chunk_topic", child_index: 4, status: "completed", attempts: 1 },
    { name: "pad_track", track_index: 0, status: "completed", attempts: 1 }];
  assert.deepEqual(trackStates(snapshot(p, { audit })).map((t) => t.index), [0]);
});
