// What the engine needs from the outside world, as interfaces: the I/O layer (src/io) implements
// them and src/app wires them in, so nothing here imports a file, socket or client library.
import type { ModelMetrics } from '../models/registry';
import type { EncodedRecords } from '../records/encoded';
import type { PartitionRecord } from '../state/partition-log';
import type { ResultLatency } from './summary';
export type { RawBatch, RebalanceListener, Source } from '../decode/raw-batch';

/** Where records go (src/io implements it for files, stdout and Kafka). Records come encoded
 *  (src/records/encoded.ts): a value per record, and for Kafka its key, hash and timestamp. */
export interface RecordSink {
  /** Human-readable destination for the run summary. */
  readonly where: string;
  /** Queues the records; resolves once they are buffered, for back-pressure. The sink owns them
   *  from then on: the caller does not touch their memory again. */
  write(records: EncodedRecords): Promise<void>;
  /** Resolves when everything written before the call is acknowledged: on disk and fsynced for
   *  files, acked by all in-sync replicas for Kafka. Later writes may go on meanwhile. */
  flush(): Promise<void>;
  /** Files: their length in bytes, counting every record written before the last flush() call
   *  (a checkpoint records it, and a restore cuts the file back to it). */
  readonly bytes?: number;
  close(): Promise<void>;
  /** Sinks that learn of acknowledgements (Kafka): latency from each record's sinceMs to its ack. */
  readonly ackLatency?: ResultLatency;
}

export interface JobSinks {
  results: RecordSink;
  late: RecordSink;
  deadLetters: RecordSink;
  /** Shadow models' records (SPEC §12), when the job has shadow models. */
  shadow?: RecordSink;
}

/** Counters and gauges the engine reports (Prometheus in src/io/http; nothing in tests). Workers'
 *  numbers come back with each task's result and are reported per batch: no lock on the hot path. */
export interface EngineMetrics extends ModelMetrics {
  /** Raw events read from a source partition (their batch written). */
  eventsIn(partition: number, n: number): void;
  /** Clean events assigned to at least one window (the rest are late or dead letters). */
  eventsWindowed(n: number): void;
  deadLetters(reason: string, n: number): void;
  lateEvents(n: number): void;
  expiredAssignments(n: number): void;
  windowsFired(n: number): void;
  /** Re-firings within the allowed lateness (revision > 0), and session retractions. */
  revisions(n: number): void;
  retractions(n: number): void;
  /** Windows open across all key partitions after the last batch. */
  openWindows(n: number): void;
  /** The job has its model, its state and its source (a consumer group: joined) and sinks:
   *  /readyz answers ready. */
  ready(ready: boolean): void;
  batch(events: number, batchesInFlight: number): void;
  /** Seconds from a batch being read to its results being written. */
  resultLatency(seconds: number, results: number): void;
  /** One task's model calls: rows scored and the seconds they took. */
  scored(rows: number, seconds: number): void;
  /** Window tasks waiting for a worker, and workers running one. */
  pool(queued: number, busyWorkers: number): void;
  watermark(ms: number): void;
  /** Per source partition: records behind the partition's end (Kafka). */
  consumerLag(partition: number, records: number): void;
  /** A checkpoint written: its duration from the boundary to the synced write, the longest
   *  pause it caused, and the bytes written. */
  checkpoint(seconds: number, pauseSeconds: number, bytes: number): void;
  /** Something went wrong and was handled (retried, skipped) or ended the job: by kind. */
  error(kind: ErrorKind): void;
  /** With a changelog (SPEC §15): the source partitions this process holds now. */
  assignedPartitions(n: number): void;
  /** A partition taken on: where its state came from, and how long it took. */
  partitionRestored(from: 'changelog' | 'local' | 'none', seconds: number): void;
  /** The group rebalanced (this process gave up its partitions and took new ones). */
  rebalance(): void;
  /** Events of a key seen in a second source partition (input not co-partitioned). */
  keyPartitionConflicts(n: number): void;
}

/** A changelog topic, partition by partition (src/io/kafka/client.ts's PartitionLog). */
export interface Changelog {
  readonly topic: string;
  append(partition: number, records: PartitionRecord[]): Promise<number>;
  offsets(): Promise<{ low: number[]; high: number[] }>;
  read(partition: number, from: number, to: number, onRecord: (offset: number, key: string, value: Buffer | null) => void): Promise<number>;
  close(): Promise<void>;
}

/** task-retry: a window task failed and ran again; model-timeout: a window task's model calls
 *  ran past model.timeoutMs; commit: an offset commit failed after its tries (the next
 *  checkpoint's covers it); fatal: the job stopped with an error. */
export type ErrorKind = 'task-retry' | 'model-timeout' | 'commit' | 'fatal';

const nothing = () => {};
export const noMetrics: EngineMetrics = {
  eventsIn: nothing,
  eventsWindowed: nothing,
  deadLetters: nothing,
  lateEvents: nothing,
  expiredAssignments: nothing,
  windowsFired: nothing,
  revisions: nothing,
  retractions: nothing,
  openWindows: nothing,
  ready: nothing,
  batch: nothing,
  resultLatency: nothing,
  scored: nothing,
  pool: nothing,
  watermark: nothing,
  consumerLag: nothing,
  checkpoint: nothing,
  error: nothing,
  assignedPartitions: nothing,
  partitionRestored: nothing,
  rebalance: nothing,
  keyPartitionConflicts: nothing,
  modelInfo: nothing,
  modelReload: nothing,
  modelErrors: nothing,
  modelFallbacks: nothing,
  modelBreaker: nothing,
  modelCache: nothing,
  modelScores: nothing,
};
