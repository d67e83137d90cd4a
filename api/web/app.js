// Parley web page: the transcript list (/) and one transcript
// (/transcripts/{id}) with live pipeline progress over the events
// WebSocket. Plain ES2020, no framework, no build step.
//
// Safety rule: markup is only ever built with the html`` tag below, which
// escapes every interpolated value unless it is already SafeHTML (made by
// html`` itself, raw() for constant markup such as icons, or markdown(),
// which escapes its input first). Text from the API never reaches
// innerHTML unescaped.
//
// Sections: 1 escaping, 2 formatting, 3 markdown, 4 speakers, 5 API client,
// 6 shell (token form, errors), 7 list page, 8 transcript page,
// 9 waveform, 10 routing.
"use strict";

// ---------------------------------------------------------------------------
// 1. Escaping and HTML building

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "`": "&#96;" };

/** esc returns v as text safe inside HTML element content and quoted attributes. */
function esc(v) {
  return String(v ?? "").replace(/[&<>"'`]/g, (c) => ESCAPES[c]);
}

class SafeHTML {
  constructor(s) { this.s = s; }
  toString() { return this.s; }
}

/** raw marks constant, trusted markup (icons) as safe. Never pass API text. */
function raw(s) { return new SafeHTML(String(s)); }

function fragment(v) {
  if (v instanceof SafeHTML) return v.s;
  if (Array.isArray(v)) return v.map(fragment).join("");
  if (v === null || v === undefined || v === false) return "";
  return esc(v);
}

/** html is a template tag: interpolated values are escaped, arrays joined. */
function html(strings, ...values) {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += fragment(values[i]) + strings[i + 1];
  return new SafeHTML(out);
}

function setHTML(el, content) { el.innerHTML = fragment(content); }

// ---------------------------------------------------------------------------
// 2. Formatting

function pad2(n) { return String(n).padStart(2, "0"); }

/** clock formats seconds as m:ss or h:mm:ss. */
function clock(sec) {
  const s = Math.max(0, Math.floor(Number(sec) || 0));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h ? `${h}:${pad2(m)}:${pad2(r)}` : `${m}:${pad2(r)}`;
}

/** span formats seconds for people: "45 s", "12 min", "1 h 05 min". */
function span(sec) {
  const s = Math.round(Number(sec) || 0);
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${pad2(m % 60)} min`;
}

/** millis formats a step's duration: "850 ms", "4.2 s", "2 min 05 s". */
function millis(ms) {
  const n = Number(ms) || 0;
  if (n < 1000) return `${Math.round(n)} ms`;
  if (n < 60000) return `${(n / 1000).toFixed(n < 10000 ? 1 : 0)} s`;
  const s = Math.round(n / 1000);
  return `${Math.floor(s / 60)} min ${pad2(s % 60)} s`;
}

function num(n) { return (Number(n) || 0).toLocaleString(); }

function dateTime(iso) {
  const d = new Date(iso);
  if (!iso || isNaN(d)) return "";
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** ago says how long ago iso was ("3 minutes ago"), or the date when older than a week. */
function ago(iso, now = Date.now()) {
  const d = new Date(iso);
  if (!iso || isNaN(d)) return "";
  const s = (d.getTime() - now) / 1000, abs = Math.abs(s);
  if (abs > 7 * 86400 || typeof Intl === "undefined" || !Intl.RelativeTimeFormat) return dateTime(iso);
  if (abs < 45) return "just now";
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  if (abs < 3600) return rtf.format(Math.round(s / 60), "minute");
  if (abs < 86400) return rtf.format(Math.round(s / 3600), "hour");
  return rtf.format(Math.round(s / 86400), "day");
}

function clamp(v, lo, hi) { return Math.min(hi, Math.max(lo, Number(v) || 0)); }

function displayTitle(t) { return (t && (t.name || t.title)) || "Unnamed recording"; }


// ---------------------------------------------------------------------------
// 3. Markdown (the long summary): "#" headings, "**bold**", "- " lists and
// paragraphs. Everything is escaped first; only those constructs become
// markup.

function inlineMarkdown(text) {
  return esc(text).replace(/\*\*(?=\S)(.+?)\*\*/g, "<strong>$1</strong>");
}

/** markdown renders simple markdown as SafeHTML; headings start at h3 (the page has h1, h2). */
function markdown(md) {
  const out = [];
  let para = [];
  let list = null;
  const flushPara = () => {
    if (para.length) out.push(`<p>${para.map(inlineMarkdown).join(" ")}</p>`);
    para = [];
  };
  const flushList = () => {
    if (list) out.push(`<ul>${list.map((i) => `<li>${inlineMarkdown(i)}</li>`).join("")}</ul>`);
    list = null;
  };
  for (const line of String(md ?? "").replace(/\r\n?/g, "\n").split("\n")) {
    const t = line.trim();
    let m;
    if (!t) {
      flushPara(); flushList();
    } else if ((m = /^(#{1,6})\s+(.*)$/.exec(t))) {
      flushPara(); flushList();
      const level = Math.min(6, m[1].length + 2);
      out.push(`<h${level}>${inlineMarkdown(m[2].replace(/\s+#+$/, ""))}</h${level}>`);
    } else if ((m = /^[-*+]\s+(.*)$/.exec(t))) {
      flushPara();
      (list = list || []).push(m[1]);
    } else {
      flushList();
      para.push(t);
    }
  }
  flushPara(); flushList();
  return raw(out.join(""));
}

// ---------------------------------------------------------------------------
// 4. Speakers: names from participants, colours from a fixed palette (CSS
// classes sp-0..sp-7; the CSP allows no inline style attributes).

const SPEAKER_COLOURS = 8;

function speakerClass(i) {
  const n = Number(i) || 0;
  return `sp-${((n % SPEAKER_COLOURS) + SPEAKER_COLOURS) % SPEAKER_COLOURS}`;
}

function speakerName(participants, speaker) {
  const p = (participants || []).find((x) => x.speaker === speaker && x.name);
  return p ? p.name : `Speaker ${Number(speaker) + 1}`;
}

/** speakers lists every speaker of a transcript (participants, then any other speaker index in the words). */
function speakers(doc) {
  const seen = new Map();
  for (const p of doc.participants || []) {
    if (!seen.has(p.speaker)) seen.set(p.speaker, { speaker: p.speaker, name: p.name || `Speaker ${p.speaker + 1}`, id: p.id, seconds: 0 });
  }
  for (const w of doc.words || []) {
    if (!seen.has(w.speaker)) seen.set(w.speaker, { speaker: w.speaker, name: `Speaker ${w.speaker + 1}`, seconds: 0 });
    seen.get(w.speaker).seconds += Math.max(0, (w.end || 0) - (w.start || 0));
  }
  return [...seen.values()].sort((a, b) => a.speaker - b.speaker);
}

/** lines groups words into speaker lines: a new line on a change of speaker or a pause of over 4 s. */
function lines(words) {
  const out = [];
  for (const w of words || []) {
    const last = out[out.length - 1];
    if (last && last.speaker === w.speaker && w.start - last.end < 4) {
      last.text += " " + w.text;
      last.end = w.end;
    } else {
      out.push({ speaker: w.speaker, start: w.start, end: w.end, text: w.text });
    }
  }
  return out;
}

/** personFor finds the speaker of an action item's owner, by participant id, else by name. */
function personFor(doc, participantID, name) {
  const ps = doc.participants || [];
  const n = String(name || "").trim().toLowerCase();
  const p = (participantID && ps.find((x) => x.id === participantID)) ||
    (n && ps.find((x) => x.name && x.name.toLowerCase() === n)) ||
    // "Bob" for "Bob Okafor" and the other way round
    (n && ps.find((x) => x.name && (n.startsWith(x.name.toLowerCase() + " ") || x.name.toLowerCase().startsWith(n + " "))));
  return p ? p.speaker : null;
}

// ---------------------------------------------------------------------------
// 5. API client. The token (when the server has one) is kept in
// localStorage and sent as "Authorization: Bearer"; on the WebSocket it
// goes as the subprotocol pair ["bearer", token].

const TOKEN_KEY = "parley.apiToken";

const auth = {
  get() { try { return localStorage.getItem(TOKEN_KEY) || ""; } catch (_) { return ""; } },
  set(t) { try { localStorage.setItem(TOKEN_KEY, t); } catch (_) { /* private mode: not kept */ } showTokenButton(); },
  clear() { try { localStorage.removeItem(TOKEN_KEY); } catch (_) { /* nothing kept */ } showTokenButton(); },
};

class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function apiError(res) {
  let code = `http_${res.status}`;
  let message = `The server answered ${res.status}${res.statusText ? " " + res.statusText : ""}.`;
  try {
    const body = await res.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch (_) { /* not JSON */ }
  return new APIError(res.status, code, message);
}

/** request fetches an API path with the token; non-2xx answers throw APIError with the server's message. */
async function request(path, { method = "GET", body, headers = {}, accept = "application/json" } = {}) {
  const h = Object.assign({ Accept: accept }, headers);
  const token = auth.get();
  if (token) h.Authorization = `Bearer ${token}`;
  const init = { method, headers: h, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    h["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (_) {
    throw new APIError(0, "network", "Cannot reach the Parley server. Check that it is running; this page retries by itself.");
  }
  if (!res.ok) throw await apiError(res);
  return res;
}

async function getJSON(path) { return (await request(path)).json(); }

// ---------------------------------------------------------------------------
// 6. Shell: icons, the token form and page-level errors.

const ICONS = {
  pending: '<svg viewBox="0 0 16 16" aria-hidden="true" focusable="false"><circle cx="8" cy="8" r="5.5" fill="none" stroke="currentColor" stroke-width="1.6"/></svg>',
  in_progress: '<svg class="spin" viewBox="0 0 16 16" aria-hidden="true" focusable="false"><circle cx="8" cy="8" r="5.5" fill="none" stroke="currentColor" stroke-opacity=".25" stroke-width="2"/><path d="M8 2.5a5.5 5.5 0 0 1 5.5 5.5" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round"/></svg>',
  completed: '<svg viewBox="0 0 16 16" aria-hidden="true" focusable="false"><circle cx="8" cy="8" r="7" fill="currentColor"/><path d="M4.8 8.3l2.1 2.1 4.3-4.6" class="ink" fill="none" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round"/></svg>',
  failed: '<svg viewBox="0 0 16 16" aria-hidden="true" focusable="false"><circle cx="8" cy="8" r="7" fill="currentColor"/><path d="M5.5 5.5l5 5m0-5l-5 5" class="ink" stroke-width="1.8" stroke-linecap="round"/></svg>',
  alert: '<svg viewBox="0 0 20 20" aria-hidden="true" focusable="false"><path d="M10 2.5l8 14H2z" fill="none" stroke="currentColor" stroke-width="1.7" stroke-linejoin="round"/><path d="M10 8v4" stroke="currentColor" stroke-width="1.7" stroke-linecap="round"/><circle cx="10" cy="14.6" r="1" fill="currentColor"/></svg>',
  download: '<svg viewBox="0 0 16 16" aria-hidden="true" focusable="false"><path d="M8 2v8m-3.5-3.5L8 10l3.5-3.5M3 13h10" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round"/></svg>',
  back: '<svg viewBox="0 0 16 16" aria-hidden="true" focusable="false"><path d="M10 3L5 8l5 5" fill="none" stroke="currentColor" stroke-width="1.7" stroke-linecap="round" stroke-linejoin="round"/></svg>',
  empty: '<svg viewBox="0 0 64 64" aria-hidden="true" focusable="false"><rect x="6" y="10" width="52" height="44" rx="8" fill="none" stroke="currentColor" stroke-width="2"/><g fill="currentColor"><rect x="16" y="28" width="4" height="8" rx="2"/><rect x="24" y="22" width="4" height="20" rx="2"/><rect x="32" y="18" width="4" height="28" rx="2"/><rect x="40" y="25" width="4" height="14" rx="2"/></g></svg>',
};

function icon(name) { return raw(ICONS[name] || ""); }

function showTokenButton() {
  const b = typeof document !== "undefined" && document.getElementById("token-button");
  if (b) b.hidden = !auth.get();
}

/** showTokenForm asks for the API token, then calls retry. */
function showTokenForm(root, retry) {
  const rejected = Boolean(auth.get());
  document.title = "API token · Parley";
  setHTML(root, html`
    <section class="card narrow" id="token-card" aria-labelledby="token-h">
      <h1 id="token-h">API token required</h1>
      <p>This Parley server asks for its API token (<code>PARLEY_API_TOKEN</code>). It is kept in this browser only.</p>
      ${rejected ? html`<p class="form-error" role="alert">The saved token was not accepted. Enter the current one.</p>` : ""}
      <form id="token-form" class="token-form" autocomplete="off">
        <label for="token-input">API token</label>
        <div class="token-row">
          <input type="password" id="token-input" name="token" required spellcheck="false" autocapitalize="off" autocomplete="off">
          <button type="submit" class="btn primary">Continue</button>
        </div>
      </form>
    </section>`);
  const input = document.getElementById("token-input");
  input.focus();
  document.getElementById("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const t = input.value.trim();
    if (!t) return;
    auth.set(t);
    retry();
  });
}

function errorCard(err, { title = "Something went wrong", back = true } = {}) {
  return html`
    <section class="card narrow" role="alert">
      <h1>${title}</h1>
      <p class="error-text">${err && err.message ? err.message : String(err)}</p>
      <p class="actions">
        <button type="button" class="btn" data-action="reload">Try again</button>
        ${back ? html`<a class="btn ghost" href="/">All transcripts</a>` : ""}
      </p>
    </section>`;
}

/** Page is the base of the two pages: timers and listeners that go away with it. */
class Page {
  constructor(root, restart) {
    this.root = root;
    this.restart = restart;
    this.disposed = false;
    this.timeouts = new Map();
    this.intervals = [];
    this.listeners = [];
    this.sectionKeys = new WeakMap();
  }

  dispose() {
    this.disposed = true;
    for (const t of this.timeouts.values()) clearTimeout(t);
    for (const t of this.intervals) clearInterval(t);
    for (const [target, type, fn, capture] of this.listeners) target.removeEventListener(type, fn, capture);
  }

  on(target, type, fn, capture = false) {
    target.addEventListener(type, fn, capture);
    this.listeners.push([target, type, fn, capture]);
  }

  every(ms, fn) { this.intervals.push(setInterval(fn, ms)); }

  /** throttle runs fn ms after the first call with the same name; calls meanwhile join that run. */
  throttle(name, ms, fn) {
    if (this.timeouts.has(name)) return;
    this.timeouts.set(name, setTimeout(() => { this.timeouts.delete(name); if (!this.disposed) fn(); }, ms));
  }

  /** debounce runs fn once, ms after the last call with the same name. */
  debounce(name, ms, fn) {
    clearTimeout(this.timeouts.get(name));
    this.timeouts.set(name, setTimeout(() => { this.timeouts.delete(name); if (!this.disposed) fn(); }, ms));
  }

  /** patch re-renders el only when key changed (keeps focus, open details, playback). */
  patch(el, key, render) {
    if (!el || this.sectionKeys.get(el) === key) return false;
    this.sectionKeys.set(el, key);
    setHTML(el, render());
    return true;
  }

  /** fail shows err: the token form on 401, else an error card. */
  fail(err, opts) {
    if (this.disposed) return;
    if (err && err.status === 401) {
      this.dispose();
      showTokenForm(this.root, this.restart);
      return;
    }
    this.dispose();
    setHTML(this.root, errorCard(err, opts));
    const b = this.root.querySelector("[data-action=reload]");
    if (b) b.addEventListener("click", () => this.restart());
  }
}

// ---------------------------------------------------------------------------
// 7. List page: newest first, "Load more", refreshed while anything runs.

const ACTIVE = new Set(["processing", "uploaded"]);

class ListPage extends Page {
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

// ---------------------------------------------------------------------------
// 8. Transcript page.

/** STEPS are the pipeline's steps in order, with the words shown for them. */
const STEPS = [
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
const TRACK_STEPS = { pad_track: "pad", transcribe_track: "transcribe" };
/** Steps after finalize: a failure there leaves the transcript complete. */
const POST_FINALIZE = new Set(["cleanup_consent", "post_zulip", "send_webhook"]);
const STATE_WORDS = { pending: "pending", in_progress: "in progress", completed: "completed", failed: "failed" };

function stepLabel(name) { return STEP_LABELS[name] || name; }

/** auditState maps an audit row's status to a step state. */
function auditState(status) {
  switch (status) {
    case "completed": return "completed";
    case "failed": return "failed";
    case "running": case "retrying": return "in_progress";
    default: return "pending";
  }
}

class TranscriptPage extends Page {
  constructor(root, restart, id) {
    super(root, restart);
    this.id = id;
    this.base = `/v1/transcripts/${encodeURIComponent(id)}`;
    this.doc = null;
    this.status = "";
    // The run whose progress is shown: events of older runs replayed before
    // it are skipped; a newer run starts the step list over.
    this.run = { id: null, seen: false };
    this.percent = 0;
    this.detail = "";
    this.failure = null; // from a failed PIPELINE_PROGRESS, until the document has its error
    this.steps = new Map(); // name -> {state, attempt, retrying, detail}
    this.tracks = new Map(); // index -> {pad: {...}, transcribe: {...}}
    this.audit = [];
    this.wave = null;
    this.lastSeq = 0;
    this.docRequests = 0;
    this.statusEvents = 0;
    this.docApplied = 0;
    this.ws = null;
    this.wsOpen = false;
    this.wsFailures = 0;
    this.wsUnavailable = "";
    this.finished = false;
    this.audioState = "none"; // none | loading | ready | missing
    this.objectURL = "";
    this.pendingSeek = null;
    this.resuming = false;
    this.init();
  }

  dispose() {
    super.dispose();
    if (this.ws) { this.ws.onclose = null; this.ws.close(); }
    if (this.resizer) this.resizer.disconnect();
    if (this.raf) cancelAnimationFrame(this.raf);
    const audio = document.getElementById("audio");
    if (audio) audio.pause();
    if (this.objectURL) URL.revokeObjectURL(this.objectURL);
  }

  async init() {
    setHTML(this.root, html`<p class="loading">Loading transcript…</p>`);
    try {
      await this.loadDoc();
    } catch (err) {
      this.fail(err, { title: err.status === 404 ? "Transcript not found" : "Could not load the transcript" });
      return;
    }
    if (this.disposed) return;
    this.connect();
    this.loadAudit();
    // While running, WAVEFORM arrives with the events.
    if (this.finished || (this.doc.progress && this.doc.progress.step_index > 5)) this.loadWaveform();
    this.maybeLoadAudio();
    // REST fallback while the WebSocket is down and the run is not over.
    this.every(5000, () => {
      if (!this.wsOpen && !document.hidden && !this.finished) this.loadDoc().catch((e) => this.backgroundError(e));
    });
    this.every(30000, () => this.renderHeader()); // "3 minutes ago"
    this.on(document, "visibilitychange", () => { if (!document.hidden) this.reconnectNow(); });
    this.on(window, "online", () => this.reconnectNow());
  }

  backgroundError(err) {
    if (err && err.status === 401) this.fail(err);
  }

  // --- data ---------------------------------------------------------------

  async loadDoc() {
    const n = ++this.docRequests;
    const statusEvents = this.statusEvents;
    const doc = await getJSON(`${this.base}?include=topics,words`);
    if (this.disposed || n < this.docApplied) return;
    this.docApplied = n;
    const first = !this.doc;
    if (statusEvents !== this.statusEvents) {
      // A STATUS event came while this was read: it is newer (another
      // read follows it).
      doc.status = this.status;
    }
    this.doc = doc;
    this.status = doc.status;
    const run = doc.workflow_run_id || null;
    if (run && run !== this.run.id && (!this.run.id || !this.run.seen)) {
      if (this.run.id) this.resetRun(run);
      else this.run.id = run;
    }
    if (doc.progress && (!run || run === this.run.id)) {
      this.percent = Math.max(this.percent, clamp(doc.progress.percent, 0, 100));
      if (!this.detail) this.detail = doc.progress.detail || "";
    }
    if (doc.status !== "error") this.failure = null;
    this.finished = doc.status === "ended" || doc.status === "error";
    if (first) this.renderShell();
    this.renderAll();
    if (this.finished) this.maybeLoadAudio();
  }

  scheduleDoc(ms = 350) {
    this.throttle("doc", ms, () => this.loadDoc().catch((e) => this.backgroundError(e)));
  }

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
  }

  scheduleAudit(ms = 1000) { this.throttle("audit", ms, () => this.loadAudit()); }

  async loadWaveform() {
    if (this.wave || (this.doc && this.doc.audio_deleted)) return;
    try {
      const res = await getJSON(`${this.base}/audio/waveform`);
      if (this.disposed || !Array.isArray(res.waveform)) return;
      this.wave = res.waveform;
      this.drawWave();
    } catch (err) {
      this.backgroundError(err); // 404: not drawn yet; WAVEFORM brings it
    }
  }

  // --- run state ----------------------------------------------------------

  resetRun(run) {
    this.run = { id: run, seen: false };
    this.percent = 0;
    this.detail = "";
    this.failure = null;
    this.steps.clear();
    this.tracks.clear();
  }

  /** acceptRun says whether an event of run belongs to the run shown. */
  acceptRun(run) {
    if (!run) return true;
    if (!this.run.id || run === this.run.id) {
      this.run.id = run;
      this.run.seen = true;
      return true;
    }
    if (!this.run.seen) return false; // an older run, replayed before ours
    this.resetRun(run); // a new run started
    this.run.seen = true;
    return true;
  }

  track(i) {
    if (!this.tracks.has(i)) this.tracks.set(i, { pad: { state: "pending", attempt: 0 }, transcribe: { state: "pending", attempt: 0 } });
    return this.tracks.get(i);
  }

  onProgress(d) {
    if (!this.acceptRun(d.workflow_run_id)) return;
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
    if (state === "completed" || state === "failed" || retrying) this.scheduleAudit();
    if (d.current_step === "mixdown_tracks" && state === "completed") this.maybeLoadAudio();
    if (d.current_step === "generate_waveform" && state === "completed") this.loadWaveform();
    this.renderProgressSoon();
  }

  setStatus(value) {
    if (!value) return;
    this.statusEvents++;
    this.status = value;
    this.doc.status = value;
    if (value === "processing") {
      // A new or resumed run: the earlier failure is over.
      this.failure = null;
      this.doc.error = null;
      this.finished = false;
    }
    this.renderHeader();
    this.renderProgressSoon();
    this.scheduleDoc();
    if (value === "ended" || value === "error") this.scheduleAudit(600);
  }

  onEvent(msg) {
    const d = msg.data || {};
    const doc = this.doc;
    switch (msg.event) {
      case "PIPELINE_PROGRESS": this.onProgress(d); break;
      case "STATUS": this.setStatus(d.value); break;
      case "DURATION":
        if (d.duration > 0) { doc.duration_seconds = d.duration / 1000; this.renderHeader(); }
        break;
      case "WAVEFORM":
        if (Array.isArray(d.waveform) && d.waveform.length) { this.wave = d.waveform; this.drawWave(); }
        break;
      case "FINAL_TITLE":
        doc.title = d.title || doc.title; this.renderHeader(); break;
      case "FINAL_SHORT_SUMMARY":
        doc.short_summary = d.short_summary || ""; this.renderSummary(); break;
      case "FINAL_LONG_SUMMARY":
        doc.long_summary = d.long_summary || ""; this.renderSummary(); break;
      case "ACTION_ITEMS":
        if (d.action_items) { doc.action_items = d.action_items; this.renderActionItems(); }
        break;
      case "TOPIC": case "TRANSCRIPT":
        // The stored topics (with their words) come from the document.
        this.scheduleDoc(); break;
      default: break;
    }
  }

  // --- WebSocket ----------------------------------------------------------

  connect() {
    if (this.disposed || this.ws) return;
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${proto}//${location.host}${this.base}/events?after=${this.lastSeq}`;
    const token = auth.get();
    let ws;
    try {
      ws = token ? new WebSocket(url, ["bearer", token]) : new WebSocket(url);
    } catch (_) {
      // A token with characters a subprotocol cannot carry: poll instead.
      this.wsUnavailable = "Live updates are unavailable with this token; the page refreshes every 5 s.";
      this.setLive("polling");
      return;
    }
    this.ws = ws;
    this.setLive(this.wsFailures ? "reconnecting" : "connecting");
    ws.onopen = () => { this.wsOpen = true; this.setLive("live"); };
    ws.onmessage = (ev) => {
      this.wsFailures = 0;
      let msg;
      try { msg = JSON.parse(ev.data); } catch (_) { return; }
      if (!msg || typeof msg !== "object") return;
      if (typeof msg.id === "number") {
        if (msg.id <= this.lastSeq) return; // already seen
        this.lastSeq = msg.id;
      }
      this.onEvent(msg);
    };
    ws.onclose = () => {
      this.ws = null;
      this.wsOpen = false;
      if (this.disposed) return;
      if (this.finished) { this.setLive("done"); return; }
      this.wsFailures++;
      const delay = Math.min(30000, 1000 * 2 ** Math.min(this.wsFailures - 1, 5)) * (0.8 + Math.random() * 0.4);
      this.reconnectAt = Date.now() + delay;
      this.setLive("waiting");
      this.debounce("reconnect", delay, () => this.connect());
      // Meanwhile the document is polled (see init); check now, too.
      this.scheduleDoc(200);
    };
  }

  reconnectNow() {
    if (this.disposed || this.ws || this.finished || this.wsUnavailable) return;
    clearTimeout(this.timeouts.get("reconnect"));
    this.connect();
  }

  setLive(state) {
    this.liveState = state;
    const el = document.getElementById("live");
    if (!el) return;
    const words = {
      connecting: "Connecting…",
      live: this.finished ? "Up to date" : "Live",
      reconnecting: "Reconnecting…",
      waiting: `Connection lost, retrying in ${Math.max(1, Math.round(((this.reconnectAt || Date.now()) - Date.now()) / 1000))} s`,
      polling: "Refreshing every 5 s",
      done: "Up to date",
    };
    el.dataset.state = state === "live" && this.finished ? "done" : state;
    el.textContent = words[state] || "";
    el.title = this.wsUnavailable || "";
  }

  // --- actions ------------------------------------------------------------

  async resume() {
    if (this.resuming) return;
    this.resuming = true;
    this.renderProgress();
    try {
      await request(`${this.base}/process`, { method: "POST", body: {} });
      this.finished = false;
      this.failure = null;
      this.status = "processing";
      this.doc.status = "processing";
      this.doc.error = null;
      this.resumeError = null;
      this.reconnectNow();
      this.scheduleDoc(800);
    } catch (err) {
      if (err.status === 401) return this.fail(err);
      this.resumeError = err.message;
    } finally {
      this.resuming = false;
      this.renderAll();
    }
  }

  /** download fetches a route with the token and saves it (links cannot send headers). */
  async download(path, filename) {
    try {
      const res = await request(path, { accept: "*/*" });
      const url = URL.createObjectURL(await res.blob());
      const a = document.createElement("a");
      a.href = url;
      a.download = filename;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (err) {
      if (err.status === 401) return this.fail(err);
      const note = document.getElementById("download-note");
      note.textContent = `Download failed: ${err.message}`;
      note.hidden = false;
    }
  }

  // --- audio --------------------------------------------------------------

  setAudioNote(text) {
    const el = document.getElementById("audio-note");
    if (el) { el.textContent = text; el.hidden = !text; }
  }

  /** maybeLoadAudio loads the MP3 once it can exist (after the mixdown). */
  async maybeLoadAudio() {
    const audio = document.getElementById("audio");
    if (!audio || !this.doc || this.audioState === "loading" || this.audioState === "ready") return;
    if (this.doc.audio_deleted) {
      this.audioState = "missing";
      this.setAudioNote("The audio was deleted because consent was not given. The transcript is kept.");
      return;
    }
    const mixed = this.status === "ended" || (this.steps.get("mixdown_tracks") || {}).state === "completed" ||
      this.audit.some((r) => r.name === "mixdown_tracks" && r.status === "completed");
    if (!mixed) {
      this.setAudioNote(this.status === "error" ? "No audio: the run stopped before the tracks were mixed." : "The audio appears when the tracks have been mixed.");
      return;
    }
    this.audioState = "loading";
    const url = `${this.base}/audio/mp3`;
    const token = auth.get();
    if (!token) {
      this.setAudioNote("");
      audio.preload = "metadata";
      audio.src = url;
      audio.hidden = false;
      this.audioState = "ready";
      return;
    }
    // <audio> cannot send headers: fetch the MP3 with the token as a blob.
    this.setAudioNote("Loading audio…");
    try {
      const res = await request(url, { accept: "audio/*" });
      const blob = await res.blob();
      if (this.disposed) return;
      this.objectURL = URL.createObjectURL(blob);
      audio.src = this.objectURL;
    } catch (err) {
      if (this.disposed) return;
      if (err.status === 401) return this.fail(err);
      if (err.status === 404 || err.status === 410) {
        this.audioState = err.status === 410 ? "missing" : "none";
        this.setAudioNote(err.message);
        return;
      }
      // A redirect to storage on another origin cannot be fetched here;
      // the audio routes also take the token as a query parameter.
      audio.src = `${url}?token=${encodeURIComponent(token)}`;
    }
    audio.preload = "metadata";
    audio.hidden = false;
    this.audioState = "ready";
    this.setAudioNote("");
  }

  async explainAudioError() {
    if (this.audioState !== "ready" || this.objectURL) return;
    try {
      await request(`${this.base}/audio/mp3`, { accept: "audio/*", headers: { Range: "bytes=0-0" } });
      this.setAudioNote("This browser could not play the audio.");
    } catch (err) {
      this.setAudioNote(err.message);
    }
    this.audioState = "missing";
    document.getElementById("audio").hidden = true;
  }

  duration() {
    const audio = document.getElementById("audio");
    if (audio && isFinite(audio.duration) && audio.duration > 0) return audio.duration;
    return (this.doc && this.doc.duration_seconds) || 0;
  }

  seek(sec, play = true) {
    const audio = document.getElementById("audio");
    const t = Math.max(0, Number(sec) || 0);
    if (!audio || audio.hidden || !audio.src) {
      this.pendingSeek = t;
      this.drawWave();
      if (this.audioState !== "ready") this.setAudioNote(this.doc.audio_deleted ? "The audio was deleted because consent was not given." : "The audio is not available yet.");
      return;
    }
    if (audio.readyState >= 1) audio.currentTime = t;
    else this.pendingSeek = t;
    if (play) audio.play().catch(() => { /* needs a user gesture or not loaded yet */ });
    this.drawWave();
  }

  // --- rendering ----------------------------------------------------------

  renderShell() {
    const id = this.id;
    setHTML(this.root, html`
      <nav class="crumbs"><a href="/">${icon("back")}All transcripts</a></nav>
      <div class="t-page" id="t-page">
        <header class="card t-head">
          <div class="t-head-top">
            <div class="t-head-titles">
              <h1 id="title"></h1>
              <p id="subtitle" class="subtitle" hidden></p>
            </div>
            <span id="live" class="live" data-state="connecting" role="status"></span>
          </div>
          <div id="facts" class="facts"></div>
        </header>

        <section class="card progress-card" id="progress-card" aria-labelledby="progress-h">
          <div class="progress-head">
            <h2 id="progress-h">Pipeline</h2>
            <span id="progress-percent" class="progress-percent"></span>
          </div>
          <div class="progress" id="progress">
            <div id="progress-bar" class="progress-fill" role="progressbar" aria-labelledby="progress-h"
                 aria-valuemin="0" aria-valuemax="100" aria-valuenow="0"></div>
          </div>
          <p id="progress-detail" class="progress-detail" aria-live="polite"></p>
          <div id="error-slot"></div>
          <ol id="steps" class="steps"></ol>
        </section>

        <section class="card player" id="player" aria-labelledby="player-h">
          <h2 id="player-h">Recording</h2>
          <canvas id="waveform" class="waveform" data-points="0" tabindex="0" role="slider"
                  aria-label="Seek in the recording" aria-valuemin="0" aria-valuemax="0" aria-valuenow="0"></canvas>
          <div class="player-row">
            <audio id="audio" controls preload="none" hidden></audio>
          </div>
          <p id="audio-note" class="muted small" hidden></p>
          <ul id="speakers" class="speakers" aria-label="Speakers"></ul>
        </section>

        <div class="columns">
          <div class="col-main">
            <section class="card" id="summary-card" aria-labelledby="summary-h">
              <h2 id="summary-h">Summary</h2>
              <div id="summary"></div>
            </section>
            <section class="card" id="topics-card" aria-labelledby="topics-h">
              <div class="section-head">
                <h2 id="topics-h">Topics</h2>
                <button type="button" class="link-button small" id="toggle-topics" hidden>Show all transcripts</button>
              </div>
              <div id="topics-body"></div>
            </section>
          </div>
          <aside class="col-side">
            <section class="card" id="action-items" aria-labelledby="actions-h">
              <h2 id="actions-h">Action items</h2>
              <div id="actions-body"></div>
            </section>
            <section class="card" id="downloads" aria-labelledby="downloads-h">
              <h2 id="downloads-h">Export</h2>
              <p class="downloads">
                <a id="webvtt" class="btn ghost" href="${this.base}/webvtt" download="${id}.vtt">${icon("download")}WebVTT captions</a>
                <a id="json-link" class="btn ghost" href="${this.base}?include=topics,words" download="${id}.json">${icon("download")}JSON document</a>
              </p>
              <p id="download-note" class="error-text small" role="alert" hidden></p>
            </section>
          </aside>
        </div>

        <section class="card" id="audit-card" aria-labelledby="audit-h">
          <div class="section-head">
            <h2 id="audit-h">Step audit</h2>
            <span id="audit-summary" class="muted small"></span>
          </div>
          <div id="audit-body"></div>
        </section>
      </div>`);
    this.bindShell();
  }

  bindShell() {
    const audio = document.getElementById("audio");
    const canvas = document.getElementById("waveform");
    this.on(audio, "loadedmetadata", () => {
      if (this.pendingSeek !== null) { audio.currentTime = this.pendingSeek; this.pendingSeek = null; }
      this.drawWave();
    });
    this.on(audio, "timeupdate", () => { this.drawWave(); this.highlightTopic(); });
    this.on(audio, "play", () => this.animate());
    this.on(audio, "error", () => this.explainAudioError());
    this.on(canvas, "click", (e) => {
      const r = canvas.getBoundingClientRect();
      const d = this.duration();
      if (d > 0) this.seek(((e.clientX - r.left) / r.width) * d);
    });
    this.on(canvas, "mousemove", (e) => {
      const r = canvas.getBoundingClientRect();
      this.hoverX = (e.clientX - r.left) / r.width;
      const d = this.duration();
      canvas.title = d ? `Play from ${clock(this.hoverX * d)}` : "";
      this.drawWave();
    });
    this.on(canvas, "mouseleave", () => { this.hoverX = null; this.drawWave(); });
    this.on(canvas, "keydown", (e) => {
      const audio2 = document.getElementById("audio");
      const d = this.duration();
      if (!d) return;
      const now = audio2 && audio2.src ? audio2.currentTime : this.pendingSeek || 0;
      const moves = { ArrowLeft: -5, ArrowRight: 5, ArrowDown: -30, ArrowUp: 30, PageDown: -60, PageUp: 60 };
      let to = null;
      if (e.key in moves) to = clamp(now + moves[e.key], 0, d);
      else if (e.key === "Home") to = 0;
      else if (e.key === "End") to = d;
      else if (e.key === " " || e.key === "Enter") {
        e.preventDefault();
        if (audio2 && audio2.src) { if (audio2.paused) audio2.play().catch(() => {}); else audio2.pause(); }
        return;
      }
      if (to === null) return;
      e.preventDefault();
      this.seek(to, false);
    });
    if (typeof ResizeObserver !== "undefined") {
      this.resizer = new ResizeObserver(() => this.drawWave());
      this.resizer.observe(canvas);
    }
    // One delegated listener for the seek buttons, the resume button and
    // downloads that need the token.
    this.on(this.root, "click", (e) => {
      const seek = e.target.closest("[data-seek]");
      if (seek) { e.preventDefault(); this.seek(Number(seek.dataset.seek)); return; }
      if (e.target.closest("#resume")) { this.resume(); return; }
      const dl = e.target.closest("a[download]");
      if (dl && auth.get()) { e.preventDefault(); this.download(dl.getAttribute("href"), dl.getAttribute("download")); return; }
      if (e.target.closest("#toggle-topics")) {
        const all = [...document.querySelectorAll("#topics details")];
        const open = !all.every((d) => d.open);
        for (const d of all) d.open = open;
        this.updateToggle();
      }
    });
    this.on(this.root, "toggle", () => this.updateToggle(), true); // toggle does not bubble
  }

  renderAll() {
    this.renderHeader();
    this.renderProgress();
    this.renderSpeakers();
    this.renderSummary();
    this.renderActionItems();
    this.renderTopics();
    this.renderAudit();
    this.drawWave();
  }

  renderHeader() {
    const t = this.doc;
    if (!t || this.disposed) return;
    const title = displayTitle(t);
    const titleEl = document.getElementById("title");
    if (titleEl.textContent !== title) titleEl.textContent = title;
    const sub = document.getElementById("subtitle");
    const showSub = Boolean(t.name && t.title && t.title !== t.name);
    sub.hidden = !showSub;
    sub.textContent = showSub ? `Generated title: ${t.title}` : "";
    const pct = this.shownPercent();
    document.title = `${this.status === "processing" ? `(${pct}%) ` : ""}${title} · Parley`;
    const people = speakers(t).length;
    this.patch(document.getElementById("facts"), JSON.stringify([this.status, t.duration_seconds, t.created_at, t.source_language, people, ago(t.created_at)]), () => html`
      <span class="fact"><span class="badge" id="status" data-status="${this.status}">${this.status}</span></span>
      ${t.duration_seconds ? html`<span class="fact"><span class="fact-label">Length</span> ${clock(t.duration_seconds)}</span>` : ""}
      <span class="fact"><span class="fact-label">Recorded</span> <time datetime="${t.created_at}" title="${dateTime(t.created_at)}">${ago(t.created_at)}</time></span>
      ${t.source_language ? html`<span class="fact"><span class="fact-label">Language</span> ${t.source_language}</span>` : ""}
      ${people ? html`<span class="fact"><span class="fact-label">Speakers</span> ${people}</span>` : ""}`);
    document.getElementById("t-page").dataset.status = this.status;
  }

  shownPercent() {
    return this.status === "ended" ? 100 : Math.round(clamp(this.percent, 0, 100));
  }

  renderProgressSoon() {
    if (this.progressFrame) return;
    this.progressFrame = requestAnimationFrame(() => { this.progressFrame = 0; if (!this.disposed) { this.renderProgress(); this.renderHeader(); } });
  }

  /** stepState is the state shown for a step: events first, then the audit, then what the status implies. */
  stepState(name) {
    const ev = this.steps.get(name);
    const rows = this.audit.filter((r) => r.name === name && (r.track_index === undefined || r.track_index === null));
    const row = rows[rows.length - 1];
    let st = ev ? { ...ev } : row ? { state: auditState(row.status), attempt: row.attempts, retrying: row.status === "retrying" } : { state: "pending", attempt: 0 };
    if (row && row.attempts > (st.attempt || 0)) st.attempt = row.attempts;
    const idx = STEPS.findIndex(([n]) => n === name);
    const finalizeIdx = STEPS.findIndex(([n]) => n === "finalize");
    if (st.state !== "completed" && st.state !== "failed" && this.status === "ended" && idx <= finalizeIdx) st.state = "completed";
    const err = this.errorInfo();
    if (err && (err.step === name || (name === "process_tracks" && TRACK_STEPS[err.step]))) st.state = "failed";
    st.row = row;
    return st;
  }

  trackStates() {
    const indexes = new Set(this.tracks.keys());
    for (const p of (this.doc && this.doc.participants) || []) indexes.add(p.speaker);
    for (const r of this.audit) if (r.track_index !== undefined && r.track_index !== null) indexes.add(r.track_index);
    const pt = this.steps.get("process_tracks");
    const allDone = (pt && pt.state === "completed") || this.status === "ended";
    return [...indexes].filter((i) => Number.isInteger(i) && i >= 0).sort((a, b) => a - b).map((i) => {
      const ev = this.tracks.get(i);
      const sub = (step, key) => {
        const rows = this.audit.filter((r) => r.name === step && r.track_index === i);
        const row = rows[rows.length - 1];
        const s = ev ? { ...ev[key] } : { state: "pending", attempt: 0 };
        if (s.state === "pending" && row) Object.assign(s, { state: auditState(row.status), attempt: row.attempts });
        if (row && row.attempts > (s.attempt || 0)) s.attempt = row.attempts;
        if (allDone && s.state !== "failed") s.state = "completed";
        s.row = row;
        return s;
      };
      return { index: i, pad: sub("pad_track", "pad"), transcribe: sub("transcribe_track", "transcribe") };
    });
  }

  /** errorInfo is the failure to show: the document's error, or the failed PIPELINE_PROGRESS until the document has it. */
  errorInfo() {
    const t = this.doc;
    if (t && t.error && (this.status === "error" || this.status === "ended")) return t.error;
    if (this.status === "error" && this.failure) return this.failure;
    return null;
  }

  renderProgress() {
    const t = this.doc;
    if (!t || this.disposed) return;
    const status = this.status;
    const pct = this.shownPercent();
    const bar = document.getElementById("progress-bar");
    const now = bar.getAttribute("aria-valuenow");
    if (now !== String(pct)) {
      bar.setAttribute("aria-valuenow", String(pct));
      bar.setAttribute("aria-valuetext", `${pct}%`);
    }
    bar.style.width = `${pct}%`; // CSSOM, allowed by the CSP
    const err = this.errorInfo();
    document.getElementById("progress-card").dataset.state = status === "error" ? "failed" : status === "ended" ? (err ? "warning" : "done") : status;
    document.getElementById("progress-percent").textContent = `${pct}%`;

    let detail;
    if (status === "ended") {
      const wall = this.wallTime();
      detail = `Completed${wall ? ` in ${millis(wall)}` : ""}.`;
      const running = STEPS.find(([n]) => POST_FINALIZE.has(n) && (this.steps.get(n) || {}).state === "in_progress");
      if (running) detail += ` ${stepLabel(running[0])}…`;
    } else if (status === "error") {
      const done = STEPS.filter(([n]) => this.stepState(n).state === "completed").length;
      detail = `Stopped after ${done} of ${STEPS.length} steps.`;
    } else if (status === "processing") {
      detail = this.detail || "Starting…";
    } else if (status === "uploaded") {
      detail = "Waiting for the pipeline to start.";
    } else {
      detail = "Waiting for audio tracks to be uploaded.";
    }
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

    const tracks = this.trackStates();
    const view = STEPS.map(([name, label]) => ({ name, label, ...this.stepState(name) }));
    const key = JSON.stringify([view.map((s) => [s.name, s.state, s.attempt, s.retrying, s.row && s.row.duration_ms]),
      tracks.map((tr) => [tr.index, tr.pad.state, tr.transcribe.state, tr.transcribe.attempt, tr.pad.attempt]), t.participants]);
    this.patch(document.getElementById("steps"), key, () => view.map((s) => html`
      <li data-step="${s.name}" data-state="${s.state}" ${s.attempt > 1 ? html`data-attempt="${s.attempt}"` : ""} ${s.retrying ? raw('data-retrying="true"') : ""} title="${s.name}">
        <span class="step-line">
          <span class="step-icon">${icon(s.state)}</span>
          <span class="step-label">${s.label}</span>
          <span class="visually-hidden">: ${STATE_WORDS[s.state]}</span>
          <span class="step-meta">${this.stepMeta(s)}</span>
        </span>
        ${s.name === "process_tracks" && tracks.length ? html`
          <ol class="tracks">${tracks.map((tr) => this.trackRow(tr))}</ol>` : ""}
      </li>`));
  }

  stepMeta(s) {
    const parts = [];
    if (s.state === "in_progress") parts.push(s.retrying ? "retrying" : "running");
    if (s.state === "completed" && s.row && s.row.duration_ms && s.row.status === "completed") parts.push(millis(s.row.duration_ms));
    if (s.state === "failed") parts.push(s.attempt > 1 ? `failed after ${s.attempt} attempts` : "failed");
    else if (s.attempt > 1) parts.push(s.state === "completed" ? `${s.attempt} attempts` : `attempt ${s.attempt}`);
    return parts.join(" · ");
  }

  trackRow(tr) {
    const name = speakerName(this.doc.participants, tr.index);
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

  wallTime() {
    const starts = this.audit.map((r) => Date.parse(r.started_at)).filter((n) => !isNaN(n));
    const ends = this.audit.map((r) => Date.parse(r.finished_at)).filter((n) => !isNaN(n));
    if (!starts.length || !ends.length) return 0;
    return Math.max(0, Math.max(...ends) - Math.min(...starts));
  }

  renderSpeakers() {
    const t = this.doc;
    const list = speakers(t);
    const total = list.reduce((s, p) => s + p.seconds, 0);
    const el = document.getElementById("speakers");
    el.hidden = !list.length;
    // Each li's text is the name alone; the share of speaking time is shown
    // from data-share by CSS.
    this.patch(el, JSON.stringify(list), () => list.map((p) => {
      const share = total > 0 ? Math.round((100 * p.seconds) / total) : null;
      return html`<li class="${speakerClass(p.speaker)}" data-speaker="${p.speaker}" ${share !== null ? html`data-share="${share}%" title="${p.name} spoke ${span(p.seconds)} (${share}% of the speaking time)"` : ""}>${p.name}</li>`;
    }));
  }

  renderSummary() {
    const t = this.doc;
    const pending = this.status !== "ended";
    this.patch(document.getElementById("summary"), JSON.stringify([t.short_summary, t.long_summary, this.status]), () => {
      if (!t.short_summary && !t.long_summary) {
        return html`<p class="placeholder">${this.status === "error" ? "No summary: the run stopped before it was written." : pending ? "The summary is written after the topics have been found." : "No summary."}</p>`;
      }
      return html`
        ${t.short_summary ? html`<p id="short-summary" class="lead">${t.short_summary}</p>` : ""}
        ${t.long_summary ? html`<div id="long-summary" class="prose">${markdown(t.long_summary)}</div>` : ""}`;
    });
  }

  renderActionItems() {
    const t = this.doc;
    const ai = t.action_items || {};
    const decisions = ai.decisions || [];
    const next = ai.next_steps || [];
    const person = (pid, name) => {
      if (!name) return "";
      const sp = personFor(t, pid, name);
      return html`<span class="person ${sp !== null ? speakerClass(sp) : ""}">${name}</span>`;
    };
    this.patch(document.getElementById("actions-body"), JSON.stringify([ai, t.participants, this.status]), () => {
      if (!decisions.length && !next.length) {
        return html`<p class="placeholder">${this.status === "ended" ? "No decisions or next steps were found." : this.status === "error" ? "None: the run stopped before they were listed." : "Decisions and next steps appear when the meeting has been summarized."}</p>`;
      }
      return html`
        <h3 class="sub-h">Decisions</h3>
        ${decisions.length ? html`<ul id="decisions" class="items">${decisions.map((d) => html`
          <li>
            <p class="item-text">${d.decision}</p>
            ${d.decided_by ? html`<p class="item-meta">Decided by ${person(d.decided_by_participant_id, d.decided_by)}</p>` : ""}
            ${d.rationale ? html`<p class="item-context rationale">${d.rationale}</p>` : ""}
          </li>`)}</ul>` : html`<p class="placeholder small">None recorded.</p>`}
        <h3 class="sub-h">Next steps</h3>
        ${next.length ? html`<ul id="next-steps" class="items tasks">${next.map((n) => html`
          <li>
            <p class="item-text">${n.task}</p>
            ${n.assigned_to || n.deadline ? html`<p class="item-meta">${person(n.assigned_to_participant_id, n.assigned_to)}${n.deadline ? html`<span class="due">Due ${n.deadline}</span>` : ""}</p>` : ""}
            ${n.context ? html`<p class="item-context">${n.context}</p>` : ""}
          </li>`)}</ul>` : html`<p class="placeholder small">None recorded.</p>`}`;
    });
  }

  renderTopics() {
    const t = this.doc;
    const topics = (t.topics || []).slice().sort((a, b) => a.timestamp - b.timestamp);
    const body = document.getElementById("topics-body");
    const open = new Set([...body.querySelectorAll("details[open]")].map((d) => d.dataset.topicId));
    const changed = this.patch(body, JSON.stringify([topics, t.participants]), () => {
      if (!topics.length) {
        return html`<p class="placeholder">${this.status === "error" ? "No topics: the run stopped before they were found." : this.status === "ended" ? "No topics." : "Topics appear here as they are detected."}</p>`;
      }
      return html`<ol id="topics" class="topics">${topics.map((tp, i) => {
        const end = i + 1 < topics.length ? topics[i + 1].timestamp : Math.max(tp.timestamp + (tp.duration || 0), t.duration_seconds || 0);
        const ls = lines(tp.words);
        const words = (tp.words || []).length;
        return html`
          <li class="topic" data-topic-id="${tp.id}" data-start="${tp.timestamp}" data-end="${end}">
            <div class="topic-head">
              <button type="button" class="ts" data-seek="${tp.timestamp}" aria-label="Play from ${clock(tp.timestamp)}">${clock(tp.timestamp)}</button>
              <h3 class="topic-title">${tp.title}</h3>
              ${tp.duration ? html`<span class="topic-len">${span(tp.duration)}</span>` : ""}
            </div>
            ${tp.summary ? html`<p class="topic-summary">${tp.summary}</p>` : ""}
            ${ls.length ? html`
              <details class="topic-words" data-topic-id="${tp.id}">
                <summary>Transcript <span class="muted">· ${words} words</span></summary>
                <ol class="lines">${ls.map((l) => html`
                  <li class="line ${speakerClass(l.speaker)}" data-start="${l.start}" data-end="${l.end}">
                    <button type="button" class="ts small" data-seek="${l.start}" aria-label="Play from ${clock(l.start)}">${clock(l.start)}</button>
                    <span class="who">${speakerName(t.participants, l.speaker)}</span>
                    <span class="said">${l.text}</span>
                  </li>`)}</ol>
              </details>` : ""}
          </li>`;
      })}</ol>`;
    });
    if (changed) {
      for (const d of body.querySelectorAll("details")) if (open.has(d.dataset.topicId)) d.open = true;
      this.highlightTopic(true);
    }
    this.updateToggle();
  }

  updateToggle() {
    const btn = document.getElementById("toggle-topics");
    if (!btn) return;
    const all = [...document.querySelectorAll("#topics details")];
    btn.hidden = !all.length;
    btn.textContent = all.length && all.every((d) => d.open) ? "Hide all transcripts" : "Show all transcripts";
  }

  highlightTopic(force = false) {
    const audio = document.getElementById("audio");
    if (!audio || (!audio.src && !force)) return;
    const now = audio.src ? audio.currentTime : -1;
    for (const li of document.querySelectorAll("#topics > li")) {
      const on = now >= Number(li.dataset.start) && now < Number(li.dataset.end);
      li.classList.toggle("playing", on);
      if (on) {
        for (const l of li.querySelectorAll("details[open] .line")) {
          l.classList.toggle("playing", now >= Number(l.dataset.start) && now <= Number(l.dataset.end) + 0.5);
        }
      }
    }
  }

  renderAudit() {
    const el = document.getElementById("audit-body");
    if (!el) return;
    const rows = this.audit;
    const sum = (f) => rows.reduce((s, r) => s + (Number(f(r.usage || {})) || 0), 0);
    const totals = {
      ms: rows.reduce((s, r) => s + (r.duration_ms || 0), 0),
      asr: sum((u) => u.asr_audio_seconds), asrCalls: sum((u) => u.asr_calls), llm: sum((u) => u.llm_calls),
      pin: sum((u) => u.llm_prompt_tokens), pout: sum((u) => u.llm_completion_tokens), hits: sum((u) => u.cache_hits),
      attempts: rows.reduce((s, r) => s + (r.attempts || 0), 0),
    };
    const wall = this.wallTime();
    const summary = document.getElementById("audit-summary");
    summary.textContent = rows.length ? [wall ? `wall time ${millis(wall)}` : "", totals.asr ? `${num(Math.round(totals.asr))} s of audio transcribed` : "",
      totals.pin + totals.pout ? `${num(totals.pin + totals.pout)} LLM tokens` : "", totals.hits ? `${num(totals.hits)} cache hits` : ""].filter(Boolean).join(" · ") : "";
    const dash = raw('<span class="nil">–</span>');
    const n = (v, f = num) => (v ? f(v) : dash);
    this.patch(el, JSON.stringify(rows), () => rows.length ? html`
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
            <tr data-step="${r.name}" data-status="${r.status}" ${r.error ? raw('class="has-error"') : ""} ${r.track_index !== undefined && r.track_index !== null ? html`data-track="${r.track_index}"` : ""}>
              <th scope="row"><span class="audit-step" title="${r.name}">${stepLabel(r.name)}${r.track_index !== undefined && r.track_index !== null ? html` <span class="muted">${r.track_index + 1}</span>` : ""}</span></th>
              <td><span class="badge small" data-status="${r.status}">${r.status}</span></td>
              <td class="num">${r.attempts > 1 ? html`<strong>${r.attempts}</strong>` : r.attempts}</td>
              <td class="num">${r.finished_at || r.duration_ms ? millis(r.duration_ms) : html`<span class="muted">…</span>`}</td>
              <td class="num">${n(u.asr_audio_seconds, (v) => `${num(Math.round(v * 10) / 10)} s`)}</td>
              <td class="num">${n(u.asr_calls)}</td>
              <td class="num">${n(u.llm_calls)}</td>
              <td class="num">${u.llm_prompt_tokens || u.llm_completion_tokens ? `${num(u.llm_prompt_tokens)} / ${num(u.llm_completion_tokens)}` : dash}</td>
              <td class="num">${u.cache_hits ? html`<span class="cached">${num(u.cache_hits)}</span>` : u.cached ? "yes" : dash}</td>
            </tr>
            ${r.error ? html`<tr class="audit-error" data-step="${r.name}"><td colspan="9">${r.error}</td></tr>` : ""}`;
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
      </div>` : html`<p class="placeholder">${this.status === "idle" || this.status === "uploaded" ? "No step has run yet." : "The audit fills in as steps finish."}</p>`);
  }

  // --- 9. Waveform ----------------------------------------------------------

  animate() {
    if (this.raf) return;
    const tick = () => {
      const audio = document.getElementById("audio");
      if (this.disposed || !audio || audio.paused) { this.raf = 0; this.drawWave(); return; }
      this.drawWave();
      this.raf = requestAnimationFrame(tick);
    };
    this.raf = requestAnimationFrame(tick);
  }

  drawWave() {
    const c = document.getElementById("waveform");
    if (!c || this.disposed) return;
    const wave = this.wave || [];
    const dpr = window.devicePixelRatio || 1;
    const width = c.clientWidth || 600;
    const height = c.clientHeight || 80;
    if (c.width !== Math.round(width * dpr) || c.height !== Math.round(height * dpr)) {
      c.width = Math.round(width * dpr);
      c.height = Math.round(height * dpr);
    }
    const g = c.getContext("2d");
    if (!g) return;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, width, height);
    const css = getComputedStyle(c);
    const colour = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
    c.dataset.points = String(wave.length);
    const audio = document.getElementById("audio");
    const duration = this.duration();
    const current = audio && audio.src ? audio.currentTime : this.pendingSeek || 0;
    c.setAttribute("aria-valuemax", String(Math.round(duration)));
    c.setAttribute("aria-valuenow", String(Math.round(current)));
    c.setAttribute("aria-valuetext", `${clock(current)} of ${clock(duration)}`);

    if (!wave.length) {
      g.strokeStyle = colour("--wave", "#ccc");
      g.setLineDash([3, 4]);
      g.beginPath();
      g.moveTo(0, height / 2);
      g.lineTo(width, height / 2);
      g.stroke();
      g.setLineDash([]);
      c.dataset.empty = "true";
      return;
    }
    delete c.dataset.empty;
    const played = duration > 0 ? clamp(current / duration, 0, 1) : 0;
    const step = width / wave.length;
    const bar = Math.max(1, step * 0.62);
    const mid = height / 2;
    const fillPlayed = colour("--wave-played", "#3451b2");
    const fillRest = colour("--wave", "#c7ccd6");
    const fillHover = colour("--wave-hover", "#8a96b8");
    const hover = this.hoverX === null || this.hoverX === undefined ? -1 : this.hoverX;
    for (let i = 0; i < wave.length; i++) {
      const v = clamp(wave[i], 0, 1);
      const h = Math.max(2, v * (height - 8));
      const x = i * step + (step - bar) / 2;
      const f = (i + 0.5) / wave.length;
      g.fillStyle = f <= played ? fillPlayed : hover >= 0 && f <= hover ? fillHover : fillRest;
      g.fillRect(x, mid - h / 2, bar, h);
    }
    // Topic starts as small ticks along the top.
    if (duration > 0) {
      g.fillStyle = colour("--wave-marker", "#888");
      for (const tp of (this.doc && this.doc.topics) || []) {
        const x = Math.round((tp.timestamp / duration) * width);
        if (x > 1) g.fillRect(x - 0.5, 0, 1, 6);
      }
      if (played > 0) {
        g.fillStyle = fillPlayed;
        g.fillRect(Math.round(played * width) - 1, 0, 2, height);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// 10. Routing: the server answers index.html for / and /transcripts/{id};
// links are ordinary page loads.

let currentPage = null;

function start() {
  const root = document.getElementById("app");
  if (currentPage) currentPage.dispose();
  showTokenButton();
  const path = location.pathname;
  const m = /^\/transcripts\/([^/]+)\/?$/.exec(path);
  if (path === "/" || path === "") currentPage = new ListPage(root, start);
  else if (m) currentPage = new TranscriptPage(root, start, decodeURIComponent(m[1]));
  else {
    currentPage = null;
    document.title = "Not found · Parley";
    setHTML(root, errorCard(new Error(`There is no page at ${path}.`), { title: "Page not found" }));
  }
}

function boot() {
  const button = document.getElementById("token-button");
  if (button) {
    button.addEventListener("click", () => {
      auth.clear();
      start();
    });
  }
  document.addEventListener("click", (e) => {
    if (e.target.closest && e.target.closest("[data-action=reload]") && !currentPage) start();
  });
  start();
}

if (typeof document !== "undefined" && typeof window !== "undefined") boot();
