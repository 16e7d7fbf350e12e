// Variants (SPEC §12): every key goes to one variant, always the same one, by bucket:
// h = MurmurHash3 x86 32 (seed 0) of the key's UTF-8 bytes, bucket = h mod 10000; with weights
// w1..wn summing to W, variant i owns [floor(10000·(w1+..+w(i-1))/W), floor(10000·(w1+..+wi)/W)).
import { murmur3 } from '../util/murmur3';

export const BUCKETS = 10_000;

export class VariantTable {
  /** bucketEnd[i]: the first bucket past variant i. */
  readonly bucketEnd: Int32Array;

  constructor(weights: readonly number[]) {
    const total = weights.reduce((a, b) => a + b, 0);
    if (!(total > 0) || weights.some((w) => !(w >= 0))) throw new Error(`variant weights must be >= 0 with a positive sum, got ${weights.join(', ')}`);
    this.bucketEnd = new Int32Array(weights.length);
    let sum = 0;
    weights.forEach((w, i) => (this.bucketEnd[i] = Math.floor((BUCKETS * (sum += w)) / total)));
  }

  /** The variant that owns a bucket. */
  ofBucket(bucket: number): number {
    const ends = this.bucketEnd;
    let i = 0;
    while (i < ends.length - 1 && bucket >= ends[i]) i++;
    return i;
  }

  /** The variant of a key given as UTF-8 bytes [start, end). */
  ofKey(utf8: Uint8Array, start = 0, end = utf8.length): number {
    return this.ofBucket(murmur3(utf8, 0, start, end) % BUCKETS);
  }
}
