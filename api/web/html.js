// Escaping and HTML building, and the small markdown the long summary uses.
//
// Safety rule: markup is only ever built with the html`` tag below, which
// escapes every interpolated value unless it is already SafeHTML (made by
// html`` itself, raw() for constant markup such as icons, or markdown(),
// which escapes its input first). Text from the API never reaches
// innerHTML unescaped.

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "`": "&#96;" };

/** esc returns v as text safe inside HTML element content and quoted attributes. */
export function esc(v) {
  return String(v ?? "").replace(/[&<>"'`]/g, (c) => ESCAPES[c]);
}

/** SafeHTML is markup that may go into innerHTML as it is. */
export class SafeHTML {
  constructor(s) { this.s = s; }
  toString() { return this.s; }
}

/** raw marks constant, trusted markup (icons) as safe. Never pass API text. */
export function raw(s) { return new SafeHTML(String(s)); }

/** fragment turns an interpolated value into markup: SafeHTML as is, arrays joined, null/undefined/false as nothing, anything else escaped. */
export function fragment(v) {
  if (v instanceof SafeHTML) return v.s;
  if (Array.isArray(v)) return v.map(fragment).join("");
  if (v === null || v === undefined || v === false) return "";
  return esc(v);
}

/** html is a template tag: interpolated values are escaped, arrays joined. */
export function html(strings, ...values) {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += fragment(values[i]) + strings[i + 1];
  return new SafeHTML(out);
}

/** setHTML replaces el's content with content (built with html``). */
export function setHTML(el, content) { el.innerHTML = fragment(content); }

// Markdown (the long summary): "#" headings, "**bold**", "- " lists and
// paragraphs. Everything is escaped first; only those constructs become
// markup.

function inlineMarkdown(text) {
  return esc(text).replace(/\*\*(?=\S)(.+?)\*\*/g, "<strong>$1</strong>");
}

/** markdown renders simple markdown as SafeHTML; headings start at h3 (the page has h1, h2). */
export function markdown(md) {
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

// Search snippets: the server sends HTML with the matched words in
// <mark> and everything else escaped. It is rebuilt here from its text,
// so that only <mark> can ever become markup, whatever the server sent.

const SNIPPET_ENTITIES = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#34;": '"', "&#39;": "'" };

/** snippet turns a search snippet into SafeHTML: its text escaped, its <mark>s kept (balanced), nothing else. */
export function snippet(s) {
  const out = [];
  let open = false;
  for (const part of String(s ?? "").split(/(<mark>|<\/mark>)/)) {
    if (part === "<mark>") {
      if (!open) { out.push("<mark>"); open = true; }
    } else if (part === "</mark>") {
      if (open) { out.push("</mark>"); open = false; }
    } else {
      out.push(esc(part.replace(/&(?:amp|lt|gt|quot|#34|#39);/g, (m) => SNIPPET_ENTITIES[m])));
    }
  }
  if (open) out.push("</mark>");
  return raw(out.join(""));
}
