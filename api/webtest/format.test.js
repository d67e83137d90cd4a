// Formatting of times and numbers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ago, clamp, clock, displayTitle, millis, span } from "../web/format.js";

test("clock formats seconds as m:ss or h:mm:ss", () => {
  const cases = [[0, "0:00"], [5.9, "0:05"], [59, "0:59"], [60, "1:00"], [754, "12:34"], [3599, "59:59"],
    [3600, "1:00:00"], [3661, "1:01:01"], [36000, "10:00:00"], [-3, "0:00"], ["12", "0:12"], [NaN, "0:00"], [undefined, "0:00"]];
  for (const [sec, want] of cases) assert.equal(clock(sec), want, `clock(${sec})`);
});

test("span formats seconds for people", () => {
  const cases = [[0, "0 s"], [45, "45 s"], [59.4, "59 s"], [59.6, "1 min"], [90, "2 min"], [12 * 60, "12 min"],
    [3540, "59 min"], [3600, "1 h 00 min"], [3900, "1 h 05 min"], [2 * 3600 + 30 * 60, "2 h 30 min"], [null, "0 s"]];
  for (const [sec, want] of cases) assert.equal(span(sec), want, `span(${sec})`);
});

test("millis formats a step's duration", () => {
  const cases = [[0, "0 ms"], [850, "850 ms"], [999.4, "999 ms"], [1000, "1.0 s"], [4200, "4.2 s"], [9949, "9.9 s"],
    [10000, "10 s"], [59400, "59 s"], [60000, "1 min 00 s"], [125000, "2 min 05 s"], ["x", "0 ms"]];
  for (const [ms, want] of cases) assert.equal(millis(ms), want, `millis(${ms})`);
});

test("ago says how long ago, and gives up on bad input", () => {
  const now = Date.parse("2026-05-01T12:00:00Z");
  const at = (sec) => new Date(now - sec * 1000).toISOString();
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  assert.equal(ago(at(10), now), "just now");
  assert.equal(ago(at(-10), now), "just now");
  assert.equal(ago(at(180), now), rtf.format(-3, "minute"));
  assert.equal(ago(at(2 * 3600), now), rtf.format(-2, "hour"));
  assert.equal(ago(at(3 * 86400), now), rtf.format(-3, "day"));
  // Older than a week: the date itself.
  assert.ok(!/ago|day/.test(ago(at(30 * 86400), now)), ago(at(30 * 86400), now));
  assert.equal(ago("", now), "");
  assert.equal(ago("not a date", now), "");
  assert.equal(ago(undefined, now), "");
});

test("clamp and displayTitle", () => {
  assert.equal(clamp(150, 0, 100), 100);
  assert.equal(clamp(-5, 0, 100), 0);
  assert.equal(clamp("42", 0, 100), 42);
  assert.equal(clamp(undefined, 0, 100), 0);
  assert.equal(displayTitle({ name: "Standup", title: "Generated" }), "Standup");
  assert.equal(displayTitle({ title: "Generated" }), "Generated");
  assert.equal(displayTitle({}), "Unnamed recording");
  assert.equal(displayTitle(null), "Unnamed recording");
});
