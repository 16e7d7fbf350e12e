// What the e2e tests share: reading JSON Lines and judging a percentile estimate by rank.
import * as assert from 'node:assert/strict';

export type Json = Record<string, unknown>;

export function parseLines(text: string, what: string): Json[] {
  if (text === '') return [];
  assert.ok(text.endsWith('\n'), `${what}: the last line has no newline`);
  return text
    .slice(0, -1)
    .split('\n')
    .map((line, i) => {
      try {
        return JSON.parse(line) as Json;
      } catch (e) {
        assert.fail(`${what} line ${i + 1} is not JSON (${(e as Error).message}): ${line}`);
      }
    });
}

/** Rank error of an estimate x of the q-quantile of sorted values v: 0 when q lies in [#<x, #≤x]/n. */
export function rankError(v: number[], x: number, q: number): number {
  let below = 0;
  let atOrBelow = 0;
  for (const y of v) {
    if (y < x) below++;
    if (y <= x) atOrBelow++;
  }
  const lo = below / v.length;
  const hi = atOrBelow / v.length;
  return q < lo ? lo - q : q > hi ? q - hi : 0;
}

/** Rank error allowed: 0.01, or 0.5/n below 50 values (an estimate between two neighbours). */
export const rankTolerance = (n: number): number => Math.max(0.01, 0.5 / n);
