// The transcript page's step audit: one row per step (and per track for
// the track steps) with attempts, time, ASR and LLM usage and cache hits,
// its error or note (why it was skipped, whom it emailed), from
// GET /v1/transcripts/{id}/steps.

import { html, raw } from "../html.js";
import { millis, num } from "../format.js";
import { getJSON } from "../api.js";

/** wallTime is the time from the first step's start to the last step's end, in ms (0 when unknown). */
export function wallTime(rows) {
  const starts = rows.map((r) => Date.parse(r.started_at)).filter((n) => !isNaN(n));
  const ends = rows.map((r) => Date.parse(r.finished_at)).filter((n) => !isNaN(n));
  if (!starts.length || !ends.length) return 0;
  return Math.max(0, Math.max(...ends) - Math.min(...starts));
}

/** auditTotals sums the rows: step time (ms), ASR audio seconds and calls, LLM calls and tokens, cache hits, attempts. */
export function auditTotals(rows) {
  const sum = (f) => rows.reduce((s, r) => s + (Number(f(r.usage || {})) || 0), 0);
  return {
    ms: rows.reduce((s, r) => s + (r.duration_ms || 0), 0),
    asr: sum((u) => u.asr_audio_seconds), asrCalls: sum((u) => u.asr_calls), llm: sum((u) => u.llm_calls),
    pin: sum((u) => u.llm_prompt_tokens), pout: sum((u) => u.llm_completion_tokens), hits: sum((u) => u.cache_hits),
    attempts: rows.reduce((s, r) => s + (r.attempts || 0), 0),
  };
}

/** auditSummary is the line next to the audit's heading ("wall time 4.2 s · 55 s of audio transcribed · …"). */
export function auditSummary(rows) {
  if (!rows.length) return "";
  const totals = auditTotals(rows);
  const wall = wallTime(rows);
  return [wall ? `wall time ${millis(wall)}` : "", totals.asr ? `${num(Math.round(totals.asr))} s of audio transcribed` : "",
    totals.pin + totals.pout ? `${num(totals.pin + totals.pout)} LLM tokens` : "", totals.hits ? `${num(totals.hits)} cache hits` : ""].filter(Boolean).join(" · ");
}

/** auditTable is the audit as a table (steps labelled from pipeline), or a placeholder while no step has a row. */
export function auditTable(rows, status, pipeline) {
  const totals = auditTotals(rows);
  const dash = raw('<span class="nil">–</span>');
  const n = (v, f = num) => (v ? f(v) : dash);
  return rows.length ? html`
      <div class="table-wrap" tabindex="0" role="region" aria-label="Step audit table">
        <table id="audit" class="audit">
          <thead><tr>
            <th scope="col">Step</th><th scope="col">Status</th><th scope="col" class="num">Attempts</th>
            <th scope="col" class="num">Time</th><th scope="col" class="num" title="Audio seconds sent to speech-to-text">ASR audio</th>
            <th scope="col" class="num">ASR calls</th><th scope="col" class="num">LLM calls</th>
            <th scope="col" class="num" title="Prompt / completion tokens">Tokens in / out</th><th scope="col" class="num" title="Calls answered from the result cache">Cached</th>
          </tr></thead>
          <tbody>${rows.map((r) => {
            const u = r.usage || {};
            return html`
            <tr data-step="${r.name}" data-status="${r.status}" ${r.error ? raw('class="has-error"') : ""} ${r.track_index !== undefined && r.track_index !== null ? html`data-track="${r.track_index}"` : ""} ${r.child_index !== undefined && r.child_index !== null ? html`data-child="${r.child_index}"` : ""}>
              <th scope="row"><span class="audit-step" title="${r.name}">${pipeline.label(r.name)}${r.track_index !== undefined && r.track_index !== null ? html` <span class="muted">${r.track_index + 1}</span>` : ""}${r.child_index !== undefined && r.child_index !== null ? html` <span class="muted">${r.child_index + 1}</span>` : ""}</span></th>
              <td><span class="badge small" data-status="${r.status}">${r.status}</span></td>
              <td class="num">${r.attempts > 1 ? html`<strong>${r.attempts}</strong>` : r.attempts}</td>
              <td class="num">${r.finished_at || r.duration_ms ? millis(r.duration_ms) : html`<span class="muted">…</span>`}</td>
              <td class="num">${n(u.asr_audio_seconds, (v) => `${num(Math.round(v * 10) / 10)} s`)}</td>
              <td class="num">${n(u.asr_calls)}</td>
              <td class="num">${n(u.llm_calls)}</td>
              <td class="num">${u.llm_prompt_tokens || u.llm_completion_tokens ? `${num(u.llm_prompt_tokens)} / ${num(u.llm_completion_tokens)}` : dash}</td>
              <td class="num">${u.cache_hits ? html`<span class="cached">${num(u.cache_hits)}</span>` : u.cached ? "yes" : dash}</td>
            </tr>
            ${r.error ? html`<tr class="audit-error" data-step="${r.name}"><td colspan="9">${r.error}</td></tr>` : ""}
            ${r.note && !r.error ? html`<tr class="audit-note" data-step="${r.name}"><td colspan="9" class="muted">${r.note}</td></tr>` : ""}`;
          })}</tbody>
          <tfoot><tr>
            <th scope="row">Total</th><td></td><td class="num">${num(totals.attempts)}</td>
            <td class="num" title="Sum of step times (steps run in parallel)">${millis(totals.ms)}</td>
            <td class="num">${n(totals.asr, (v) => `${num(Math.round(v))} s`)}</td><td class="num">${n(totals.asrCalls)}</td>
            <td class="num">${n(totals.llm)}</td>
            <td class="num">${totals.pin || totals.pout ? `${num(totals.pin)} / ${num(totals.pout)}` : dash}</td>
            <td class="num">${n(totals.hits)}</td>
          </tr></tfoot>
        </table>
      </div>` : html`<p class="placeholder">${status === "idle" || status === "uploaded" ? "No step has run yet." : "The audit fills in as steps finish."}</p>`;
}

/** auditMethods are TranscriptPage's methods for the audit card. */
export const auditMethods = {
  async loadAudit() {
    try {
      const res = await getJSON(`${this.base}/steps`);
      if (this.disposed) return;
      this.audit = res.steps || [];
      this.renderAudit();
      this.renderProgress();
      if (this.audioState === "none") this.maybeLoadAudio();
    } catch (err) {
      this.backgroundError(err);
    }
  },

  scheduleAudit(ms = 1000) { this.throttle("audit", ms, () => this.loadAudit()); },

  renderAudit() {
    const el = document.getElementById("audit-body");
    if (!el) return;
    const rows = this.audit;
    document.getElementById("audit-summary").textContent = auditSummary(rows);
    this.patch(el, JSON.stringify(rows), () => auditTable(rows, this.status, this.pipeline));
  },
};
