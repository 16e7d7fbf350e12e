// Produce requests written by sluice, for every producer in the process (the sinks'): the same
// bytes kafkajs would send, made with a fraction of the main thread's time and garbage.
//
// kafkajs groups a send's messages per partition by copying the partition's array at every message
// (quadratic), encodes each record into a buffer of its own, copies each record batch through four
// growing Encoders, sorts timestamps as strings and computes CRC-32C in JS a byte at a time.
// Measured on 1,000 results (~250 KB), idle: 8 ms of main thread per send; under load that time sat
// between a result's write and its ack. Here one pass sizes the request and a second writes it into
// one exact-size buffer, records in place, checksums from the addon.
//
// kafkajs has no hook for any of this, so three of its modules are swapped (as the record-batch
// decoder is, in record-batch.ts): the per-partition grouping, preloaded when this module loads
// (kafkajs's producer captures it when kafkajs loads: client.ts imports this first); the record
// encoder; and the produce request (v3, which v4-v7 build on). Compressed requests compress each
// partition's records with kafkajs's own codec (gzip, and what codecs.ts registers). Requests with
// headers, a transaction or idempotence, or timestamps that are not plain integers go to kafkajs's
// code.
// SLUICE_KAFKAJS_RECORDS=1 keeps kafkajs's own throughout.
import Module from 'node:module';
import type * as Kafkajs from 'kafkajs';
import { native } from '../../native';
import type { EncodedRecords } from '../../records/encoded';

interface ProduceMessage {
  key?: Buffer | string | null;
  value?: Buffer | string | null;
  timestamp?: string | number | null;
  headers?: Record<string, unknown>;
}

interface ProduceRequestArgs {
  acks: number;
  timeout: number;
  transactionalId?: string | null;
  producerId?: { toString(): string };
  producerEpoch?: number;
  compression?: number;
  topicData: Array<{ topic: string; partitions: Array<{ partition: number; firstSequence?: number; messages: ProduceMessage[] }> }>;
}

/** kafkajs's Encoder, as far as its request framing reads it. */
interface KafkajsEncoder {
  buf: Buffer;
  offset: number;
}

type ProduceRequest = { encode(): Promise<KafkajsEncoder> } & Record<string, unknown>;

const kafkajsOwn = process.env.SLUICE_KAFKAJS_RECORDS === '1';
let groupingInstalled = false;
preloadGrouping();

// Encoded records (src/records/encoded.ts) go through kafkajs's producer as one stand-in message
// per send: the grouping below spreads its records over the topic's partitions (as kafkajs's
// default partitioner would: murmur2 of the key, or round-robin without one) into one stand-in per
// partition, which the produce request writes as that partition's record batch. kafkajs's retries,
// metadata and connections work as for any send; no record becomes an object.
const ENCODED = Symbol('sluice.encodedRecords');
const ROWS = Symbol('sluice.encodedRows');
const NO_BYTES = Buffer.alloc(0);

/** Records [from, to) of one EncodedRecords. */
export interface RecordSegment {
  records: EncodedRecords;
  from: number;
  to: number;
}

interface EncodedMessage extends ProduceMessage {
  [ENCODED]: RecordSegment[];
}

/** One partition's records, in order: record row[i] of sources[source[i]]. */
interface EncodedRows {
  sources: EncodedRecords[];
  source: number[];
  row: number[];
}

interface PartitionRows extends ProduceMessage {
  [ROWS]: EncodedRows;
}

/** The message that stands for these records in a kafkajs send (whose only message it must be). */
export function encodedMessage(segments: RecordSegment[]): ProduceMessage {
  return { value: NO_BYTES, [ENCODED]: segments } as EncodedMessage;
}

/** Whether kafkajs sends go through this module (else encoded messages cannot be sent). */
export function encodedSendsWork(): boolean {
  installProduceEncoder();
  return groupingInstalled && originalRequest !== null;
}

/** Round-robin counters for keyless records, per topic, from a random start (as kafkajs's). */
const roundRobin = new Map<string, number>();

function spreadEncoded(topic: string, partitionMetadata: Array<{ partitionId: number; leader: number }>, segments: RecordSegment[]): Record<number, unknown[]> {
  const n = partitionMetadata.length;
  const available = partitionMetadata.filter((p) => p.leader >= 0);
  const sources = [...new Set(segments.map((s) => s.records))];
  const lists = new Map<number, PartitionRows>();
  for (const { records, from, to } of segments) {
    const index = sources.indexOf(records);
    for (let i = from; i < to; i++) {
      let p: number;
      if (records.hasKey(i)) p = (records.keyHash[i] & 0x7fffffff) % n;
      else {
        const next = ((roundRobin.get(topic) ?? Math.floor(Math.random() * 2 ** 31)) + 1) & 0x7fffffff;
        roundRobin.set(topic, next);
        p = available.length > 0 ? available[next % available.length].partitionId : next % n;
      }
      let list = lists.get(p);
      if (!list) lists.set(p, (list = { value: NO_BYTES, [ROWS]: { sources, source: [], row: [] } }));
      list[ROWS].source.push(index);
      list[ROWS].row.push(i);
    }
  }
  const result: Record<number, unknown[]> = {};
  for (const [p, list] of lists) result[p] = [list];
  return result;
}

/** kafkajs's messages-per-partition grouping, linear: same result (partition -> messages in order). */
function groupMessagesPerPartition({ topic, partitionMetadata, messages, partitioner }: { topic: string; partitionMetadata: Array<{ partitionId: number; leader: number }>; messages: unknown[]; partitioner: (a: { topic: string; partitionMetadata: unknown[]; message: unknown }) => number }) {
  const result: Record<number, unknown[]> = {};
  if (partitionMetadata.length === 0) return result;
  if (messages.length === 1 && (messages[0] as EncodedMessage)[ENCODED]) return spreadEncoded(topic, partitionMetadata, (messages[0] as EncodedMessage)[ENCODED]);
  for (const message of messages) (result[partitioner({ topic, partitionMetadata, message })] ??= []).push(message);
  return result;
}

function preloadGrouping(): void {
  const file = require.resolve('kafkajs/src/producer/groupMessagesPerPartition');
  if (kafkajsOwn || require.cache[file]) return; // kafkajs loaded first: its own stays
  groupingInstalled = true;
  const m = new Module(file, module);
  m.filename = file;
  m.loaded = true;
  m.exports = groupMessagesPerPartition;
  require.cache[file] = m;
}

let installed = false;
let originalRecord: ((r: RecordFields) => unknown) | null = null;
let originalRequest: ((args: ProduceRequestArgs) => ProduceRequest) | null = null;

/** Swaps kafkajs's record encoder and produce request for ours; a no-op after the first call, and
 *  when kafkajs built a produce request before (it holds its own modules then). */
export function installProduceEncoder(): void {
  if (installed) return;
  installed = true;
  const recordPath = require.resolve('kafkajs/src/protocol/recordBatch/record/v0');
  const requestPath = require.resolve('kafkajs/src/protocol/requests/produce/v3/request');
  if (kafkajsOwn || require.cache[requestPath]) return;
  // The record encoder first: the produce request module captures it when it loads.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  originalRecord = require(recordPath) as (r: RecordFields) => unknown;
  require.cache[recordPath]!.exports = (r: RecordFields) => encodeRecord(r) ?? originalRecord!(r);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  originalRequest = require(requestPath) as (args: ProduceRequestArgs) => ProduceRequest;
  require.cache[requestPath]!.exports = (args: ProduceRequestArgs) => {
    const request = originalRequest!(args);
    if (fastPathFits(args)) return { ...request, encode: async () => ((args.compression ?? 0) === 0 ? encodeProduceRequest(args) : encodeCompressedRequest(args)) };
    if (args.topicData.some((t) => t.partitions.some((p) => (p.messages[0] as PartitionRows | undefined)?.[ROWS]))) {
      throw new Error('encoded records need a produce request without transactions or idempotence, and a codec kafkajs knows');
    }
    return request;
  };
}

/** kafkajs's own record encoder and produce request (for tests that compare). */
export function kafkajsEncoders() {
  return { record: originalRecord, request: originalRequest };
}

const isBytes = (x: unknown): x is Buffer | string | null | undefined => x === null || x === undefined || typeof x === 'string' || Buffer.isBuffer(x);
const isTimestamp = (t: unknown) => t === null || t === undefined || ((typeof t === 'string' || typeof t === 'number') && Number.isSafeInteger(Number(t)) && Number(t) > 0);

function fastPathFits(args: ProduceRequestArgs): boolean {
  const compression = args.compression ?? 0;
  // gzip, snappy, lz4 (zstd is read, not written: codecs.ts).
  if ((compression !== 0 && (compression > 3 || codecOf(compression) === undefined)) || args.transactionalId != null) return false;
  if (args.producerId !== undefined && args.producerId.toString() !== '-1') return false;
  for (const t of args.topicData) {
    for (const p of t.partitions) {
      for (const m of p.messages) {
        if (!isBytes(m.key) || !isBytes(m.value) || !isTimestamp(m.timestamp)) return false;
        if (m.headers && Object.keys(m.headers).length > 0) return false;
      }
    }
  }
  return true;
}

// Produce request v3+ body: transactional_id acks timeout [topic [partition record_set]], each
// record set one v2 RecordBatch: firstOffset(8) length(4) leaderEpoch(4) magic(1) crc(4) |
// attributes(2) lastOffsetDelta(4) firstTimestamp(8) maxTimestamp(8) producerId(8) producerEpoch(2)
// firstSequence(4) count(4) records; the CRC covers what follows it.
const BATCH_OVERHEAD = 61;
const CRC_FROM = 21; // attributes, from the batch's start
const MAGIC = 2;

/** A partition's kafkajs messages, read as records. */
interface RecordSource {
  readonly count: number;
  /** NaN: none (the record gets the time of the request). */
  timestampMs(i: number): number;
  /** -1: null. */
  keyBytes(i: number): number;
  valueBytes(i: number): number;
  writeKey(i: number, buf: Buffer, at: number): number;
  writeValue(i: number, buf: Buffer, at: number): number;
}

class MessageSource implements RecordSource {
  constructor(private readonly m: ProduceMessage[]) {}
  get count() {
    return this.m.length;
  }
  timestampMs(i: number) {
    const t = this.m[i].timestamp;
    return t == null ? NaN : Number(t);
  }
  keyBytes(i: number) {
    return byteLength(this.m[i].key);
  }
  valueBytes(i: number) {
    return byteLength(this.m[i].value);
  }
  writeKey(i: number, buf: Buffer, at: number) {
    return writeBytes(buf, at, this.m[i].key);
  }
  writeValue(i: number, buf: Buffer, at: number) {
    return writeBytes(buf, at, this.m[i].value);
  }
}

/** A partition's encoded rows (one stand-in message), if that is what it holds. */
const encodedRowsOf = (messages: ProduceMessage[]): EncodedRows | undefined => (messages.length === 1 ? (messages[0] as PartitionRows)[ROWS] : undefined);

/** A partition of a request: kafkajs messages, or encoded rows whose records the addon writes;
 *  with compression, its records compressed (`packed`), written in the first pass. */
type PartitionPlan = ({ messages: MessageSource } | { rows: EncodedRows; source: Int32Array; row: Int32Array }) & { bytes: number; now: number; packed?: Buffer };

/** kafkajs's codec of a compression type (1 gzip, 2 snappy, 3 lz4), as it would compress a batch's records. */
function codecOf(compression: number): (() => { compress(e: { buffer: Buffer }): Promise<Buffer> }) | undefined {
  // Required here, not imported: kafkajs must load after this module (preloadGrouping).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { CompressionCodecs } = require('kafkajs') as typeof Kafkajs;
  return (CompressionCodecs as unknown as Record<number, (() => { compress(e: { buffer: Buffer }): Promise<Buffer> }) | undefined>)[compression];
}

/** Same bytes as kafkajs's produce request v3 (no transaction): compressed records too, by the
 *  same codec. */
export function encodeProduceRequest(args: ProduceRequestArgs): KafkajsEncoder {
  const compression = args.compression ?? 0;
  if (compression !== 0) throw new Error('a compressed produce request is encoded by encodeCompressedRequest');
  return writeRequest(args, planRequest(args));
}

/** encodeProduceRequest's, with each partition's records compressed (all at once: lz4 and snappy
 *  compress on libuv's threads). */
export async function encodeCompressedRequest(args: ProduceRequestArgs): Promise<KafkajsEncoder> {
  const plan = planRequest(args);
  const codec = codecOf(args.compression!)!();
  let fi = 0;
  const records = plan.plans.map((p) => {
    const { buf, next } = recordsOf(p, plan.fields, fi);
    fi = next;
    return buf;
  });
  const packed = await Promise.all(records.map((buffer) => codec.compress({ buffer })));
  for (let i = 0; i < plan.plans.length; i++) {
    plan.size += packed[i].length - records[i].length;
    plan.plans[i].packed = packed[i];
  }
  return writeRequest(args, plan);
}

/** A partition's records, uncompressed, in a buffer of their own; `fi`: its first message's
 *  fields, `next`: the next partition's. */
function recordsOf(plan: PartitionPlan, fields: number[], fi: number): { buf: Buffer; next: number } {
  const buf = Buffer.allocUnsafe(plan.bytes);
  if ('rows' in plan) {
    native.encodeKafkaRecords(plan.rows.sources, plan.source, plan.row, plan.row.length, plan.now, buf);
    return { buf, next: fi };
  }
  let at = 0;
  for (let i = 0; i < plan.messages.count; i++, fi += 3) at = writeRecordFrom(buf, at, fields[fi + 2], i, plan.messages, fields[fi], fields[fi + 1]);
  return { buf, next: fi };
}

interface RequestPlan {
  fields: number[];
  stamps: number[];
  plans: PartitionPlan[];
  size: number;
}

/** The first pass: each partition's records sized (and the addon's rows counted), uncompressed. */
function planRequest(args: ProduceRequestArgs): RequestPlan {
  const fields: number[] = []; // per message: key bytes, value bytes (-1: null), timestamp delta
  const stamps: number[] = []; // per partition: first and max timestamp
  const plans: PartitionPlan[] = [];
  let size = 2 + 2 + 4 + 4;
  for (const t of args.topicData) {
    size += 2 + Buffer.byteLength(t.topic) + 4;
    for (const p of t.partitions) {
      // kafkajs: the smallest and largest given timestamp; messages without one get now.
      const now = Date.now();
      size += 8 + BATCH_OVERHEAD;
      const rows = encodedRowsOf(p.messages);
      if (rows) {
        const source = Int32Array.from(rows.source);
        const row = Int32Array.from(rows.row);
        const m = native.encodeKafkaRecords(rows.sources, source, row, row.length, now, null);
        plans.push({ rows, source, row, bytes: m.bytes, now });
        stamps.push(m.firstTimestampMs, m.maxTimestampMs);
        size += m.bytes;
        continue;
      }
      const src = new MessageSource(p.messages);
      const plan = { messages: src, bytes: 0, now };
      plans.push(plan);
      let first = Infinity;
      let max = -Infinity;
      for (let i = 0; i < src.count; i++) {
        const ts = src.timestampMs(i);
        if (ts < first) first = ts;
        if (ts > max) max = ts;
      }
      if (first === Infinity) first = max = now;
      stamps.push(first, max);
      for (let i = 0; i < src.count; i++) {
        const keyBytes = src.keyBytes(i);
        const valueBytes = src.valueBytes(i);
        const ts = src.timestampMs(i);
        const timestampDelta = (Number.isNaN(ts) ? now : ts) - first;
        fields.push(keyBytes, valueBytes, timestampDelta);
        const body = recordBody(timestampDelta, i, keyBytes, valueBytes);
        plan.bytes += zigzagSize(body) + body;
      }
      size += plan.bytes;
    }
  }
  return { fields, stamps, plans, size };
}

/** The second pass: the request, into one buffer of the planned size. */
function writeRequest(args: ProduceRequestArgs, { fields, stamps, plans, size }: RequestPlan): KafkajsEncoder {
  const buf = Buffer.allocUnsafe(size);
  let at = buf.writeInt16BE(-1, 0); // transactional_id: null
  at = buf.writeInt16BE(args.acks, at);
  at = buf.writeInt32BE(args.timeout, at);
  at = buf.writeInt32BE(args.topicData.length, at);
  let fi = 0;
  let si = 0;
  let pi = 0;
  for (const t of args.topicData) {
    at = buf.writeInt16BE(Buffer.byteLength(t.topic), at);
    at += buf.write(t.topic, at, 'utf8');
    at = buf.writeInt32BE(t.partitions.length, at);
    for (const p of t.partitions) {
      const plan = plans[pi++];
      const count = 'rows' in plan ? plan.row.length : plan.messages.count;
      const sizeAt = at + 4;
      at = buf.writeInt32BE(p.partition, at) + 4; // record set size, below
      const batchAt = at;
      at = writeInt64(buf, at, 0); // firstOffset
      at += 4; // length, below
      at = buf.writeInt32BE(0, at); // partition leader epoch
      at = buf.writeInt8(MAGIC, at);
      at += 4; // crc, below
      at = buf.writeInt16BE(args.compression ?? 0, at); // attributes: the codec, create time, no transaction
      at = buf.writeInt32BE(count - 1, at);
      at = writeInt64(buf, at, stamps[si++]); // first timestamp
      at = writeInt64(buf, at, stamps[si++]); // max timestamp
      at = writeInt64(buf, at, -1); // producerId
      at = buf.writeInt16BE(args.producerEpoch ?? 0, at);
      at = buf.writeInt32BE(p.firstSequence ?? 0, at);
      at = buf.writeInt32BE(count, at);
      if (plan.packed) {
        at += plan.packed.copy(buf, at);
        if (!('rows' in plan)) fi += 3 * count;
      } else if ('rows' in plan) {
        native.encodeKafkaRecords(plan.rows.sources, plan.source, plan.row, count, plan.now, buf.subarray(at, at + plan.bytes));
        at += plan.bytes;
      } else {
        for (let i = 0; i < count; i++, fi += 3) at = writeRecordFrom(buf, at, fields[fi + 2], i, plan.messages, fields[fi], fields[fi + 1]);
      }
      buf.writeInt32BE(at - batchAt, sizeAt);
      buf.writeInt32BE(at - batchAt - 12, batchAt + 8);
      buf.writeUInt32BE(native.crc32c(buf, batchAt + CRC_FROM, at), batchAt + 17);
    }
  }
  if (at !== size) throw new Error(`produce request: wrote ${at} bytes of ${size}`);
  return { buf, offset: size, get buffer() { return buf; }, size: () => size } as KafkajsEncoder;
}

const byteLength = (x: Buffer | string | null | undefined) => (x == null ? -1 : typeof x === 'string' ? Buffer.byteLength(x) : x.length);

function writeBytes(buf: Buffer, at: number, x: Buffer | string | null | undefined): number {
  if (x == null) return at;
  return at + (typeof x === 'string' ? buf.write(x, at, 'utf8') : x.copy(buf, at));
}

function writeInt64(buf: Buffer, at: number, n: number): number {
  buf.writeInt32BE(Math.floor(n / 2 ** 32), at);
  buf.writeUInt32BE(((n % 2 ** 32) + 2 ** 32) % 2 ** 32, at + 4);
  return at + 8;
}

// Records (Kafka's v2 layout): length, attributes, timestampDelta, offsetDelta, key, value, headers;
// the integers zigzag varints.

interface RecordFields {
  offsetDelta?: number;
  timestampDelta?: unknown;
  key?: Buffer | string | null;
  value?: Buffer | string | null;
  headers?: Record<string, unknown>;
}

/** Bytes of a record after its length field. */
const recordBody = (timestampDelta: number, offsetDelta: number, keyBytes: number, valueBytes: number) =>
  1 + zigzagSize(timestampDelta) + zigzagSize(offsetDelta) + zigzagSize(keyBytes) + Math.max(0, keyBytes) + zigzagSize(valueBytes) + Math.max(0, valueBytes) + 1;

const zigzagSize = (n: number) => varuintSize(n >= 0 ? n * 2 : -n * 2 - 1);
function varuintSize(u: number): number {
  let size = 1;
  while (u >= 128) {
    u = Math.floor(u / 128);
    size++;
  }
  return size;
}

function writeZigzag(buf: Buffer, at: number, n: number): number {
  let u = n >= 0 ? n * 2 : -n * 2 - 1;
  while (u >= 128) {
    buf[at++] = (u % 128) | 0x80;
    u = Math.floor(u / 128);
  }
  buf[at++] = u;
  return at;
}

/** Writes record i of src at `at` (its length first); returns where it ends. */
function writeRecordFrom(buf: Buffer, at: number, timestampDelta: number, i: number, src: RecordSource, keyBytes: number, valueBytes: number): number {
  at = writeZigzag(buf, at, recordBody(timestampDelta, i, keyBytes, valueBytes));
  buf[at++] = 0; // attributes
  at = writeZigzag(buf, at, timestampDelta);
  at = writeZigzag(buf, at, i); // offset delta
  at = src.writeKey(i, buf, writeZigzag(buf, at, keyBytes));
  at = src.writeValue(i, buf, writeZigzag(buf, at, valueBytes));
  buf[at++] = 0; // no headers
  return at;
}

/** One record in its own buffer (kafkajs's Record, for requests kafkajs still encodes), or null
 *  when kafkajs's encoder must do it (headers, a Long timestamp delta). */
export function encodeRecord(r: RecordFields): { buf: Buffer; buffer: Buffer } | null {
  const { offsetDelta = 0, timestampDelta = 0, key = null, value = null, headers } = r;
  if (typeof timestampDelta !== 'number' || !Number.isSafeInteger(timestampDelta) || !Number.isSafeInteger(offsetDelta)) return null;
  if (headers && Object.keys(headers).length > 0) return null;
  const keyBytes = byteLength(key);
  const valueBytes = byteLength(value);
  const body = recordBody(timestampDelta, offsetDelta, keyBytes, valueBytes);
  const buf = Buffer.allocUnsafe(zigzagSize(body) + body);
  let at = writeZigzag(buf, 0, body);
  buf[at++] = 0; // attributes
  at = writeZigzag(buf, at, timestampDelta);
  at = writeZigzag(buf, at, offsetDelta);
  at = writeBytes(buf, writeZigzag(buf, at, keyBytes), key);
  at = writeBytes(buf, writeZigzag(buf, at, valueBytes), value);
  buf[at] = 0; // no headers
  return { buf, buffer: buf };
}
