// SPEC §9, t-digest: pushMany throughput, rank error against exact ranks, serialized size and the
// memory of a small digest, ours (native/tdigest/ through src/sketch/tdigest.ts, the configuration
// the arena uses) against the `tdigest` npm package (0.1.x, delta 0.01 = compression 100) and
// hdr-histogram-js (3 significant digits) on the same values in the same run.
//
// Rank error: for each of 8 distributions of 10^6 values (uniform, normal, log-normal, exponential,
// Pareto 1.5, heavy duplicates, sorted, reverse-sorted), |q - rank(estimate)| in ppm, where ties
// count as right (the estimate's rank interval [#< est, #<= est] / n), averaged over distributions.

import * as v8 from 'node:v8';
import * as vm from 'node:vm';

import * as hdr from 'hdr-histogram-js';

import { DISTRIBUTIONS, generate, rankError } from '../../test/helpers/distributions';
import { median } from '../common';
import type { BenchContext, BenchRow, Suite, SuiteResult } from '../harness';

interface NpmTDigest {
  push(x: number | number[]): void;
  percentile(p: number): number;
  compress(): void;
  size(): number;
  toArray(): Array<{ mean: number; n: number }>;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { TDigest: NpmTDigest } = require('tdigest') as { TDigest: new (delta?: number, K?: number, CX?: number) => NpmTDigest };

const FULL = { n: 1_000_000, runs: 5 };
const QUICK = { n: 100_000, runs: 2 };
const QS = [0.001, 0.01, 0.5, 0.99, 0.999];
const DISTS = DISTRIBUTIONS;

export const tdigestSuite: Suite = {
  name: 'tdigest',
  description: 't-digest at compression 100: pushMany values/s, rank error, bytes; vs tdigest (npm) and hdr-histogram-js',
  run,
};

const rankErrorPpm = (sorted: Float64Array, q: number, est: number) => rankError(sorted, q, est) * 1e6;

/** Heap bytes per object made by make(), over `count` of them (GC'd before and after). */
function heapPerObject(count: number, make: () => unknown): number | null {
  v8.setFlagsFromString('--expose_gc');
  const gc = vm.runInNewContext('gc') as (() => void) | undefined;
  if (typeof gc !== 'function') return null;
  gc();
  const before = process.memoryUsage().heapUsed;
  const keep: unknown[] = new Array(count);
  for (let i = 0; i < count; i++) keep[i] = make();
  gc();
  const after = process.memoryUsage().heapUsed;
  const per = (after - before) / count;
  keep.length = 0;
  return per;
}

async function run(ctx: BenchContext): Promise<SuiteResult> {
  const { n, runs } = ctx.quick ? QUICK : FULL;
  const { TDigest } = await import('../../src/sketch/tdigest');
  const { native } = await import('../../src/native');
  const rows: BenchRow[] = [];
  const notes: string[] = [];
  const totalSteps = 4 + DISTS.length;
  let step = 0;

  // ---- throughput: the same log-normal values for all three.
  ctx.progress('pushMany throughput', step++, totalSteps);
  const values = generate('lognormal', n, 1);
  const asArray = Array.from(values);
  const scaled = values.map((x) => Math.round(x * 1e6)); // hdr records integers: micro-units
  const time = (fn: () => void) => {
    fn(); // warm-up
    const ms: number[] = [];
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now();
      fn();
      ms.push(performance.now() - t0);
    }
    return n / (median(ms) / 1000);
  };
  const oursRate = time(() => new TDigest(100).pushMany(values));
  ctx.progress('pushMany throughput: tdigest (npm)', step++, totalSteps);
  const npmRate = time(() => {
    const t = new NpmTDigest(0.01);
    for (let i = 0; i < asArray.length; i++) t.push(asArray[i]);
    t.compress();
  });
  ctx.progress('pushMany throughput: hdr-histogram-js', step++, totalSteps);
  const hdrRate = time(() => {
    const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 1e13, numberOfSignificantValueDigits: 3, autoResize: true });
    for (let i = 0; i < scaled.length; i++) h.recordValue(scaled[i]);
    h.destroy();
  });
  const label = `${n.toLocaleString('en-US')} log-normal values, one Float64Array`;
  rows.push({ case: label, metric: 'values/s', ours: oursRate, peer: npmRate, peerName: 'tdigest (npm) push', higherIsBetter: true });
  rows.push({ case: label, metric: 'values/s', ours: oursRate, peer: hdrRate, peerName: 'hdr-histogram-js recordValue', higherIsBetter: true });
  const pushRate = time(() => {
    const t = new TDigest(100);
    for (let i = 0; i < values.length; i++) t.push(values[i]);
  });
  rows.push({ case: `${label}, push() per value`, metric: 'values/s', ours: pushRate, peer: npmRate, peerName: 'tdigest (npm) push', higherIsBetter: true });
  const region = new Float64Array(new SharedArrayBuffer(8 * 8192));
  const arenaRate = time(() => {
    native.digestInit(region, 0, 8192, 100);
    for (let i = 0; i < values.length; i++) native.digestAdd(region, 0, values[i]);
  });
  rows.push({ case: `${label}, arena digestAdd per value`, metric: 'values/s', ours: arenaRate, peer: null, peerName: '', higherIsBetter: true });
  notes.push(`throughput: median of ${runs} runs after a warm-up; hdr-histogram-js (JS, 32-bit buckets, 3 digits) records the values x 10^6 rounded to integers`);

  // ---- rank error, per distribution; ours vs the npm package on the same values.
  const oursPpm = QS.map(() => 0), npmPpm = QS.map(() => 0);
  const perDist: string[] = [];
  let oursBytes = 0;
  for (const [i, dist] of DISTS.entries()) {
    ctx.progress(`rank error: ${dist}`, step++, totalSteps);
    const xs = generate(dist, n, 1000 + i);
    const sorted = Float64Array.from(xs).sort();
    const ours = new TDigest(100);
    ours.pushMany(xs);
    const npm = new NpmTDigest(0.01);
    for (let k = 0; k < xs.length; k++) npm.push(xs[k]);
    npm.compress();
    const o = QS.map((q) => rankErrorPpm(sorted, q, ours.quantile(q)));
    const p = QS.map((q) => rankErrorPpm(sorted, q, npm.percentile(q)));
    o.forEach((v, k) => (oursPpm[k] += v / DISTS.length));
    p.forEach((v, k) => (npmPpm[k] += v / DISTS.length));
    perDist.push(`${dist}: ours ${o.map((v) => v.toFixed(1)).join('/')}, npm ${p.map((v) => v.toFixed(0)).join('/')}`);
    if (dist === 'lognormal') {
      oursBytes = ours.toBytes().length;
      const cells = new native.TDigest(100);
      cells.pushMany(xs);
      notes.push(
        `size behind the rank errors (log-normal): ours ${cells.cells()} cells; tdigest (npm) ${npm.size()} centroids after compress() ` +
          '(it also shuffles its centroids with Math.random when compressing, so its figures move from run to run)',
      );
    }
  }
  for (const [k, q] of QS.entries()) {
    rows.push({
      case: `mean over ${DISTS.length} distributions of ${n.toLocaleString('en-US')} values`,
      metric: `rank error ppm at q=${q}`,
      ours: oursPpm[k],
      peer: npmPpm[k],
      peerName: 'tdigest (npm) delta 0.01',
      higherIsBetter: false,
    });
  }
  notes.push(`rank error ppm at q = ${QS.join('/')} per distribution: ${perDist.join('; ')}`);

  // ---- size: serialized, and in memory.
  ctx.progress('sizes', step++, totalSteps);
  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 1e13, numberOfSignificantValueDigits: 3, autoResize: true });
  for (let i = 0; i < scaled.length; i++) h.recordValue(scaled[i]);
  const hdrBytes = Buffer.from(hdr.encodeIntoCompressedBase64(h), 'base64').length;
  h.destroy();
  rows.push({ case: `${n.toLocaleString('en-US')} log-normal values`, metric: 'serialized bytes', ours: oursBytes, peer: hdrBytes, peerName: 'hdr-histogram-js compressed encoding', higherIsBetter: false });
  for (const k of [1, 30, 1000]) {
    const small = generate('lognormal', k, 5);
    const d = new native.TDigest(100);
    d.pushMany(small);
    const npmHeap = heapPerObject(ctx.quick ? 500 : 5000, () => {
      const t = new NpmTDigest(0.01);
      for (let i = 0; i < small.length; i++) t.push(small[i]);
      return t;
    });
    rows.push({ case: `a digest of ${k} value${k > 1 ? 's' : ''}`, metric: 'bytes in memory', ours: d.regionBytes(), peer: npmHeap, peerName: 'tdigest (npm) heap bytes', higherIsBetter: false });
  }
  const big = new native.TDigest(100);
  big.pushMany(values);
  rows.push({ case: `a digest of ${n.toLocaleString('en-US')} values`, metric: 'bytes in memory', ours: big.regionBytes(), peer: null, peerName: '', higherIsBetter: false });
  notes.push(
    'ours in memory: the bytes its block in an arena needs (exact values until 2,500, then a fixed ' +
      `${big.regionBytes().toLocaleString('en-US')} bytes: cells plus a 2,500-value buffer); the npm package: V8 heap per digest`,
  );
  notes.push(`ours serialized: ${oursBytes} bytes after ${n.toLocaleString('en-US')} values (the buffer is empty at a multiple of 2,500 values; other counts add up to 8 bytes per buffered value)`);
  ctx.progress('done', totalSteps, totalSteps);
  return { suite: 'tdigest', rows, notes };
}
