// The transcript page's waveform: a canvas of the mix's peaks, the played
// part, topic ticks, and seeking by click, hover and keyboard.

import { clamp, clock } from "../format.js";
import { getJSON } from "../api.js";
import { keySeek } from "./player.js";

/**
 * waveBars lays out one bar per waveform point across width x height:
 * {x, y, w, h, part} with part "played" (up to the played fraction),
 * "hover" (up to the hovered fraction, -1 for none) or "rest".
 */
export function waveBars(wave, width, height, played, hover) {
  const step = width / wave.length;
  const bar = Math.max(1, step * 0.62);
  const mid = height / 2;
  return wave.map((p, i) => {
    const v = clamp(p, 0, 1);
    const h = Math.max(2, v * (height - 8));
    const f = (i + 0.5) / wave.length;
    return { x: i * step + (step - bar) / 2, y: mid - h / 2, w: bar, h, part: f <= played ? "played" : hover >= 0 && f <= hover ? "hover" : "rest" };
  });
}

/** waveformMethods are TranscriptPage's methods for the waveform. */
export const waveformMethods = {
  async loadWaveform() {
    if (this.wave || (this.doc && this.doc.audio_deleted)) return;
    try {
      const res = await getJSON(`${this.base}/audio/waveform`);
      if (this.disposed || !Array.isArray(res.waveform)) return;
      this.wave = res.waveform;
      this.drawWave();
    } catch (err) {
      this.backgroundError(err); // 404: not drawn yet; WAVEFORM brings it
    }
  },

  bindWaveform() {
    const canvas = document.getElementById("waveform");
    this.on(canvas, "click", (e) => {
      const r = canvas.getBoundingClientRect();
      const d = this.duration();
      if (d > 0) this.seek(((e.clientX - r.left) / r.width) * d);
    });
    this.on(canvas, "mousemove", (e) => {
      const r = canvas.getBoundingClientRect();
      this.hoverX = (e.clientX - r.left) / r.width;
      const d = this.duration();
      canvas.title = d ? `Play from ${clock(this.hoverX * d)}` : "";
      this.drawWave();
    });
    this.on(canvas, "mouseleave", () => { this.hoverX = null; this.drawWave(); });
    this.on(canvas, "keydown", (e) => {
      const audio = document.getElementById("audio");
      const d = this.duration();
      if (!d) return;
      if (e.key === " " || e.key === "Enter") {
        e.preventDefault();
        if (audio && audio.src) { if (audio.paused) audio.play().catch(() => {}); else audio.pause(); }
        return;
      }
      const now = audio && audio.src ? audio.currentTime : this.pendingSeek || 0;
      const to = keySeek(e.key, now, d);
      if (to === null) return;
      e.preventDefault();
      this.seek(to, false);
    });
    if (typeof ResizeObserver !== "undefined") {
      this.resizer = new ResizeObserver(() => this.drawWave());
      this.resizer.observe(canvas);
    }
  },

  animate() {
    if (this.raf) return;
    const tick = () => {
      const audio = document.getElementById("audio");
      if (this.disposed || !audio || audio.paused) { this.raf = 0; this.drawWave(); return; }
      this.drawWave();
      this.raf = requestAnimationFrame(tick);
    };
    this.raf = requestAnimationFrame(tick);
  },

  drawWave() {
    const c = document.getElementById("waveform");
    if (!c || this.disposed) return;
    const wave = this.wave || [];
    const dpr = window.devicePixelRatio || 1;
    const width = c.clientWidth || 600;
    const height = c.clientHeight || 80;
    if (c.width !== Math.round(width * dpr) || c.height !== Math.round(height * dpr)) {
      c.width = Math.round(width * dpr);
      c.height = Math.round(height * dpr);
    }
    const g = c.getContext("2d");
    if (!g) return;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, width, height);
    const css = getComputedStyle(c);
    const colour = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
    c.dataset.points = String(wave.length);
    const audio = document.getElementById("audio");
    const duration = this.duration();
    const current = audio && audio.src ? audio.currentTime : this.pendingSeek || 0;
    c.setAttribute("aria-valuemax", String(Math.round(duration)));
    c.setAttribute("aria-valuenow", String(Math.round(current)));
    c.setAttribute("aria-valuetext", `${clock(current)} of ${clock(duration)}`);

    if (!wave.length) {
      g.strokeStyle = colour("--wave", "#ccc");
      g.setLineDash([3, 4]);
      g.beginPath();
      g.moveTo(0, height / 2);
      g.lineTo(width, height / 2);
      g.stroke();
      g.setLineDash([]);
      c.dataset.empty = "true";
      return;
    }
    delete c.dataset.empty;
    const played = duration > 0 ? clamp(current / duration, 0, 1) : 0;
    const fills = {
      played: colour("--wave-played", "#3451b2"),
      rest: colour("--wave", "#c7ccd6"),
      hover: colour("--wave-hover", "#8a96b8"),
    };
    const hover = this.hoverX === null || this.hoverX === undefined ? -1 : this.hoverX;
    for (const b of waveBars(wave, width, height, played, hover)) {
      g.fillStyle = fills[b.part];
      g.fillRect(b.x, b.y, b.w, b.h);
    }
    // Topic starts as small ticks along the top.
    if (duration > 0) {
      g.fillStyle = colour("--wave-marker", "#888");
      for (const tp of (this.doc && this.doc.topics) || []) {
        const x = Math.round((tp.timestamp / duration) * width);
        if (x > 1) g.fillRect(x - 0.5, 0, 1, 6);
      }
      if (played > 0) {
        g.fillStyle = fills.played;
        g.fillRect(Math.round(played * width) - 1, 0, 2, height);
      }
    }
  },
};
