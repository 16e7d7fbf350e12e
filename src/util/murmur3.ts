// MurmurHash3 x86 32-bit (Austin Appleby's reference, MurmurHash3_x86_32): the hash of SPEC §12's
// variant buckets and §13's hash transform. Published test vectors: test/models/murmur3.test.ts.

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** The hash of bytes [start, end) of `bytes`, as an unsigned 32-bit integer. */
export function murmur3(bytes: Uint8Array, seed = 0, start = 0, end = bytes.length): number {
  let h = seed >>> 0;
  const len = end - start;
  const blocksEnd = start + (len & ~3);
  let i = start;
  for (; i < blocksEnd; i += 4) {
    let k = bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = len & 3;
  if (tail > 0) {
    let k = bytes[i];
    if (tail > 1) k ^= bytes[i + 1] << 8;
    if (tail > 2) k ^= bytes[i + 2] << 16;
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  return fmix32(h ^ len);
}

/** MurmurHash3's finalizer: every input bit reaches every output bit. Unsigned. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const utf8 = new TextEncoder();

/** The hash of a string's UTF-8 bytes (a lone surrogate is U+FFFD, as TextEncoder writes it). */
export const murmur3String = (s: string, seed = 0): number => murmur3(utf8.encode(s), seed);
