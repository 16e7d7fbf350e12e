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
