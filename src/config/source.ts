// `source:` (SPEC §4): kafka, file or generator, each with its own keys.
import type { FileSourceConfig, GeneratorSourceConfig, KafkaSourceConfig, SourceConfig } from './types';
import { FIELD_PATH, FIELD_PATH_WHAT, type Reader, type Section } from './schema';
import { keysOf, SOURCE, SOURCE_COMMON_KEYS, SOURCE_TYPES } from './job-schema';
import { DEFAULT_MAX_MESSAGE_BYTES, GENERATOR_DEFAULTS } from './defaults';

const TYPES = SOURCE_TYPES;
const COMMON = SOURCE_COMMON_KEYS;
const own = (type: keyof typeof SOURCE) => keysOf(SOURCE[type]).filter((k) => !COMMON.includes(k));
const KAFKA = own('kafka');
const FILE = own('file');
/** `paths` is the normalized form of `path`; accepted only from objects built in code. */
const FILE_NORMALIZED = ['paths'];
const GENERATOR = own('generator');


/** Kafka's own limits: 1..249 characters of letters, digits, ".", "_" and "-". */
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;
const TOPIC_WHAT = 'a Kafka topic name (letters, digits, ".", "_", "-")';
/** host:port, with IPv6 hosts in brackets. */
const BROKER = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})$/;
export const BROKERS_WHAT = 'a non-empty list of "host:port" strings';
/** The largest epoch ms a JS Date can hold; later start times could not be printed or parsed back. */
const MAX_DATE_MS = 8.64e15;

export function readSource(r: Reader, parent: Section, normalizedForms: boolean): SourceConfig {
  if (!parent.has('source')) throw r.missing('source', 'a mapping with a type (kafka, file or generator)');
  const fileKeys = normalizedForms ? [...FILE, ...FILE_NORMALIZED] : FILE;
  const byType: Record<string, string[]> = { kafka: KAFKA, file: fileKeys, generator: GENERATOR };
  const raw = parent.get('source') as { type?: unknown } | null;
  const chosen = typeof raw?.type === 'string' && Object.hasOwn(byType, raw.type) ? byType[raw.type] : undefined;
  const s = parent.section('source', [...COMMON, ...KAFKA, ...fileKeys, ...GENERATOR], chosen && [...COMMON, ...chosen]);
  const type = s.oneOf('type', TYPES);
  for (const key of KAFKA) s.only(key, type === 'kafka', `only for kafka sources, but source.type is ${type}`);
  for (const key of [...FILE, ...FILE_NORMALIZED]) s.only(key, type === 'file', `only for file sources, but source.type is ${type}`);
  for (const key of GENERATOR) s.only(key, type === 'generator', `only for generator sources, but source.type is ${type}`);

  const isGenerator = type === 'generator';
  const key = s.str('key', isGenerator ? GENERATOR_DEFAULTS.key : undefined, FIELD_PATH_WHAT, FIELD_PATH);
  const timestamp = s.str('timestamp', isGenerator ? GENERATOR_DEFAULTS.timestamp : undefined, FIELD_PATH_WHAT, FIELD_PATH);
  if (timestamp === '$kafka' && type !== 'kafka') {
    throw r.fail(s.at('timestamp'), `"$kafka" (the record timestamp) is only for kafka sources, but source.type is ${type}`);
  }
  const common = { key, timestamp, format: s.oneOf('format', ['json'] as const, 'json'), maxMessageBytes: s.int('maxMessageBytes', 'positive', DEFAULT_MAX_MESSAGE_BYTES) };

  if (type === 'kafka') return { type, ...common, ...readKafka(r, s) };
  if (type === 'file') return { type, ...common, paths: readPaths(r, s) };
  return { type, ...common, ...readGenerator(r, s) };
}

export function readBrokers(r: Reader, v: unknown, path: string): string[] {
  return r.list(v, path, BROKERS_WHAT, (b, p) => {
    const m = typeof b === 'string' ? BROKER.exec(b) : null;
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw r.expected(p, 'a "host:port" string', b);
    return b as string;
  });
}

export function readTopic(s: Section): string {
  return s.str('topic', undefined, TOPIC_WHAT, TOPIC);
}

function readKafka(r: Reader, s: Section): Omit<KafkaSourceConfig, 'type' | 'key' | 'timestamp' | 'format' | 'maxMessageBytes'> {
  if (!s.has('brokers')) throw r.missing(s.at('brokers'), BROKERS_WHAT);
  return {
    brokers: readBrokers(r, s.get('brokers'), s.at('brokers')),
    topic: readTopic(s),
    groupId: s.str('groupId'),
    startFrom: s.oneOf('startFrom', ['committed', 'earliest', 'latest'] as const, 'committed'),
    bounded: s.bool('bounded', false),
    kafka: s.passThrough('kafka'),
  };
}

/** `path: a.jsonl` or `path: [a.jsonl, b.jsonl]`: one source partition per file. */
function readPaths(r: Reader, s: Section): FileSourceConfig['paths'] {
  const what = 'a file path or a non-empty list of file paths';
  const name = s.has('paths') ? 'paths' : 'path';
  if (s.has('path') && s.has('paths')) throw r.fail(s.at('paths'), 'give path or paths, not both');
  const v = s.get(name);
  if (v === undefined || v === null) throw r.missing(s.at('path'), what);
  if (typeof v === 'string') return [r.str(v, s.at(name), what)];
  return r.list(v, s.at(name), what, (p, at) => r.str(p, at, 'a file path'));
}

function readGenerator(r: Reader, s: Section): Omit<GeneratorSourceConfig, 'type' | 'key' | 'timestamp' | 'format' | 'maxMessageBytes'> {
  const d = GENERATOR_DEFAULTS;
  const keys = s.int('keys', 'positive', d.keys);
  const partitions = s.int('partitions', 'positive', d.partitions);
  // Each partition gets its own keys; an empty partition would hold the watermark until it idles.
  if (partitions > keys) throw r.expected(s.at('partitions'), `at most source.keys (${keys})`, partitions);
  return {
    events: s.int('events', 'positive', d.events),
    keys,
    seed: s.int('seed', 'integer', d.seed),
    eventTimeStepMs: s.num('eventTimeStepMs', 'a positive number', { min: 0, exclusiveMin: true }, d.eventTimeStepMs),
    outOfOrderMs: s.num('outOfOrderMs', 'a non-negative number', { min: 0 }, d.outOfOrderMs),
    partitions,
    startTimeMs: s.int('startTimeMs', 'nonNegative', d.startTimeMs, MAX_DATE_MS),
    fraudShare: s.num('fraudShare', 'a number from 0 to 1', { min: 0, max: 1 }, d.fraudShare),
  };
}
