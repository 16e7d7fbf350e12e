// The public t-digest of SPEC §8: a percentile sketch backed by the addon (native/tdigest/).
//
// A digest holds its values exactly until it has taken 25 x compression of them (2,500 at the
// default compression of 100), so small windows get exact order statistics. From then on it is a
// merging t-digest of about 1.65 x compression cells whose sizes follow a tail bound (a sixth of the
// distance to the nearer end at compression 100: singletons at the very ends) and a middle bound
// (about 3% of the values at the median), with a piecewise-parabolic reconstruction between cells.
// At compression 100 and 10^6 values, the mean rank error is a few ppm at q = 0.001 and 0.999, under
// 25 ppm at 0.01 and 0.99 and under 100 ppm at the median; integer data gets integer quantiles.
// See native/tdigest/tdigest.h for the design and bench/suites/tdigest.ts for measurements.
//
// Determinism: when the digest merges its buffer depends only on how many values it has taken, so
// push(x) for each x, pushMany(xs) and pushMany split anywhere give bit-identical digests, and
// toBytes() neither flushes nor changes anything: TDigest.fromBytes(d.toBytes()) continues exactly
// as d would.
import { SluiceError } from '../errors';
import { native } from '../native';
import type { NativeTDigest } from '../native/tdigest';

const kMinCompression = 10;
const kMaxCompression = 10000;
/** push() collects values here and hands them to the addon in one call: same digest, fewer calls. */
const kStage = 64;

const invalid = (message: string, cause?: unknown) =>
  new SluiceError('SLUICE_TDIGEST_INVALID', message, cause === undefined ? undefined : { cause });

const describe = (v: unknown): string =>
  typeof v === 'number' ? String(v) : v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`;

/** Runs an addon call, turning its SLUICE_TDIGEST_INVALID errors into SluiceErrors. */
function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if ((e as { code?: unknown })?.code === 'SLUICE_TDIGEST_INVALID') throw invalid((e as Error).message, e);
    throw e;
  }
}

/** Set by fromBytes() for the constructor it calls, so the digest wraps the deserialized one. */
let adopting: NativeTDigest | null = null;

const tag = (v: unknown): string | undefined =>
  ArrayBuffer.isView(v) ? (v as unknown as { [Symbol.toStringTag]: string })[Symbol.toStringTag] : undefined;

export class TDigest {
  readonly #native: NativeTDigest;
  #stage: Float64Array | null = null;
  #staged = 0;

  /**
   * @param compression accuracy versus size, 10 to 10000 (default 100: about 165 cells, 28 KB in
   *   memory once past 2,500 values, under 1 KiB serialized).
   * @throws SluiceError SLUICE_TDIGEST_INVALID if compression is not a number in [10, 10000].
   */
  constructor(compression = 100) {
    if (adopting) {
      this.#native = adopting; // fromBytes()
      return;
    }
    if (typeof compression !== 'number' || !(compression >= kMinCompression && compression <= kMaxCompression)) {
      throw invalid(`TDigest: compression must be a number in [${kMinCompression}, ${kMaxCompression}], got ${describe(compression)}`);
    }
    this.#native = call(() => new native.TDigest(compression));
  }

  /**
   * Adds one value.
   * @throws SluiceError SLUICE_TDIGEST_INVALID if x is not a finite number (NaN and +-Infinity are
   *   rejected, not skipped: a sketch cannot place them); the digest is unchanged.
   */
  push(x: number): void {
    if (typeof x !== 'number' || !Number.isFinite(x)) {
      throw invalid(`TDigest.push: expected a finite number, got ${describe(x)}`);
    }
    const stage = (this.#stage ??= new Float64Array(kStage));
    stage[this.#staged++] = x;
    if (this.#staged === kStage) this.#flush();
  }

  /**
   * Adds every value of xs in order; the same digest as push() of each. Views of a SharedArrayBuffer
   * are fine. The array is read during the call only.
   * @throws SluiceError SLUICE_TDIGEST_INVALID if xs is not a Float64Array or Float32Array, or holds
   *   a value that is not finite; then nothing is added.
   */
  pushMany(xs: Float64Array | Float32Array): void {
    const t = tag(xs);
    if (t !== 'Float64Array' && t !== 'Float32Array') {
      throw invalid(`TDigest.pushMany: expected a Float64Array or a Float32Array, got ${t ?? describe(xs)}`);
    }
    this.#flush();
    call(() => this.#native.pushMany(xs));
  }

  /**
   * The value below which a fraction q of the values lie. Exact (an order statistic of the values)
   * while the digest holds fewer than 25 x compression values. NaN when the digest is empty.
   * @throws SluiceError SLUICE_TDIGEST_INVALID if q is not a number in [0, 1].
   */
  quantile(q: number): number {
    if (typeof q !== 'number' || !(q >= 0 && q <= 1)) {
      throw invalid(`TDigest.quantile: q must be a number in [0, 1], got ${describe(q)}`);
    }
    this.#flush();
    return this.#native.quantile(q);
  }

  /**
   * The fraction of values below x, values equal to x counting half (0 below the minimum, 1 above
   * the maximum). NaN when the digest is empty.
   * @throws SluiceError SLUICE_TDIGEST_INVALID if x is not a number or is NaN.
   */
  cdf(x: number): number {
    if (typeof x !== 'number' || Number.isNaN(x)) {
      throw invalid(`TDigest.cdf: x must be a number, got ${describe(x)}`);
    }
    this.#flush();
    return this.#native.cdf(x);
  }

  /**
   * Adds other's values to this digest; other is unchanged (and may be this digest). The result keeps
   * this digest's compression.
   * @throws SluiceError SLUICE_TDIGEST_INVALID if other is not a TDigest.
   */
  merge(other: TDigest): void {
    if (!(other instanceof TDigest)) throw invalid('TDigest.merge: expected a TDigest');
    this.#flush();
    other.#flush();
    call(() => this.#native.merge(other.#native));
  }

  /** The number of values added, merged digests included. */
  get count(): number {
    return this.#native.count() + this.#staged;
  }

  /**
   * The digest in a compact, versioned binary form (see native/tdigest/tdigest.h): under 1 KiB at
   * compression 100 for 10^6 values. Values still waiting in the buffer are included (up to 8 bytes
   * each), so serializing never changes what the digest computes later.
   */
  toBytes(): Uint8Array {
    this.#flush();
    return this.#native.toBytes();
  }

  /**
   * A digest from toBytes() output, of any version this build reads.
   * @throws SluiceError SLUICE_TDIGEST_INVALID, saying what is wrong, if b is not a Uint8Array or
   *   its bytes are not a digest (empty, wrong magic or version, truncated, inconsistent, not finite).
   */
  static fromBytes(b: Uint8Array): TDigest {
    if (tag(b) !== 'Uint8Array') throw invalid(`TDigest.fromBytes: expected a Uint8Array, got ${tag(b) ?? describe(b)}`);
    adopting = call(() => native.tdigestFromBytes(b));
    try {
      return new TDigest();
    } finally {
      adopting = null;
    }
  }

  #flush(): void {
    if (this.#staged === 0) return;
    const n = this.#staged;
    this.#staged = 0;
    call(() => this.#native.pushMany(this.#stage!.subarray(0, n)));
  }
}
