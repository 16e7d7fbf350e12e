// Window aggregates: exact sums in arrival order, and a population stddev that survives large
// offsets (1e9 + small noise), also when sessions merge (Chan's formula).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { addEvent, initAggregates, mergeInto, readFeatures, type DigestStore } from '../../src/features/aggregate';
import { planFeatures } from '../../src/features/plan';
import { rng } from '../helpers/random';

const plan = planFeatures([
  { name: 'n', agg: 'count' },
  { name: 'sum', agg: 'sum', field: 'x' },
  { name: 'mean', agg: 'mean', field: 'x' },
  { name: 'min', agg: 'min', field: 'x' },
  { name: 'max', agg: 'max', field: 'x' },
  { name: 'sd', agg: 'stddev', field: 'x' },
]);
const noDigests: DigestStore = { add() {}, merge() {}, quantile: () => NaN, free() {}, flush() {} };

function window(values: number[], base = 0, f64 = new Float64Array(plan.slotWords * 4)) {
  initAggregates(f64, base, plan);
  values.forEach((v) => addEvent(f64, base, plan, Float64Array.of(v), 0, noDigests));
  return f64;
}

function features(f64: Float64Array, base = 0): number[] {
  const out = new Float64Array(plan.features.length);
  readFeatures(f64, base, plan, noDigests, out, 0);
  return Array.from(out);
}

/** Two-pass population stddev in exact-ish arithmetic: shift by the first value, then sum squares. */
function referenceStd(values: number[]): number {
  const shift = values[0];
  const d = values.map((v) => v - shift);
  const m = d.reduce((a, b) => a + b, 0) / d.length;
  return Math.sqrt(d.reduce((a, b) => a + (b - m) * (b - m), 0) / d.length);
}

test('1e9 + small noise keeps its standard deviation', () => {
  const r = rng(11);
  const values = Array.from({ length: 10_000 }, () => 1e9 + (r() - 0.5) * 0.01);
  const [n, sum, mean, min, max, sd] = features(window(values));
  assert.equal(n, values.length);
  let exactSum = 0;
  for (const v of values) exactSum += v; // arrival order, as the spec asks
  assert.equal(sum, exactSum);
  assert.equal(mean, exactSum / values.length);
  assert.equal(min, Math.min(...values));
  assert.equal(max, Math.max(...values));
  const want = referenceStd(values); // ~0.0029
  // The inputs themselves carry ~1e-7 of rounding at 1e9, about 4e-5 of the noise: agree to 1e-4.
  assert.ok(Math.abs(sd - want) <= 1e-4 * want, `stddev ${sd} vs ${want}`);
  // The textbook E[x²] - E[x]² is nowhere near: that is what the running formula avoids.
  let s2 = 0;
  for (const v of values) s2 += v * v;
  const naive = Math.sqrt(Math.max(0, s2 / values.length - (exactSum / values.length) ** 2));
  assert.ok(Math.abs(naive - want) > 0.5 * want, `naive ${naive}`);
});

test('merged windows (sessions) give the stddev of all their values', () => {
  const r = rng(12);
  const a = Array.from({ length: 3000 }, () => 1e9 + r() * 0.02);
  const b = Array.from({ length: 500 }, () => 1e9 + 0.5 + r() * 0.02);
  const f64 = new Float64Array(plan.slotWords * 2);
  window(a, 0, f64);
  window(b, plan.slotWords, f64);
  mergeInto(f64, 0, plan.slotWords, plan, noDigests);
  const [n, , , min, max, sd] = features(f64);
  const all = a.concat(b);
  assert.equal(n, all.length);
  assert.equal(min, Math.min(...all));
  assert.equal(max, Math.max(...all));
  const want = referenceStd(all);
  assert.ok(Math.abs(sd - want) <= 1e-4 * want, `stddev ${sd} vs ${want}`);
});

test('a single value has stddev 0; identical values too', () => {
  assert.equal(features(window([42]))[5], 0);
  assert.equal(features(window([7, 7, 7, 7]))[5], 0);
});
