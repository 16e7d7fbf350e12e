// What sources hand to the decoder: a batch of raw messages, in arrival order.

export interface RawBatch {
  count: number;
  /** Message values as text (file lines, generator output) or bytes (Kafka). */
  values: Array<string | Uint8Array>;
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
  close(): Promise<void>;
}

export function rawText(v: string | Uint8Array): string {
  return typeof v === 'string' ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8');
}
