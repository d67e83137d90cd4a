// The transcript page's pipeline progress: the step list with per-track
// sub-steps, the progress bar, and the failure box with "Resume".
//
// The state and its math are plain data and functions (Progress,
// stepState, trackStates, shownPercent, progressDetail), tested with node
// --test; progressMethods renders them into the page. The steps come from
// the server's step table (Pipeline, in steps.js).

import { html, raw } from "../html.js";
import { clamp, millis } from "../format.js";
import { speakerClass, speakerName } from "../speakers.js";
import { icon } from "../shell.js";
import { wallTime } from "./audit.js";
import { STATE_WORDS, auditState } from "./steps.js";

/**
 * Progress is what the PIPELINE_PROGRESS events and the document said
 * about the run shown: its id, percent, detail, a failure, and the state of
 * each step and of each track's sub-steps.
 */
export class Progress {
  /** pipeline is the step table (a Pipeline). */
  constructor(pipeline) {
    this.pipeline = pipeline;
    // The run whose progress is shown: events of older runs replayed before
    // it are skipped; a newer run starts the step list over.
    this.run = { id: null, seen: false };
    this.percent = 0;
    this.detail = "";
    this.failure = null; // from a failed PIPELINE_PROGRESS, until the document has its error
    this.steps = new Map(); // name -> {state, attempt, retrying, detail}
    this.tracks = new Map(); // index -> {<track step name>: {state, attempt, retrying, detail}}
  }

  /** reset starts over for a new run. */
  reset(run) {
    this.run = { id: run, seen: false };
    this.percent = 0;
    this.detail = "";
    this.failure = null;
    this.steps.clear();
    this.tracks.clear();
  }

  /** accept says whether an event of run belongs to the run shown. */
  accept(run) {
    if (!run) return true;
    if (!this.run.id || run === this.run.id) {
      this.run.id = run;
      this.run.seen = true;
      return true;
    }
    if (!this.run.seen) return false; // an older run, replayed before ours
    this.reset(run); // a new run started
    this.run.seen = true;
    return true;
  }

  /** track is the state of track i's steps (by step name), created pending. */
  track(i) {
    if (!this.tracks.has(i)) {
      this.tracks.set(i, Object.fromEntries(this.pipeline.trackSteps.map((s) => [s.name, { state: "pending", attempt: 0 }])));
    }
    return this.tracks.get(i);
  }

  /** applyDoc takes the run, percent and detail from a freshly read document. */
  applyDoc(doc) {
    const run = doc.workflow_run_id || null;
    if (run && run !== this.run.id && (!this.run.id || !this.run.seen)) {
      if (this.run.id) this.reset(run);
      else this.run.id = run;
    }
    if (doc.progress && (!run || run === this.run.id)) {
      this.percent = Math.max(this.percent, clamp(doc.progress.percent, 0, 100));
      if (!this.detail) this.detail = doc.progress.detail || "";
    }
    if (doc.status !== "error") this.failure = null;
  }

  /**
   * apply folds in the data of a PIPELINE_PROGRESS event. It returns null
   * for an event of an older run, else the event's step state and whether
   * the step is being retried. The percent never goes back.
   */
  apply(d) {
    if (!this.accept(d.workflow_run_id)) return null;
    const state = STATE_WORDS[d.step_status] ? d.step_status : "pending";
    const retrying = state === "in_progress" && /retrying/i.test(d.detail || "");
    const pipe = this.pipeline;
    if (pipe.isTrackStep(d.current_step)) {
      const sub = d.current_step;
      if (d.track_index !== undefined && d.track_index !== null) {
        this.track(d.track_index)[sub] = { state, attempt: d.attempt || 1, retrying, detail: d.detail };
      } else if (state === "failed") {
        // The run's failure names the track step, not the track: mark the
        // tracks still working on it.
        let marked = false;
        for (const t of this.tracks.values()) {
          if (t[sub] && t[sub].state === "in_progress") { t[sub].state = "failed"; marked = true; }
        }
        if (!marked) for (const t of this.tracks.values()) if (t[sub] && t[sub].state !== "completed") t[sub].state = "failed";
      }
      const parent = pipe.trackParent;
      const pt = this.steps.get(parent);
      if (state === "failed") this.steps.set(parent, { state: "failed", attempt: pt ? pt.attempt : 1 });
      else if (!pt || pt.state === "pending") this.steps.set(parent, { state: "in_progress", attempt: 1 });
    } else if (pipe.parentOf(d.current_step) !== d.current_step) {
      // A fan-out child (a topic chunk, a subject): its parent is working,
      // or failed with it; the detail says which child ("chunk 3 of 12").
      const parent = pipe.parentOf(d.current_step);
      const pt = this.steps.get(parent);
      if (state === "failed") this.steps.set(parent, { state: "failed", attempt: pt ? pt.attempt : 1 });
      else if (!pt || pt.state === "pending") this.steps.set(parent, { state: "in_progress", attempt: 1 });
    } else if (d.current_step) {
      this.steps.set(d.current_step, { state, attempt: d.attempt || 1, retrying, detail: d.detail });
    }
    if (state === "failed") {
      this.failure = { step: d.current_step, message: String(d.detail || "").replace(/^Failed at [^:]*:\s*/, "") };
    } else if (d.current_step === this.pipeline.first() && state === "in_progress") {
      this.failure = null;
    }
    this.percent = Math.max(this.percent, clamp(d.percent, 0, 100));
    if (d.detail) this.detail = d.detail;
    return { state, retrying };
  }
}

// The functions below read a snapshot of the page:
//   {pipeline, status, steps, tracks, percent, detail, audit, error, participants}
// pipeline is the step table; status is the transcript's; steps, tracks,
// percent and detail come from Progress; audit is the rows of GET
// .../steps; error is errorInfo's.

/** errorInfo is the failure to show: the document's error, or the failed PIPELINE_PROGRESS until the document has it. */
export function errorInfo(doc, status, failure) {
  if (doc && doc.error && (status === "error" || status === "ended")) return doc.error;
  if (status === "error" && failure) return failure;
  return null;
}

/** shownPercent is the bar's value: 100 once ended, else the run's percent as a whole number. */
export function shownPercent(s) {
  return s.status === "ended" ? 100 : Math.round(clamp(s.percent, 0, 100));
}

/** stepState is the state shown for a step: events first, then the audit, then what the status implies. */
export function stepState(s, name) {
  const ev = s.steps.get(name);
  const rows = s.audit.filter((r) => r.name === name && (r.track_index === undefined || r.track_index === null));
  const row = rows[rows.length - 1];
  let st = ev ? { ...ev } : row ? { state: auditState(row.status), attempt: row.attempts, retrying: row.status === "retrying" } : { state: "pending", attempt: 0 };
  if (row && row.attempts > (st.attempt || 0)) st.attempt = row.attempts;
  const pipe = s.pipeline;
  if (st.state !== "completed" && st.state !== "failed" && s.status === "ended" && pipe.index(name) <= pipe.endsAt) st.state = "completed";
  const err = s.error;
  if (err && (err.step === name || pipe.parentOf(err.step) === name)) st.state = "failed";
  st.row = row;
  return st;
}

/** trackStates lists every known track (from events, participants and the audit) with the state of each of its steps. */
export function trackStates(s) {
  const pipe = s.pipeline;
  const indexes = new Set(s.tracks.keys());
  for (const p of s.participants || []) indexes.add(p.speaker);
  for (const r of s.audit) if (r.track_index !== undefined && r.track_index !== null && pipe.isTrackStep(r.name)) indexes.add(r.track_index);
  const pt = s.steps.get(pipe.trackParent);
  const allDone = (pt && pt.state === "completed") || s.status === "ended";
  return [...indexes].filter((i) => Number.isInteger(i) && i >= 0).sort((a, b) => a - b).map((i) => {
    const ev = s.tracks.get(i);
    const steps = pipe.trackSteps.map((spec) => {
      const rows = s.audit.filter((r) => r.name === spec.name && r.track_index === i);
      const row = rows[rows.length - 1];
      const st = ev && ev[spec.name] ? { ...ev[spec.name] } : { state: "pending", attempt: 0 };
      if (st.state === "pending" && row) Object.assign(st, { state: auditState(row.status), attempt: row.attempts });
      if (row && row.attempts > (st.attempt || 0)) st.attempt = row.attempts;
      if (allDone && st.state !== "failed") st.state = "completed";
      st.row = row;
      return { ...st, name: spec.name, label: spec.label, detail: spec.detail }; // the step's detail, not the event's
    });
    return { index: i, steps };
  });
}

/** progressDetail is the line under the bar. */
export function progressDetail(s) {
  const status = s.status;
  const pipe = s.pipeline;
  if (status === "ended") {
    const wall = wallTime(s.audit);
    let detail = `Completed${wall ? ` in ${millis(wall)}` : ""}.`;
    const running = pipe.list.find((st) => pipe.isAfter(st.name) && (s.steps.get(st.name) || {}).state === "in_progress");
    if (running) detail += ` ${running.label}…`;
    return detail;
  }
  if (status === "error") {
    const done = pipe.list.filter((st) => stepState(s, st.name).state === "completed").length;
    return `Stopped after ${done} of ${pipe.list.length} steps.`;
  }
  if (status === "processing") return s.detail || "Starting…";
  if (status === "uploaded") return "Waiting for the pipeline to start.";
  return "Waiting for audio tracks to be uploaded.";
}

/** stepMeta is the small text after a step's label: running, its time, attempts. */
export function stepMeta(s) {
  const parts = [];
  if (s.state === "in_progress") parts.push(s.retrying ? "retrying" : "running");
  if (s.state === "completed" && s.row && s.row.duration_ms && s.row.status === "completed") parts.push(millis(s.row.duration_ms));
  if (s.state === "failed") parts.push(s.attempt > 1 ? `failed after ${s.attempt} attempts` : "failed");
  else if (s.attempt > 1) parts.push(s.state === "completed" ? `${s.attempt} attempts` : `attempt ${s.attempt}`);
  return parts.join(" · ");
}

/** trackWord is the short state of a track: "waiting", what its step in progress does, "done", … */
export function trackWord(tr) {
  const steps = tr.steps;
  const failed = steps.find((st) => st.state === "failed");
  if (failed) return `${failed.detail.toLowerCase()} failed`;
  if (steps.length && steps[steps.length - 1].state === "completed") return "done";
  const running = steps.find((st) => st.state === "in_progress");
  if (running) return running.detail.toLowerCase();
  const done = steps.filter((st) => st.state === "completed").length;
  return done ? `${done} of ${steps.length} done` : "waiting";
}

/** trackRow is one track under the step that runs the tracks. */
export function trackRow(tr, participants) {
  const name = speakerName(participants, tr.index);
  const states = tr.steps.map((st) => st.state);
  const last = tr.steps[tr.steps.length - 1];
  const overall = states.includes("failed") ? "failed" : last && last.state === "completed" ? "completed" :
    states.includes("in_progress") || states.includes("completed") ? "in_progress" : "pending";
  const attempt = Math.max(0, ...tr.steps.map((st) => st.attempt || 0));
  return html`
      <li class="track" data-track="${tr.index}" data-state="${overall}">
        <span class="track-dot ${speakerClass(tr.index)}" aria-hidden="true"></span>
        <span class="track-name">Track ${tr.index + 1} · ${name}</span>
        <span class="substeps">${tr.steps.map((st) => html`
          <span class="substep" data-step="${st.name}" data-track="${tr.index}" data-state="${st.state}" title="${st.label}: ${STATE_WORDS[st.state]}">${icon(st.state)}<span class="visually-hidden">${st.label.toLowerCase()} ${STATE_WORDS[st.state]}</span></span>`)}
        </span>
        <span class="step-meta">${trackWord(tr)}${attempt > 1 ? ` · attempt ${attempt}` : ""}</span>
      </li>`;
}

/** progressMethods are TranscriptPage's methods for the progress card. */
export const progressMethods = {
  /** snapshot is what the progress functions above read. */
  snapshot() {
    const p = this.progress;
    return {
      pipeline: this.pipeline, status: this.status, steps: p.steps, tracks: p.tracks, percent: p.percent, detail: p.detail,
      audit: this.audit, error: this.errorInfo(), participants: this.doc && this.doc.participants,
    };
  },

  errorInfo() { return errorInfo(this.doc, this.status, this.progress.failure); },

  shownPercent() { return shownPercent(this.snapshot()); },

  onProgress(d) {
    const r = this.progress.apply(d);
    if (!r) return;
    const { state, retrying } = r;
    if (state === "completed" || state === "failed" || retrying) this.scheduleAudit();
    if (state === "completed" && this.pipeline.makers("audio").includes(d.current_step)) this.maybeLoadAudio();
    if (state === "completed" && this.pipeline.makers("waveform").includes(d.current_step)) this.loadWaveform();
    this.renderProgressSoon();
  },

  renderProgressSoon() {
    if (this.progressFrame) return;
    this.progressFrame = requestAnimationFrame(() => { this.progressFrame = 0; if (!this.disposed) { this.renderProgress(); this.renderHeader(); } });
  },

  renderProgress() {
    const t = this.doc;
    if (!t || this.disposed) return;
    const s = this.snapshot();
    const status = this.status;
    const pct = shownPercent(s);
    const bar = document.getElementById("progress-bar");
    const now = bar.getAttribute("aria-valuenow");
    if (now !== String(pct)) {
      bar.setAttribute("aria-valuenow", String(pct));
      bar.setAttribute("aria-valuetext", `${pct}%`);
    }
    bar.style.width = `${pct}%`; // CSSOM, allowed by the CSP
    const err = s.error;
    document.getElementById("progress-card").dataset.state = status === "error" ? "failed" : status === "ended" ? (err ? "warning" : "done") : status;
    document.getElementById("progress-percent").textContent = `${pct}%`;

    const detail = progressDetail(s);
    const detailEl = document.getElementById("progress-detail");
    if (detailEl.textContent !== detail) detailEl.textContent = detail;

    this.patch(document.getElementById("error-slot"), JSON.stringify([status, err, this.resuming, this.resumeError]), () => {
      if (!err) return this.resumeError ? html`<p class="error-text" role="alert">${this.resumeError}</p>` : "";
      const warning = status === "ended";
      return html`
        <div class="alert ${warning ? "warning" : "error"}" id="error-box" role="alert">
          <span class="alert-icon">${icon("alert")}</span>
          <div class="alert-body">
            <p class="alert-title">${warning ? "The transcript is complete, but a later step failed:" : "Processing failed at"}
              <code id="error-step">${err.step}</code> <span class="alert-step">(${this.pipeline.label(err.step)})</span></p>
            <p id="error-message" class="alert-message">${err.message}</p>
            ${warning ? "" : html`
              <p class="alert-actions">
                <button type="button" class="btn" id="resume" ${this.resuming ? raw("disabled") : ""}>${this.resuming ? "Resuming…" : "Resume from this step"}</button>
                <span class="muted small">or run <code>parley retry ${this.id}</code></span>
              </p>
              ${this.resumeError ? html`<p class="error-text">${this.resumeError}</p>` : ""}`}
          </div>
        </div>`;
    });

    const tracks = trackStates(s);
    const view = this.pipeline.list.map((spec) => ({ name: spec.name, label: spec.label, ...stepState(s, spec.name) }));
    const key = JSON.stringify([view.map((st) => [st.name, st.state, st.attempt, st.retrying, st.row && st.row.duration_ms]),
      tracks.map((tr) => [tr.index, tr.steps.map((st) => [st.state, st.attempt])]), t.participants]);
    this.patch(document.getElementById("steps"), key, () => view.map((st) => html`
      <li data-step="${st.name}" data-state="${st.state}" ${st.attempt > 1 ? html`data-attempt="${st.attempt}"` : ""} ${st.retrying ? raw('data-retrying="true"') : ""} title="${st.name}">
        <span class="step-line">
          <span class="step-icon">${icon(st.state)}</span>
          <span class="step-label">${st.label}</span>
          <span class="visually-hidden">: ${STATE_WORDS[st.state]}</span>
          <span class="step-meta">${stepMeta(st)}</span>
        </span>
        ${st.name === this.pipeline.trackParent && tracks.length ? html`
          <ol class="tracks">${tracks.map((tr) => trackRow(tr, t.participants))}</ol>` : ""}
      </li>`));
  },
};
