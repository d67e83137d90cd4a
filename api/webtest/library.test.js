// Search snippets, search links, ?t= and export file names.
import { test } from "node:test";
import assert from "node:assert/strict";
import { snippet } from "../web/html.js";
import { resultHref } from "../web/search.js";
import { filenameOf, startAt } from "../web/transcript/manage.js";

test("snippet keeps only <mark> as markup", () => {
  const cases = [
    ["the <mark>budget</mark> review", "the <mark>budget</mark> review"],
    // What the server escaped stays escaped, once.
    ["&lt;script&gt;<mark>alert</mark>(1)&lt;/script&gt; &amp; &#34;q&#34; O&#39;Brien", "&lt;script&gt;<mark>alert</mark>(1)&lt;/script&gt; &amp; &quot;q&quot; O&#39;Brien"],
    ["a &amp;lt; b", "a &amp;lt; b"],
    // Anything else the server might send is text.
    ["<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)&gt;"],
    ["<mark onclick=x>a</mark>", "&lt;mark onclick=x&gt;a"],
    // Marks are balanced.
    ["<mark>open", "<mark>open</mark>"],
    ["close</mark> <mark><mark>x</mark></mark>", "close <mark>x</mark>"],
    [null, ""],
  ];
  for (const [in_, want] of cases) assert.equal(String(snippet(in_)), want, `snippet(${JSON.stringify(in_)})`);
});

test("a result opens the transcript at its start", () => {
  assert.equal(resultHref({ transcript_id: "abc", start: 12.345 }), "/transcripts/abc?t=12.35");
  assert.equal(resultHref({ transcript_id: "abc", start: 0 }), "/transcripts/abc?t=0.00");
  assert.equal(resultHref({ transcript_id: "abc", start: null }), "/transcripts/abc");
  assert.equal(resultHref({ transcript_id: "a/b?c", start: -1 }), "/transcripts/a%2Fb%3Fc?t=0.00");
});

test("startAt reads ?t= and refuses what is not a time", () => {
  assert.equal(startAt("?t=12.5"), 12.5);
  assert.equal(startAt("?t=0"), 0);
  for (const s of ["", "?t=", "?t=abc", "?t=-3", "?t=Infinity", "?x=1"]) assert.equal(startAt(s), null, s);
});

test("filenameOf prefers the UTF-8 name and never returns a path", () => {
  assert.equal(filenameOf(`attachment; filename="Weekly-sync.srt"`), "Weekly-sync.srt");
  assert.equal(filenameOf(`attachment; filename="Reunion.md"; filename*=UTF-8''R%C3%A9union.md`), "Réunion.md");
  assert.equal(filenameOf(`attachment; filename="../../x.txt"`), ".._.._x.txt");
  assert.equal(filenameOf(""), "");
  assert.equal(filenameOf(null), "");
});
