// Compression codecs for kafkajs, which decodes only gzip itself. Snappy and LZ4 come from the
// napi-rs packages (prebuilt on npm, maintained); zstd from fzstd (pure TypeScript), which only
// decompresses, so sluice reads zstd topics but does not write them. Each is loaded when a batch
// first needs it (together ~20 ms of every start otherwise).
import { CompressionCodecs, CompressionTypes } from 'kafkajs';
import type * as Lz4 from 'lz4-napi';
import type * as Snappy from 'snappy';
import type * as Fzstd from 'fzstd';

/* eslint-disable @typescript-eslint/no-require-imports */
const once = <T>(load: () => T): (() => T) => {
  let it: T | undefined;
  return () => (it ??= load());
};
const lz4 = once(() => require('lz4-napi') as typeof Lz4);
const snappy = once(() => require('snappy') as typeof Snappy);
const fzstd = once(() => require('fzstd') as typeof Fzstd);
/* eslint-enable @typescript-eslint/no-require-imports */

/** Java clients frame snappy data ("xerial" framing): a magic header, then length-prefixed blocks. */
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER_BYTES = 16;

export function snappyDecode(buf: Buffer): Buffer {
  const { uncompressSync } = snappy();
  if (buf.length < XERIAL_HEADER_BYTES || !buf.subarray(0, 8).equals(XERIAL_MAGIC)) return uncompressSync(buf) as Buffer;
  const parts: Buffer[] = [];
  for (let at = XERIAL_HEADER_BYTES; at < buf.length; ) {
    if (at + 4 > buf.length) throw new Error('snappy: truncated xerial block header');
    const size = buf.readUInt32BE(at);
    at += 4;
    if (at + size > buf.length) throw new Error('snappy: truncated xerial block');
    parts.push(uncompressSync(buf.subarray(at, at + size)) as Buffer);
    at += size;
  }
  return Buffer.concat(parts);
}

interface Encoder {
  buffer: Buffer;
}

let registered = false;

export function registerCodecs(): void {
  if (registered) return;
  registered = true;
  CompressionCodecs[CompressionTypes.Snappy] = () => ({
    compress: async (e: Encoder) => snappy().compressSync(e.buffer),
    decompress: async (b: Buffer) => snappyDecode(b),
  });
  CompressionCodecs[CompressionTypes.LZ4] = () => ({
    compress: async (e: Encoder) => lz4().compressFrameSync(e.buffer),
    decompress: async (b: Buffer) => lz4().decompressFrameSync(b),
  });
  CompressionCodecs[CompressionTypes.ZSTD] = () => ({
    compress: async () => {
      throw new Error('sluice reads zstd-compressed topics but does not write them; use gzip, snappy or lz4');
    },
    decompress: async (b: Buffer) => {
      const out = fzstd().decompress(b);
      return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
    },
  });
}
