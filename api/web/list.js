// The list page (/): transcripts newest first, "Load more", refreshed while
// anything runs.

import { html, raw, setHTML } from "./html.js";
import { ago, clamp, clock, dateTime, displayTitle } from "./format.js";
import { getJSON } from "./api.js";
import { icon, Page } from "./shell.js";

/** ACTIVE are the statuses of transcripts that are being or about to be processed. */
const ACTIVE = new Set(["processing", "uploaded"]);

/** ListPage is the transcript list. */
export class ListPage extends Page {
  constructor(root, restart) {
    super(root, restart);
    this.items = [];
    this.next = "";
    this.loading = false;
    this.init();
  }

  async init() {
    document.title = "Transcripts · Parley";
    setHTML(this.root, html`
      <div class="page-head">
        <h1>Transcripts</h1>
        <p class="muted" id="list-note">Newest first.</p>
      </div>
      <section class="card list-card" aria-labelledby="list-h">
        <h2 id="list-h" class="visually-hidden">All transcripts</h2>
        <div id="list-body"><p class="loading">Loading transcripts…</p></div>
        <div class="list-foot" id="list-foot"></div>
      </section>`);
    try {
      const page = await getJSON("/v1/transcripts?limit=50");
      if (this.disposed) return;
      this.items = page.items || [];
      this.next = page.next || "";
      this.render();
    } catch (err) {
      this.fail(err, { title: "Could not load the transcripts", back: false });
      return;
    }
    let ticks = 0;
    this.every(5000, () => {
      ticks++;
      // Every 5 s while a transcript is being processed, else every 30 s.
      if (document.hidden || this.loading) return;
      if (this.items.some((t) => ACTIVE.has(t.status)) || ticks % 6 === 0) this.refresh();
    });
    this.on(document, "visibilitychange", () => { if (!document.hidden) this.refresh(); });
  }

  async loadMore() {
    if (this.loading || !this.next) return;
    this.loading = true;
    this.renderFoot();
    try {
      const page = await getJSON(`/v1/transcripts?limit=50&before=${encodeURIComponent(this.next)}`);
      if (this.disposed) return;
      const have = new Set(this.items.map((t) => t.id));
      this.items.push(...(page.items || []).filter((t) => !have.has(t.id)));
      this.next = page.next || "";
      this.loadError = null;
    } catch (err) {
      if (err.status === 401) return this.fail(err);
      this.loadError = err;
    } finally {
      this.loading = false;
    }
    this.render();
  }

  /** refresh re-reads the loaded window (at most 200) and merges it, keeping older pages. */
  async refresh() {
    if (this.loading) return;
    this.loading = true;
    try {
      const limit = clamp(this.items.length, 50, 200);
      const page = await getJSON(`/v1/transcripts?limit=${limit}`);
      if (this.disposed) return;
      const fresh = page.items || [];
      const ids = new Set(fresh.map((t) => t.id));
      const older = this.items.filter((t) => !ids.has(t.id));
      const fitted = this.items.length <= limit;
      this.items = fresh.concat(fitted ? [] : older);
      if (fitted) this.next = page.next || "";
      this.refreshError = null;
    } catch (err) {
      if (err.status === 401) { this.loading = false; return this.fail(err); }
      this.refreshError = err;
    } finally {
      this.loading = false;
    }
    this.render();
  }

  render() {
    if (this.disposed) return;
    const body = document.getElementById("list-body");
    const processing = this.items.filter((t) => t.status === "processing").length;
    const queued = this.items.filter((t) => t.status === "uploaded").length;
    const busy = [processing ? `${processing} processing` : "", queued ? `${queued} queued` : ""].filter(Boolean).join(", ");
    const note = document.getElementById("list-note");
    note.textContent = this.refreshError ? `Newest first. Could not refresh: ${this.refreshError.message}` :
      busy ? `Newest first · ${busy} · updates by itself` : "Newest first";
    const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest("li[data-id]");
    const focusID = focused && body.contains(focused) ? focused.dataset.id : "";
    const changed = this.patch(body, JSON.stringify(this.items), () => this.items.length ? html`
      <ul id="transcripts" class="transcript-list">${this.items.map((t) => this.row(t))}</ul>` : html`
      <div class="empty">
        <span class="empty-icon">${icon("empty")}</span>
        <p class="empty-title">No transcripts yet</p>
        <p class="muted">Process a recording with <code>parley process alice.webm bob.webm</code>, or try <code>make demo</code>.</p>
      </div>`);
    if (changed) {
      for (const p of body.querySelectorAll("progress[data-value]")) p.value = Number(p.dataset.value);
      if (focusID) {
        const a = body.querySelector(`li[data-id="${CSS.escape(focusID)}"] a`);
        if (a) a.focus();
      }
    }
    this.renderFoot();
  }

  row(t) {
    const names = (t.participants || []).map((p) => p.name).filter(Boolean);
    const shown = names.length > 4 ? `${names.slice(0, 4).join(", ")} +${names.length - 4}` : names.join(", ");
    const pct = t.progress ? Math.round(clamp(t.progress.percent, 0, 100)) : 0;
    return html`
      <li data-id="${t.id}" data-status="${t.status}">
        <div class="row-main">
          <a class="row-title" href="/transcripts/${encodeURIComponent(t.id)}">${displayTitle(t)}</a>
          <p class="row-meta">
            <time datetime="${t.created_at}" title="${dateTime(t.created_at)}">${ago(t.created_at)}</time>
            ${t.duration_seconds ? html`<span>${clock(t.duration_seconds)}</span>` : ""}
            ${shown ? html`<span class="row-people">${shown}</span>` : ""}
          </p>
          ${t.status === "error" && t.error ? html`<p class="row-error">Failed at <code>${t.error.step}</code>: ${t.error.message}</p>` : ""}
        </div>
        <div class="row-side">
          <span class="badge" data-status="${t.status}">${t.status}</span>
          ${t.status === "processing" ? html`
            <span class="row-progress">
              <progress max="100" data-value="${pct}" aria-label="Progress">${pct}%</progress>
              <span class="row-detail">${t.progress && t.progress.detail ? t.progress.detail : "Starting"} · ${pct}%</span>
            </span>` : ""}
        </div>
      </li>`;
  }

  renderFoot() {
    const foot = document.getElementById("list-foot");
    if (!foot) return;
    const key = `${this.next}|${this.loading}|${this.loadError ? this.loadError.message : ""}|${this.items.length}`;
    if (this.patch(foot, key, () => html`
      ${this.loadError ? html`<p class="error-text" role="alert">${this.loadError.message}</p>` : ""}
      ${this.next ? html`<button type="button" class="btn" id="load-more" ${this.loading ? raw("disabled") : ""}>${this.loading ? "Loading…" : "Load more"}</button>` :
        this.items.length ? html`<p class="muted small">${this.items.length === 1 ? "1 transcript" : `${this.items.length} transcripts`}</p>` : ""}`)) {
      const more = document.getElementById("load-more");
      if (more) more.addEventListener("click", () => this.loadMore());
    }
  }
}
