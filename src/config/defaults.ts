// The job file's defaults (SPEC §4, §12), in one place: the readers fill them in and the JSON
// Schema (src/config/job-schema.ts) publishes them.

/** Default t-digest compression (SPEC §6); the bounds keep a digest between ~10 and ~10,000 centroids. */
export const DEFAULT_COMPRESSION = 100;

/** Defaults of SPEC §4 that are plain numbers. */
export const DEFAULTS = {
  maxOutOfOrdernessMs: 5000,
  /** 0 would mean "never idle"; 60 s covers a quiet partition without stalling windows for long. */
  idleTimeoutMs: 60_000,
  allowedLatenessMs: 0,
  checkpointIntervalMs: 5000,
  metricsPort: 9464,
  metricsHost: '127.0.0.1',
  /** A per-event task this small runs on the main thread: a live job's tasks of a few hundred
   *  events take 1-2 ms, and the hop to a worker and back costs its results more than that on a
   *  busy machine; a backlog's tasks of thousands go to the workers (docs/per-event.md). */
  inlineMaxUs: 5000,
};

/** 256 MiB: far above any XGBoost or ONNX model a scoring job uses, low enough to stop a wrong
 *  path (a data file) before it is read into memory. */
export const DEFAULT_MODEL_MAX_BYTES = 256 * 1024 * 1024;
/** A window task takes milliseconds; 30 s means the model is hung. */
export const DEFAULT_MODEL_TIMEOUT_MS = 30_000;
/** The model of the `model:` shorthand, as records name it (SPEC §13). */
export const DEFAULT_MODEL_NAME = 'default';

/** 30 s per try: a model of hundreds of MB over a slow link, not a hung server. */
export const DEFAULT_DOWNLOAD_TIMEOUT_MS = 30_000;

/** Records carry a kind per row in a byte: 127 tags of (model, version, fallback, error) at most
 *  in a task (src/models/scorer.ts); a failing variant may use three. */
export const MAX_VARIANTS = 40;

/** 5 s: a new model version is in force within seconds, for one stat() per model per poll. */
export const DEFAULT_RELOAD_POLL_MS = 5000;

/** SPEC §12's defaults for remote models. */
export const REMOTE_DEFAULTS = { timeoutMs: 1000, retries: 2, backoffMs: 10, breaker: { failures: 5, openMs: 5000 }, outputs: 1, maxBatchRows: 4096 };

/** 100,000 rows of outputs: a few MB per worker thread; entries live 60 s. */
export const CACHE_DEFAULTS = { maxEntries: 100_000, ttlMs: 60_000 };

/** 1 MiB, about Kafka's own default message size limit (message.max.bytes): far above any sane
 *  event, small enough that one bad message cannot hurt the process. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1 << 20;

/** Generator defaults (SPEC §4); the example job and the benchmarks rely on them. */
export const GENERATOR_DEFAULTS = {
  events: 1_000_000,
  keys: 10_000,
  seed: 42,
  eventTimeStepMs: 0.05,
  outOfOrderMs: 2000,
  partitions: 1,
  startTimeMs: 1_700_000_000_000, // 2023-11-14T22:13:20Z: a round epoch, so windows line up in examples
  fraudShare: 0.01,
  key: 'card',
  timestamp: 'ts',
  maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
};

/** Per-event mode (SPEC §13): a scoring batch is what the source handed over, cut at maxBatchRows;
 *  no event waits more than maxWaitMs. */
export const PER_EVENT_DEFAULTS = { maxBatchRows: 4096, maxWaitMs: 5 };
