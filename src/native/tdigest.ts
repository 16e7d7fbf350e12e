// Types of the addon's t-digest binding (native/tdigest/). Only src/native/index.ts loads the addon.

/** A digest owned by the addon. See native/tdigest/tdigest.h for the layout and the scale function. */
export interface NativeTDigest {
  push(x: number): void;
  pushMany(xs: Float64Array | Float32Array): void;
  quantile(q: number): number;
  cdf(x: number): number;
  merge(other: NativeTDigest): void;
  count(): number;
  toBytes(): Uint8Array;
}

export interface TDigestBinding {
  TDigest: new (compression: number) => NativeTDigest;
  /** Throws an Error with code SLUICE_TDIGEST_INVALID on bytes that are not a digest. */
  tdigestFromBytes(bytes: Uint8Array): NativeTDigest;
}

/**
 * Digests in caller memory: a digest is a block of 8-byte words inside a Float64Array (an arena's
 * digest region, a SharedArrayBuffer), addressed by word offset. Blocks hold no pointers, so they
 * can be copied or moved as plain words (digestMove also records the new capacity).
 */
export interface ArenaDigestBinding {
  /** [sync] Words an empty digest of this compression needs. */
  digestInitWords(compression: number): number;
  /** [sync] Writes an empty digest into region[offsetWords, offsetWords + blockWords). */
  digestInit(region: Float64Array, offsetWords: number, blockWords: number, compression: number): void;
  /** [sync] Adds x. Returns 0, or the words the digest needs to take it: move it to a block that big, then add again. */
  digestAdd(region: Float64Array, offsetWords: number, x: number): number;
  /** [sync] Merges the digest at srcOffsetWords into the one at dstOffsetWords; same growth rule as digestAdd. */
  digestMerge(region: Float64Array, dstOffsetWords: number, srcOffsetWords: number): number;
  /** [sync] Copies a digest to another block of blockWords words (at least what it needs). */
  digestMove(region: Float64Array, fromOffsetWords: number, toOffsetWords: number, blockWords: number): void;
  /** [sync] The q-quantile (0 <= q <= 1); NaN for an empty digest. */
  digestQuantile(region: Float64Array, offsetWords: number, q: number): number;
}
