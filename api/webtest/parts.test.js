// The audit's totals, the player's keys, the waveform's bars and the
// speakers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { auditSummary, auditTable, auditTotals, wallTime } from "../web/transcript/audit.js";
import { Pipeline } from "../web/transcript/steps.js";
import { keySeek } from "../web/transcript/player.js";
import { waveBars } from "../web/transcript/waveform.js";
import { lines, personFor, speakerClass, speakerName, speakers } from "../web/speakers.js";

test("wallTime spans the first start to the last end", () => {
  assert.equal(wallTime([]), 0);
  assert.equal(wallTime([{ started_at: "2026-01-01T00:00:00Z" }]), 0);
  assert.equal(wallTime([
    { started_at: "2026-01-01T00:00:02Z", finished_at: "2026-01-01T00:00:03Z" },
    { started_at: "2026-01-01T00:00:00Z", finished_at: "2026-01-01T00:00:01Z" },
    { started_at: "bad", finished_at: null },
  ]), 3000);
});

test("auditTotals sums every row, counting missing usage as 0", () => {
  const rows = [
    { duration_ms: 1000, attempts: 1, usage: { asr_audio_seconds: 30.5, asr_calls: 1 } },
    { duration_ms: 500, attempts: 2, usage: { llm_calls: 3, llm_prompt_tokens: 100, llm_completion_tokens: 20, cache_hits: 1 } },
    { attempts: 1 },
  ];
  assert.deepEqual(auditTotals(rows), { ms: 1500, asr: 30.5, asrCalls: 1, llm: 3, pin: 100, pout: 20, hits: 1, attempts: 4 });
  assert.equal(auditSummary(rows), `${(31).toLocaleString()} s of audio transcribed · ${(120).toLocaleString()} LLM tokens · 1 cache hits`);
  assert.equal(auditSummary([]), "");
});

const pipe = new Pipeline(JSON.parse(readFileSync(new URL("./pipeline.json", import.meta.url))));

test("auditTable labels the steps and escapes their errors, and says when nothing ran", () => {
  const table = String(auditTable([{ name: "detect_topics", status: "failed", attempts: 2, error: "<b>HTTP 400</b>" }], "error", pipe));
  assert.match(table, /<span class="audit-step" title="detect_topics">Detect topics<\/span>/);
  assert.match(table, /<tr data-step="detect_topics" data-status="failed" class="has-error"/);
  assert.match(table, /&lt;b&gt;HTTP 400&lt;\/b&gt;/);
  const noted = String(auditTable([{ name: "send_email", status: "completed", attempts: 1, note: "skipped: <i>email is off</i>" }], "ended", pipe));
  assert.match(noted, /<tr class="audit-note" data-step="send_email"><td colspan="9" class="muted">skipped: &lt;i&gt;email is off&lt;\/i&gt;<\/td><\/tr>/);
  assert.match(noted, /Send email/);
  assert.match(String(auditTable([], "uploaded", pipe)), /No step has run yet/);
  assert.match(String(auditTable([], "processing", pipe)), /fills in as steps finish/);
});

test("keySeek moves by the key and stays within the recording", () => {
  const cases = [
    ["ArrowRight", 10, 100, 15], ["ArrowLeft", 3, 100, 0], ["ArrowUp", 90, 100, 100], ["ArrowDown", 40, 100, 10],
    ["PageUp", 0, 100, 60], ["PageDown", 50, 100, 0], ["Home", 50, 100, 0], ["End", 5, 100, 100], ["a", 5, 100, null],
  ];
  for (const [key, now, d, want] of cases) assert.equal(keySeek(key, now, d), want, key);
});

test("waveBars: one bar per point, played up to the position, hover after it", () => {
  const bars = waveBars([0, 0.5, 1, 2], 400, 80, 0.3, 0.6);
  assert.equal(bars.length, 4);
  assert.deepEqual(bars.map((b) => b.part), ["played", "hover", "rest", "rest"]);
  assert.equal(bars[0].h, 2, "a silent point still draws a 2 px bar");
  assert.equal(bars[2].h, 72);
  assert.equal(bars[3].h, 72, "points are clamped to 1");
  assert.equal(bars[1].x, 100 + (100 - 62) / 2);
  assert.equal(bars[2].y, 4);
  assert.deepEqual(waveBars([1, 1], 100, 80, 0, -1).map((b) => b.part), ["rest", "rest"]);
});

test("speakers, lines and owners of action items", () => {
  const doc = {
    participants: [{ speaker: 0, name: "Alice", id: "p0" }, { speaker: 1, name: "Bob Okafor", id: "p1" }],
    words: [
      { speaker: 0, start: 0, end: 1, text: "Hi" }, { speaker: 0, start: 1.5, end: 2, text: "all." },
      { speaker: 2, start: 3, end: 4, text: "Hello." }, { speaker: 0, start: 10, end: 11, text: "Later." },
    ],
  };
  assert.deepEqual(speakers(doc).map((s) => [s.speaker, s.name, s.seconds]), [[0, "Alice", 2.5], [1, "Bob Okafor", 0], [2, "Speaker 3", 1]]);
  assert.deepEqual(lines(doc.words).map((l) => [l.speaker, l.start, l.end, l.text]), [[0, 0, 2, "Hi all."], [2, 3, 4, "Hello."], [0, 10, 11, "Later."]]);
  assert.equal(speakerName(doc.participants, 1), "Bob Okafor");
  assert.equal(speakerName(doc.participants, 4), "Speaker 5");
  assert.deepEqual([0, 7, 8, -1, "x"].map(speakerClass), ["sp-0", "sp-7", "sp-0", "sp-7", "sp-0"]);
  assert.equal(personFor(doc, "p1", "whoever"), 1);
  assert.equal(personFor(doc, "", "alice"), 0);
  assert.equal(personFor(doc, "", "Bob"), 1);
  assert.equal(personFor(doc, "", "Alice Smith"), 0);
  assert.equal(personFor(doc, "", "Carol"), null);
  assert.equal(personFor(doc, "", ""), null);
});
