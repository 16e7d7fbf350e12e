// Types of the addon's t-digest binding (native/tdigest/). Only src/native/index.ts loads the addon.

/**
 * A digest owned by the addon. See native/tdigest/tdigest.h for the layout, the scale function and
 * the serialized form. Every method is synchronous; invalid arguments throw a TypeError with code
 * SLUICE_TDIGEST_INVALID and change nothing.
 */
export interface NativeTDigest {
  /** [sync] Adds a finite number. @throw TypeError on NaN, +-Infinity or a non-number. */
  push(x: number): void;
  /** [sync] Adds every value, in order (bit for bit the same as push() of each). @throw TypeError if any value is not finite (nothing is added). */
  pushMany(xs: Float64Array | Float32Array): void;
  /** [sync] The q-quantile, 0 <= q <= 1; NaN when empty. @throw TypeError if q is outside [0, 1]. */
  quantile(q: number): number;
  /** [sync] Fraction of values below x, values equal to x counting half; NaN when empty. @throw TypeError on NaN. */
  cdf(x: number): number;
  /** [sync] Adds other's values (other unchanged; may be this digest). @throw TypeError if other is not a NativeTDigest. */
  merge(other: NativeTDigest): void;
  /** [sync] Values added. */
  count(): number;
  /** [sync] Serialized form, format version 1. Does not change the digest. */
  toBytes(): Uint8Array;
  /** [sync] Cells (centroids) held; 0 while the digest is exact. */
  cells(): number;
  /** [sync] Bytes the digest needs in caller memory (what an arena block for it holds). */
  regionBytes(): number;
}

export interface TDigestBinding {
  /** [sync] @throw TypeError (SLUICE_TDIGEST_INVALID) unless 10 <= compression <= 10000. */
  TDigest: new (compression: number) => NativeTDigest;
  /** [sync] @throw Error (SLUICE_TDIGEST_INVALID) saying what is wrong on bytes that are not a digest. */
  tdigestFromBytes(bytes: Uint8Array): NativeTDigest;
}

/**
 * Digests in caller memory: a digest is a block of 8-byte words inside a Float64Array (an arena's
 * digest region, a SharedArrayBuffer), addressed by word offset. Blocks hold no pointers, so they
 * can be copied or moved as plain words (digestMove also records the new capacity).
 */
export interface ArenaDigestBinding {
  /**
   * [sync] Words an empty digest of this compression needs (3). A digest of n values needs 3 + n
   * words until it has 25 x compression values, then a fixed size (3487 words at compression 100).
   * @throw TypeError (SLUICE_TDIGEST_INVALID) unless 10 <= compression <= 10000.
   */
  digestInitWords(compression: number): number;
  /**
   * [sync] Writes an empty digest into region[offsetWords, offsetWords + blockWords).
   * @throw TypeError (SLUICE_TDIGEST_INVALID) if the block is outside the region or under 3 words, or the compression is bad.
   */
  digestInit(region: Float64Array, offsetWords: number, blockWords: number, compression: number): void;
  /**
   * [sync] Adds x. Returns 0, or the words the digest needs to take it: move it to a block that big, then add again.
   * @throw TypeError (SLUICE_TDIGEST_INVALID) if x is not finite; Error (SLUICE_TDIGEST_INVALID) if there is no digest at the offset.
   */
  digestAdd(region: Float64Array, offsetWords: number, x: number): number;
  /**
   * [sync] Adds values[i] to the digest at word offset slots[refs[i]], for i = begin.. in order.
   * Returns end when all are in; otherwise the index of the first whose digest needs a bigger
   * block, with the words it needs in needOut[0] (move it, then call again from that index).
   * @throws TypeError (SLUICE_TDIGEST_INVALID) on bad arguments or a value that is not finite.
   */
  digestAddRefs(region: Float64Array, slots: Int32Array, refs: Int32Array, values: Float64Array, begin: number, end: number, needOut: Float64Array): number;
  /**
   * [sync] Merges the digest at srcOffsetWords into the one at dstOffsetWords; same growth rule as digestAdd.
   * @throw Error (SLUICE_TDIGEST_INVALID) if there is no digest at either offset.
   */
  digestMerge(region: Float64Array, dstOffsetWords: number, srcOffsetWords: number): number;
  /**
   * [sync] Copies a digest to another block of blockWords words (at least what it needs).
   * @throw TypeError (SLUICE_TDIGEST_INVALID) if the block is too small or outside the region; Error if there is no digest at from.
   */
  digestMove(region: Float64Array, fromOffsetWords: number, toOffsetWords: number, blockWords: number): void;
  /**
   * [sync] The q-quantile (0 <= q <= 1); NaN for an empty digest. Exact below 25 x compression values.
   * @throw TypeError (SLUICE_TDIGEST_INVALID) if q is outside [0, 1]; Error if there is no digest at the offset.
   */
  digestQuantile(region: Float64Array, offsetWords: number, q: number): number;
}
