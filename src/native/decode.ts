// Types of the addon's decode binding (native/decode/). Only src/native/index.ts loads the addon;
// src/decode/native-decoder.ts is the one caller.

/** Per-message outcome of NativeDecoder.decode; the numbers match decode::Status in native/decode/json_scan.h. */
export const enum DecodeStatus {
  Clean = 0,
  TooLarge = 1,
  Decode = 2,
  MissingKey = 3,
  BadTimestamp = 4,
  BadField = 5,
  /** The native scanner leaves this message to the JS decoder (rare inputs: see native-decoder.ts). */
  NeedsJs = 6,
}

export interface NativeDecoderSpec {
  keyPath: string;
  /** "$kafka" for the record timestamp. */
  timestampPath: string;
  fieldPaths: string[];
  /** Per field path, what is read there (src/decode/transforms.ts ColumnKind): category and
   *  onehot columns match `values`, onehot's is 1 for values[index]; hash columns take `buckets`. */
  columns?: Array<{ kind: number; values: string[]; index: number; buckets: number }>;
  /** Per-event mode's eventId: each clean event's value there as JSON text (out.eventIds). */
  eventIdPath?: string;
  maxEventBytes: number;
  /** Key partitions: keyPartition(id) = keyHash(key) % numPartitions. A positive integer. */
  numPartitions: number;
}

/** Where decode writes. Any of these may be SharedArrayBuffer views. */
export interface DecodeColumns {
  rawIndex: Int32Array;
  keyId: Int32Array;
  timestampMs: Float64Array;
  /** Row-major, numFields per clean event. */
  fields: Float64Array;
  /** One DecodeStatus per message; a message preset to NeedsJs is left to the caller. */
  status: Uint8Array;
  /** With an eventIdPath: row r's id is eventIds[eventIdEnd[r - 1], eventIdEnd[r]); eventIds
   *  must have room for every remaining message's (its bytes + 32 each). */
  eventIds?: Uint8Array;
  eventIdEnd?: Int32Array;
}

export interface NativeDecoderHandle {
  /**
   * [sync] Decodes messages begin.. of starts.length (message i is data[starts[i], ends[i])) into
   * rows outBegin.. of `out`, interning keys, and sets status[i] for each. Stops right after the
   * first message whose status is NeedsJs (or was preset to it), so the caller can decode that one
   * in JS and resume at i + 1: key ids stay in arrival order. Returns the clean events written.
   * @throws TypeError with code SLUICE_DECODE_INVALID on wrong types, ranges outside data, or out
   * columns without a row for every remaining message; nothing is written then.
   */
  decode(data: Uint8Array, starts: Int32Array, ends: Int32Array, recordTimestampMs: Float64Array, out: DecodeColumns, begin?: number, outBegin?: number): number;
  /** [sync] The key as a string. @throws TypeError (SLUICE_DECODE_INVALID) for an id >= numKeys. */
  keyName(id: number): string;
  /** [sync] keyHash(key) % numPartitions. @throws TypeError (SLUICE_DECODE_INVALID) for an id >= numKeys. */
  keyPartition(id: number): number;
  /** [sync] The key's id, interned on first sight (for keys the JS fallback decoded). */
  internKey(key: string): number;
  readonly numKeys: number;
}

export interface DecodeBinding {
  /** @throws TypeError with code SLUICE_DECODE_INVALID on a malformed spec. */
  NativeDecoder: new (spec: NativeDecoderSpec) => NativeDecoderHandle;
}
