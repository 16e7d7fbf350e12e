import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { murmur3, murmur3String } from '../../src/util/murmur3';
import { BUCKETS, VariantTable } from '../../src/models/variants';

const bytes = (...b: number[]) => Uint8Array.from(b);
const text = (s: string) => new TextEncoder().encode(s);

test('MurmurHash3 x86 32 gives the published test vectors', () => {
  // Vectors from the reference implementation's users (SMHasher's verification set, as listed
  // with MurmurHash3_x86_32 ports): every tail length, seeds 0, 1, 0x9747b28c and 2^32 - 1.
  const cases: Array<[Uint8Array, number, number]> = [
    [bytes(), 0, 0],
    [bytes(), 1, 0x514e28b7],
    [bytes(), 0xffffffff, 0x81f16f39],
    [bytes(0xff, 0xff, 0xff, 0xff), 0, 0x76293b50],
    [bytes(0x21, 0x43, 0x65, 0x87), 0, 0xf55b516b],
    [bytes(0x21, 0x43, 0x65, 0x87), 0x5082edee, 0x2362f9de],
    [bytes(0x21, 0x43, 0x65), 0, 0x7e4a8634],
    [bytes(0x21, 0x43), 0, 0xa0f7b07a],
    [bytes(0x21), 0, 0x72661cf4],
    [bytes(0, 0, 0, 0), 0, 0x2362f9de],
    [bytes(0, 0, 0), 0, 0x85f0b427],
    [bytes(0, 0), 0, 0x30f4c306],
    [bytes(0), 0, 0x514e28b7],
    [text('aaaa'), 0x9747b28c, 0x5a97808a],
    [text('aaa'), 0x9747b28c, 0x283e0130],
    [text('aa'), 0x9747b28c, 0x5d211726],
    [text('a'), 0x9747b28c, 0x7fa09ea6],
    [text('abcd'), 0x9747b28c, 0xf0478627],
    [text('abc'), 0x9747b28c, 0xc84a62dd],
    [text('ab'), 0x9747b28c, 0x74875592],
    [text('Hello, world!'), 0x9747b28c, 0x24884cba],
    [text('The quick brown fox jumps over the lazy dog'), 0x9747b28c, 0x2fa826cd],
  ];
  for (const [input, seed, want] of cases) assert.equal(murmur3(input, seed), want, `${Buffer.from(input).toString('hex')} seed ${seed.toString(16)}`);
});

test('strings hash as their UTF-8 bytes; a sub-range hashes as its own bytes', () => {
  // Checked against scikit-learn's murmurhash3_32 (positive=True), an independent implementation.
  assert.equal(murmur3String('test'), 0xba6bd213);
  assert.equal(murmur3String('card-17'), 0x07d45070);
  assert.equal(murmur3String('é€😀'), 0x295a8444);
  const padded = text('xxcard-17yy');
  assert.equal(murmur3(padded, 0, 2, 9), 0x07d45070);
  assert.equal(murmur3String('\ud800'), murmur3String('\ufffd'), 'a lone surrogate is U+FFFD');
});

test('variants own bucket ranges by cumulative weight, floored', () => {
  const t = new VariantTable([90, 10]);
  assert.deepEqual(Array.from(t.bucketEnd), [9000, 10000]);
  assert.equal(t.ofBucket(0), 0);
  assert.equal(t.ofBucket(8999), 0);
  assert.equal(t.ofBucket(9000), 1);
  assert.equal(t.ofBucket(9999), 1);
  const thirds = new VariantTable([1, 1, 1]);
  assert.deepEqual(Array.from(thirds.bucketEnd), [3333, 6666, 10000]);
  assert.equal(thirds.ofBucket(3332), 0);
  assert.equal(thirds.ofBucket(3333), 1);
  assert.equal(thirds.ofBucket(6666), 2);
  // A zero weight owns no bucket.
  const off = new VariantTable([0, 5]);
  for (const b of [0, 1, 5000, 9999]) assert.equal(off.ofBucket(b), 1);
  assert.throws(() => new VariantTable([0, 0]), /positive sum/);
  assert.throws(() => new VariantTable([-1, 2]), />= 0/);
});

test('a key keeps its variant, and the split follows the weights', () => {
  const t = new VariantTable([90, 10]);
  const counts = [0, 0];
  for (let k = 0; k < 20_000; k++) {
    const key = text(`card-${k}`);
    const v = t.ofKey(key);
    assert.equal(v, t.ofBucket(murmur3(key) % BUCKETS));
    counts[v]++;
  }
  // 10% of 20,000 keys: 2,000, within a few standard deviations (sd ~42).
  assert.ok(Math.abs(counts[1] - 2000) < 200, `${counts[1]} keys in the 10% variant`);
});
