// The decode step in the addon (native/decode/): one scan over each message's bytes instead of
// JSON.parse, with keys interned natively. It stands in for JsonDecoder + KeyTable and gives the
// same DecodedEvents, key ids and dead letters (test/decode/differential.test.ts checks that).
//
// Two kinds of message still go through JsonDecoder's decodeOne:
// - dead letters, to get JsonDecoder's detail text (the addon only settles the reason);
// - the few the scanner cannot settle with certainty (status NeedsJs): zone-less ISO timestamps
//   (local time), out-of-range date fields, invalid UTF-8 in the key, strings with lone surrogates
//   (UTF-8 cannot carry them) or whose UTF-8 form is over maxEventBytes while their length is not.
import { DecodeStatus, type DecodeColumns, type NativeDecoderHandle } from '../native/decode';
import { native } from '../native/index';
import type { DeadLetterReason } from '../records/records';
import { compileSpec, decodeOne, type CompiledSpec, type DecodedEvents, type DecodeSpec } from './decoder';
import { SharedKeyNames } from './key-names';
import { applyNumeric, columnKind } from './transforms';
import type { RawBatch } from './raw-batch';

/** A batch packed into one byte buffer: message i is data[starts[i], ends[i]). */
export interface PackedBatch {
  count: number;
  data: Uint8Array;
  starts: Int32Array;
  ends: Int32Array;
  recordTimestampMs: Float64Array;
}

/** 64 KiB to start with; the buffer doubles as batches need, and is reused. */
const INITIAL_BUFFER_BYTES = 64 * 1024;

export class NativeJsonDecoder {
  private readonly handle: NativeDecoderHandle;
  private readonly compiled: CompiledSpec;
  private readonly maxEventBytes: number;
  private data = Buffer.allocUnsafe(INITIAL_BUFFER_BYTES);
  private starts = new Int32Array(0);
  private ends = new Int32Array(0);
  private status = new Uint8Array(0);
  // A JS-side copy of the key partitions (after every batch), so partitionOf, called per event by
  // the dispatcher, does not cross into the addon. Names go to a shared byte table, not strings:
  // a million cached key strings cost more memory than they save.
  private partitions = new Int32Array(1024);
  private knownKeys = 0;
  /** The names too, for the workers (src/decode/key-names.ts). */
  private names = SharedKeyNames.create();
  /** Messages decoded in full by the JS fallback (NeedsJs) so far; too-large ones are not counted. */
  jsFallbacks = 0;

  constructor(spec: DecodeSpec, numPartitions: number) {
    this.compiled = compileSpec(spec);
    this.maxEventBytes = spec.maxEventBytes;
    const columns = this.compiled.columns.map(({ transform: t }) => ({
      kind: columnKind(t),
      values: t?.type === 'category' || t?.type === 'onehot' ? t.values : [],
      index: t?.type === 'onehot' ? t.index : 0,
      buckets: t?.type === 'hash' ? t.buckets : 0,
    }));
    this.handle = new native.NativeDecoder({ keyPath: spec.keyPath, timestampPath: spec.timestampPath, fieldPaths: spec.fieldPaths, columns, eventIdPath: spec.eventIdPath, maxEventBytes: spec.maxEventBytes, numPartitions });
  }

  /** Keys interned so far. */
  get size(): number {
    return this.knownKeys;
  }

  keyName(id: number): string {
    return this.handle.keyName(id);
  }

  /** Every key's name so far, shared with the workers; replaced by a bigger one as keys come. */
  get keyNames(): SharedKeyNames {
    return this.names;
  }

  partitionOf(id: number): number {
    return this.partitions[id];
  }

  /** Keys with ids from `from` on, for a checkpoint. */
  keysFrom(from: number): Array<{ id: number; name: string; partition: number }> {
    const out = [];
    for (let id = from; id < this.knownKeys; id++) out.push({ id, name: this.handle.keyName(id), partition: this.partitions[id] });
    return out;
  }

  /** The id of a key name, interned if new (a partition's keys read back, SPEC §15). */
  internKey(name: string): number {
    const id = this.handle.internKey(name);
    this.syncKeys();
    return id;
  }

  /** Interns a checkpoint's keys, in id order, into a decoder that has seen none: they get back
   *  the ids the window state refers to. */
  restoreKeys(names: readonly string[]): void {
    if (this.handle.numKeys !== 0) throw new Error('restoreKeys: the decoder has interned keys already');
    for (let id = 0; id < names.length; id++) {
      if (this.handle.internKey(names[id]) !== id) throw new Error(`restoreKeys: key ${JSON.stringify(names[id])} is there twice`);
    }
    this.syncKeys();
  }

  decode(raw: RawBatch, out: DecodedEvents): void {
    if (!raw.values) {
      this.decodeBuffer({ count: raw.count, data: raw.data!, starts: raw.starts!, ends: raw.ends!, recordTimestampMs: raw.recordTimestampMs }, out);
      return;
    }
    const values = raw.values;
    const n = raw.count;
    this.reserveRows(n);
    this.status.fill(DecodeStatus.Clean, 0, n);
    let o = 0;
    for (let i = 0; i < n; i++) {
      const v = values[i];
      this.starts[i] = o;
      if (typeof v === 'string') {
        // JsonDecoder measures strings by UTF-16 length: those over the limit are dead letters
        // without a copy. (A string's UTF-8 is at most 3 bytes per unit.)
        if (v.length > this.maxEventBytes) {
          this.status[i] = DecodeStatus.NeedsJs;
        } else {
          this.reserveBytes(o + 3 * v.length);
          const written = this.data.write(v, o);
          // Not all ASCII: lone surrogates would turn into U+FFFD in UTF-8, and a UTF-8 form over
          // the limit is still decoded by JsonDecoder; both are JS's to decode.
          if (written !== v.length && (written > this.maxEventBytes || !isWellFormed(v))) this.status[i] = DecodeStatus.NeedsJs;
          o += written;
        }
      } else if (v.byteLength > this.maxEventBytes) {
        this.status[i] = DecodeStatus.NeedsJs; // a too-large dead letter, without the copy
      } else {
        this.reserveBytes(o + v.byteLength);
        this.data.set(v, o);
        o += v.byteLength;
      }
      this.ends[i] = o;
    }
    const packed = { count: n, data: this.data, starts: this.starts, ends: this.ends, recordTimestampMs: raw.recordTimestampMs };
    this.run(packed, (i) => values[i], out);
  }

  /** Decodes a batch that is already one buffer (e.g. a benchmark's, or Kafka bytes copied once). */
  decodeBuffer(packed: PackedBatch, out: DecodedEvents): void {
    this.reserveRows(packed.count);
    this.status.fill(DecodeStatus.Clean, 0, packed.count);
    this.run(packed, (i) => packed.data.subarray(packed.starts[i], packed.ends[i]), out);
  }

  private run(packed: PackedBatch, valueOf: (i: number) => string | Uint8Array, out: DecodedEvents): void {
    const n = packed.count;
    out.reset(n);
    const status = this.status;
    const columns: DecodeColumns = { rawIndex: out.rawIndex, keyId: out.keyId, timestampMs: out.timestampMs, fields: out.fields, status: status.subarray(0, n) };
    const withIds = this.compiled.eventId !== null;
    // An id's JSON text is never longer than its message plus 32 bytes (a number printed longer).
    const idRoom = () => packed.ends[n - 1] - packed.starts[i] + 32 * (n - i);
    const starts = packed.starts.subarray(0, n);
    const ends = packed.ends.subarray(0, n);
    const recordTs = packed.recordTimestampMs.subarray(0, n);
    let count = 0;
    let i = 0;
    while (i < n) {
      if (withIds) {
        out.reserveEventIds(count, idRoom());
        columns.eventIds = out.eventIds;
        columns.eventIdEnd = out.eventIdEnd;
      }
      count += this.handle.decode(packed.data, starts, ends, recordTs, columns, i, count);
      // The addon settled messages i.. up to the first NeedsJs; walk them for the dead letters.
      for (; i < n; i++) {
        const s = status[i];
        if (s === DecodeStatus.Clean) continue;
        const r = decodeOne(this.compiled, valueOf(i), packed.recordTimestampMs[i], i, out, count);
        if (s === DecodeStatus.NeedsJs) {
          if (typeof r === 'string') {
            out.rawIndex[count] = i;
            out.keyId[count] = this.handle.internKey(r);
            count++;
          } else {
            out.deadLetters.push(r);
          }
          if (typeof r === 'string' || r.reason !== 'too-large') this.jsFallbacks++;
          i++;
          break; // the addon stopped here; resume after this message
        }
        // A dead letter: the addon's reason, JsonDecoder's detail. Both always agree (the
        // differential test); were JS ever to call it clean, the addon's verdict stands, since
        // later keys are already interned.
        out.deadLetters.push(typeof r === 'string' ? { rawIndex: i, reason: REASONS[s], detail: 'rejected by the native decoder' } : r);
      }
    }
    out.count = count;
    applyNumeric(this.compiled.columns, out.fields, count);
    this.syncKeys();
  }

  private syncKeys(): void {
    const k = this.handle.numKeys;
    if (k > this.partitions.length) {
      const grown = new Int32Array(Math.max(k, this.partitions.length * 2));
      grown.set(this.partitions);
      this.partitions = grown;
    }
    for (let id = this.knownKeys; id < k; id++) {
      this.partitions[id] = this.handle.keyPartition(id);
      this.names = this.names.append(this.handle.keyName(id));
    }
    this.knownKeys = k;
  }

  private reserveRows(n: number): void {
    if (this.starts.length >= n) return;
    this.starts = new Int32Array(n);
    this.ends = new Int32Array(n);
    this.status = new Uint8Array(n);
  }

  private reserveBytes(bytes: number): void {
    if (bytes <= this.data.length) return;
    const grown = Buffer.allocUnsafe(Math.max(bytes, this.data.length * 2));
    this.data.copy(grown);
    this.data = grown;
  }
}

const REASONS: Record<number, DeadLetterReason> = {
  [DecodeStatus.TooLarge]: 'too-large',
  [DecodeStatus.Decode]: 'decode',
  [DecodeStatus.MissingKey]: 'missing-key',
  [DecodeStatus.BadTimestamp]: 'bad-timestamp',
  [DecodeStatus.BadField]: 'bad-field',
};

// String.prototype.isWellFormed is in Node 20 (V8 11.3) but not in TypeScript's ES2022 lib.
const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();
