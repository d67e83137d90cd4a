// The transcript page's pipeline progress: the step list with per-track
// sub-steps, the progress bar, and the failure box with "Resume".
//
// The state and its math are plain data and functions (Progress,
// stepState, trackStates, shownPercent, progressDetail), tested with node
// --test; progressMethods renders them into the page.

import { html, raw } from "../html.js";
import { clamp, millis } from "../format.js";
import { speakerClass, speakerName } from "../speakers.js";
import { icon } from "../shell.js";
import { wallTime } from "./audit.js";
import { POST_FINALIZE, STATE_WORDS, STEPS, TRACK_STEPS, auditState, stepLabel } from "./steps.js";

/**
 * Progress is what the PIPELINE_PROGRESS events and the document said
 * about the run shown: its id, percent, detail, a failure, and the state of
 * each step and of each track's sub-steps.
 */
export class Progress {
  constructor() {
    // The run whose progress is shown: events of older runs replayed before
    // it are skipped; a newer run starts the step list over.
    this.run = { id: null, seen: false };
    this.percent = 0;
    this.detail = "";
    this.failure = null; // from a failed PIPELINE_PROGRESS, until the document has its error
    this.steps = new Map(); // name -> {state, attempt, retrying, detail}
    this.tracks = new Map(); // index -> {pad: {...}, transcribe: {...}}
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

  /** track is the state of track i's sub-steps, created pending. */
  track(i) {
    if (!this.tracks.has(i)) this.tracks.set(i, { pad: { state: "pending", attempt: 0 }, transcribe: { state: "pending", attempt: 0 } });
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
    const sub = TRACK_STEPS[d.current_step];
    if (sub) {
      if (d.track_index !== undefined && d.track_index !== null) {
        this.track(d.track_index)[sub] = { state, attempt: d.attempt || 1, retrying, detail: d.detail };
      } else if (state === "failed") {
        // The run's failure names the track step, not the track: mark the
        // tracks still working on it.
        let marked = false;
        for (const t of this.tracks.values()) {
          if (t[sub].state === "in_progress") { t[sub].state = "failed"; marked = true; }
        }
        if (!marked) for (const t of this.tracks.values()) if (t[sub].state !== "completed") t[sub].state = "failed";
      }
      const pt = this.steps.get("process_tracks");
      if (state === "failed") this.steps.set("process_tracks", { state: "failed", attempt: pt ? pt.attempt : 1 });
      else if (!pt || pt.state === "pending") this.steps.set("process_tracks", { state: "in_progress", attempt: 1 });
    } else if (d.current_step) {
      this.steps.set(d.current_step, { state, attempt: d.attempt || 1, retrying, detail: d.detail });
    }
    if (state === "failed") {
      this.failure = { step: d.current_step, message: String(d.detail || "").replace(/^Failed at [^:]*:\s*/, "") };
    } else if (d.current_step === "get_recording" && state === "in_progress") {
      this.failure = null;
    }
    this.percent = Math.max(this.percent, clamp(d.percent, 0, 100));
    if (d.detail) this.detail = d.detail;
    return { state, retrying };
  }
}

// The functions below read a snapshot of the page:
//   {status, steps, tracks, percent, detail, audit, error, participants}
// status is the transcript's; steps, tracks, percent and detail come from
// Progress; audit is the rows of GET .../steps; error is errorInfo's.

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
  const idx = STEPS.findIndex(([n]) => n === name);
  const finalizeIdx = STEPS.findIndex(([n]) => n === "finalize");
  if (st.state !== "completed" && st.state !== "failed" && s.status === "ended" && idx <= finalizeIdx) st.state = "completed";
  const err = s.error;
  if (err && (err.step === name || (name === "process_tracks" && TRACK_STEPS[err.step]))) st.state = "failed";
  st.row = row;
  return st;
}

/** trackStates lists every known track (from events, participants and the audit) with the state of its two sub-steps. */
export function trackStates(s) {
  const indexes = new Set(s.tracks.keys());
  for (const p of s.participants || []) indexes.add(p.speaker);
  for (const r of s.audit) if (r.track_index !== undefined && r.track_index !== null) indexes.add(r.track_index);
  const pt = s.steps.get("process_tracks");
  const allDone = (pt && pt.state === "completed") || s.status === "ended";
  return [...indexes].filter((i) => Number.isInteger(i) && i >= 0).sort((a, b) => a - b).map((i) => {
    const ev = s.tracks.get(i);
    const sub = (step, key) => {
      const rows = s.audit.filter((r) => r.name === step && r.track_index === i);
      const row = rows[rows.length - 1];
      const st = ev ? { ...ev[key] } : { state: "pending", attempt: 0 };
      if (st.state === "pending" && row) Object.assign(st, { state: auditState(row.status), attempt: row.attempts });
      if (row && row.attempts > (st.attempt || 0)) st.attempt = row.attempts;
      if (allDone && st.state !== "failed") st.state = "completed";
      st.row = row;
      return st;
    };
    return { index: i, pad: sub("pad_track", "pad"), transcribe: sub("transcribe_track", "transcribe") };
  });
}

/** progressDetail is the line under the bar. */
export function progressDetail(s) {
  const status = s.status;
  if (status === "ended") {
    const wall = wallTime(s.audit);
    let detail = `Completed${wall ? ` in ${millis(wall)}` : ""}.`;
    const running = STEPS.find(([n]) => POST_FINALIZE.has(n) && (s.steps.get(n) || {}).state === "in_progress");
    if (running) detail += ` ${stepLabel(running[0])}…`;
    return detail;
  }
  if (status === "error") {
    const done = STEPS.filter(([n]) => stepState(s, n).state === "completed").length;
    return `Stopped after ${done} of ${STEPS.length} steps.`;
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

/** trackRow is one track under "Prepare and transcribe tracks". */
export function trackRow(tr, participants) {
  const name = speakerName(participants, tr.index);
  const states = [tr.pad.state, tr.transcribe.state];
  const overall = states.includes("failed") ? "failed" : tr.transcribe.state === "completed" ? "completed" :
    states.includes("in_progress") || tr.pad.state === "completed" ? "in_progress" : "pending";
  const word = tr.pad.state === "failed" ? "preparing failed" : tr.transcribe.state === "failed" ? "transcription failed" :
    tr.transcribe.state === "completed" ? "done" : tr.transcribe.state === "in_progress" ? "transcribing" :
      tr.pad.state === "in_progress" ? "preparing" : tr.pad.state === "completed" ? "prepared" : "waiting";
  const attempt = Math.max(tr.pad.attempt || 0, tr.transcribe.attempt || 0);
  return html`
      <li class="track" data-track="${tr.index}" data-state="${overall}">
        <span class="track-dot ${speakerClass(tr.index)}" aria-hidden="true"></span>
        <span class="track-name">Track ${tr.index + 1} · ${name}</span>
        <span class="substeps">
          <span class="substep" data-step="pad_track" data-track="${tr.index}" data-state="${tr.pad.state}" title="Prepare: ${STATE_WORDS[tr.pad.state]}">${icon(tr.pad.state)}<span class="visually-hidden">prepare ${STATE_WORDS[tr.pad.state]}</span></span>
          <span class="substep" data-step="transcribe_track" data-track="${tr.index}" data-state="${tr.transcribe.state}" title="Transcribe: ${STATE_WORDS[tr.transcribe.state]}">${icon(tr.transcribe.state)}<span class="visually-hidden">transcribe ${STATE_WORDS[tr.transcribe.state]}</span></span>
        </span>
        <span class="step-meta">${word}${attempt > 1 ? ` · attempt ${attempt}` : ""}</span>
      </li>`;
}

/** progressMethods are TranscriptPage's methods for the progress card. */
export const progressMethods = {
  /** snapshot is what the progress functions above read. */
  snapshot() {
    const p = this.progress;
    return {
      status: this.status, steps: p.steps, tracks: p.tracks, percent: p.percent, detail: p.detail,
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
    if (d.current_step === "mixdown_tracks" && state === "completed") this.maybeLoadAudio();
    if (d.current_step === "generate_waveform" && state === "completed") this.loadWaveform();
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
              <code id="error-step">${err.step}</code> <span class="alert-step">(${stepLabel(err.step)})</span></p>
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
    const view = STEPS.map(([name, label]) => ({ name, label, ...stepState(s, name) }));
    const key = JSON.stringify([view.map((st) => [st.name, st.state, st.attempt, st.retrying, st.row && st.row.duration_ms]),
      tracks.map((tr) => [tr.index, tr.pad.state, tr.transcribe.state, tr.transcribe.attempt, tr.pad.attempt]), t.participants]);
    this.patch(document.getElementById("steps"), key, () => view.map((st) => html`
      <li data-step="${st.name}" data-state="${st.state}" ${st.attempt > 1 ? html`data-attempt="${st.attempt}"` : ""} ${st.retrying ? raw('data-retrying="true"') : ""} title="${st.name}">
        <span class="step-line">
          <span class="step-icon">${icon(st.state)}</span>
          <span class="step-label">${st.label}</span>
          <span class="visually-hidden">: ${STATE_WORDS[st.state]}</span>
          <span class="step-meta">${stepMeta(st)}</span>
        </span>
        ${st.name === "process_tracks" && tracks.length ? html`
          <ol class="tracks">${tracks.map((tr) => trackRow(tr, t.participants))}</ol>` : ""}
      </li>`));
  },
};
