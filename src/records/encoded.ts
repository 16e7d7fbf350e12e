// Records as the sinks take them: encoded bytes in columns, many records per buffer, so that no
// record costs the main thread an object or a string. Workers encode their results into one
// (src/runtime/result-records.ts); the main thread copies them into output order and hands
// whole ones to the sinks (src/runtime/emitter.ts). Late records and dead letters take the same form.
//
// Record i:
//   value  values[valueEnd[i - 1], valueEnd[i] - 1), followed by "\n" (a file sink writes the
//          values region as it is; a Kafka message leaves the newline out)
//   key    keys[keyEnd[i - 1], keyEnd[i]) when flags & HasKey, else null (the Kafka key)
//   keyHash   Kafka's murmur2 of the key bytes (its default partitioner's), when it has one
//   timestampMs  the Kafka record timestamp; NaN: none (the producer stamps the send time)
//   sinceMs   performance.now() when the input that caused it arrived; NaN: not measured
//
// Packed layout (one SharedArrayBuffer, 8-byte aligned sections in this order):
//   header Int32 x 4: count, valueBytes, keyBytes, 0 (padding to 8 bytes)
//   timestampMs, sinceMs Float64 x count; valueEnd, keyEnd, keyHash Int32 x count; flags Uint8 x count;
//   values Uint8 x valueBytes; keys Uint8 x keyBytes

import { native } from '../native/index';
import type { RecordColumn, RecordColumns } from '../native/records';
import type { RecordPrograms } from './program';

export const enum RecordFlag {
  HasKey = 1,
  /** Its input came within the run's warm-up: left out of the after-warm-up latency. */
  WarmingUp = 2,
}

/** The key names table, as the addon reads it (src/decode/key-names.ts). */
export interface KeyTableView {
  index: Int32Array;
  bytes: Uint8Array;
}

/** A row kind that makes no record. */
export const SKIP_ROW = 255;

const HEADER_BYTES = 16;
const align8 = (n: number) => (n + 7) & ~7;
const NEWLINE = 10;

export class EncodedRecords {
  constructor(
    readonly count: number,
    readonly values: Uint8Array,
    readonly valueEnd: Int32Array,
    readonly keys: Uint8Array,
    readonly keyEnd: Int32Array,
    readonly keyHash: Int32Array,
    readonly flags: Uint8Array,
    readonly timestampMs: Float64Array,
    readonly sinceMs: Float64Array,
  ) {}

  static readonly empty = new EncodedRecords(0, new Uint8Array(0), new Int32Array(0), new Uint8Array(0), new Int32Array(0), new Int32Array(0), new Uint8Array(0), new Float64Array(0), new Float64Array(0));

  /** Views over a buffer made by EncodedRecordsBuilder.pack (a worker's). */
  static fromBuffer(buffer: SharedArrayBuffer | ArrayBuffer): EncodedRecords {
    const [n, valueBytes, keyBytes] = new Int32Array(buffer, 0, 3);
    let at = HEADER_BYTES;
    const f64 = () => {
      const a = new Float64Array(buffer, at, n);
      at += 8 * n;
      return a;
    };
    const i32 = () => {
      const a = new Int32Array(buffer, at, n);
      at = align8(at + 4 * n);
      return a;
    };
    const timestampMs = f64();
    const sinceMs = f64();
    const valueEnd = i32();
    const keyEnd = i32();
    const keyHash = i32();
    const flags = new Uint8Array(buffer, at, n);
    at = align8(at + n);
    const values = new Uint8Array(buffer, at, valueBytes);
    const keys = new Uint8Array(buffer, at + valueBytes, keyBytes);
    return new EncodedRecords(n, values, valueEnd, keys, keyEnd, keyHash, flags, timestampMs, sinceMs);
  }

  /** Bytes of the values region (the records' text, newlines included): what a file sink writes. */
  get valueBytes(): number {
    return this.count === 0 ? 0 : this.valueEnd[this.count - 1];
  }

  valueStart(i: number): number {
    return i === 0 ? 0 : this.valueEnd[i - 1];
  }

  keyStart(i: number): number {
    return i === 0 ? 0 : this.keyEnd[i - 1];
  }

  hasKey(i: number): boolean {
    return (this.flags[i] & RecordFlag.HasKey) !== 0;
  }

  /** Record i's value as text, without its newline (tests, messages). */
  text(i: number): string {
    return Buffer.from(this.values.buffer, this.values.byteOffset + this.valueStart(i), this.valueEnd[i] - 1 - this.valueStart(i)).toString('utf8');
  }

  /** Every value as text, in order (tests). */
  lines(): string[] {
    return Array.from({ length: this.count }, (_, i) => this.text(i));
  }
}

/** Builds EncodedRecords one record at a time: the value first (in pieces), then the record. */
export class EncodedRecordsBuilder {
  count = 0;
  private values = Buffer.allocUnsafe(16 * 1024);
  private valueBytes = 0;
  private keys = Buffer.allocUnsafe(1024);
  private keyBytes = 0;
  private valueEnd = new Int32Array(64);
  private keyEnd = new Int32Array(64);
  private keyHash = new Int32Array(64);
  private flags = new Uint8Array(64);
  private timestampMs = new Float64Array(64);
  private sinceMs = new Float64Array(64);

  /** Empty again, keeping the memory grown so far. */
  reset(): this {
    this.count = 0;
    this.valueBytes = 0;
    this.keyBytes = 0;
    return this;
  }

  /** Bytes of values so far (the record being built included). */
  get bytes(): number {
    return this.valueBytes;
  }

  /** Appends text to the value being built. */
  text(s: string): this {
    // A string's UTF-8 form is at most 3 bytes per UTF-16 unit.
    this.reserveValue(3 * s.length);
    this.valueBytes += this.values.write(s, this.valueBytes);
    return this;
  }

  /** Appends bytes[start, end) to the value being built. */
  bytesFrom(bytes: Uint8Array, start: number, end: number): this {
    this.reserveValue(end - start);
    copy(bytes, start, end, this.values, this.valueBytes);
    this.valueBytes += end - start;
    return this;
  }

  /** Ends the value being built as record `count`, keyed by key[start, end) with its hash, or
   *  without a key (key null). */
  endRecord(key: Uint8Array | null, keyStart: number, keyEnd: number, keyHash: number, timestampMs: number, sinceMs = NaN, flags = 0): void {
    this.reserveValue(1);
    this.values[this.valueBytes++] = NEWLINE;
    const i = this.reserveRow();
    if (key) {
      this.reserveKey(keyEnd - keyStart);
      copy(key, keyStart, keyEnd, this.keys, this.keyBytes);
      this.keyBytes += keyEnd - keyStart;
      flags |= RecordFlag.HasKey;
    }
    this.valueEnd[i] = this.valueBytes;
    this.keyEnd[i] = this.keyBytes;
    this.keyHash[i] = key ? keyHash : 0;
    this.flags[i] = flags;
    this.timestampMs[i] = timestampMs;
    this.sinceMs[i] = sinceMs;
    this.count++;
  }

  /**
   * Encodes rows [from, to) of the columns into records, in the addon: row r with the program
   * kinds[r] of `programs` (SKIP_ROW: none; kinds null: program 0), stamped timestampMs[r].
   */
  encode(programs: RecordPrograms, columns: RecordColumn[], kinds: Uint8Array | null, keys: KeyTableView, timestampMs: Float64Array, from: number, to: number): void {
    const first = this.count;
    this.untilDone(from, to, (out, cursor) => native.encodeRecords(programs.programs, programs.literals, columns, kinds, keys.index, keys.bytes, out, cursor));
    for (let r = from, i = first; r < to; r++) {
      if (kinds && kinds[r] === SKIP_ROW) continue;
      this.timestampMs[i] = timestampMs[r];
      this.sinceMs[i] = NaN;
      i++;
    }
  }

  /**
   * Appends records from several EncodedRecords, in the given order: record row[i] of
   * sources[source[i]] for i < n, its latency start sinceMs[i] and flags[i] (WarmingUp) set anew.
   */
  gather(sources: readonly EncodedRecords[], source: Int32Array, row: Int32Array, sinceMs: Float64Array, flags: Uint8Array, n: number): void {
    const first = this.count;
    this.untilDone(0, n, (out, cursor) => native.gatherRecords(sources as EncodedRecords[], source, row, out, cursor));
    this.sinceMs.set(sinceMs.subarray(0, n), first);
    for (let i = 0; i < n; i++) this.flags[first + i] |= flags[i];
  }

  /** Calls the addon over items [from, to) until it has done them all: it stops, between items,
   *  when this builder is out of room, which grows before the next call. */
  private untilDone(from: number, to: number, call: (out: RecordColumns, cursor: Int32Array) => void): void {
    while (this.valueEnd.length < this.count + (to - from)) this.reserveRow(true);
    const cursor = this.cursor;
    cursor[0] = from;
    cursor[1] = to;
    for (;;) {
      cursor[2] = this.count;
      cursor[3] = this.valueBytes;
      cursor[4] = this.keyBytes;
      call(this.columnsOut(), cursor);
      this.count = cursor[2];
      this.valueBytes = cursor[3];
      this.keyBytes = cursor[4];
      if (cursor[0] >= to) return;
      this.reserveValue(Math.max(64 * 1024, this.values.length));
      this.reserveKey(Math.max(1024, this.keys.length));
    }
  }

  private readonly cursor = new Int32Array(5);

  private columnsOut(): RecordColumns {
    return { values: this.values, valueEnd: this.valueEnd, keys: this.keys, keyEnd: this.keyEnd, keyHash: this.keyHash, flags: this.flags, timestampMs: this.timestampMs };
  }

  /** The records so far, in one buffer of exactly their size (shared: a worker's go to the main thread). */
  pack(): SharedArrayBuffer {
    const n = this.count;
    const columns = HEADER_BYTES + 16 * n + 3 * align8(4 * n) + align8(n);
    const buffer = new SharedArrayBuffer(columns + this.valueBytes + this.keyBytes);
    new Int32Array(buffer, 0, 3).set([n, this.valueBytes, this.keyBytes]);
    const out = EncodedRecords.fromBuffer(buffer);
    out.timestampMs.set(this.timestampMs.subarray(0, n));
    out.sinceMs.set(this.sinceMs.subarray(0, n));
    out.valueEnd.set(this.valueEnd.subarray(0, n));
    out.keyEnd.set(this.keyEnd.subarray(0, n));
    out.keyHash.set(this.keyHash.subarray(0, n));
    out.flags.set(this.flags.subarray(0, n));
    out.values.set(this.values.subarray(0, this.valueBytes));
    out.keys.set(this.keys.subarray(0, this.keyBytes));
    return buffer;
  }

  /** The records so far, as views of this builder's memory, which it gives up: the builder
   *  starts over empty with new memory (the sinks may hold the records until they are sent). */
  take(): EncodedRecords {
    const n = this.count;
    const taken = new EncodedRecords(n, this.values.subarray(0, this.valueBytes), this.valueEnd.subarray(0, n), this.keys.subarray(0, this.keyBytes), this.keyEnd.subarray(0, n), this.keyHash.subarray(0, n), this.flags.subarray(0, n), this.timestampMs.subarray(0, n), this.sinceMs.subarray(0, n));
    const rows = Math.max(64, n);
    this.values = Buffer.allocUnsafe(Math.max(16 * 1024, this.valueBytes));
    this.keys = Buffer.allocUnsafe(Math.max(1024, this.keyBytes));
    this.valueEnd = new Int32Array(rows);
    this.keyEnd = new Int32Array(rows);
    this.keyHash = new Int32Array(rows);
    this.flags = new Uint8Array(rows);
    this.timestampMs = new Float64Array(rows);
    this.sinceMs = new Float64Array(rows);
    this.reset();
    return taken;
  }

  private reserveValue(bytes: number): void {
    if (this.valueBytes + bytes <= this.values.length) return;
    const grown = Buffer.allocUnsafe(Math.max(2 * this.values.length, this.valueBytes + bytes));
    this.values.copy(grown, 0, 0, this.valueBytes);
    this.values = grown;
  }

  private reserveKey(bytes: number): void {
    if (this.keyBytes + bytes <= this.keys.length) return;
    const grown = Buffer.allocUnsafe(Math.max(2 * this.keys.length, this.keyBytes + bytes));
    this.keys.copy(grown, 0, 0, this.keyBytes);
    this.keys = grown;
  }

  /** The next record's index, growing the columns if they are full (or, with `always`, anyway). */
  private reserveRow(always = false): number {
    const i = this.count;
    if (i < this.valueEnd.length && !always) return i;
    const n = 2 * this.valueEnd.length;
    this.valueEnd = grow(this.valueEnd, n);
    this.keyEnd = grow(this.keyEnd, n);
    this.keyHash = grow(this.keyHash, n);
    this.flags = grow(this.flags, n);
    this.timestampMs = grow(this.timestampMs, n);
    this.sinceMs = grow(this.sinceMs, n);
    return i;
  }
}

function grow<T extends Int32Array | Uint8Array | Float64Array>(a: T, n: number): T {
  const b = new (a.constructor as new (n: number) => T)(n);
  b.set(a);
  return b;
}

// Short runs (keys, most values) copy faster in a loop than through a native call.
const SHORT_COPY = 32;

function copy(src: Uint8Array, start: number, end: number, dst: Uint8Array, at: number): void {
  if (end - start <= SHORT_COPY) {
    for (let i = start; i < end; i++) dst[at++] = src[i];
    return;
  }
  dst.set(src.subarray(start, end), at);
}
