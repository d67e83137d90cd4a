// Speakers: names from participants, colours from a fixed palette (CSS
// classes sp-0..sp-7; the CSP allows no inline style attributes).

const SPEAKER_COLOURS = 8;

/** speakerClass is the colour class of speaker index i. */
export function speakerClass(i) {
  const n = Number(i) || 0;
  return `sp-${((n % SPEAKER_COLOURS) + SPEAKER_COLOURS) % SPEAKER_COLOURS}`;
}

/** speakerName is the participant's name for a speaker index, else "Speaker N" (1-based). */
export function speakerName(participants, speaker) {
  const p = (participants || []).find((x) => x.speaker === speaker && x.name);
  return p ? p.name : `Speaker ${Number(speaker) + 1}`;
}

/** speakers lists every speaker of a transcript (participants, then any other speaker index in the words). */
export function speakers(doc) {
  const seen = new Map();
  for (const p of doc.participants || []) {
    if (!seen.has(p.speaker)) seen.set(p.speaker, { speaker: p.speaker, name: p.name || `Speaker ${p.speaker + 1}`, id: p.id, seconds: 0 });
  }
  for (const w of doc.words || []) {
    if (!seen.has(w.speaker)) seen.set(w.speaker, { speaker: w.speaker, name: `Speaker ${w.speaker + 1}`, seconds: 0 });
    seen.get(w.speaker).seconds += Math.max(0, (w.end || 0) - (w.start || 0));
  }
  return [...seen.values()].sort((a, b) => a.speaker - b.speaker);
}

/** lines groups words into speaker lines: a new line on a change of speaker or a pause of over 4 s. */
export function lines(words) {
  const out = [];
  for (const w of words || []) {
    const last = out[out.length - 1];
    if (last && last.speaker === w.speaker && w.start - last.end < 4) {
      last.text += " " + w.text;
      last.end = w.end;
    } else {
      out.push({ speaker: w.speaker, start: w.start, end: w.end, text: w.text });
    }
  }
  return out;
}

/** personFor finds the speaker of an action item's owner, by participant id, else by name. */
export function personFor(doc, participantID, name) {
  const ps = doc.participants || [];
  const n = String(name || "").trim().toLowerCase();
  const p = (participantID && ps.find((x) => x.id === participantID)) ||
    (n && ps.find((x) => x.name && x.name.toLowerCase() === n)) ||
    // "Bob" for "Bob Okafor" and the other way round
    (n && ps.find((x) => x.name && (n.startsWith(x.name.toLowerCase() + " ") || x.name.toLowerCase().startsWith(n + " "))));
  return p ? p.speaker : null;
}
