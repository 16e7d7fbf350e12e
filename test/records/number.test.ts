// Scores are written as the shortest decimal that reads back as the same float32 (SPEC §5).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { float32ToJson } from '../../src/records/number';
import { rng } from '../helpers/random';

/** The definition, digit count by digit count. */
function shortest(x: number): string {
  for (let digits = 1; digits <= 9; digits++) {
    const n = Number(x.toPrecision(digits));
    if (Math.fround(n) === x) return String(n);
  }
  throw new Error(`no float32 reads back from ${x}`);
}

test('float32ToJson gives the shortest decimal that reads back as the same float32', () => {
  const rand = rng(11);
  const bits = new Uint32Array(1);
  const f32 = new Float32Array(bits.buffer);
  const values = [0, -0, 0.5, 1, 0.1, 0.0132, 1e-45, 3.4028234663852886e38, 1.1754943508222875e-38, 123456789, 0.3333333432674408];
  for (let i = 0; i < 200_000; i++) {
    // Any bit pattern (every exponent, subnormals too), and scores in [0, 1).
    bits[0] = Math.floor(rand() * 2 ** 32);
    if (Number.isFinite(f32[0])) values.push(f32[0]);
    values.push(Math.fround(rand()));
  }
  for (const v of values) {
    const x = Math.fround(v);
    const s = float32ToJson(x);
    assert.equal(s, shortest(x), `${x}`);
    assert.ok(Math.fround(Number(s)) === x, `${s} reads back as ${x}`);
  }
  assert.equal(float32ToJson(Math.fround(0.0132)), '0.0132');
  assert.equal(float32ToJson(NaN), 'null');
  assert.equal(float32ToJson(-Infinity), 'null');
});
