// The trash (/trash): transcripts moved there, with restore and delete for
// good. The server deletes them for good by itself after its retention
// (PARLEY_TRASH_RETENTION, 30 days by default).

import { html, setHTML } from "./html.js";
import { ago, dateTime, displayTitle } from "./format.js";
import { getJSON, request } from "./api.js";
import { icon, Page } from "./shell.js";

/** TrashPage lists the trash. */
export class TrashPage extends Page {
  constructor(root, restart) {
    super(root, restart);
    this.items = [];
    this.armed = "";
    this.busy = "";
    this.error = "";
    this.init();
  }

  async init() {
    document.title = "Trash · Parley";
    setHTML(this.root, html`
      <div class="page-head">
        <h1>Trash</h1>
        <p class="muted">Restore a transcript, or delete it for good. The server also deletes them for good after a while (30 days by default).</p>
      </div>
      <p id="trash-error" class="error-text" role="alert" hidden></p>
      <section class="card list-card" aria-labelledby="trash-h">
        <h2 id="trash-h" class="visually-hidden">Transcripts in the trash</h2>
        <div id="trash-body"><p class="loading">Loading the trash…</p></div>
      </section>`);
    this.on(this.root, "click", (e) => {
      const b = e.target.closest("button[data-action]");
      if (b) this.act(b.dataset.action, b.closest("li").dataset.id);
    });
    await this.load();
  }

  async load() {
    try {
      const page = await getJSON("/v1/transcripts?trashed=true&limit=200");
      if (this.disposed) return;
      this.items = page.items || [];
    } catch (err) {
      this.fail(err, { title: "Could not load the trash" });
      return;
    }
    this.render();
  }

  async act(action, id) {
    if (this.busy) return;
    if (action === "purge" && this.armed !== id) {
      this.armed = id; // a second click confirms
      this.debounce("disarm", 6000, () => { this.armed = ""; this.render(); });
      this.render();
      return;
    }
    this.busy = id;
    this.error = "";
    this.render();
    try {
      if (action === "restore") await request(`/v1/transcripts/${encodeURIComponent(id)}/restore`, { method: "POST", body: {} });
      else await request(`/v1/transcripts/${encodeURIComponent(id)}?permanent=true`, { method: "DELETE" });
      this.items = this.items.filter((t) => t.id !== id);
    } catch (err) {
      if (err.status === 401) return this.fail(err);
      this.error = err.message;
    } finally {
      this.busy = "";
      this.armed = "";
    }
    this.render();
  }

  render() {
    if (this.disposed) return;
    const err = document.getElementById("trash-error");
    err.textContent = this.error;
    err.hidden = !this.error;
    setHTML(document.getElementById("trash-body"), this.items.length ? html`
      <ul id="trash" class="transcript-list">${this.items.map((t) => html`
        <li data-id="${t.id}">
          <div class="row-main">
            <a class="row-title" href="/transcripts/${encodeURIComponent(t.id)}">${displayTitle(t)}</a>
            <p class="row-meta">
              <span>Deleted <time datetime="${t.deleted_at}" title="${dateTime(t.deleted_at)}">${ago(t.deleted_at)}</time></span>
              <span>Recorded ${dateTime(t.created_at)}</span>
            </p>
          </div>
          <div class="row-side row-actions">
            <button type="button" class="btn" data-action="restore" ${this.busy ? "disabled" : ""}>Restore</button>
            <button type="button" class="btn danger" data-action="purge" ${this.busy ? "disabled" : ""}>${this.armed === t.id ? "Click again to delete for good" : "Delete for good"}</button>
          </div>
        </li>`)}</ul>` : html`
      <div class="empty">
        <span class="empty-icon">${icon("empty")}</span>
        <p class="empty-title">The trash is empty</p>
      </div>`);
  }
}
