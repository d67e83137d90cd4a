// Formatting of times, durations, numbers and titles for people.

function pad2(n) { return String(n).padStart(2, "0"); }

/** clock formats seconds as m:ss or h:mm:ss. */
export function clock(sec) {
  const s = Math.max(0, Math.floor(Number(sec) || 0));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h ? `${h}:${pad2(m)}:${pad2(r)}` : `${m}:${pad2(r)}`;
}

/** span formats seconds for people: "45 s", "12 min", "1 h 05 min". */
export function span(sec) {
  const s = Math.round(Number(sec) || 0);
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${pad2(m % 60)} min`;
}

/** millis formats a step's duration: "850 ms", "4.2 s", "2 min 05 s". */
export function millis(ms) {
  const n = Number(ms) || 0;
  if (n < 1000) return `${Math.round(n)} ms`;
  if (n < 60000) return `${(n / 1000).toFixed(n < 10000 ? 1 : 0)} s`;
  const s = Math.round(n / 1000);
  return `${Math.floor(s / 60)} min ${pad2(s % 60)} s`;
}

/** num formats a number with the browser's digit grouping; anything else counts as 0. */
export function num(n) { return (Number(n) || 0).toLocaleString(); }

/** dateTime formats an ISO time as a medium date and a short time, or "" when it is not a time. */
export function dateTime(iso) {
  const d = new Date(iso);
  if (!iso || isNaN(d)) return "";
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** ago says how long ago iso was ("3 minutes ago"), or the date when older than a week. */
export function ago(iso, now = Date.now()) {
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

/** clamp returns v as a number within [lo, hi]; anything not a number counts as 0. */
export function clamp(v, lo, hi) { return Math.min(hi, Math.max(lo, Number(v) || 0)); }

/** displayTitle is a transcript's name, else its generated title, else "Unnamed recording". */
export function displayTitle(t) { return (t && (t.name || t.title)) || "Unnamed recording"; }
