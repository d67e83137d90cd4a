// The pipeline's steps as the page shows them. They come from the server's
// step table (GET /v1/pipeline, pipeline.StepTable): the page names no
// step itself, so a step added there shows up here.

import { getJSON } from "../api.js";

/** STATE_WORDS are the step states, as screen readers say them. */
export const STATE_WORDS = { pending: "pending", in_progress: "in progress", completed: "completed", failed: "failed" };

/** auditState maps an audit row's status to a step state. */
export function auditState(status) {
  switch (status) {
    case "completed": return "completed";
    case "failed": return "failed";
    case "running": case "retrying": return "in_progress";
    default: return "pending";
  }
}

/**
 * Pipeline answers the page's questions about the step table: the steps
 * listed (the run's, then those after the transcript is complete), their
 * labels, the child steps run once per track and their parent, the step
 * that completes the transcript and the steps that make the audio and
 * the waveform.
 */
export class Pipeline {
  constructor(table) {
    const steps = (table && table.steps) || [];
    const workflow = (table && table.workflow) || "";
    this.byName = new Map(steps.map((s) => [s.name, s]));
    /** list is the steps shown in the step list, in order. */
    this.list = steps.filter((s) => s.workflow === workflow && (s.phase === "run" || s.phase === "after"));
    /** trackParent is the step that runs the per-track child workflow; trackSteps are that workflow's steps. */
    const parent = this.list.find((s) => s.children);
    this.trackParent = parent ? parent.name : "";
    this.trackSteps = parent ? steps.filter((s) => s.workflow === parent.children && s.phase === "child") : [];
    /** parents maps every child step (of any child workflow: tracks, topic chunks, subjects) to the step that runs it. */
    this.parents = new Map();
    for (const p of this.list.filter((s) => s.children)) {
      for (const c of steps.filter((s) => s.workflow === p.children && s.phase === "child")) this.parents.set(c.name, p.name);
    }
    const ends = this.list.findIndex((s) => s.ends);
    /** endsAt is the list index of the step that completes the transcript. */
    this.endsAt = ends >= 0 ? ends : this.list.length - 1;
  }

  /** label is the words shown for a step (its name when the table does not know it). */
  label(name) {
    const s = this.byName.get(name);
    return (s && s.label) || name;
  }

  /** parentOf is the listed step a child step belongs to (the step itself when it is not a child step). */
  parentOf(name) { return this.parents.get(name) || name; }

  /** isTrackStep says whether a step runs once per track. */
  isTrackStep(name) { return this.trackSteps.some((s) => s.name === name); }

  /** first is the run's first step. */
  first() { return this.list.length ? this.list[0].name : ""; }

  /** index is a step's place in the list, -1 when it is not listed. */
  index(name) { return this.list.findIndex((s) => s.name === name); }

  /** isAfter says whether a step runs after the transcript is complete. */
  isAfter(name) {
    const s = this.byName.get(name);
    return Boolean(s && s.phase === "after");
  }

  /** makers are the steps after which an artifact ("audio", "waveform") can be fetched. */
  makers(artifact) {
    return [...this.byName.values()].filter((s) => (s.artifacts || []).includes(artifact)).map((s) => s.name);
  }
}

let loaded = null;

/** loadPipeline fetches the step table once per page load. */
export function loadPipeline() {
  if (!loaded) {
    loaded = getJSON("/v1/pipeline").then((t) => new Pipeline(t), (err) => { loaded = null; throw err; });
  }
  return loaded;
}
