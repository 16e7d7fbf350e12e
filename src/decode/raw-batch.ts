// What sources hand to the decoder: a batch of raw messages, in arrival order.

import { lowerBound } from '../util/sorted';

export interface RawBatch {
  count: number;
  /**
   * The messages as one byte buffer: message i is data[starts[i], ends[i]). Sources that read
   * bytes (files, the generator, Kafka) hand them over like this, so decoding needs no copy.
   */
  data?: Uint8Array;
  starts?: Int32Array;
  ends?: Int32Array;
  /** Or one value per message (tests, callers that have strings). One of the two forms is set. */
  values?: Array<string | Uint8Array>;
  /** Source partition of each message. */
  partition: Int32Array;
  /** Offset of each message in its partition (line number for files, Kafka offset). */
  offset: Float64Array;
  /** Kafka record timestamps (epoch ms); NaN when the source has none. */
  recordTimestampMs: Float64Array;
  /** Topic name for Kafka, the file path for files, "generator" for the generator. */
  topicOf(partition: number): string;
  /** Source partitions that reached their end, each placed before record `before` (count = after all). */
  finished: Array<{ before: number; partition: number }>;
  /** Source partitions the source started (or restarted) reading since its last batch, e.g. on a
   *  Kafka group assignment: their idle clocks start now, not when the job did. */
  assigned?: number[];
  /** performance.now() when the source received the batch's first record, if it knows. */
  receivedAtMs?: number;
  /** When the records arrived, in runs: record i arrived at arrivalMs[k] for the last k with
   *  arrivalStarts[k] <= i (performance.now()). Result latency starts at the arrival of the event
   *  that fired the window (SPEC §9). Absent: all at receivedAtMs. */
  arrivalStarts?: number[];
  arrivalMs?: number[];
}

/** When record i of the batch arrived (performance.now()), or undefined when the source does not say. */
export function arrivalOf(raw: RawBatch, i: number): number | undefined {
  const starts = raw.arrivalStarts;
  if (!starts || starts.length === 0) return raw.receivedAtMs;
  return raw.arrivalMs![Math.max(0, lowerBound(starts, i + 1) - 1)]; // the last run starting at or before i
}

/** An empty batch in the byte form, with room for `maxRecords` records. */
export function newRawBatch(maxRecords: number, topicOf: (partition: number) => string): RawBatch {
  return {
    count: 0,
    data: new Uint8Array(64 * 1024),
    starts: new Int32Array(maxRecords),
    ends: new Int32Array(maxRecords),
    partition: new Int32Array(maxRecords),
    offset: new Float64Array(maxRecords),
    recordTimestampMs: new Float64Array(maxRecords).fill(NaN),
    topicOf,
    finished: [],
  };
}

/** Copies message n's bytes into the batch's buffer, after message n - 1's, growing it as needed. */
export function appendMessage(batch: RawBatch, n: number, bytes: Uint8Array): void {
  const at = n === 0 ? 0 : batch.ends![n - 1];
  if (at + bytes.length > batch.data!.length) {
    const grown = new Uint8Array(Math.max(batch.data!.length * 2, at + bytes.length));
    grown.set(batch.data!.subarray(0, at));
    batch.data = grown;
  }
  batch.data!.set(bytes, at);
  batch.starts![n] = at;
  batch.ends![n] = at + bytes.length;
}

export interface Source {
  readonly numPartitions: number;
  /** Raw batches in arrival order, at most maxRecords each; ends when a bounded source does. */
  batches(maxRecords: number): AsyncIterable<RawBatch>;
  /** The engine is done with a batch (its records are written): the source may reuse its memory. */
  release?(batch: RawBatch): void;
  /**
   * Records up to these positions (per source partition, the offset of the next record to read)
   * are processed and their outputs acknowledged: a Kafka source commits them for its group.
   */
  commit?(positions: ReadonlyArray<{ partition: number; offset: number }>): Promise<boolean>;
  /** Sources that can resume (Kafka): per partition, the offset reading starts at. The engine
   *  checkpoints its state with the positions it has reached (SPEC §10). */
  readonly startPositions?: readonly number[];
  /** Sources that can resume: per partition, its end offset when the source opened. A restart
   *  has read past everything an earlier life read once it reaches them (model switches wait
   *  for that, SPEC §12). */
  readonly endsAtOpen?: readonly number[];
  /** Consumer groups: from joining to the first assignment, ms (null until then). */
  readonly groupJoinMs?: number | null;
  /** False until the source can read (a consumer group: until its first assignment). */
  readonly joined?: boolean;
  /** Per partition: records behind its end, as last seen (Kafka). */
  lag?(): Array<{ partition: number; records: number }>;
  /** Records read and waiting for the engine's next batch (live sources; absent: plenty). */
  readonly queuedRecords?: number;
  /** Consumer groups with state per partition (SPEC §15): the engine hears of rebalances. */
  listen?(listener: RebalanceListener): void;
  close(): Promise<void>;
}

/**
 * A consumer group's rebalances, as the engine hears of them (SPEC §15). Rebalances are eager:
 * before rejoining, the source stops taking records, drops those it holds and calls revoke();
 * the group waits for it. Then assign() with the new partitions, which are not read until it
 * resolves, each from the offset it gives (null: where the source would start without state).
 */
export interface RebalanceListener {
  revoke(): Promise<void>;
  /** The member left the group without a revoke (its consumer restarted): its partitions may
   *  already be another's; nothing more is written for them until assign(). */
  lost(): void;
  assign(partitions: number[]): Promise<Map<number, number | null>>;
}

export function rawText(v: string | Uint8Array): string {
  return typeof v === 'string' ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8');
}

/** Message i as its source gave it (a string, or a view of the batch's bytes). */
export function messageValue(raw: RawBatch, i: number): string | Uint8Array {
  if (raw.values) return raw.values[i];
  return raw.data!.subarray(raw.starts![i], raw.ends![i]);
}

/** Message i as text (for dead letters and late records). */
export const messageText = (raw: RawBatch, i: number): string => rawText(messageValue(raw, i));
