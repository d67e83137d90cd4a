// The transcript page's management: renaming speakers inline, moving the
// transcript to the trash and back, deleting it for good, exports, and
// opening at a moment (?t=seconds, from a search result).

import { html } from "../html.js";
import { ago, dateTime, span } from "../format.js";
import { speakerClass, speakers } from "../speakers.js";
import { request } from "../api.js";

/** EXPORTS are the export formats the page offers, in order. */
export const EXPORTS = [
  ["srt", "SubRip captions (.srt)"],
  ["vtt", "WebVTT captions (.vtt)"],
  ["txt", "Plain text (.txt)"],
  ["md", "Markdown (.md)"],
  ["json", "JSON document (.json)"],
  ["zip", "Everything, with the audio (.zip)"],
];

/** startAt reads the moment to open at from a query string ("?t=12.5"), or null. */
export function startAt(search) {
  const v = new URLSearchParams(search || "").get("t");
  if (v === null || v.trim() === "") return null;
  const t = Number(v);
  return isFinite(t) && t >= 0 ? t : null;
}

/** filenameOf reads the file name of a Content-Disposition header (filename*, else filename), or "". */
export function filenameOf(header) {
  const h = String(header || "");
  let m = /filename\*\s*=\s*UTF-8''([^;]+)/i.exec(h);
  if (m) {
    try { return decodeURIComponent(m[1].trim()); } catch (_) { /* malformed: try the plain name */ }
  }
  m = /filename\s*=\s*"([^"]*)"/i.exec(h) || /filename\s*=\s*([^;]+)/i.exec(h);
  return m ? m[1].trim().replace(/[/\\]/g, "_") : "";
}

/** manageMethods are TranscriptPage's methods for names, trash and exports. */
export const manageMethods = {
  /** openAtStart applies ?t= once the document is shown: seek there and show the line said then. */
  openAtStart() {
    if (this.startAt === null || this.startShown) return;
    this.startShown = true;
    this.seek(this.startAt, false);
    const lines = [...document.querySelectorAll("#topics .line")];
    let hit = null;
    for (const l of lines) {
      if (Number(l.dataset.start) <= this.startAt + 0.01) hit = l;
      else break;
    }
    if (!hit) return;
    const details = hit.closest("details");
    if (details) details.open = true;
    hit.classList.add("hit");
    hit.id = "hit";
    hit.scrollIntoView({ block: "center" });
  },

  renderSpeakers() {
    const t = this.doc;
    const list = speakers(t);
    const total = list.reduce((s, p) => s + p.seconds, 0);
    const el = document.getElementById("speakers");
    el.hidden = !list.length;
    const key = JSON.stringify([list, this.renaming, this.renameBusy, this.renameError, (t.participants || []).map((p) => p.default_name)]);
    // Each li's text is the name alone (the rename button is an icon with a
    // label); the share of speaking time is shown from data-share by CSS.
    const changed = this.patch(el, key, () => list.map((p) => {
      const share = total > 0 ? Math.round((100 * p.seconds) / total) : null;
      const part = (t.participants || []).find((x) => x.id === p.id);
      if (p.id && this.renaming === p.id) {
        return html`<li class="${speakerClass(p.speaker)} renaming" data-speaker="${p.speaker}">
          <form class="rename-form" data-participant="${p.id}">
            <label class="visually-hidden" for="rename-input">New name for ${p.name}</label>
            <input id="rename-input" name="name" value="${p.name}" maxlength="100" autocomplete="off" spellcheck="false"
              placeholder="${part && part.default_name ? part.default_name : p.name}">
            <button type="submit" class="btn small primary" ${this.renameBusy ? "disabled" : ""}>Save</button>
            <button type="button" class="btn small ghost" data-rename-cancel>Cancel</button>
            ${this.renameError ? html`<span class="error-text small" role="alert">${this.renameError}</span>` : ""}
          </form></li>`;
      }
      const title = [
        share !== null ? `${p.name} spoke ${span(p.seconds)} (${share}% of the speaking time)` : "",
        part && part.default_name ? `Named ${part.default_name} in the meeting` : "",
      ].filter(Boolean).join(". ");
      return html`<li class="${speakerClass(p.speaker)}" data-speaker="${p.speaker}" ${p.id ? html`data-participant="${p.id}"` : ""} ${share !== null ? html`data-share="${share}%"` : ""} ${title ? html`title="${title}"` : ""}>${p.name}${p.id ? html`<button type="button" class="rename" data-rename="${p.id}" aria-label="Rename ${p.name}"><svg viewBox="0 0 16 16" aria-hidden="true" focusable="false"><path d="M11 2.5l2.5 2.5L6 12.5 3 13l.5-3z" fill="none" stroke="currentColor" stroke-width="1.5" stroke-linejoin="round"/></svg></button>` : ""}</li>`;
    }));
    if (changed && this.renaming) {
      const input = document.getElementById("rename-input");
      if (input && document.activeElement !== input) { input.focus(); input.select(); }
    }
  },

  startRename(pid) {
    this.renaming = pid;
    this.renameError = "";
    this.renderSpeakers();
  },

  cancelRename() {
    this.renaming = "";
    this.renameError = "";
    this.renderSpeakers();
  },

  async saveRename(pid, name) {
    if (this.renameBusy) return;
    this.renameBusy = true;
    this.renameError = "";
    this.renderSpeakers();
    try {
      const res = await request(`${this.base}/participants/${encodeURIComponent(pid)}`, { method: "PATCH", body: { name } });
      this.applyDoc(await res.json());
      this.renaming = "";
    } catch (err) {
      if (err.status === 401) return this.fail(err);
      this.renameError = err.message;
    } finally {
      this.renameBusy = false;
    }
    this.renderAll();
    this.scheduleDoc(); // topics and their words, rewritten with the new name
  },

  /** applyDoc takes the fields of a document answered without topics and words. */
  applyDoc(d) {
    const doc = this.doc;
    for (const k of ["participants", "title", "name", "short_summary", "long_summary", "action_items", "deleted_at"]) {
      if (k in d) doc[k] = d[k];
    }
  },

  onParticipants(ps) {
    if (!Array.isArray(ps)) return;
    this.doc.participants = ps;
    this.renderHeader();
    this.renderSpeakers();
    this.renderActionItems();
    this.renderTopics();
    this.scheduleDoc();
  },

  // --- trash ----------------------------------------------------------------

  async trash(permanent) {
    if (this.trashBusy) return;
    if (permanent && !this.purgeArmed) {
      this.purgeArmed = true; // a second click confirms
      this.debounce("disarm", 6000, () => { this.purgeArmed = false; this.renderManage(); });
      this.renderManage();
      return;
    }
    this.trashBusy = true;
    this.trashError = "";
    this.renderManage();
    try {
      const res = await request(permanent ? `${this.base}?permanent=true` : this.base, { method: "DELETE" });
      if (permanent) {
        location.assign("/trash");
        return;
      }
      this.applyDoc(await res.json());
    } catch (err) {
      if (err.status === 401) return this.fail(err);
      this.trashError = err.message;
    } finally {
      this.trashBusy = false;
      this.purgeArmed = false;
    }
    this.renderManage();
  },

  async restore() {
    if (this.trashBusy) return;
    this.trashBusy = true;
    this.trashError = "";
    this.renderManage();
    try {
      const res = await request(`${this.base}/restore`, { method: "POST", body: {} });
      this.applyDoc(await res.json());
    } catch (err) {
      if (err.status === 401) return this.fail(err);
      this.trashError = err.message;
    } finally {
      this.trashBusy = false;
    }
    this.renderManage();
  },

  renderManage() {
    const t = this.doc;
    if (!t || this.disposed) return;
    const trashed = Boolean(t.deleted_at);
    document.getElementById("t-page").dataset.trashed = trashed ? "true" : "false";
    const busy = this.trashBusy ? "disabled" : "";
    this.patch(document.getElementById("trash-banner"), JSON.stringify([t.deleted_at, this.trashBusy, this.purgeArmed, this.trashError]), () => trashed ? html`
      <div class="trash-banner" role="status">
        <p><strong>This transcript is in the trash</strong> since <time datetime="${t.deleted_at}" title="${dateTime(t.deleted_at)}">${ago(t.deleted_at)}</time>. It is not listed or searched, and is deleted for good after the server's retention.</p>
        <p class="actions">
          <button type="button" class="btn primary" id="restore" ${busy}>Restore</button>
          <button type="button" class="btn danger" id="purge" ${busy}>${this.purgeArmed ? "Click again to delete for good" : "Delete for good"}</button>
        </p>
        ${this.trashError ? html`<p class="error-text" role="alert">${this.trashError}</p>` : ""}
      </div>` : "");
    this.patch(document.getElementById("manage-body"), JSON.stringify([trashed, this.trashBusy, this.trashError, this.status]), () => trashed ? html`
      <p class="muted small">In the trash: restore it from the banner above.</p>` : html`
      <p><button type="button" class="btn danger" id="delete" ${busy}>Move to trash</button></p>
      ${this.trashError ? html`<p class="error-text small" role="alert">${this.trashError}</p>` : ""}
      ${this.status === "processing" ? html`<p class="muted small">A transcript cannot be deleted while it is being processed.</p>` : ""}`);
  },

  exportLinks() {
    return EXPORTS.map(([f, label]) => html`
      <a id="export-${f}" class="btn ghost" href="${this.base}/export?format=${f}" download="">${label}</a>`);
  },
};

/** bindManage wires the page's delegated clicks and the rename form. */
export function bindManage(page) {
  page.on(page.root, "click", (e) => {
    const rename = e.target.closest("[data-rename]");
    if (rename) { page.startRename(rename.dataset.rename); return; }
    if (e.target.closest("[data-rename-cancel]")) { page.cancelRename(); return; }
    if (e.target.closest("#delete")) { page.trash(false); return; }
    if (e.target.closest("#purge")) { page.trash(true); return; }
    if (e.target.closest("#restore")) page.restore();
  });
  page.on(page.root, "submit", (e) => {
    const form = e.target.closest(".rename-form");
    if (!form) return;
    e.preventDefault();
    page.saveRename(form.dataset.participant, form.elements.name.value);
  });
  page.on(page.root, "keydown", (e) => {
    if (e.key === "Escape" && e.target.closest && e.target.closest(".rename-form")) page.cancelRename();
  });
}
