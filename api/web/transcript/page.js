// The transcript page (/transcripts/{id}[?t=seconds]): header, pipeline
// progress, player and waveform, speakers (renamed inline), summary, action
// items, topics, exports, trash and the step audit, live over the events
// WebSocket (with a REST fallback).
//
// TranscriptPage holds the state; the progress card, the audit, the player
// and the waveform are methods mixed in from their modules, so that every
// part shares that state without a framework.

import { html, markdown, setHTML } from "../html.js";
import { ago, clock, dateTime, displayTitle, span } from "../format.js";
import { lines, personFor, speakerClass, speakerName, speakers } from "../speakers.js";
import { auth, getJSON, request } from "../api.js";
import { icon, Page } from "../shell.js";
import { Progress, progressMethods } from "./progress.js";
import { loadPipeline } from "./steps.js";
import { auditMethods } from "./audit.js";
import { playerMethods } from "./player.js";
import { waveformMethods } from "./waveform.js";
import { bindManage, filenameOf, manageMethods, startAt } from "./manage.js";

/** TranscriptPage is one transcript, live while its run goes on. */
export class TranscriptPage extends Page {
  constructor(root, restart, id) {
    super(root, restart);
    this.id = id;
    this.base = `/v1/transcripts/${encodeURIComponent(id)}`;
    this.doc = null;
    this.status = "";
    this.pipeline = null; // the step table, loaded first
    this.progress = null; // the run shown: steps, tracks, percent, failure
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
    this.startAt = startAt(location.search); // ?t=: open at that moment (a search result)
    this.startShown = false;
    this.renaming = ""; // the participant whose name is being edited
    this.renameBusy = false;
    this.renameError = "";
    this.trashBusy = false;
    this.trashError = "";
    this.purgeArmed = false;
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
      this.pipeline = await loadPipeline();
      this.progress = new Progress(this.pipeline);
      await this.loadDoc();
    } catch (err) {
      this.fail(err, { title: err.status === 404 ? "Transcript not found" : "Could not load the transcript" });
      return;
    }
    if (this.disposed) return;
    this.connect();
    this.loadAudit();
    // While running, WAVEFORM arrives with the events; a run past the step
    // that draws it has one already.
    const drawnAt = Math.max(...this.pipeline.makers("waveform").map((n) => this.pipeline.index(n) + 1));
    if (this.finished || (this.doc.progress && this.doc.progress.step_index > drawnAt)) this.loadWaveform();
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
    this.progress.applyDoc(doc);
    this.finished = doc.status === "ended" || doc.status === "error";
    if (first) this.renderShell();
    this.renderAll();
    if (first) this.openAtStart();
    if (this.finished) this.maybeLoadAudio();
  }

  scheduleDoc(ms = 350) {
    this.throttle("doc", ms, () => this.loadDoc().catch((e) => this.backgroundError(e)));
  }

  setStatus(value) {
    if (!value) return;
    this.statusEvents++;
    this.status = value;
    this.doc.status = value;
    if (value === "processing") {
      // A new or resumed run: the earlier failure is over.
      this.progress.failure = null;
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
      case "PARTICIPANTS": this.onParticipants(d.participants); break;
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
      this.progress.failure = null;
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
      a.download = filename || filenameOf(res.headers.get("Content-Disposition")) || "transcript";
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

  // --- rendering ----------------------------------------------------------

  renderShell() {
    setHTML(this.root, html`
      <nav class="crumbs"><a href="/">${icon("back")}All transcripts</a></nav>
      <div class="t-page" id="t-page">
        <div id="trash-banner"></div>
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
              <p class="downloads">${this.exportLinks()}</p>
              <p id="download-note" class="error-text small" role="alert" hidden></p>
            </section>
            <section class="card" id="manage" aria-labelledby="manage-h">
              <h2 id="manage-h">Delete</h2>
              <div id="manage-body"></div>
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
    this.bindPlayer();
    this.bindWaveform();
    bindManage(this);
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
    this.renderManage();
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

}

Object.assign(TranscriptPage.prototype, progressMethods, auditMethods, playerMethods, waveformMethods, manageMethods);
