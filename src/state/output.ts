// What a window task hands back: fired windows (with features, then scores) and late events, as
// columns in one SharedArrayBuffer, its results in output order (step, phase, sortEndMs, key, sub).
// The worker encodes the records too (src/records/encoded.ts); the main thread merges the
// partitions' outputs of a batch by the same order.
//
// Layout: header Float64 x 8 [numResults, numFeatures, numOutputs, numLate, ...], then columns of
// numResults: step, sortEndMs, windowStartMs, windowEndMs, events (Float64), features (Float64 x
// numFeatures, row-major), scores (Float32 x numOutputs), keyId, revision, sub (Int32), phase,
// retracted (Uint8); then columns of numLate: lateByMs, windowEndMs (Float64), ref (Int32).

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
  private f64 = new Float64Array(5 * 256); // step, sortEndMs, windowStartMs, windowEndMs, events
  private i32 = new Int32Array(3 * 256); // keyId, revision, sub
  private u8 = new Uint8Array(2 * 256); // phase, retracted
  features: Float64Array;
  private lateF64 = new Float64Array(2 * 64);
  private lateI32 = new Int32Array(64);

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
  addResult(step: number, phase: Phase, sortEndMs: number, sub: number, keyId: number, windowStartMs: number, windowEndMs: number, events: number, revision: number, retracted: boolean): number {
    const i = this.numResults++;
    this.f64 = grow(this.f64, 5 * (i + 1));
    this.i32 = grow(this.i32, 3 * (i + 1));
    this.u8 = grow(this.u8, 2 * (i + 1));
    this.features = grow(this.features, this.numFeatures * (i + 1));
    const f = this.f64;
    f[5 * i] = step;
    f[5 * i + 1] = sortEndMs;
    f[5 * i + 2] = windowStartMs;
    f[5 * i + 3] = windowEndMs;
    f[5 * i + 4] = events;
    this.i32[3 * i] = keyId;
    this.i32[3 * i + 1] = revision;
    this.i32[3 * i + 2] = sub;
    this.u8[2 * i] = phase;
    this.u8[2 * i + 1] = retracted ? 1 : 0;
    // A retraction has no features; zeros, as in a fresh builder (a reused one holds old rows).
    if (retracted) this.features.fill(0, this.numFeatures * i, this.numFeatures * (i + 1));
    return i;
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
   * The results in output order (SPEC §6), as row indices: by step, event-caused before
   * watermark-caused, then (windowEnd, key), then retractions before their new session (sub).
   * `compareKeys` orders key ids as their names' strings.
   */
  outputOrder(compareKeys: (a: number, b: number) => number): Int32Array {
    const f = this.f64;
    const k = this.i32;
    const u = this.u8;
    const order = Array.from({ length: this.numResults }, (_, i) => i);
    order.sort((a, b) => f[5 * a] - f[5 * b] || u[2 * a] - u[2 * b] || f[5 * a + 1] - f[5 * b + 1] || compareKeys(k[3 * a], k[3 * b]) || k[3 * a + 2] - k[3 * b + 2]);
    return Int32Array.from(order);
  }

  /** Packs the results in the given order (default: as added), and the late events. */
  pack(numOutputs: number, order?: Int32Array): TaskOutput {
    const out = TaskOutput.allocate(this.numResults, this.numFeatures, numOutputs, this.numLate);
    const F = this.numFeatures;
    for (let r = 0; r < this.numResults; r++) {
      const i = order ? order[r] : r;
      out.step[r] = this.f64[5 * i];
      out.sortEndMs[r] = this.f64[5 * i + 1];
      out.windowStartMs[r] = this.f64[5 * i + 2];
      out.windowEndMs[r] = this.f64[5 * i + 3];
      out.events[r] = this.f64[5 * i + 4];
      out.keyId[r] = this.i32[3 * i];
      out.revision[r] = this.i32[3 * i + 1];
      out.sub[r] = this.i32[3 * i + 2];
      out.phase[r] = this.u8[2 * i];
      out.retracted[r] = this.u8[2 * i + 1];
      if (order) for (let j = 0; j < F; j++) out.features[r * F + j] = this.features[i * F + j];
    }
    if (!order) out.features.set(this.features.subarray(0, this.numResults * F));
    for (let i = 0; i < this.numLate; i++) {
      out.lateByMs[i] = this.lateF64[2 * i];
      out.lateWindowEndMs[i] = this.lateF64[2 * i + 1];
      out.lateRef[i] = this.lateI32[i];
    }
    return out;
  }
}

export class TaskOutput {
  /** Its windows fired without scores (their model call timed out): they go to the dead letters. */
  unscored = false;
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
    this.lateRef = i32(l);
    this.phase = new Uint8Array(buffer, at, n);
    at = align8(at + n);
    this.retracted = new Uint8Array(buffer, at, n);
  }

  static allocate(numResults: number, numFeatures: number, numOutputs: number, numLate: number): TaskOutput {
    const n = numResults;
    const bytes = 64 + 8 * n * (5 + numFeatures) + 16 * numLate + align8(4 * n * numOutputs) + 3 * align8(4 * n) + align8(4 * numLate) + 2 * align8(n);
    const buffer = new SharedArrayBuffer(bytes);
    new Float64Array(buffer, 0, 8).set([numResults, numFeatures, numOutputs, numLate]);
    return new TaskOutput(buffer);
  }
}
