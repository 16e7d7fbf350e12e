// The job file (SPEC §4) after validation and defaults: every field present, units in names.
// Nothing here imports from above src/config.

export type SourceConfig = KafkaSourceConfig | FileSourceConfig | GeneratorSourceConfig;

interface SourceCommon {
  /** Field path (dots for nesting) of the window key. */
  key: string;
  /** Field path of the event time (epoch ms number or ISO-8601 string); "$kafka" = record timestamp. */
  timestamp: string;
  format: 'json';
  /** A message longer than this goes to the dead letters as `too-large` (default 1 MiB). */
  maxMessageBytes: number;
}

export interface KafkaSourceConfig extends SourceCommon {
  type: 'kafka';
  brokers: string[];
  topic: string;
  groupId: string;
  startFrom: 'committed' | 'earliest' | 'latest';
  bounded: boolean;
  /** Client settings passed through to kafkajs unchecked. */
  kafka: Record<string, unknown>;
}

export interface FileSourceConfig extends SourceCommon {
  type: 'file';
  /** One path per source partition; a single `path:` string becomes a list of one. */
  paths: string[];
}

export interface GeneratorSourceConfig extends SourceCommon {
  type: 'generator';
  events: number;
  keys: number;
  seed: number;
  eventTimeStepMs: number;
  outOfOrderMs: number;
  partitions: number;
  /** Epoch ms of the first event. */
  startTimeMs: number;
  /** Share of keys that get fraud bursts, 0..1. */
  fraudShare: number;
}

export interface WatermarkConfig {
  maxOutOfOrdernessMs: number;
  /** Wall-clock silence after which a partition stops holding the watermark back; 0 = never idle. */
  idleTimeoutMs: number;
}

/** earlyEveryMs: early results at windowStart + k·earlyEveryMs before the end (SPEC §13). */
export type WindowConfig =
  | { type: 'tumbling'; sizeMs: number; allowedLatenessMs: number; earlyEveryMs?: number }
  | { type: 'sliding'; sizeMs: number; slideMs: number; allowedLatenessMs: number; earlyEveryMs?: number }
  | { type: 'session'; gapMs: number; allowedLatenessMs: number };

/** A feature transform (SPEC §13): applied to each event's field value, before any aggregate.
 *  onehot is expanded when the job is read: one feature per value, each with its `index`. */
export type Transform =
  | { type: 'log' | 'log1p' | 'hour' | 'minute' | 'weekday' | 'day' | 'month' | 'length' | 'words' }
  | { type: 'standardize'; mean: number; std: number }
  | { type: 'normalize'; min: number; max: number }
  | { type: 'bucket'; bounds: number[] }
  | { type: 'category'; values: string[] }
  | { type: 'onehot'; values: string[]; index: number }
  | { type: 'hash'; buckets: number };

export type FeatureConfig =
  | { name: string; agg: 'count' }
  /** The event's own value (per-event mode only). */
  | { name: string; agg: 'value'; field: string; transform?: Transform }
  | { name: string; agg: 'sum' | 'mean' | 'min' | 'max' | 'stddev'; field: string; transform?: Transform }
  /** pNN or pNN.N: q = NN/100, 0 < q < 1. */
  | { name: string; agg: 'percentile'; field: string; q: number; compression: number; transform?: Transform };

/** A model file (SPEC §7): XGBoost or ONNX. */
export interface FileModelSpec {
  type: 'xgboost' | 'onnx';
  /** The file's path (absolute after loadJob). */
  source: string;
  /** A model file larger than this is refused. */
  maxBytes: number;
  /** Hot reload (SPEC §12): the source is checked for a new version every pollMs. */
  reload?: { pollMs: number };
  /** http(s) sources: request headers, and each try's time limit (default 30 s). */
  headers?: Record<string, string>;
  downloadTimeoutMs?: number;
}

export type Combine = 'mean' | 'max' | 'min' | 'weighted' | 'vote';

/** Several models' outputs combined, output by output (SPEC §12). */
export interface EnsembleSpec {
  type: 'ensemble';
  members: string[];
  combine: Combine;
  /** combine: weighted only, one per member, >= 0. */
  weights?: number[];
  /** combine: vote only: the share of members with p >= threshold. */
  threshold?: number;
}

/** A model behind an Open Inference Protocol v2 REST endpoint (SPEC §12, §14). */
export interface RemoteModelSpec {
  type: 'remote';
  /** The model's URL (http://host:8000/v2/models/fraud); requests go to <url>/infer. */
  url: string;
  headers?: Record<string, string>;
  /** Per request. */
  timeoutMs: number;
  /** Tries after the first, with exponential backoff from backoffMs and jitter. */
  retries: number;
  backoffMs: number;
  /** Opens after `failures` failed calls in a row: calls go to the fallback for openMs, then one
   *  probe call decides. */
  breaker: { failures: number; openMs: number };
  /** Outputs per row the server answers (it is not contacted at start). */
  outputs: number;
  /** Rows per request at most. */
  maxBatchRows: number;
}

export type ModelSpec = FileModelSpec | EnsembleSpec | RemoteModelSpec;

/** How results are scored (SPEC §12 `scoring:`; the `model:` shorthand fills it too). */
export interface ScoringConfig {
  /** Feature names fed to the models, in order; defaults to the features' order. */
  inputs: string[];
  /** Name of the score field in result records; default "score". */
  output: string;
  /** The models that score, by key bucket (SPEC §12); one with weight 100 for a single model. */
  variants: Array<{ model: string; weight: number }>;
  /** A window task (its model calls) that takes longer is stopped: then `onTimeout` says what
   *  happens to its windows. */
  timeoutMs: number;
  /** fail: the job stops with the error; dead-letter: the task's windows go to the dead letters
   *  unscored (reason model-timeout) and the job goes on. */
  onTimeout: 'fail' | 'dead-letter';
  /** Models scored too, into the shadow output, never into results. */
  shadow: string[];
  /** Rows whose model call fails: scored by a fallback model, or given a value; null: dead letters
   *  (reason model-error). */
  onError: OnError | null;
  /** Model outputs by exact float32 input row, LRU with a TTL, per worker thread; null: none. */
  cache: { maxEntries: number; ttlMs: number } | null;
  /** Per-event mode: rows per scoring batch at most, and the longest an event waits to be scored. */
  maxBatchRows: number;
  maxWaitMs: number;
}

/** As the job file writes it (a value always a list, one per output). */
export type OnError = { fallback: string } | { fallback: { value: number[] } };

export type SinkConfig =
  /** `brokers` is always set by the loader (given, or the Kafka source's); optional only for hand-built configs. */
  | { type: 'kafka'; topic: string; keyFormat: 'key' | 'window'; compression: SinkCompression; kafka: Record<string, unknown>; brokers?: string[] }
  | { type: 'file'; path: string }
  | { type: 'stdout' };

export type SinkCompression = 'none' | 'gzip' | 'snappy' | 'lz4';

/**
 * Built by src/config/job.ts (parseJob, loadJob, jobFromObject). After loadJob, every path
 * (model sources, source files, file sinks, state.dir) is absolute, resolved against the job file's folder.
 */
export interface JobConfig {
  name: string;
  /** The job file's path, for messages; "<inline>" for configs built in code. */
  file: string;
  source: SourceConfig;
  watermark: WatermarkConfig;
  /** windows: a result per fired window; per-event: a result per event (SPEC §13). */
  mode: 'windows' | 'per-event';
  /** per-event: a field copied into each result as `eventId`. */
  eventId?: string;
  window: WindowConfig;
  features: FeatureConfig[];
  /** The models by name, in the file's order; `model:` is the one named "default". */
  models: Record<string, ModelSpec>;
  scoring: ScoringConfig;
  sink: SinkConfig;
  /** Default: a file beside a file sink (out.jsonl → out.late.jsonl), else <state.dir>/late.jsonl. */
  late: SinkConfig;
  /** Default: a file beside a file sink (out.jsonl → out.dead.jsonl), else <state.dir>/dead.jsonl. */
  deadLetter: SinkConfig;
  /** Shadow models' records (scoring.shadow). Default: a file beside a file sink
   *  (out.jsonl → out.shadow.jsonl), else <state.dir>/shadow.jsonl. */
  shadow: SinkConfig;
  /** `changelog`: a compacted Kafka topic; with it, state and watermarks are per source partition
   *  and follow their partition between processes (SPEC §15). */
  state: { dir: string; checkpointIntervalMs: number; changelog?: string };
  /** `threads: auto` in the file is resolved here: max(1, availableParallelism() - 1). */
  workers: { threads: number; inlineMaxUs: number };
  metrics: { port: number; host: string };
}
