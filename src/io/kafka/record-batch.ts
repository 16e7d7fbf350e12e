// Kafka record batches (message format v2) read straight from the fetched bytes, for sluice's own
// consumers (writing them is produce-request.ts). kafkajs turns every record into an object with a
// Buffer key and value, Long-computed offset and timestamp strings and a headers map; at a million
// records that is most of the main thread and most of its garbage (measured: kafkajs plus GC took
// about three quarters of it).
//
// kafkajs has no hook for this, so its record-batch decoder module is swapped for ours before its
// fetch code loads it. Ours hands kafkajs one stand-in record per batch (offset = the batch's last
// offset, so kafkajs's offset bookkeeping works unchanged) that carries the parsed columns. Only
// fetch answers on connections of socketFactory({ fast: true }) get it: their bytes are marked as
// they arrive. Any other kafkajs client in the process, control and transactional batches, and
// SLUICE_KAFKAJS_RECORDS=1 get kafkajs's own decoder. (An AsyncLocalStorage scoped this before:
// it turned on Node's promise hooks for the whole process, and kafkajs makes promises by the
// thousand a second: 12% of the main thread's allocations in a per-event job.)
import { logger } from '../../log';

/** The parsed records of one batch, over its (decompressed) records section. */
export interface RecordColumns {
  bytes: Uint8Array;
  count: number;
  offsets: Float64Array;
  timestampsMs: Float64Array;
  /** Value i is bytes[valueStarts[i], valueEnds[i]); a null value has start = end. */
  valueStarts: Int32Array;
  valueEnds: Int32Array;
}

/** The stand-in record's property that holds the columns. */
export const RECORDS = Symbol('sluice.records');

/** Marks the socket factories of connections whose fetches get stand-in records. */
const FAST = Symbol('sluice.fastRecords');
/** The memory of fetch answers read on such connections. */
const fastBytes = new WeakSet<ArrayBufferLike>();
const FETCH_API_KEY = 1;
const JOIN_GROUP_API_KEY = 11;
/** A JoinGroup unanswered this long is being held by the broker (its rebalance delay). A first
 *  JoinGroup answered MEMBER_ID_REQUIRED at once is not: the next one is. */
const JOIN_HELD_MS = 10;
/** Called, once each, when a JoinGroup request on a marked connection is being held. */
const joinHeldWaiters: Array<() => void> = [];
let joinHooked = false;

/** Resolves once the broker holds a JoinGroup of sluice's consumer (KafkaSource.join): what
 *  remains of the join is the broker's wait. At once if kafkajs's send is not wrapped. */
export function nextJoinHeld(): Promise<void> {
  if (!joinHooked) return Promise.resolve();
  return new Promise((resolve) => joinHeldWaiters.push(resolve));
}

const log = logger('kafka');
const TIMESTAMP_TYPE_FLAG = 0x08;
const TRANSACTIONAL_FLAG = 0x10;
const CONTROL_FLAG = 0x20;
const CODEC_MASK = 0x07;
// RecordBatch header after Length: epoch 4, magic 1, crc 4, attributes 2, lastOffsetDelta 4,
// firstTimestamp 8, maxTimestamp 8, producerId 8, producerEpoch 2, firstSequence 4, count 4.
const HEADER_BYTES = 49;

interface KafkajsDecoder {
  buffer: Buffer;
  offset: number;
  slice(size: number): KafkajsDecoder;
  forward(size: number): void;
  readInt64(): { toString(): string };
  readInt32(): number;
}

type BatchDecoder = (decoder: KafkajsDecoder) => Promise<unknown>;
type SocketFactory = (args: object) => unknown;
interface KafkajsResponse {
  decode(payload: Buffer): Promise<unknown>;
}
interface KafkajsConnection {
  socketFactory?: SocketFactory & { [FAST]?: true };
  send(args: { request: { apiKey: number }; response: KafkajsResponse }): Promise<unknown>;
}
let installed = false;

/**
 * kafkajs's socket factory with Nagle's algorithm off, as Kafka's own clients have it (on the
 * mock, a 3.3 MB send measured p50 28 ms with it off and 32 with it on: within the noise).
 * `fast`: the connections' fetches read record batches as columns (`[RECORDS]`), not as
 * kafkajs's record objects.
 */
export function socketFactory(opts: { fast: boolean }): SocketFactory {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const base = (require('kafkajs/src/network/socketFactory') as () => SocketFactory)();
  const make = (args: object) => {
    const socket = base(args) as { setNoDelay(on: boolean): unknown };
    socket.setNoDelay(true);
    return socket;
  };
  return opts.fast ? Object.assign(make, { [FAST]: true as const }) : make;
}

/** A fetch answer's bytes, marked as read on a fast connection. A small answer may share Node's
 *  Buffer pool with other connections' bytes: it is copied into memory of its own first. */
function markFast(payload: Buffer): Buffer {
  const own = payload.byteLength <= Buffer.poolSize >>> 1 ? Buffer.from(new Uint8Array(payload).buffer) : payload;
  fastBytes.add(own.buffer);
  return own;
}

/** Swaps kafkajs's record-batch decoder for ours; a no-op after the first call. */
export function installFastRecords(): void {
  if (installed) return;
  installed = true;
  if (process.env.SLUICE_KAFKAJS_RECORDS === '1') return;
  const decoderPath = require.resolve('kafkajs/src/protocol/recordBatch/v0/decoder');
  const fetchPath = require.resolve('kafkajs/src/protocol/requests/fetch/v4/decodeMessages');
  if (require.cache[fetchPath]) {
    log.warn('kafkajs fetched before sluice loaded its record decoder; using kafkajs\'s own (slower)');
    return;
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const original = require(decoderPath) as BatchDecoder;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { lookupCodecByAttributes } = require('kafkajs/src/protocol/message/compression') as { lookupCodecByAttributes(a: number): { decompress(b: Buffer): Promise<Buffer> } | null };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Connection = require('kafkajs/src/network/connection') as { prototype: KafkajsConnection };
  const send = Connection.prototype.send;
  joinHooked = true;
  Connection.prototype.send = function (this: KafkajsConnection, args) {
    if (!this.socketFactory?.[FAST]) return send.call(this, args);
    if (args.request.apiKey === JOIN_GROUP_API_KEY) {
      const held = setTimeout(() => {
        for (const wake of joinHeldWaiters.splice(0)) wake();
      }, JOIN_HELD_MS);
      const answered = send.call(this, args);
      answered.then(() => clearTimeout(held), () => clearTimeout(held));
      return answered;
    }
    if (args.request.apiKey !== FETCH_API_KEY) return send.call(this, args);
    const { decode } = args.response;
    return send.call(this, { ...args, response: { ...args.response, decode: (payload: Buffer) => decode(markFast(payload)) } });
  };
  require.cache[decoderPath]!.exports = async (fetchDecoder: KafkajsDecoder) => {
    if (!fastBytes.has(fetchDecoder.buffer.buffer)) return original(fetchDecoder);
    const buf = fetchDecoder.buffer;
    const at = fetchDecoder.offset;
    // Partial batches (a fetch cut at maxBytes) and control or transactional batches (kafkajs
    // filters aborted transactions record by record) go the original way.
    if (at + 12 + HEADER_BYTES > buf.length) return original(fetchDecoder);
    const length = buf.readInt32BE(at + 8);
    const attributes = buf.readInt16BE(at + 12 + 9);
    if (at + 12 + length > buf.length || attributes & (TRANSACTIONAL_FLAG | CONTROL_FLAG)) return original(fetchDecoder);
    const firstOffset = Number(buf.readBigInt64BE(at));
    const lastOffsetDelta = buf.readInt32BE(at + 12 + 11);
    const firstTimestamp = Number(buf.readBigInt64BE(at + 12 + 15));
    const maxTimestamp = Number(buf.readBigInt64BE(at + 12 + 23));
    const count = buf.readInt32BE(at + 12 + HEADER_BYTES - 4);
    let bytes: Uint8Array = buf.subarray(at + 12 + HEADER_BYTES, at + 12 + length);
    fetchDecoder.forward(12 + length);
    const codec = lookupCodecByAttributes(attributes & CODEC_MASK);
    if (codec) bytes = await codec.decompress(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    const columns = parseRecords(bytes, count, firstOffset, attributes & TIMESTAMP_TYPE_FLAG ? maxTimestamp : firstTimestamp, (attributes & TIMESTAMP_TYPE_FLAG) !== 0);
    const lastOffset = String(firstOffset + lastOffsetDelta);
    const batchContext = { firstOffset: String(firstOffset), producerId: '-1', inTransaction: false, isControlBatch: false };
    const standIn = { offset: lastOffset, timestamp: String(firstTimestamp), key: null, value: null, headers: {}, isControlRecord: false, magicByte: 2, attributes: 0, batchContext, [RECORDS]: columns };
    return { firstOffset: String(firstOffset), lastOffsetDelta, inTransaction: false, isControlBatch: false, records: [standIn] };
  };
}

/** Reads a zigzag varint (up to 64 bits) as a Number; exact below 2^53. */
function readVarlong(b: Uint8Array, at: number, out: { at: number }): number {
  let raw = 0;
  let scale = 1;
  let byte: number;
  do {
    if (at >= b.length) throw new Error('Kafka record batch: truncated varint');
    byte = b[at++];
    raw += (byte & 0x7f) * scale;
    scale *= 128;
  } while (byte & 0x80);
  out.at = at;
  return raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
}

/** The records of a v2 batch: Length, Attributes, TimestampDelta, OffsetDelta, Key, Value, Headers. */
export function parseRecords(b: Uint8Array, count: number, firstOffset: number, baseTimestamp: number, logAppendTime: boolean): RecordColumns {
  const offsets = new Float64Array(count);
  const timestampsMs = new Float64Array(count);
  const valueStarts = new Int32Array(count);
  const valueEnds = new Int32Array(count);
  const cursor = { at: 0 };
  let at = 0;
  for (let i = 0; i < count; i++) {
    const length = readVarlong(b, at, cursor);
    const end = cursor.at + length;
    if (length < 0 || end > b.length) throw new Error('Kafka record batch: record runs past its batch');
    at = cursor.at + 1; // attributes (unused in v2)
    const timestampDelta = readVarlong(b, at, cursor);
    const offsetDelta = readVarlong(b, cursor.at, cursor);
    const keyLength = readVarlong(b, cursor.at, cursor);
    at = cursor.at + Math.max(0, keyLength);
    const valueLength = readVarlong(b, at, cursor);
    valueStarts[i] = cursor.at;
    valueEnds[i] = cursor.at + Math.max(0, valueLength);
    if (valueEnds[i] > end) throw new Error('Kafka record batch: value runs past its record');
    offsets[i] = firstOffset + offsetDelta;
    timestampsMs[i] = logAppendTime ? baseTimestamp : baseTimestamp + timestampDelta;
    at = end; // headers are skipped
  }
  return { bytes: b, count, offsets, timestampsMs, valueStarts, valueEnds };
}
