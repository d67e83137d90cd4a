// The search page (/search?q=): results of GET /v1/search, each a moment of
// a meeting (the transcript opens there and the player seeks to it) or a
// title or summary.

import { html, setHTML, snippet } from "./html.js";
import { clock, dateTime } from "./format.js";
import { getJSON } from "./api.js";
import { icon, Page } from "./shell.js";

/** resultHref is where a search result leads: the transcript, at the hit's start when it has one. */
export function resultHref(r) {
  const base = `/transcripts/${encodeURIComponent(r.transcript_id)}`;
  return typeof r.start === "number" && isFinite(r.start) ? `${base}?t=${Math.max(0, r.start).toFixed(2)}` : base;
}

/** SearchPage shows the results of one query. */
export class SearchPage extends Page {
  constructor(root, restart) {
    super(root, restart);
    this.query = (new URLSearchParams(location.search).get("q") || "").trim();
    this.init();
  }

  async init() {
    const input = document.getElementById("site-q");
    if (input) input.value = this.query;
    document.title = this.query ? `${this.query} · Search · Parley` : "Search · Parley";
    setHTML(this.root, html`
      <div class="page-head">
        <h1>Search</h1>
        <p class="muted">Words, <code>"a phrase"</code>, <code>-excluded</code>, <code>or</code>.</p>
      </div>
      <form class="search-form" id="search-form" role="search" action="/search" method="get">
        <label class="visually-hidden" for="search-q">Search transcripts</label>
        <input type="search" id="search-q" name="q" maxlength="500" required value="${this.query}" placeholder="Search all transcripts">
        <button type="submit" class="btn primary">Search</button>
      </form>
      <section class="card list-card" aria-labelledby="results-h">
        <h2 id="results-h" class="visually-hidden">Results</h2>
        <div id="search-body"></div>
      </section>`);
    const body = document.getElementById("search-body");
    if (!this.query) {
      setHTML(body, html`<p class="empty muted">Type what was said, a name or a subject.</p>`);
      document.getElementById("search-q").focus();
      return;
    }
    setHTML(body, html`<p class="loading">Searching…</p>`);
    let res;
    try {
      res = await getJSON(`/v1/search?q=${encodeURIComponent(this.query)}&limit=50`);
    } catch (err) {
      if (err.status === 400) {
        setHTML(body, html`<p class="empty error-text" role="alert">${err.message}</p>`);
        return;
      }
      this.fail(err, { title: "Search failed" });
      return;
    }
    if (this.disposed) return;
    const results = res.results || [];
    setHTML(body, results.length ? html`
      <p class="search-count muted small" role="status">${results.length === 1 ? "1 result" : `${results.length} results`}, best first</p>
      <ol id="search-results" class="transcript-list search-results">${results.map((r) => this.row(r))}</ol>` : html`
      <div class="empty" role="status">
        <span class="empty-icon">${icon("empty")}</span>
        <p class="empty-title">Nothing found</p>
        <p class="muted">No transcript matches <strong>${this.query}</strong>. Transcripts in the trash are not searched.</p>
      </div>`);
  }

  row(r) {
    const moment = typeof r.start === "number";
    return html`
      <li data-id="${r.transcript_id}" ${moment ? html`data-start="${r.start}"` : ""}>
        <div class="row-main">
          <a class="row-title result-link" href="${resultHref(r)}">${r.title}</a>
          <p class="row-meta">
            ${moment ? html`<span class="hit-time">${clock(r.start)}</span>` : html`<span>Title or summary</span>`}
            ${r.speaker_name ? html`<span class="hit-speaker">${r.speaker_name}</span>` : ""}
            <time datetime="${r.created_at}">${dateTime(r.created_at)}</time>
          </p>
          <p class="snippet">${snippet(r.snippet)}</p>
        </div>
      </li>`;
  }
}
