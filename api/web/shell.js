// Shell: icons, the token form, page-level errors and the Page base class.

import { html, raw, setHTML } from "./html.js";
import { auth } from "./api.js";

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

/** icon is one of the page's inline SVG icons (pending, in_progress, completed, failed, alert, download, back, empty). */
export function icon(name) { return raw(ICONS[name] || ""); }

/** showTokenForm asks for the API token, then calls retry. */
export function showTokenForm(root, retry) {
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

/** errorCard is a card saying what failed, with "Try again" (data-action=reload) and a link to the list. */
export function errorCard(err, { title = "Something went wrong", back = true } = {}) {
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
export class Page {
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
