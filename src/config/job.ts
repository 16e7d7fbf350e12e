// The job file (SPEC §4): YAML → `--set` overrides → validation with paths → defaults → JobConfig.
// Every mistake is one SLUICE_CONFIG_INVALID line `<file>: <path>: expected <what>, got <value>`.
import { readFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { configError } from '../errors';
import { readFeatures } from './features';
import { isUrl, readScoring } from './models';
import { JOB, keysOf, METRICS, MODES, STATE, WATERMARK, WINDOW, WINDOW_TYPES, WORKERS } from './job-schema';
import { applyOverrides } from './overrides';
import { FIELD_PATH, FIELD_PATH_WHAT, isMapping, Reader, type Section } from './schema';
import { checkDistinctFiles, defaultSideOutput, readSink, type OutputKey } from './sinks';
import { readSource } from './source';
import type { JobConfig, SinkConfig, WatermarkConfig, WindowConfig } from './types';
import { DEFAULTS } from './defaults';

// Key lists and enums come from the schema (src/config/job-schema.ts).
const TOP_LEVEL = keysOf(JOB);
const WINDOW_KEYS = keysOf(WINDOW.sliding, WINDOW.session, WINDOW.tumbling);
const NAME = /^(?!\.{1,2}$)[A-Za-z0-9._-]+$/;
const NAME_WHAT = 'a name of letters, digits, ".", "_" and "-"';


/** Parses job-file text; `file` names it in messages. Relative paths are left as written. */
export function parseJob(text: string, file: string, overrides: string[] = []): JobConfig {
  const { value, paths } = applyOverrides(parseYaml(text, file), overrides);
  return validateJob(value, new Reader(file, paths), { normalizedForms: false });
}

/** Reads and parses a job file, then resolves its relative paths against the file's directory. */
export async function loadJob(file: string, overrides: string[] = []): Promise<JobConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (code ?? String(e));
    throw configError(`${file}: cannot read the job file (${why})`);
  }
  const { value, paths } = applyOverrides(parseYaml(text, file), overrides);
  const baseDir = path.dirname(path.resolve(file));
  return validateJob(value, new Reader(file, paths), { normalizedForms: false, baseDir });
}

/**
 * Validates a job built in code (runJob(config), SPEC §8) like a job file. It also takes an
 * already normalized JobConfig (`file`, `source.paths`, `agg: percentile` with `q`), so
 * jobFromObject(loadJob(...)) gives the same job back. Relative paths resolve against `baseDir`
 * when given, else stay relative to the working directory.
 */
export function jobFromObject(obj: unknown, opts: { file?: string; baseDir?: string } = {}): JobConfig {
  const own = isMapping(obj) && typeof obj.file === 'string' && obj.file !== '' ? obj.file : undefined;
  const file = opts.file ?? own ?? '<inline>';
  return validateJob(obj, new Reader(file), { normalizedForms: true, baseDir: opts.baseDir });
}

/** YAML text → plain value; a syntax error is one line with its line and column. */
export function parseYaml(text: string, file: string): unknown {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, lineCounter });
  const err = doc.errors[0];
  if (err) {
    const { line, col } = lineCounter.linePos(err.pos[0]);
    throw configError(`${file}: line ${line}, column ${col}: invalid YAML: ${err.message.split('\n')[0]}`);
  }
  try {
    return doc.toJS();
  } catch (e) {
    // Unresolved aliases and alias bombs surface here rather than as parse errors.
    throw configError(`${file}: invalid YAML: ${String((e as Error).message).split('\n')[0]}`);
  }
}

interface ValidateOptions {
  /** Accept the normalized JobConfig forms too (objects from code, not YAML). */
  normalizedForms: boolean;
  /** Resolve relative paths against this directory. */
  baseDir?: string;
}

function validateJob(raw: unknown, r: Reader, opts: ValidateOptions): JobConfig {
  if (raw === null || raw === undefined) throw r.fail('', 'the job is empty; expected a mapping with name, source, window, features, model and sink');
  const known = opts.normalizedForms ? [...TOP_LEVEL, 'file'] : TOP_LEVEL;
  const top = r.section(raw, '', known);
  if (top.has('file')) top.str('file');

  const name = top.str('name', undefined, NAME_WHAT, NAME);
  const source = readSource(r, top, opts.normalizedForms);
  const watermark = readWatermark(top);
  const mode = top.oneOf('mode', MODES, 'windows');
  top.only('eventId', mode === 'per-event', 'only with mode: per-event (a per-event result carries the event\'s id)');
  const eventId = top.has('eventId') ? top.str('eventId', undefined, FIELD_PATH_WHAT, FIELD_PATH) : undefined;
  const window = readWindow(r, top);
  if (mode === 'per-event' && window.type !== 'session' && window.earlyEveryMs !== undefined) {
    throw r.fail('window.earlyEveryMs', 'early results are for mode: windows; per-event mode already scores every event as it arrives');
  }
  const features = readFeatures(r, top, opts.normalizedForms, mode);
  const { models, scoring } = readScoring(r, top, features);
  if (mode === 'per-event' && source.type === 'kafka' && source.kafka.maxWaitTimeInMs === undefined) {
    // No event waits longer than maxWaitMs to be scored (SPEC §13): nor does a fetch for one.
    source.kafka = { ...source.kafka, maxWaitTimeInMs: Math.max(1, scoring.maxWaitMs) };
  }

  const stateSection = top.section('state', keysOf(STATE));
  const state = {
    dir: stateSection.str('dir', path.join('.sluice', name), 'a directory path'),
    checkpointIntervalMs: stateSection.int('checkpointIntervalMs', 'positive', DEFAULTS.checkpointIntervalMs),
    ...(stateSection.has('changelog') ? { changelog: stateSection.str('changelog', undefined, 'a Kafka topic name', /^[A-Za-z0-9._-]{1,249}$/) } : {}),
  };
  if (state.changelog !== undefined && source.type !== 'kafka') throw r.fail('state.changelog', `a changelog carries the state of Kafka source partitions between processes; this job reads a ${source.type} source`);
  const sink = readSink(r, top, 'sink', source);
  if (mode === 'per-event' && sink.type === 'kafka' && sink.keyFormat === 'window') {
    throw r.fail('sink.keyFormat', 'window keys (<key>@<windowStart>) are for mode: windows; a per-event result is keyed by its event\'s key (keyFormat: key)');
  }
  const late = readSink(r, top, 'late', source, defaultSideOutput(sink, state.dir, 'late'));
  const deadLetter = readSink(r, top, 'deadLetter', source, defaultSideOutput(sink, state.dir, 'dead'));
  if (top.has('shadow') && scoring.shadow.length === 0 && !opts.normalizedForms) throw r.fail('shadow', 'the shadow output takes the records of shadow models, and scoring.shadow names none');
  const shadow = readSink(r, top, 'shadow', source, defaultSideOutput(sink, state.dir, 'shadow'));
  const resolve = (p: string) => (opts.baseDir === undefined ? p : path.resolve(opts.baseDir, p));
  const outputs: Array<[OutputKey, SinkConfig]> = [['sink', sink], ['late', late], ['deadLetter', deadLetter]];
  if (scoring.shadow.length > 0) outputs.push(['shadow', shadow]);
  checkDistinctFiles(r, outputs, (p) => path.resolve(resolve(p)));

  const job: JobConfig = {
    name,
    file: r.file,
    mode,
    ...(eventId === undefined ? {} : { eventId }),
    source,
    watermark,
    window,
    features,
    models,
    scoring,
    sink,
    late,
    deadLetter,
    shadow,
    state,
    workers: { threads: readThreads(r, top), inlineMaxUs: top.section('workers', keysOf(WORKERS)).int('inlineMaxUs', 'nonNegative', DEFAULTS.inlineMaxUs) },
    metrics: readMetrics(top),
  };
  return opts.baseDir === undefined ? job : resolvePaths(job, resolve);
}

function readWatermark(top: Section): WatermarkConfig {
  const s = top.section('watermark', keysOf(WATERMARK));
  return {
    maxOutOfOrdernessMs: s.int('maxOutOfOrdernessMs', 'nonNegative', DEFAULTS.maxOutOfOrdernessMs),
    idleTimeoutMs: s.int('idleTimeoutMs', 'nonNegative', DEFAULTS.idleTimeoutMs),
  };
}

function readWindow(r: Reader, top: Section): WindowConfig {
  if (!top.has('window')) throw r.missing('window', 'a mapping with a type (tumbling, sliding or session)');
  const s = top.section('window', WINDOW_KEYS);
  const type = s.oneOf('type', WINDOW_TYPES);
  s.only('sizeMs', type !== 'session', 'only for tumbling and sliding windows, but window.type is session (it takes gapMs)');
  s.only('slideMs', type === 'sliding', `only for sliding windows, but window.type is ${type}`);
  s.only('gapMs', type === 'session', `only for session windows, but window.type is ${type}`);
  const allowedLatenessMs = s.int('allowedLatenessMs', 'nonNegative', DEFAULTS.allowedLatenessMs);
  s.only('earlyEveryMs', type !== 'session', 'only for tumbling and sliding windows so far, but window.type is session');
  if (type === 'session') return { type, gapMs: s.int('gapMs', 'positive'), allowedLatenessMs };
  const sizeMs = s.int('sizeMs', 'positive');
  const early = s.has('earlyEveryMs') ? { earlyEveryMs: s.int('earlyEveryMs', 'positive') } : {};
  if (early.earlyEveryMs !== undefined && early.earlyEveryMs >= sizeMs) throw r.expected(s.at('earlyEveryMs'), `less than window.sizeMs (${sizeMs}): early results come before the window's end`, early.earlyEveryMs);
  if (type === 'tumbling') return { type, sizeMs, allowedLatenessMs, ...early };
  const slideMs = s.int('slideMs', 'positive');
  // An event then belongs to exactly sizeMs/slideMs windows, all aligned to the epoch (SPEC §6).
  if (sizeMs % slideMs !== 0) throw r.expected(s.at('sizeMs'), `a multiple of window.slideMs (${slideMs})`, sizeMs);
  return { type, sizeMs, slideMs, allowedLatenessMs, ...early };
}

/** `auto` leaves one core to the main thread, which does the I/O and the watermark (SPEC §1). */
export function readThreads(r: Reader, top: Section, auto = Math.max(1, os.availableParallelism() - 1)): number {
  const s = top.section('workers', keysOf(WORKERS));
  const v = s.get('threads');
  if (v === undefined || v === null || v === 'auto') return auto;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw r.expected(s.at('threads'), 'a positive integer or "auto"', v);
  return v;
}

function readMetrics(top: Section): JobConfig['metrics'] {
  const s = top.section('metrics', keysOf(METRICS));
  return {
    port: s.int('port', 'nonNegative', DEFAULTS.metricsPort, 65535),
    host: s.str('host', DEFAULTS.metricsHost, 'a host name or IP address'),
  };
}

function resolvePaths(job: JobConfig, resolve: (p: string) => string): JobConfig {
  const output = (s: SinkConfig): SinkConfig => (s.type === 'file' ? { ...s, path: resolve(s.path) } : s);
  return {
    ...job,
    source: job.source.type === 'file' ? { ...job.source, paths: job.source.paths.map(resolve) } : job.source,
    models: Object.fromEntries(Object.entries(job.models).map(([name, m]) => [name, m.type === 'ensemble' || m.type === 'remote' || isUrl(m.source) ? m : { ...m, source: resolve(m.source) }])),
    sink: output(job.sink),
    late: output(job.late),
    deadLetter: output(job.deadLetter),
    shadow: output(job.shadow),
    state: { ...job.state, dir: resolve(job.state.dir) },
  };
}
