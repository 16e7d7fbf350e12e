// The t-digest (src/sketch/tdigest.ts over native/tdigest/): accuracy against exact ranks, per-window
// bounds, exact small windows, determinism across call boundaries and serialization, rejection of
// garbage bytes, typed-array inputs, and the addon in several threads at once.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { TDigest } from '../../src/sketch/tdigest';
import { native } from '../../src/native';
import { SluiceError } from '../../src/errors';
import { atOrBelow, below, DISTRIBUTIONS, generate, rankError, uniform, type Dist } from '../helpers/distributions';

// ---------------------------------------------------------------- data

const QS = [0.001, 0.01, 0.5, 0.99, 0.999];
/** The goals of SPEC §9, in ppm of rank. */
const BOUND_PPM: Record<number, number> = { 0.001: 20, 0.01: 60, 0.5: 1500, 0.99: 60, 0.999: 20 };

function checkAccuracy(label: string, d: TDigest, values: Float64Array): string {
  const sorted = Float64Array.from(values).sort();
  const row: string[] = [];
  for (const q of QS) {
    const ppm = rankError(sorted, q, d.quantile(q)) * 1e6;
    row.push(ppm.toFixed(1));
    assert.ok(ppm <= BOUND_PPM[q], `${label}: rank error ${ppm.toFixed(1)} ppm at q=${q} (bound ${BOUND_PPM[q]})`);
  }
  return `${label}: ${row.join(' / ')} ppm`;
}

const bytesOf = (d: TDigest) => Buffer.from(d.toBytes()).toString('hex');
const isInvalid = (e: unknown) => e instanceof SluiceError && e.code === 'SLUICE_TDIGEST_INVALID';

// ---------------------------------------------------------------- accuracy

test('accuracy at compression 100 over 10^6 values of 8 distributions, against exact ranks', () => {
  const lines: string[] = [];
  for (const [i, dist] of DISTRIBUTIONS.entries()) {
    const values = generate(dist, 1_000_000, 1000 + i);
    const d = new TDigest();
    d.pushMany(values);
    assert.equal(d.count, 1_000_000);
    lines.push(checkAccuracy(dist, d, values));
    assert.ok(d.toBytes().length < 1024, `${dist}: ${d.toBytes().length} bytes serialized`);
  }
  console.log(`q = ${QS.join(' / ')}\n${lines.join("\n")}`);
});

test('merged digests (10 of 10^5 values each) keep that accuracy', () => {
  const lines: string[] = [];
  for (const [i, dist] of DISTRIBUTIONS.entries()) {
    const values = generate(dist, 1_000_000, 2000 + i);
    const d = new TDigest();
    for (let k = 0; k < 10; k++) {
      const part = new TDigest();
      part.pushMany(values.subarray(k * 100_000, (k + 1) * 100_000));
      d.merge(part);
    }
    assert.equal(d.count, 1_000_000);
    lines.push(checkAccuracy(`merged ${dist}`, d, values));
  }
  console.log(lines.join("\n"));
});

test('per-window bounds (SPEC §6): rank error <= 0.01 at p50 and <= 0.002 at p1/p99 for 1,000 and 5,000 values', () => {
  let worst50 = 0, worstTail = 0;
  for (const n of [1000, 1500, 2499, 2500, 2501, 4000, 5000, 12345]) {
    for (const [i, dist] of DISTRIBUTIONS.entries()) {
      for (let seed = 0; seed < 3; seed++) {
        const values = generate(dist, n, 7000 + 100 * i + seed + n);
        const d = new TDigest();
        d.pushMany(values);
        const sorted = Float64Array.from(values).sort();
        const e50 = rankError(sorted, 0.5, d.quantile(0.5));
        const e1 = rankError(sorted, 0.01, d.quantile(0.01));
        const e99 = rankError(sorted, 0.99, d.quantile(0.99));
        assert.ok(e50 <= 0.01, `${dist} n=${n}: p50 rank error ${e50}`);
        assert.ok(e1 <= 0.002 && e99 <= 0.002, `${dist} n=${n}: p1/p99 rank errors ${e1} ${e99}`);
        worst50 = Math.max(worst50, e50);
        worstTail = Math.max(worstTail, e1, e99);
      }
    }
  }
  console.log(`worst window rank error: p50 ${worst50}, p1/p99 ${worstTail}`);
});

test('small windows are exact: quantiles are order statistics and cdf counts ranks', () => {
  for (const n of [1, 2, 3, 7, 100, 999, 2499]) {
    const values = generate('lognormal', n, n);
    const d = new TDigest();
    for (const x of values) d.push(x);
    const sorted = Float64Array.from(values).sort();
    for (const q of [0, 0.001, 0.01, 0.25, 0.5, 0.75, 0.95, 0.99, 1]) {
      assert.equal(d.quantile(q), sorted[Math.min(n - 1, Math.floor(q * n))], `n=${n} q=${q}`);
    }
    for (const x of [sorted[0], sorted[n >> 1], sorted[n - 1], sorted[0] - 1, sorted[n - 1] + 1]) {
      const want = (below(sorted, x) + atOrBelow(sorted, x)) / 2 / n;
      assert.equal(d.cdf(x), want, `n=${n} cdf(${x})`);
    }
  }
  const empty = new TDigest();
  assert.equal(empty.count, 0);
  assert.ok(Number.isNaN(empty.quantile(0.5)));
  assert.ok(Number.isNaN(empty.cdf(0)));
});

test('quantile and cdf agree, are monotone and respect min and max once compressed', () => {
  const values = generate('pareto', 50_000, 5);
  const d = new TDigest();
  d.pushMany(values);
  const sorted = Float64Array.from(values).sort();
  assert.equal(d.quantile(0), sorted[0]);
  assert.equal(d.quantile(1), sorted[sorted.length - 1]);
  assert.equal(d.cdf(sorted[0] - 1), 0);
  assert.equal(d.cdf(sorted[sorted.length - 1] + 1), 1);
  let prev = -Infinity;
  for (let i = 0; i <= 1000; i++) {
    const q = i / 1000;
    const v = d.quantile(q);
    assert.ok(v >= prev, `quantile not monotone at q=${q}`);
    prev = v;
    if (i > 0 && i < 1000) assert.ok(Math.abs(d.cdf(v) - q) < 0.002, `cdf(quantile(${q})) = ${d.cdf(v)}`);
  }
  // Integer data gives integer quantiles.
  const ints = new TDigest();
  ints.pushMany(generate('discrete', 100_000, 6));
  for (const q of QS) assert.ok(Number.isInteger(ints.quantile(q)));
});

// ---------------------------------------------------------------- determinism

test('push(x) for each x, pushMany(xs) and pushMany split anywhere give bit-identical digests', () => {
  const r = uniform(42);
  for (const dist of ['lognormal', 'discrete', 'sorted'] as const) {
    for (const compression of [100, 37.5]) {
      const values = generate(dist, 23_456, 11);
      const one = new TDigest(compression);
      for (const x of values) one.push(x);
      const all = new TDigest(compression);
      all.pushMany(values);
      const split = new TDigest(compression);
      for (let i = 0; i < values.length; ) {
        const k = Math.min(values.length - i, 1 + Math.floor(r() * 9000));
        split.pushMany(values.subarray(i, i + k));
        i += k;
      }
      assert.equal(bytesOf(all), bytesOf(one), `${dist}/${compression}: push vs pushMany`);
      assert.equal(bytesOf(split), bytesOf(all), `${dist}/${compression}: split pushMany`);
      assert.equal(one.count, values.length);
    }
  }
});

test('toBytes does not change the digest, and fromBytes(toBytes(d)) continues exactly as d', () => {
  const values = generate('normal', 40_000, 3);
  const d = new TDigest();
  // Exact mode, right after a merge, and with values waiting in the buffer.
  for (const upTo of [0, 1, 17, 2499, 2500, 2501, 4000, 9_876, 20_000, 24_000]) {
    if (d.count < upTo) d.pushMany(values.subarray(d.count, upTo));
    const b = d.toBytes();
    assert.equal(Buffer.from(d.toBytes()).toString('hex'), Buffer.from(b).toString('hex'), 'toBytes twice');
    const e = TDigest.fromBytes(b);
    assert.equal(bytesOf(e), Buffer.from(b).toString('hex'), `round trip at ${upTo}`);
    assert.equal(e.count, d.count);
    for (const q of [0, 0.01, 0.5, 0.99, 1]) assert.ok(Object.is(e.quantile(q), d.quantile(q)), `quantile ${q} at ${upTo}`);
    // Continue both (this also crosses merge points) and compare.
    const more = values.subarray(25_000, 25_000 + 7_777);
    const d2 = TDigest.fromBytes(b);
    d2.pushMany(more);
    e.pushMany(more);
    assert.equal(bytesOf(e), bytesOf(d2), `continuation at ${upTo}`);
  }
  // And a merged digest.
  const m = new TDigest();
  m.merge(d);
  m.merge(TDigest.fromBytes(d.toBytes()));
  assert.equal(bytesOf(TDigest.fromBytes(m.toBytes())), bytesOf(m));
});

test('serialized size at compression 100 after 10^6 values is under 1 KiB', () => {
  for (const dist of ['uniform', 'lognormal', 'pareto'] as const) {
    const d = new TDigest();
    d.pushMany(generate(dist, 1_000_000, 9));
    const n = d.toBytes().length;
    assert.ok(n < 1024, `${dist}: ${n} bytes`);
    console.log(`${dist}: ${n} bytes`);
  }
});

// ---------------------------------------------------------------- garbage bytes

/** A minimal encoder of the serialized form's bit stream, to craft precise bad inputs. */
class Bits {
  bytes: number[] = [];
  private used = 0;
  put(v: bigint, n: number): void {
    for (let i = 0; i < n; i++) {
      if (this.used === 0) this.bytes.push(0);
      if ((v >> BigInt(i)) & 1n) this.bytes[this.bytes.length - 1] |= 1 << this.used;
      this.used = (this.used + 1) & 7;
    }
  }
  gamma(v: bigint): void {
    const len = v.toString(2).length - 1;
    this.put(0n, len);
    this.put(1n, 1);
    this.put(v, len);
  }
  private prev = 32;
  delta(d: bigint): void {
    const len = d === 0n ? 0 : d.toString(2).length;
    const diff = len - this.prev;
    this.gamma(BigInt(diff >= 0 ? 2 * diff : -2 * diff - 1) + 1n);
    if (len > 1) this.put(d, len - 1);
    this.prev = len;
  }
}
const f64 = (x: number) => Array.from(new Uint8Array(new Float64Array([x]).buffer));
const ord = (x: number): bigint => {
  const u = new DataView(new Float64Array([x]).buffer).getBigUint64(0, true);
  return u >> 63n ? ~u & 0xffffffffffffffffn : u | 0x8000000000000000n;
};
/** An exact-mode digest of `values` (ascending) with the given extremes. */
function exactBytes(values: number[], min: number, max: number, version = 1): Uint8Array {
  const head = [0x54, 0x44, 0x47, version, 0, ...f64(100), values.length, values.length, ...f64(min), ...f64(max)];
  const bits = new Bits();
  let prev = ord(min);
  for (const v of values) {
    bits.delta((ord(v) - prev) & 0xffffffffffffffffn);
    prev = ord(v);
  }
  return new Uint8Array([...head, ...bits.bytes]);
}

function rejects(b: Uint8Array, why: RegExp, label: string): void {
  assert.throws(() => TDigest.fromBytes(b), (e: unknown) => isInvalid(e) && why.test((e as Error).message), label);
}

test('fromBytes: the crafted encoder agrees with toBytes', () => {
  const d = new TDigest();
  d.pushMany(new Float64Array([0.5, 1.5, 2.5]));
  assert.equal(Buffer.from(exactBytes([0.5, 1.5, 2.5], 0.5, 2.5)).toString('hex'), bytesOf(d));
});

test('fromBytes rejects empty input', () => {
  rejects(new Uint8Array(0), /too short/, 'empty');
  rejects(new Uint8Array([0x54]), /too short/, 'one byte');
});

test('fromBytes rejects a wrong magic', () => {
  rejects(new Uint8Array([0x54, 0x44, 0x48, 1, 0, ...f64(100), 0, 0]), /magic/, 'TDH');
  rejects(Buffer.from('{"centroids":[]}'), /magic/, 'json');
});

test('fromBytes rejects an unknown version', () => {
  rejects(exactBytes([1, 2], 1, 2, 2), /version 2/, 'version 2');
  rejects(exactBytes([1, 2], 1, 2, 0), /version 0/, 'version 0');
});

test('fromBytes rejects every truncation of a valid digest', () => {
  for (const n of [3, 5000]) {
    const d = new TDigest();
    d.pushMany(generate('normal', n, 1));
    const b = d.toBytes();
    for (let len = 0; len < b.length; len++) {
      assert.throws(() => TDigest.fromBytes(b.subarray(0, len)), isInvalid, `prefix of ${len}/${b.length} bytes`);
    }
    assert.throws(() => TDigest.fromBytes(new Uint8Array([...b, 0])), isInvalid, 'one trailing byte');
  }
});

test('fromBytes rejects huge or inconsistent counts', () => {
  const big = (count: bigint, nBuf: number, flags: number) => {
    const v: number[] = [];
    for (let c = count; ; c >>= 7n) {
      if (c < 0x80n) { v.push(Number(c)); break; }
      v.push(Number(c & 0x7fn) | 0x80);
    }
    return new Uint8Array([0x54, 0x44, 0x47, 1, flags, ...f64(100), ...v, nBuf, ...f64(0), ...f64(1), ...f64(0), ...f64(0), 0, 0]);
  };
  rejects(big(1n << 60n, 0, 2), /too large/, 'count 2^60');
  rejects(big(1n << 53n, 0, 2), /truncated|too many/, 'count 2^53 with no cells');
  rejects(big(5n, 0, 0), /inconsistent/, 'exact digest whose count is not its buffer');
  rejects(big(100n, 0, 2), /too small/, 'full digest below the buffer size');
  rejects(new Uint8Array([0x54, 0x44, 0x47, 1, 0, ...f64(100), 0xff, 0xff, 0xff]), /truncated/, 'unterminated varint');
  rejects(new Uint8Array([0x54, 0x44, 0x47, 1, 0, ...f64(5), 0, 0]), /compression/, 'compression 5');
  rejects(new Uint8Array([0x54, 0x44, 0x47, 1, 0x80, ...f64(100), 0, 0]), /flags/, 'unknown flag');
});

test('fromBytes rejects NaN or infinite values and extremes', () => {
  rejects(exactBytes([1, 2], NaN, 2), /extremes/, 'NaN min');
  rejects(exactBytes([1, 2], 1, Infinity), /extremes/, 'infinite max');
  rejects(exactBytes([1, 2], 2, 1), /extremes/, 'min above max');
  rejects(exactBytes([1, NaN], 1, 2), /out of range/, 'NaN value');
  rejects(exactBytes([1, Infinity], 1, 2), /out of range/, 'infinite value');
  rejects(exactBytes([1, 3], 1, 2), /out of range/, 'value above max');
  rejects(exactBytes([1, 2], 1, 3), /extremes do not match/, 'max not a value');
  // A compressed digest whose first cell mean decodes to NaN.
  const d = new TDigest();
  d.pushMany(generate('uniform', 2500, 2));
  const good = d.toBytes();
  const head = good.subarray(0, 4 + 1 + 8 + 2 + 1 + 16 + 16); // magic, flags, compression, count(2), nBuf(1), extremes, phases
  assert.equal(head[13], 0xc4); // 2500 = varint c4 13
  const bits = new Bits();
  bits.delta((ord(NaN) - ord(new DataView(good.buffer, good.byteOffset + 16).getFloat64(0, true))) & 0xffffffffffffffffn);
  rejects(new Uint8Array([...head, ...bits.bytes, 0, 0, 0, 0]), /cell mean out of range/, 'NaN cell mean');
});

test('fromBytes survives random bytes and random damage to valid digests (10,000 cases)', () => {
  const r = uniform(99);
  const seeds = [1, 100, 4321, 30_000].map((n) => {
    const d = new TDigest();
    d.pushMany(generate(n === 4321 ? 'discrete' : 'lognormal', n, n));
    return d.toBytes();
  });
  let accepted = 0;
  for (let i = 0; i < 10_000; i++) {
    let b: Uint8Array;
    if (i % 3 === 0) {
      b = new Uint8Array(Math.floor(r() * 80));
      for (let k = 0; k < b.length; k++) b[k] = Math.floor(r() * 256);
      if (b.length >= 4 && r() < 0.5) b.set([0x54, 0x44, 0x47, 1]);
    } else {
      b = Uint8Array.from(seeds[Math.floor(r() * seeds.length)]);
      const flips = 1 + Math.floor(r() * 4);
      for (let k = 0; k < flips; k++) b[Math.floor(r() * b.length)] ^= 1 << Math.floor(r() * 8);
      if (i % 3 === 2) b = b.subarray(0, Math.floor(r() * b.length));
    }
    let d: TDigest;
    try {
      d = TDigest.fromBytes(b);
    } catch (e) {
      assert.ok(isInvalid(e), `case ${i}: ${String(e)}`);
      continue;
    }
    // Whatever is accepted is a working digest.
    accepted++;
    const q = d.quantile(0.5);
    assert.ok(Number.isFinite(q) || d.count === 0);
    d.push(1);
    assert.equal(bytesOf(TDigest.fromBytes(d.toBytes())), bytesOf(d));
  }
  console.log(`fuzz: ${accepted} of 10000 inputs were still digests`);
});

// ---------------------------------------------------------------- inputs and arguments

test('Float32Array and SharedArrayBuffer views give the same digest as a plain Float64Array', () => {
  const values = generate('lognormal', 30_000, 4);
  const f32 = Float32Array.from(values);
  const asF64 = Float64Array.from(f32);
  const a = new TDigest();
  a.pushMany(f32);
  const b = new TDigest();
  b.pushMany(asF64);
  assert.equal(bytesOf(a), bytesOf(b), 'Float32Array');
  const shared = new Float64Array(new SharedArrayBuffer(8 * (values.length + 10)), 8 * 5, values.length);
  shared.set(values);
  const c = new TDigest();
  c.pushMany(shared);
  const d = new TDigest();
  d.pushMany(values);
  assert.equal(bytesOf(c), bytesOf(d), 'SharedArrayBuffer view');
  const shared32 = new Float32Array(new SharedArrayBuffer(4 * f32.length));
  shared32.set(f32);
  const e = new TDigest();
  e.pushMany(shared32);
  assert.equal(bytesOf(e), bytesOf(a), 'shared Float32Array');
});

test('invalid arguments throw SLUICE_TDIGEST_INVALID and change nothing', () => {
  const d = new TDigest();
  d.pushMany(new Float64Array([1, 2, 3]));
  const before = bytesOf(d);
  for (const x of [NaN, Infinity, -Infinity, '1', null, undefined]) {
    assert.throws(() => d.push(x as number), isInvalid, `push(${String(x)})`);
  }
  assert.throws(() => d.pushMany(new Float64Array([4, NaN])), isInvalid);
  assert.throws(() => d.pushMany(new Float32Array([Infinity])), isInvalid);
  assert.throws(() => d.pushMany([1, 2] as unknown as Float64Array), isInvalid);
  assert.throws(() => d.pushMany(new Int32Array(2) as unknown as Float64Array), isInvalid);
  for (const q of [-0.1, 1.1, NaN, '0.5']) assert.throws(() => d.quantile(q as number), isInvalid, `quantile(${q})`);
  assert.throws(() => d.cdf(NaN), isInvalid);
  assert.throws(() => d.merge({} as TDigest), isInvalid);
  assert.throws(() => TDigest.fromBytes([1, 2] as unknown as Uint8Array), isInvalid);
  assert.equal(bytesOf(d), before);
  assert.equal(d.count, 3);
  for (const c of [0, 9.99, 10001, NaN, '100']) assert.throws(() => new TDigest(c as number), isInvalid, `compression ${c}`);
  assert.doesNotThrow(() => new TDigest(10));
  assert.doesNotThrow(() => new TDigest(10000));
  // -0 and +0 are the same value.
  const z1 = new TDigest(), z2 = new TDigest();
  z1.push(-0);
  z2.push(0);
  assert.equal(bytesOf(z1), bytesOf(z2));
});

test('merge: with itself, with empty and small digests, and across compressions', () => {
  const values = generate('exponential', 9000, 8);
  const a = new TDigest();
  a.pushMany(values);
  const twice = new TDigest();
  twice.pushMany(values);
  twice.pushMany(values);
  a.merge(a);
  assert.equal(a.count, 18_000);
  assert.ok(Math.abs(a.quantile(0.5) - twice.quantile(0.5)) < 0.01);
  const before = bytesOf(a);
  a.merge(new TDigest());
  assert.equal(bytesOf(a), before, 'merging an empty digest changes nothing');
  // A small digest merges like pushing its values (in sorted order).
  const small = new TDigest();
  small.pushMany(new Float64Array([5, 1, 3]));
  const x = TDigest.fromBytes(a.toBytes());
  x.merge(small);
  const y = TDigest.fromBytes(a.toBytes());
  y.pushMany(new Float64Array([1, 3, 5]));
  assert.equal(bytesOf(x), bytesOf(y));
  // Two small digests stay exact.
  const s1 = new TDigest(), s2 = new TDigest();
  s1.pushMany(new Float64Array([1, 2]));
  s2.pushMany(new Float64Array([3, 4, 5]));
  s1.merge(s2);
  assert.equal(s1.quantile(0.5), 3);
  const c50 = new TDigest(50);
  c50.merge(a);
  assert.equal(c50.count, a.count);
  assert.ok(Math.abs(c50.quantile(0.5) - a.quantile(0.5)) < 0.02);
});

test('the arena functions work in caller memory and agree with TDigest', () => {
  const region = new Float64Array(new SharedArrayBuffer(8 * 20_000));
  const words = native.digestInitWords(100);
  assert.equal(words, 3);
  let at = 16, block = 8;
  native.digestInit(region, at, block, 100);
  const values = generate('lognormal', 6000, 12);
  const ref = new TDigest();
  for (const x of values) {
    let need = native.digestAdd(region, at, x);
    while (need > 0) {
      const to = at === 16 ? 10_000 : 16;
      native.digestMove(region, at, to, need);
      at = to;
      block = need;
      need = native.digestAdd(region, at, x);
    }
    ref.push(x);
  }
  assert.ok(block <= 4096, `a full digest takes ${block} words`);
  for (const q of [0, 0.01, 0.5, 0.99, 1]) assert.equal(native.digestQuantile(region, at, q), ref.quantile(q));
  const other = at === 16 ? 10_000 : 16;
  native.digestInit(region, other, 64, 100);
  for (let i = 0; i < 50; i++) assert.equal(native.digestAdd(region, other, i), 0);
  assert.equal(native.digestMerge(region, at, other), 0);
  ref.pushMany(Float64Array.from({ length: 50 }, (_, i) => i));
  assert.equal(native.digestQuantile(region, at, 0.5), ref.quantile(0.5));
  assert.throws(() => native.digestAdd(region, 1, 1), (e: unknown) => (e as { code?: string }).code === 'SLUICE_TDIGEST_INVALID');
  assert.throws(() => native.digestAdd(region, at, NaN), (e: unknown) => (e as { code?: string }).code === 'SLUICE_TDIGEST_INVALID');
});

// ---------------------------------------------------------------- threads

test('4 worker threads push and merge digests over a SharedArrayBuffer at once, as one thread would', async () => {
  const THREADS = 4, PER = 60_000;
  const shared = new Float64Array(new SharedArrayBuffer(8 * THREADS * PER));
  shared.set(generate('lognormal', THREADS * PER, 77));
  const region = new Float64Array(new SharedArrayBuffer(8 * THREADS * 4096));
  const modulePath = path.join(__dirname, '..', '..', 'src', 'sketch', 'tdigest.js');
  const nativePath = path.join(__dirname, '..', '..', 'src', 'native', 'index.js');
  // Each thread: 6 digests over slices of its part, merged in order; then the same values through
  // the arena functions into its own block of a shared region.
  const work = `
    const { TDigest } = require(${JSON.stringify(modulePath)});
    const { native } = require(${JSON.stringify(nativePath)});
    module.exports = function run(values, region, t, per) {
      const mine = values.subarray(t * per, (t + 1) * per);
      const total = new TDigest();
      for (let k = 0; k < 6; k++) {
        const part = new TDigest();
        const slice = mine.subarray((k * per) / 6, ((k + 1) * per) / 6);
        if (k % 2) part.pushMany(slice); else for (const x of slice) part.push(x);
        total.merge(part);
      }
      const at = t * 4096;
      native.digestInit(region, at, 4096, 100);
      for (const x of mine) if (native.digestAdd(region, at, x) !== 0) throw new Error('block too small');
      return total.toBytes();
    };`;
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const m = { exports: {} };
    new Function('module', 'require', ${JSON.stringify(work)})(m, require);
    const { values, region, t, per } = workerData;
    parentPort.postMessage(m.exports(new Float64Array(values), new Float64Array(region), t, per));`;
  const results = await Promise.all(
    Array.from({ length: THREADS }, (_, t) =>
      new Promise<Uint8Array>((resolve, reject) => {
        const w = new Worker(code, { eval: true, workerData: { values: shared.buffer, region: region.buffer, t, per: PER } });
        w.once('message', resolve);
        w.once('error', reject);
      }),
    ),
  );
  // The same work on this thread.
  const m = { exports: {} as (v: Float64Array, r: Float64Array, t: number, per: number) => Uint8Array };
  new Function('module', 'require', work)(m, require);
  const region2 = new Float64Array(THREADS * 4096);
  for (let t = 0; t < THREADS; t++) {
    const mine = m.exports(shared, region2, t, PER);
    assert.equal(Buffer.from(results[t]).toString('hex'), Buffer.from(mine).toString('hex'), `thread ${t}`);
  }
  assert.deepEqual(region, region2, 'arena blocks');
  const merged = new TDigest();
  for (const b of results) merged.merge(TDigest.fromBytes(b));
  assert.equal(merged.count, THREADS * PER);
});

test('a full digest merged into a small one of higher compression (regression: heap overflow)', () => {
  const small = new TDigest(1000);
  small.pushMany(Float64Array.from({ length: 100 }, (_, i) => i));
  const full = new TDigest(100);
  full.pushMany(Float64Array.from({ length: 2500 }, (_, i) => i * 0.5));
  small.merge(full);
  assert.equal(small.count, 2600);
  const fresh = new TDigest(1000);
  fresh.merge(full);
  fresh.pushMany(Float64Array.from({ length: 30_000 }, (_, i) => i));
  assert.equal(fresh.count, 32_500);
  // The same through the arena functions: the addon asks for the full layout's words.
  const region = new Float64Array(new SharedArrayBuffer(8 * 40_000));
  native.digestInit(region, 0, 200, 1000);
  for (let i = 0; i < 100; i++) assert.equal(native.digestAdd(region, 0, i), 0);
  const at = 1000;
  native.digestInit(region, at, 4096, 100);
  for (let i = 0; i < 2500; i++) assert.equal(native.digestAdd(region, at, i * 0.5), 0);
  const need = native.digestMerge(region, 0, at);
  assert.ok(need > 200, `asks for ${need} words`);
});

test('integer data whose cells of one value have fractional means round-trips (regression)', () => {
  let s = 77;
  const r = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const xs = Float64Array.from({ length: 400_000 }, () => Math.floor(-Math.log(1 - r()) * 3));
  for (const c of [37.5, 100, 1000]) {
    const d = new TDigest(c);
    d.pushMany(xs);
    assert.equal(bytesOf(TDigest.fromBytes(d.toBytes())), bytesOf(d), `compression ${c}`);
  }
});

test('digestAddRefs adds in one call what digestAdd adds one by one, growing blocks on request', () => {
  const r = uniform(99);
  const SLOTS = 5;
  const refs = Int32Array.from({ length: 3000 }, () => Math.floor(r() * SLOTS));
  const values = Float64Array.from(refs, () => Math.floor(r() * 1000) / 7);
  const build = (batched: boolean) => {
    const region = new Float64Array(new SharedArrayBuffer(8 * 200_000));
    const slots = new Int32Array(SLOTS);
    let next = 0;
    const alloc = (words: number) => ((next += words), next - words);
    const blockWords = new Int32Array(SLOTS);
    for (let s = 0; s < SLOTS; s++) {
      blockWords[s] = native.digestInitWords(100);
      slots[s] = alloc(blockWords[s]);
      native.digestInit(region, slots[s], blockWords[s], 100);
    }
    const grow = (s: number, need: number) => {
      const words = Math.max(need, 2 * blockWords[s]); // doubling, as the arena's size classes do
      const to = alloc(words);
      native.digestMove(region, slots[s], to, words);
      slots[s] = to;
      blockWords[s] = words;
    };
    if (batched) {
      const need = new Float64Array(1);
      for (let at = 0; at < refs.length; ) {
        at = native.digestAddRefs(region, slots, refs, values, at, refs.length, need);
        if (at < refs.length) grow(refs[at], need[0]);
      }
    } else {
      refs.forEach((s, i) => {
        for (let need = native.digestAdd(region, slots[s], values[i]); need > 0; need = native.digestAdd(region, slots[s], values[i])) grow(s, need);
      });
    }
    return Array.from(slots, (at) => [0.01, 0.5, 0.99].map((q) => native.digestQuantile(region, at, q)));
  };
  const one = build(false);
  assert.deepEqual(build(true), one);
  assert.ok(one.every((qs) => qs.every(Number.isFinite)));
  const region = new Float64Array(16);
  assert.throws(() => native.digestAddRefs(region, new Int32Array([0]), new Int32Array([3]), new Float64Array([1]), 0, 1, new Float64Array(1)), /ref outside slots/);
  assert.throws(() => native.digestAddRefs(region, new Int32Array([0]), new Int32Array([0]), new Float64Array([1]), 0, 1, new Float64Array(1)), /no digest at that offset/);
  assert.throws(() => native.digestAddRefs(region, new Int32Array([0]), new Int32Array([0]), new Float64Array([1]), 0, 2, new Float64Array(1)), TypeError);
});
