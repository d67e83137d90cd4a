// The transcript page's audio player: loading the MP3 once the tracks are
// mixed (with the token, when there is one), seeking from the waveform,
// the topic timestamps and the keyboard.

import { clamp } from "../format.js";
import { auth, request } from "../api.js";

/** KEY_MOVES are the seconds the arrow and page keys move on the waveform. */
const KEY_MOVES = { ArrowLeft: -5, ArrowRight: 5, ArrowDown: -30, ArrowUp: 30, PageDown: -60, PageUp: 60 };

/** keySeek is where a key on the waveform moves playback from now, or null for a key that does not seek. */
export function keySeek(key, now, duration) {
  if (key in KEY_MOVES) return clamp(now + KEY_MOVES[key], 0, duration);
  if (key === "Home") return 0;
  if (key === "End") return duration;
  return null;
}

/** playerMethods are TranscriptPage's methods for the audio player. */
export const playerMethods = {
  bindPlayer() {
    const audio = document.getElementById("audio");
    this.on(audio, "loadedmetadata", () => {
      if (this.pendingSeek !== null) { audio.currentTime = this.pendingSeek; this.pendingSeek = null; }
      this.drawWave();
    });
    this.on(audio, "timeupdate", () => { this.drawWave(); this.highlightTopic(); });
    this.on(audio, "play", () => this.animate());
    this.on(audio, "error", () => this.explainAudioError());
  },

  setAudioNote(text) {
    const el = document.getElementById("audio-note");
    if (el) { el.textContent = text; el.hidden = !text; }
  },

  /** maybeLoadAudio loads the MP3 once it can exist (after the mixdown). */
  async maybeLoadAudio() {
    const audio = document.getElementById("audio");
    if (!audio || !this.doc || this.audioState === "loading" || this.audioState === "ready") return;
    if (this.doc.audio_deleted) {
      this.audioState = "missing";
      this.setAudioNote("The audio was deleted because consent was not given. The transcript is kept.");
      return;
    }
    const makers = this.pipeline.makers("audio");
    const mixed = this.status === "ended" || makers.some((n) => (this.progress.steps.get(n) || {}).state === "completed") ||
      this.audit.some((r) => makers.includes(r.name) && r.status === "completed");
    if (!mixed) {
      this.setAudioNote(this.status === "error" ? "No audio: the run stopped before the tracks were mixed." : "The audio appears when the tracks have been mixed.");
      return;
    }
    this.audioState = "loading";
    const url = `${this.base}/audio/mp3`;
    const token = auth.get();
    if (!token) {
      this.setAudioNote("");
      audio.preload = "metadata";
      audio.src = url;
      audio.hidden = false;
      this.audioState = "ready";
      return;
    }
    // <audio> cannot send headers: fetch the MP3 with the token as a blob.
    this.setAudioNote("Loading audio…");
    try {
      const res = await request(url, { accept: "audio/*" });
      const blob = await res.blob();
      if (this.disposed) return;
      this.objectURL = URL.createObjectURL(blob);
      audio.src = this.objectURL;
    } catch (err) {
      if (this.disposed) return;
      if (err.status === 401) return this.fail(err);
      if (err.status === 404 || err.status === 410) {
        this.audioState = err.status === 410 ? "missing" : "none";
        this.setAudioNote(err.message);
        return;
      }
      // A redirect to storage on another origin cannot be fetched here;
      // the audio routes also take the token as a query parameter.
      audio.src = `${url}?token=${encodeURIComponent(token)}`;
    }
    audio.preload = "metadata";
    audio.hidden = false;
    this.audioState = "ready";
    this.setAudioNote("");
  },

  async explainAudioError() {
    if (this.audioState !== "ready" || this.objectURL) return;
    try {
      await request(`${this.base}/audio/mp3`, { accept: "audio/*", headers: { Range: "bytes=0-0" } });
      this.setAudioNote("This browser could not play the audio.");
    } catch (err) {
      this.setAudioNote(err.message);
    }
    this.audioState = "missing";
    document.getElementById("audio").hidden = true;
  },

  /** duration is the recording's length in seconds: the audio's, else the document's. */
  duration() {
    const audio = document.getElementById("audio");
    if (audio && isFinite(audio.duration) && audio.duration > 0) return audio.duration;
    return (this.doc && this.doc.duration_seconds) || 0;
  },

  seek(sec, play = true) {
    const audio = document.getElementById("audio");
    const t = Math.max(0, Number(sec) || 0);
    if (!audio || audio.hidden || !audio.src) {
      this.pendingSeek = t;
      this.drawWave();
      if (this.audioState !== "ready") this.setAudioNote(this.doc.audio_deleted ? "The audio was deleted because consent was not given." : "The audio is not available yet.");
      return;
    }
    if (audio.readyState >= 1) audio.currentTime = t;
    else this.pendingSeek = t;
    if (play) audio.play().catch(() => { /* needs a user gesture or not loaded yet */ });
    this.drawWave();
  },
};
