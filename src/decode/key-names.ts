// The window keys' names, shared with the workers: the decoder interns keys on the main thread and
// appends each new one here, before any batch that holds it goes out; workers read them to order
// and encode their results. Append-only: a key's bytes never change, so readers need no lock.
//
// Per key (id i), in `bytes` from start(i) = i ? end(i - 1) : 0:
//   [start, nameEnd)    the name in WTF-8 (UTF-8 that keeps lone surrogates), for ordering
//   [nameEnd, jsonEnd)  the name as a JSON string, quotes included; empty when it is plain: then
//                       the JSON string is the name between quotes
//   [jsonEnd, end)      the Kafka key's bytes (UTF-8, lone surrogates as U+FFFD, as kafkajs writes
//                       a string key); empty when they are the name's
// `index` holds nameEnd, jsonEnd, end and the Kafka key's murmur2 (its default partitioner's hash)
// per key. When either buffer is full, both are copied into bigger ones (new SharedArrayBuffers):
// a task carries the buffers current when it was sent.
import { threadId } from 'node:worker_threads';
import { native } from '../native/index';

export interface KeyNamesBuffers {
  index: SharedArrayBuffer;
  bytes: SharedArrayBuffer;
  /** The same for a table and its grown copies, different for another table: what a worker
   *  caches by key id (a key's variant) is valid within one lineage only. */
  lineage: number;
}

let lineages = 0;
/** Unique per process and thread, and across threads: the thread id is in the low bits. */
const newLineage = () => ++lineages * 1024 + (threadId % 1024);

const enum Field {
  NameEnd = 0,
  JsonEnd = 1,
  End = 2,
  Hash = 3,
  Words = 4,
}

const QUOTE = 34;

/** Read access (workers, and the main thread's merge). */
export class KeyNames {
  readonly index: Int32Array;
  readonly bytes: Uint8Array;

  constructor(readonly buffers: KeyNamesBuffers) {
    this.index = new Int32Array(buffers.index);
    this.bytes = new Uint8Array(buffers.bytes);
  }

  private static last: KeyNames | null = null;

  /** Views of the buffers; the last ones are kept (a worker gets the same buffers task after task). */
  static of(buffers: KeyNamesBuffers): KeyNames {
    const last = KeyNames.last;
    if (last && last.buffers.index === buffers.index && last.buffers.bytes === buffers.bytes) return last;
    return (KeyNames.last = new KeyNames(buffers));
  }

  start(id: number): number {
    return id === 0 ? 0 : this.index[(id - 1) * Field.Words + Field.End];
  }

  /** The key's Kafka murmur2 hash. */
  hash(id: number): number {
    return this.index[id * Field.Words + Field.Hash];
  }

  /** The name's bytes end (they start at start(id)). */
  nameEnd(id: number): number {
    return this.index[id * Field.Words + Field.NameEnd];
  }

  /** The name's JSON string (quoted and escaped) is bytes[nameEnd(id), jsonEnd(id)), unless the
   *  two are equal: then it is the name between quotes. */
  jsonEnd(id: number): number {
    return this.index[id * Field.Words + Field.JsonEnd];
  }

  /** The Kafka key's bytes: bytes[kafkaStart(id), kafkaEnd(id)). */
  kafkaStart(id: number): number {
    const w = id * Field.Words;
    const jsonEnd = this.index[w + Field.JsonEnd];
    return this.index[w + Field.End] > jsonEnd ? jsonEnd : this.start(id);
  }

  kafkaEnd(id: number): number {
    const w = id * Field.Words;
    const jsonEnd = this.index[w + Field.JsonEnd];
    const end = this.index[w + Field.End];
    return end > jsonEnd ? end : this.index[w + Field.NameEnd];
  }

  /** The key as a string (the rare places that need one: the summary's top windows). */
  name(id: number): string {
    return decodeWtf8(this.bytes, this.start(id), this.index[id * Field.Words + Field.NameEnd]);
  }
}

function decodeAt(b: Uint8Array, i: number): { cp: number; len: number } {
  const c = b[i];
  if (c < 0x80) return { cp: c, len: 1 };
  if (c < 0xe0) return { cp: ((c & 0x1f) << 6) | (b[i + 1] & 0x3f), len: 2 };
  if (c < 0xf0) return { cp: ((c & 0x0f) << 12) | ((b[i + 1] & 0x3f) << 6) | (b[i + 2] & 0x3f), len: 3 };
  return { cp: ((c & 0x07) << 18) | ((b[i + 1] & 0x3f) << 12) | ((b[i + 2] & 0x3f) << 6) | (b[i + 3] & 0x3f), len: 4 };
}

function decodeWtf8(b: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; ) {
    const { cp, len } = decodeAt(b, i);
    s += String.fromCodePoint(cp);
    i += len;
  }
  return s;
}

/** WTF-8 of a string: UTF-8, with a lone surrogate written as its own 3-byte sequence. */
function wtf8(s: string): Uint8Array {
  if (isWellFormed(s)) return Buffer.from(s, 'utf8');
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Uint8Array.from(out);
}

/** True when JSON.stringify(s) is s between quotes: no quote, backslash, control character or
 *  lone surrogate. */
function isPlainJson(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === QUOTE || c === 0x5c) return false;
  }
  return isWellFormed(s);
}

// String.prototype.isWellFormed is in Node 20 (V8 11.3) but not in TypeScript's ES2022 lib.
const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

/** The main thread's side: appends keys in id order. */
export class SharedKeyNames extends KeyNames {
  private count = 0;
  private used = 0;
  /** `bytes` as a Buffer, to write names in place. */
  private readonly text: Buffer;

  private constructor(buffers: KeyNamesBuffers) {
    super(buffers);
    this.text = Buffer.from(buffers.bytes);
  }

  static create(keys = 1024, bytes = 16 * 1024, lineage = newLineage()): SharedKeyNames {
    return new SharedKeyNames({ index: new SharedArrayBuffer(keys * Field.Words * 4), bytes: new SharedArrayBuffer(bytes), lineage });
  }

  get size(): number {
    return this.count;
  }

  /** Adds the key with the next id. Returns this table, or a bigger copy when it was full (the
   *  caller keeps the one returned). */
  append(name: string): SharedKeyNames {
    const id = this.count;
    const w = id * Field.Words;
    if (isPlainJson(name)) {
      // The common case, written in place: its UTF-8 is at most 3 bytes per UTF-16 unit.
      const table = this.withRoom(id + 1, 3 * name.length);
      const at = table.used + table.text.write(name, table.used);
      table.index.set([at, at, at], w);
      return table.finishAppend(id, at);
    }
    const utf8 = wtf8(name);
    const json = Buffer.from(JSON.stringify(name), 'utf8');
    const kafka = isWellFormed(name) ? null : Buffer.from(name, 'utf8');
    const table = this.withRoom(id + 1, utf8.length + json.length + (kafka?.length ?? 0));
    let at = table.used;
    table.bytes.set(utf8, at);
    table.index[w + Field.NameEnd] = at += utf8.length;
    table.bytes.set(json, at);
    table.index[w + Field.JsonEnd] = at += json.length;
    if (kafka) table.bytes.set(kafka, at);
    table.index[w + Field.End] = at += kafka?.length ?? 0;
    return table.finishAppend(id, at);
  }

  private finishAppend(id: number, end: number): SharedKeyNames {
    this.used = end;
    this.count = id + 1;
    this.index[id * Field.Words + Field.Hash] = native.murmur2(this.bytes, this.kafkaStart(id), this.kafkaEnd(id));
    return this;
  }

  private withRoom(keys: number, bytes: number): SharedKeyNames {
    if (keys * Field.Words <= this.index.length && this.used + bytes <= this.bytes.length) return this;
    return this.grown(keys, this.used + bytes);
  }

  private grown(keys: number, bytes: number): SharedKeyNames {
    const next = SharedKeyNames.create(Math.max(keys, (2 * this.index.length) / Field.Words), Math.max(bytes, 2 * this.bytes.length), this.buffers.lineage);
    next.index.set(this.index.subarray(0, this.count * Field.Words));
    next.bytes.set(this.bytes.subarray(0, this.used));
    next.count = this.count;
    next.used = this.used;
    return next;
  }
}
