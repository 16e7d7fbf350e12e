// What sources hand to the decoder: a batch of raw messages, in arrival order.

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
}

export interface Source {
  readonly numPartitions: number;
  /** Raw batches in arrival order, at most maxRecords each; ends when a bounded source does. */
  batches(maxRecords: number): AsyncIterable<RawBatch>;
  /** The engine is done with a batch (its records are written): the source may reuse its memory. */
  release?(batch: RawBatch): void;
  close(): Promise<void>;
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
