// What a window task hands back: fired windows (with features, then scores) and late events, as
// columns in one SharedArrayBuffer, its results in output order (step, phase, sortEndMs, key, sub).
// The worker encodes the records too (src/records/encoded.ts); the main thread merges the
// partitions' outputs of a batch by the same order.
//
// Layout: header Float64 x 8 [numResults, numFeatures, numOutputs, numLate, ...], then columns of
// numResults: step, sortEndMs, windowStartMs, windowEndMs, events (Float64), features (Float64 x
// numFeatures, row-major), scores (Float32 x numOutputs), keyId, revision, sub, ref (Int32), phase,
// retracted, early (Uint8); then columns of numLate: lateByMs, windowEndMs (Float64), ref (Int32).

import { native } from '../native/index';
import type { KeyTableView } from '../records/encoded';

export const enum Phase {
  /** Caused by an event (a revision, a first event past the window's end): comes out with it. */
  Event = 0,
  /** Caused by the watermark reaching windowEnd: comes out after the step's event. */
  Watermark = 1,
}

const align8 = (n: number) => (n + 7) & ~7;

function grow<T extends Float64Array | Int32Array | Uint8Array>(a: T, need: number): T {
  if (need <= a.length) return a;
  const b = new (a.constructor as new (n: number) => T)(Math.max(need, a.length * 2));
  b.set(a);
  return b;
}

/** Collects a task's outputs (worker side), then packs them into one SharedArrayBuffer. */
export class OutputBuilder {
  numResults = 0;
  numLate = 0;
  step = new Float64Array(256);
  sortEndMs = new Float64Array(256);
  private windowStartMs = new Float64Array(256);
  private windowEndMs = new Float64Array(256);
  private events = new Float64Array(256);
  keyId = new Int32Array(256);
  private revision = new Int32Array(256);
  sub = new Int32Array(256);
  phase = new Uint8Array(256);
  private retracted = new Uint8Array(256);
  private early = new Uint8Array(256);
  private ref = new Int32Array(256);
  features: Float64Array;
  private lateF64 = new Float64Array(2 * 64);
  private lateI32 = new Int32Array(64);
  private order = new Int32Array(256);

  constructor(readonly numFeatures: number) {
    this.features = new Float64Array(numFeatures * 256);
  }

  /** Empty again, keeping the memory grown so far (a worker reuses builders across tasks). */
  reset(): this {
    this.numResults = 0;
    this.numLate = 0;
    return this;
  }

  /** Adds a result row; returns its index (its features go to features[index * numFeatures ...]). */
  addResult(step: number, phase: Phase, sortEndMs: number, sub: number, keyId: number, windowStartMs: number, windowEndMs: number, events: number, revision: number, retracted: boolean, early = false, ref = -1): number {
    const i = this.numResults++;
    if (i === this.step.length) this.growRows();
    this.step[i] = step;
    this.sortEndMs[i] = sortEndMs;
    this.windowStartMs[i] = windowStartMs;
    this.windowEndMs[i] = windowEndMs;
    this.events[i] = events;
    this.keyId[i] = keyId;
    this.revision[i] = revision;
    this.sub[i] = sub;
    this.phase[i] = phase;
    this.retracted[i] = retracted ? 1 : 0;
    this.early[i] = early ? 1 : 0;
    this.ref[i] = ref;
    // A retraction has no features; zeros, as in a fresh builder (a reused one holds old rows).
    if (retracted) this.features.fill(0, this.numFeatures * i, this.numFeatures * (i + 1));
    return i;
  }

  private growRows(): void {
    const n = 2 * this.step.length;
    this.step = grow(this.step, n);
    this.sortEndMs = grow(this.sortEndMs, n);
    this.windowStartMs = grow(this.windowStartMs, n);
    this.windowEndMs = grow(this.windowEndMs, n);
    this.events = grow(this.events, n);
    this.keyId = grow(this.keyId, n);
    this.revision = grow(this.revision, n);
    this.sub = grow(this.sub, n);
    this.phase = grow(this.phase, n);
    this.retracted = grow(this.retracted, n);
    this.early = grow(this.early, n);
    this.ref = grow(this.ref, n);
    this.features = grow(this.features, this.numFeatures * n);
  }

  addLate(ref: number, lateByMs: number, windowEndMs: number): void {
    const i = this.numLate++;
    this.lateF64 = grow(this.lateF64, 2 * (i + 1));
    this.lateI32 = grow(this.lateI32, i + 1);
    this.lateF64[2 * i] = lateByMs;
    this.lateF64[2 * i + 1] = windowEndMs;
    this.lateI32[i] = ref;
  }

  /**
   * Packs the results in output order (SPEC §6: by step, event-caused before watermark-caused,
   * then windowEnd, key as the key table orders names, then retractions before their new session),
   * and the late events.
   */
  pack(numOutputs: number, keys: KeyTableView): TaskOutput {
    const n = this.numResults;
    if (this.order.length < n) this.order = new Int32Array(this.step.length);
    const order = this.order;
    native.sortResults(this, n, keys.index, keys.bytes, order);
    const out = TaskOutput.allocate(n, this.numFeatures, numOutputs, this.numLate);
    const F = this.numFeatures;
    for (let r = 0; r < n; r++) {
      const i = order[r];
      out.step[r] = this.step[i];
      out.sortEndMs[r] = this.sortEndMs[i];
      out.windowStartMs[r] = this.windowStartMs[i];
      out.windowEndMs[r] = this.windowEndMs[i];
      out.events[r] = this.events[i];
      out.keyId[r] = this.keyId[i];
      out.revision[r] = this.revision[i];
      out.sub[r] = this.sub[i];
      out.phase[r] = this.phase[i];
      out.retracted[r] = this.retracted[i];
      out.early[r] = this.early[i];
      out.ref[r] = this.ref[i];
      for (let j = 0; j < F; j++) out.features[r * F + j] = this.features[i * F + j];
    }
    for (let i = 0; i < this.numLate; i++) {
      out.lateByMs[i] = this.lateF64[2 * i];
      out.lateWindowEndMs[i] = this.lateF64[2 * i + 1];
      out.lateRef[i] = this.lateI32[i];
    }
    return out;
  }
}

export class TaskOutput {
  readonly numResults: number;
  readonly numFeatures: number;
  readonly numOutputs: number;
  readonly numLate: number;
  readonly step: Float64Array;
  readonly sortEndMs: Float64Array;
  readonly windowStartMs: Float64Array;
  readonly windowEndMs: Float64Array;
  readonly events: Float64Array;
  readonly features: Float64Array;
  readonly scores: Float32Array;
  readonly keyId: Int32Array;
  readonly revision: Int32Array;
  readonly sub: Int32Array;
  readonly phase: Uint8Array;
  readonly retracted: Uint8Array;
  /** An early result (window.earlyEveryMs): its `revision` holds the update number k. In
   *  per-event mode: a late event's result (its aggregates are missing). */
  readonly early: Uint8Array;
  /** Per-event rows: the event's index in the batch's decoded events (its eventId); else -1. */
  readonly ref: Int32Array;
  readonly lateByMs: Float64Array;
  readonly lateWindowEndMs: Float64Array;
  readonly lateRef: Int32Array;

  constructor(readonly buffer: SharedArrayBuffer) {
    const h = new Float64Array(buffer, 0, 8);
    const n = (this.numResults = h[0]);
    const f = (this.numFeatures = h[1]);
    const k = (this.numOutputs = h[2]);
    const l = (this.numLate = h[3]);
    let at = 64;
    const f64 = (len: number) => {
      const a = new Float64Array(buffer, at, len);
      at += 8 * len;
      return a;
    };
    this.step = f64(n);
    this.sortEndMs = f64(n);
    this.windowStartMs = f64(n);
    this.windowEndMs = f64(n);
    this.events = f64(n);
    this.features = f64(n * f);
    this.lateByMs = f64(l);
    this.lateWindowEndMs = f64(l);
    this.scores = new Float32Array(buffer, at, n * k);
    at = align8(at + 4 * n * k);
    const i32 = (len: number) => {
      const a = new Int32Array(buffer, at, len);
      at = align8(at + 4 * len);
      return a;
    };
    this.keyId = i32(n);
    this.revision = i32(n);
    this.sub = i32(n);
    this.ref = i32(n);
    this.lateRef = i32(l);
    this.phase = new Uint8Array(buffer, at, n);
    at = align8(at + n);
    this.retracted = new Uint8Array(buffer, at, n);
    at = align8(at + n);
    this.early = new Uint8Array(buffer, at, n);
  }

  static allocate(numResults: number, numFeatures: number, numOutputs: number, numLate: number): TaskOutput {
    const n = numResults;
    const bytes = 64 + 8 * n * (5 + numFeatures) + 16 * numLate + align8(4 * n * numOutputs) + 4 * align8(4 * n) + align8(4 * numLate) + 3 * align8(n);
    const buffer = new SharedArrayBuffer(bytes);
    new Float64Array(buffer, 0, 8).set([numResults, numFeatures, numOutputs, numLate]);
    return new TaskOutput(buffer);
  }
}
