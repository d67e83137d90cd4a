// Parley web page: the transcript list (/) and one transcript
// (/transcripts/{id}) with live pipeline progress over the events
// WebSocket. Native ES modules, no framework, no build step:
//
//   html.js      escaping and markup (the only way markup is built), markdown
//   format.js    times, durations, numbers
//   speakers.js  speaker names, colours and lines
//   api.js       the API client and the token
//   shell.js     icons, token form, error card, the Page base class
//   list.js      the list page
//   search.js    the search page (/search?q=)
//   trash.js     the trash (/trash)
//   transcript/  the transcript page: page.js and its parts (steps,
//                progress, audit, player, waveform, manage)
//   app.js       routing (this file)
//
// The unit tests are in ../webtest (node --test).

import { setHTML } from "./html.js";
import { auth, showTokenButton } from "./api.js";
import { errorCard } from "./shell.js";
import { ListPage } from "./list.js";
import { TranscriptPage } from "./transcript/page.js";
import { SearchPage } from "./search.js";
import { TrashPage } from "./trash.js";

// Routing: the server answers index.html for /, /search, /trash and
// /transcripts/{id}; links are ordinary page loads.

let currentPage = null;

function start() {
  const root = document.getElementById("app");
  if (currentPage) currentPage.dispose();
  showTokenButton();
  const path = location.pathname;
  const m = /^\/transcripts\/([^/]+)\/?$/.exec(path);
  if (path === "/" || path === "") currentPage = new ListPage(root, start);
  else if (path === "/search") currentPage = new SearchPage(root, start);
  else if (path === "/trash") currentPage = new TrashPage(root, start);
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

boot();
