// `sink:`, `late:` and `deadLetter:` (SPEC §4): one shape for all three outputs.
import * as path from 'node:path';
import type { SinkConfig, SourceConfig } from './types';
import type { Reader, Section } from './schema';
import { BROKERS_WHAT, readBrokers, readTopic } from './source';
import { keysOf, SINK, SINK_COMPRESSIONS, SINK_TYPES } from './job-schema';

const TYPES = SINK_TYPES;
const KAFKA = keysOf(SINK.kafka).filter((k) => k !== 'type');
const FILE = keysOf(SINK.file).filter((k) => k !== 'type');
const ALL = ['type', ...KAFKA, ...FILE];

export type OutputKey = 'sink' | 'late' | 'deadLetter' | 'shadow';

/** Reads one output; absent `late`/`deadLetter` get `dflt`, an absent `sink` is an error. */
export function readSink(r: Reader, parent: Section, key: OutputKey, source: SourceConfig, dflt?: SinkConfig): SinkConfig {
  if (!parent.has(key)) {
    if (dflt) return dflt;
    throw r.missing(key, 'a mapping with a type (kafka, file or stdout)');
  }
  const raw = parent.get(key) as { type?: unknown };
  const listed = raw.type === 'kafka' ? ['type', ...KAFKA] : raw.type === 'file' ? ['type', ...FILE] : raw.type === 'stdout' ? ['type'] : ALL;
  const s = parent.section(key, ALL, listed);
  const type = s.oneOf('type', TYPES);
  for (const k of KAFKA) s.only(k, type === 'kafka', `only for kafka outputs, but ${key}.type is ${type}`);
  for (const k of FILE) s.only(k, type === 'file', `only for file outputs, but ${key}.type is ${type}`);

  if (type === 'stdout') return { type };
  if (type === 'file') return { type, path: s.str('path', undefined, 'a file path') };
  let brokers: string[];
  // On the source's cluster, the source's client settings (ssl, sasl, ...) carry over.
  let inherited: Record<string, unknown> = {};
  if (s.has('brokers')) brokers = readBrokers(r, s.get('brokers'), s.at('brokers'));
  else if (source.type === 'kafka') {
    brokers = [...source.brokers];
    inherited = source.kafka;
  } else throw r.missing(s.at('brokers'), `${BROKERS_WHAT} (the source is not kafka, so there are no brokers to reuse)`);
  return {
    type,
    topic: readTopic(s),
    keyFormat: s.oneOf('keyFormat', ['key', 'window'] as const, 'key'),
    compression: s.oneOf('compression', SINK_COMPRESSIONS, 'none'),
    kafka: { ...inherited, ...s.passThrough('kafka') },
    brokers,
  };
}

/**
 * Where late or dead-lettered events go when the job file does not say: beside a file sink
 * (`out/scores.jsonl` → `out/scores.late.jsonl`), else `<state.dir>/late.jsonl`.
 */
export function defaultSideOutput(sink: SinkConfig, stateDir: string, kind: 'late' | 'dead' | 'shadow'): SinkConfig {
  if (sink.type === 'file') {
    const ext = path.extname(sink.path);
    const stem = ext === '' ? sink.path : sink.path.slice(0, -ext.length);
    return { type: 'file', path: `${stem}.${kind}${ext || '.jsonl'}` };
  }
  return { type: 'file', path: path.join(stateDir, `${kind}.jsonl`) };
}

/** Two outputs writing one file would interleave and break file-sink recovery (SPEC §10). */
export function checkDistinctFiles(r: Reader, outputs: [OutputKey, SinkConfig][], resolve: (p: string) => string): void {
  const seen = new Map<string, OutputKey>();
  for (const [key, sink] of outputs) {
    if (sink.type !== 'file') continue;
    const file = resolve(sink.path);
    const other = seen.get(file);
    if (other) throw r.fail(`${key}.path`, `${JSON.stringify(sink.path)} is also ${other}'s file; each output needs its own file`);
    seen.set(file, key);
  }
}
