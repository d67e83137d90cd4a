// Escaping and markdown: text from the API never becomes markup.
import { test } from "node:test";
import assert from "node:assert/strict";
import { esc, html, markdown, raw, SafeHTML } from "../web/html.js";

test("esc escapes every character that could end text or an attribute", () => {
  const cases = [
    ["plain", "plain"],
    ["<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"],
    [`a"b'c\`d&e`, "a&quot;b&#39;c&#96;d&amp;e"],
    ["&amp;", "&amp;amp;"],
    [null, ""],
    [undefined, ""],
    [0, "0"],
    [false, "false"],
  ];
  for (const [in_, want] of cases) assert.equal(esc(in_), want, `esc(${JSON.stringify(in_)})`);
});

test("html escapes interpolated values and keeps SafeHTML as it is", () => {
  const name = `<img src=x onerror="alert(1)">`;
  const got = html`<p title="${name}">${name}</p>`;
  assert.ok(got instanceof SafeHTML);
  assert.equal(String(got), `<p title="&lt;img src=x onerror=&quot;alert(1)&quot;&gt;">&lt;img src=x onerror=&quot;alert(1)&quot;&gt;</p>`);
  assert.equal(String(html`<b>${raw("<i>x</i>")}</b>`), "<b><i>x</i></b>");
  assert.equal(String(html`<b>${html`<i>${"<"}</i>`}</b>`), "<b><i>&lt;</i></b>");
});

test("html joins arrays and drops null, undefined and false", () => {
  assert.equal(String(html`<ul>${["<a>", html`<li>b</li>`]}</ul>`), "<ul>&lt;a&gt;<li>b</li></ul>");
  assert.equal(String(html`${null}${undefined}${false}|${0}|${""}`), "|0|");
});

test("markdown renders headings, bold, lists and paragraphs", () => {
  const cases = [
    ["", ""],
    ["One line.", "<p>One line.</p>"],
    ["Two\nlines.\n\nNext.", "<p>Two lines.</p><p>Next.</p>"],
    ["# Title", "<h3>Title</h3>"],
    ["### Deep ###", "<h5>Deep</h5>"],
    ["###### Deepest", "<h6>Deepest</h6>"],
    ["**bold** and ** not**", "<p><strong>bold</strong> and ** not**</p>"],
    ["- a\n* b\n+ **c**", "<ul><li>a</li><li>b</li><li><strong>c</strong></li></ul>"],
    ["Intro\n- item\nAfter", "<p>Intro</p><ul><li>item</li></ul><p>After</p>"],
    ["a\r\nb\rc", "<p>a b c</p>"],
    ["#NoSpace", "<p>#NoSpace</p>"],
  ];
  for (const [md, want] of cases) assert.equal(String(markdown(md)), want, `markdown(${JSON.stringify(md)})`);
});

test("markdown escapes the text before making markup", () => {
  const got = String(markdown(`# <script>x</script>\n- <img onerror=1>\n**<b>**`));
  assert.equal(got, "<h3>&lt;script&gt;x&lt;/script&gt;</h3><ul><li>&lt;img onerror=1&gt;</li></ul><p><strong>&lt;b&gt;</strong></p>");
  assert.ok(markdown("x") instanceof SafeHTML);
  assert.equal(String(markdown(null)), "");
});
