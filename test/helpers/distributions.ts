// Seeded test data for the t-digest: the distributions SPEC §9 names, and rank error against
// exact ranks. Shared by test/sketch/tdigest.test.ts and bench/suites/tdigest.ts.

/** sfc32 with 53-bit uniforms in (0, 1): seeded, so every run sees the same data. */
export function uniform(seed: number): () => number {
  let a = 0x9e3779b9, b = 0x243f6a88, c = 0xb7e15162, d = seed >>> 0;
  const next = () => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 16; i++) next();
  return () => ((next() >>> 5) * 67108864 + (next() >>> 6) + 0.5) / 9007199254740992;
}

export const DISTRIBUTIONS = ['uniform', 'normal', 'lognormal', 'exponential', 'pareto', 'discrete', 'sorted', 'reverse'] as const;
export type Dist = (typeof DISTRIBUTIONS)[number];

/**
 * n values of a distribution. discrete: floor(10 x Exp(1)), integers 0..~150 where each of the first
 * values repeats tens of thousands of times; pareto: alpha 1.5; sorted/reverse: normal values sorted.
 */
export function generate(dist: Dist, n: number, seed: number): Float64Array {
  const u = uniform(seed);
  let spare = NaN;
  const normal = () => {
    if (!Number.isNaN(spare)) {
      const s = spare;
      spare = NaN;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(u())), th = 2 * Math.PI * u();
    spare = r * Math.sin(th);
    return r * Math.cos(th);
  };
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    switch (dist) {
      case 'uniform': out[i] = u(); break;
      case 'normal': case 'sorted': case 'reverse': out[i] = normal(); break;
      case 'lognormal': out[i] = Math.exp(normal()); break;
      case 'exponential': out[i] = -Math.log(u()); break;
      case 'pareto': out[i] = Math.pow(u(), -1 / 1.5); break;
      case 'discrete': out[i] = Math.floor(-Math.log(u()) * 10); break;
    }
  }
  if (dist === 'sorted') out.sort();
  if (dist === 'reverse') out.sort().reverse();
  return out;
}

/** #values < x in a sorted array. */
export function below(sorted: Float64Array, x: number): number {
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    if (sorted[m] < x) lo = m + 1; else hi = m;
  }
  return lo;
}
export function atOrBelow(sorted: Float64Array, x: number): number {
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    if (sorted[m] <= x) lo = m + 1; else hi = m;
  }
  return lo;
}
/** Distance from q to the estimate's rank interval [#< est, #<= est] / n (0 inside it, so ties count right). */
export function rankError(sorted: Float64Array, q: number, est: number): number {
  const n = sorted.length;
  const lo = below(sorted, est) / n, hi = atOrBelow(sorted, est) / n;
  return q < lo ? lo - q : q > hi ? q - hi : 0;
}
