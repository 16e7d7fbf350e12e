// The job file's shape (SPEC §4, §12, §13) as a JSON Schema, written with TypeBox's builders
// (json-schema.ts has the ones it uses): what keys each section has, their types, enums and
// defaults. It is the one source of the readers' key lists and enums (src/config/*.ts take them
// from here, so a key cannot be in one and not the other), and `sluice schema` publishes it for
// editors (schema/job.schema.json). The readers keep the checks a schema cannot say well
// (cross-field rules) and the messages (file, path, expected, got, did you mean).
import { Type, type TObject, type TProperties, type TSchema } from './json-schema';
import {
  CACHE_DEFAULTS,
  DEFAULT_COMPRESSION,
  DEFAULT_DOWNLOAD_TIMEOUT_MS,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MODEL_MAX_BYTES,
  DEFAULT_MODEL_TIMEOUT_MS,
  DEFAULT_RELOAD_POLL_MS,
  DEFAULTS,
  GENERATOR_DEFAULTS,
  MAX_VARIANTS,
  PER_EVENT_DEFAULTS,
  REMOTE_DEFAULTS,
} from './defaults';
import { FIELD_PATH } from './schema';

const T = Type;
/** A mapping with exactly these keys (all optional unless listed in `required`). */
const section = <P extends TProperties>(properties: P, required: Array<keyof P & string> = [], description?: string): TObject => {
  const props: TProperties = {};
  for (const [k, v] of Object.entries(properties)) props[k] = required.includes(k) ? v : T.Optional(v);
  return T.Object(props, { additionalProperties: false, ...(description ? { description } : {}) });
};
const positive = (description: string, dflt?: number) => T.Integer({ minimum: 1, description, ...(dflt === undefined ? {} : { default: dflt }) });
const nonNegative = (description: string, dflt?: number) => T.Integer({ minimum: 0, description, ...(dflt === undefined ? {} : { default: dflt }) });
const oneOf = <V extends string>(values: readonly V[], description: string, dflt?: V) => T.Union(values.map((v) => T.Literal(v)), { description, ...(dflt === undefined ? {} : { default: dflt }) });
const fieldPath = (description: string) => T.String({ pattern: FIELD_PATH.source, description });
const headers = T.Record(T.String(), T.String(), { description: 'Request headers (Authorization: "Bearer ...")' });

// ---- source ------------------------------------------------------------------------------------
export const SOURCE_TYPES = ['kafka', 'file', 'generator'] as const;
const sourceCommon = {
  format: oneOf(['json'] as const, 'Record format', 'json'),
  key: fieldPath('Field path of the key (user.id)'),
  timestamp: T.String({ description: 'Field path of the event time (epoch ms or ISO-8601), or "$kafka" for the record timestamp' }),
  maxMessageBytes: positive('Larger records are dead letters (too-large)', DEFAULT_MAX_MESSAGE_BYTES),
};
export const SOURCE = {
  kafka: section(
    {
      type: T.Literal('kafka'),
      ...sourceCommon,
      brokers: T.Array(T.String({ pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9._-]+):[0-9]{1,5}$' }), { minItems: 1, description: '"host:port" of the brokers' }),
      topic: T.String({ pattern: '^[A-Za-z0-9._-]{1,249}$' }),
      groupId: T.String(),
      startFrom: oneOf(['committed', 'earliest', 'latest'] as const, 'Where a group without a checkpoint starts', 'committed'),
      bounded: T.Boolean({ description: 'Read up to the end offsets at start, then end', default: false }),
      kafka: T.Record(T.String(), T.Unknown(), { description: 'kafkajs client and consumer settings' }),
    },
    ['type', 'key', 'timestamp', 'brokers', 'topic', 'groupId'],
  ),
  file: section({ type: T.Literal('file'), ...sourceCommon, path: T.Union([T.String(), T.Array(T.String(), { minItems: 1 })], { description: 'A JSON Lines file, or one per source partition' }) }, ['type', 'key', 'timestamp', 'path']),
  generator: section(
    {
      type: T.Literal('generator'),
      ...sourceCommon,
      events: positive('Events in all', GENERATOR_DEFAULTS.events),
      keys: positive('Distinct keys', GENERATOR_DEFAULTS.keys),
      seed: T.Integer({ default: GENERATOR_DEFAULTS.seed }),
      eventTimeStepMs: T.Number({ exclusiveMinimum: 0, default: GENERATOR_DEFAULTS.eventTimeStepMs }),
      outOfOrderMs: T.Number({ minimum: 0, default: GENERATOR_DEFAULTS.outOfOrderMs }),
      partitions: positive('Source partitions', GENERATOR_DEFAULTS.partitions),
      startTimeMs: nonNegative('Event time of the first event', GENERATOR_DEFAULTS.startTimeMs),
      fraudShare: T.Number({ minimum: 0, maximum: 1, default: GENERATOR_DEFAULTS.fraudShare }),
    },
    ['type'],
  ),
};
export const SOURCE_COMMON_KEYS = ['type', ...Object.keys(sourceCommon)];

// ---- watermark, window, features -------------------------------------------------------------------
export const WATERMARK = section({
  maxOutOfOrdernessMs: nonNegative('The watermark is the largest event time minus this', DEFAULTS.maxOutOfOrdernessMs),
  idleTimeoutMs: nonNegative('A partition silent this long (wall clock) stops holding the watermark; 0: never', DEFAULTS.idleTimeoutMs),
});

export const WINDOW_TYPES = ['tumbling', 'sliding', 'session'] as const;
const lateness = nonNegative('Fired windows take late events until the watermark passes end + this', DEFAULTS.allowedLatenessMs);
const early = positive('Early results at windowStart + k·earlyEveryMs before the end');
export const WINDOW = {
  tumbling: section({ type: T.Literal('tumbling'), sizeMs: positive('Window length'), allowedLatenessMs: lateness, earlyEveryMs: early }, ['type', 'sizeMs']),
  sliding: section({ type: T.Literal('sliding'), sizeMs: positive('Window length, a multiple of slideMs'), slideMs: positive('Window step'), allowedLatenessMs: lateness, earlyEveryMs: early }, ['type', 'sizeMs', 'slideMs']),
  session: section({ type: T.Literal('session'), gapMs: positive('Events at most this far apart share a session'), allowedLatenessMs: lateness }, ['type', 'gapMs']),
};

export const SIMPLE_AGGS = ['count', 'sum', 'mean', 'min', 'max', 'stddev'] as const;
/** Transforms written as a bare name (SPEC §13); the others are one-key mappings. */
export const NAMED_TRANSFORMS = ['log', 'log1p', 'hour', 'minute', 'weekday', 'day', 'month', 'length', 'words'] as const;
export const TRANSFORM_KEYS = ['standardize', 'normalize', 'bucket', 'category', 'onehot', 'hash'] as const;
const categories = T.Array(T.String(), { minItems: 1, uniqueItems: true, description: 'The values, in index order' });
export const TRANSFORM = T.Union(
  [
    oneOf(NAMED_TRANSFORMS, 'log (x <= 0: missing), log1p (x <= -1: missing), UTC time parts of a timestamp, length or words of a string'),
    section({ standardize: section({ mean: T.Number(), std: T.Number({ exclusiveMinimum: 0 }) }, ['mean', 'std']) }, ['standardize'], '(x - mean) / std'),
    section({ normalize: section({ min: T.Number(), max: T.Number() }, ['min', 'max']) }, ['normalize'], '(x - min) / (max - min), not clipped'),
    section({ bucket: T.Array(T.Number(), { minItems: 1, description: 'Ascending bounds' }) }, ['bucket'], 'How many bounds are <= x'),
    section({ category: categories }, ['category'], "The value's index; other values: missing"),
    section({ onehot: categories }, ['onehot'], 'One feature per value, name=value: 1 or 0'),
    section({ hash: positive('Buckets') }, ['hash'], 'MurmurHash3 (x86, 32-bit, seed 0) of the UTF-8 bytes, mod buckets'),
  ],
  { description: 'Applied to each event before aggregating (SPEC §13)' },
);
export const FEATURE = section(
  {
    name: T.String(),
    agg: T.Union([oneOf(SIMPLE_AGGS, 'An aggregate'), T.String({ pattern: '^p(0|[1-9][0-9]?)(\\.[0-9])?$', description: 'A percentile: p50, p95, p99.9' })], {
      description: "Without agg (per-event mode), the feature is the event's own field value",
    }),
    field: fieldPath('The field read (not for count)'),
    transform: TRANSFORM,
    compression: T.Number({ minimum: 10, maximum: 10_000, default: DEFAULT_COMPRESSION, description: 't-digest compression (percentiles)' }),
  },
  ['name'],
);

// ---- models and scoring ------------------------------------------------------------------------------
const inputs = T.Array(T.String(), { minItems: 1, description: 'Feature names fed to the models, in order (default: every feature)' });
const output = T.String({ description: 'The score field of results', default: 'score' });
const timeoutMs = positive("A window task's model calls past this are stopped", DEFAULT_MODEL_TIMEOUT_MS);
const onTimeout = oneOf(['fail', 'dead-letter'] as const, 'What a timed-out task does with its windows', 'dead-letter');
const maxBytes = positive('Larger model files are refused', DEFAULT_MODEL_MAX_BYTES);

/** The `model:` shorthand: one model named "default". */
export const MODEL_SHORTHAND = section(
  { type: oneOf(['xgboost', 'onnx'] as const, 'Default: from the file extension'), path: T.String({ description: 'Model file, relative to the job file' }), inputs, output, maxBytes, timeoutMs, onTimeout },
  ['path'],
);

export const COMBINES = ['mean', 'max', 'min', 'weighted', 'vote'] as const;
export const MODEL = {
  file: section(
    {
      type: oneOf(['xgboost', 'onnx'] as const, 'Default: from the file extension'),
      source: T.String({ description: 'A path (relative to the job file) or an http(s) URL' }),
      maxBytes,
      reload: section({ pollMs: positive('How often the source is checked for a new version', DEFAULT_RELOAD_POLL_MS) }),
      headers,
      downloadTimeoutMs: positive('URL sources: each try', DEFAULT_DOWNLOAD_TIMEOUT_MS),
    },
    ['source'],
  ),
  ensemble: section(
    {
      type: T.Literal('ensemble'),
      members: T.Array(T.String(), { minItems: 1 }),
      combine: oneOf(COMBINES, 'How members are combined', 'mean'),
      weights: T.Array(T.Number({ minimum: 0 }), { minItems: 1, description: 'combine: weighted' }),
      threshold: T.Number({ description: 'combine: vote', default: 0.5 }),
    },
    ['type', 'members'],
  ),
  remote: section(
    {
      type: T.Literal('remote'),
      url: T.String({ pattern: '^https?://', description: 'Open Inference Protocol URL (http://host:port/v2/models/<name>)' }),
      headers,
      timeoutMs: positive('Per request', REMOTE_DEFAULTS.timeoutMs),
      retries: nonNegative('Tries after the first', REMOTE_DEFAULTS.retries),
      backoffMs: nonNegative('First retry delay, doubling, with jitter', REMOTE_DEFAULTS.backoffMs),
      breaker: section({ failures: positive('Failed calls in a row that open it', REMOTE_DEFAULTS.breaker.failures), openMs: positive('How long it stays open', REMOTE_DEFAULTS.breaker.openMs) }),
      outputs: positive('Values per row the server answers', REMOTE_DEFAULTS.outputs),
      maxBatchRows: positive('Rows per request at most', REMOTE_DEFAULTS.maxBatchRows),
    },
    ['type', 'url'],
  ),
};

/** Per-event mode's micro-batches (SPEC §13); also allowed as the only keys of scoring: next to model:. */
const MICRO_BATCH = {
  maxBatchRows: positive('Per-event mode: rows per scoring batch at most', PER_EVENT_DEFAULTS.maxBatchRows),
  maxWaitMs: nonNegative('Per-event mode: the longest an event waits to be scored', PER_EVENT_DEFAULTS.maxWaitMs),
};
export const MICRO_BATCH_KEYS = Object.keys(MICRO_BATCH);

export const SCORING = section({
  inputs,
  output,
  model: T.String({ description: 'The one model that scores (or variants)' }),
  variants: T.Array(section({ model: T.String(), weight: T.Number({ minimum: 0 }) }, ['model', 'weight']), { minItems: 1, maxItems: MAX_VARIANTS }),
  timeoutMs,
  onTimeout,
  shadow: T.Array(T.String(), { description: 'Models scored into the shadow output' }),
  onError: section({ fallback: T.Union([T.String(), section({ value: T.Union([T.Number(), T.Array(T.Number(), { minItems: 1 })]) }, ['value'])]) }, ['fallback']),
  cache: section({ maxEntries: positive('Rows kept per worker thread', CACHE_DEFAULTS.maxEntries), ttlMs: positive('How long an entry is good', CACHE_DEFAULTS.ttlMs) }),
  ...MICRO_BATCH,
});

// ---- outputs, state, workers, metrics ----------------------------------------------------------------
export const SINK_TYPES = ['kafka', 'file', 'stdout'] as const;
/** Codecs a Kafka output writes with: zstd is read, not written (src/io/kafka/codecs.ts). */
export const SINK_COMPRESSIONS = ['none', 'gzip', 'snappy', 'lz4'] as const;

export const SINK = {
  kafka: section(
    {
      type: T.Literal('kafka'),
      topic: T.String({ pattern: '^[A-Za-z0-9._-]{1,249}$' }),
      keyFormat: oneOf(['key', 'window'] as const, 'The record key: the window key, or <key>@<windowStart>', 'key'),
      compression: oneOf(SINK_COMPRESSIONS, "Record batches compressed so (Kafka's compression.type)", 'none'),
      kafka: T.Record(T.String(), T.Unknown(), { description: 'kafkajs client and producer settings' }),
      brokers: T.Array(T.String(), { minItems: 1, description: "Default: the Kafka source's" }),
    },
    ['type', 'topic'],
  ),
  file: section({ type: T.Literal('file'), path: T.String({ description: 'JSON Lines, appended' }) }, ['type', 'path']),
  stdout: section({ type: T.Literal('stdout') }, ['type']),
};
const sink = (description: string) => T.Union(Object.values(SINK), { description });

export const STATE = section({
  dir: T.String({ description: 'Default: .sluice/<name>' }),
  checkpointIntervalMs: positive('', DEFAULTS.checkpointIntervalMs),
  changelog: T.String({ description: 'Kafka sources: a compacted topic with a partition per source partition; state follows its partition through it, so several processes can share the job (SPEC §15)' }),
});
export const WORKERS = section({
  threads: T.Union([T.Integer({ minimum: 1 }), T.Literal('auto')], { default: 'auto' }),
  inlineMaxUs: nonNegative('Per-event mode: a task predicted to take at most this many µs runs on the main thread (0: never)', DEFAULTS.inlineMaxUs),
});
export const METRICS = section({ port: T.Integer({ minimum: 0, maximum: 65535, default: DEFAULTS.metricsPort, description: '0: off' }), host: T.String({ default: DEFAULTS.metricsHost }) });

export const MODES = ['windows', 'per-event'] as const;
export const JOB = section(
  {
    name: T.String({ pattern: '^(?!\\.{1,2}$)[A-Za-z0-9._-]+$' }),
    mode: oneOf(MODES, 'A result per fired window, or per event (SPEC §13)', 'windows'),
    eventId: fieldPath('Per-event mode: a field copied into each result as eventId'),
    source: T.Union(Object.values(SOURCE)),
    watermark: WATERMARK,
    window: T.Union(Object.values(WINDOW)),
    features: T.Array(FEATURE, { minItems: 1 }),
    model: MODEL_SHORTHAND,
    models: T.Record(T.String({ pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$' }), T.Union(Object.values(MODEL)), { minProperties: 1 }),
    scoring: SCORING,
    sink: sink('Window results'),
    late: sink('Late events (default: a file beside the sink)'),
    deadLetter: sink('Dead letters (default: a file beside the sink)'),
    shadow: sink("Shadow models' records (default: a file beside the sink)"),
    state: STATE,
    workers: WORKERS,
    metrics: METRICS,
  },
  ['name', 'source', 'window', 'features', 'sink'],
);

/** The keys of a section (of every variant, for a union's). */
export function keysOf(...schemas: TSchema[]): string[] {
  const keys = new Set<string>();
  for (const s of schemas) for (const k of Object.keys((s as TObject).properties)) keys.add(k);
  return [...keys];
}

/** The JSON Schema document published as schema/job.schema.json. */
export function jobJsonSchema(version: string): Record<string, unknown> {
  const doc = JSON.parse(JSON.stringify(JOB)) as Record<string, unknown>;
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://github.com/sluice/sluice/schema/job.schema.json',
    title: `sluice job file (sluice ${version})`,
    description: 'A sluice job: source, watermark, window, features, models, scoring and outputs. `sluice check job.yaml` checks one and says what to fix.',
    ...doc,
    anyOf: [{ required: ['model'] }, { required: ['models', 'scoring'] }],
  };
}
