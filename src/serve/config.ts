// serve.yaml (SPEC §14): §12's models: with an optional `output:` each, an optional scoring: route
// (variants by key, shadow, fallbacks) served under its own name, and http, batching, workers and
// shadow settings. `--model PATH` adds a file model under its base name; --host and --port win
// over http:.
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { configError, usageError } from '../errors';
import { isUrl, readModels, readOnError, readShadow, readVariants } from '../config/models';
import { parseYaml, readThreads } from '../config/job';
import { isMapping, Reader, type Section } from '../config/schema';
import type { ModelSpec, OnError } from '../config/types';
import { DEFAULT_MODEL_MAX_BYTES } from '../config/defaults';

export interface ServeRoute {
  /** The name it is served under (/v2/models/<name>). */
  name: string;
  variants: Array<{ model: string; weight: number }>;
  shadow: string[];
  onError: OnError | null;
}

export interface ServeConfig {
  file: string;
  models: Record<string, ModelSpec>;
  /** Per model, the name of its output (default "score"). */
  outputs: Record<string, string>;
  route: ServeRoute | null;
  http: { host: string; port: number; maxBodyBytes: number; timeoutMs: number };
  batching: { maxRows: number; maxDelayMs: number; maxQueueRows: number; inlineMaxUs: number };
  workers: { threads: number };
  /** Shadow models' records, JSON Lines (a file path, or "-" for stdout). */
  shadowPath: string | null;
}

export const SERVE_DEFAULTS = {
  host: '127.0.0.1',
  port: 8000,
  /** 4 MiB: a 4,096-row request of 32 features written as JSON text. */
  maxBodyBytes: 4 * 1024 * 1024,
  timeoutMs: 1000,
  maxRows: 4096,
  maxDelayMs: 2,
  maxQueueRows: 100_000,
  /** A hop to a worker costs the main thread ~40-60 µs: batches that score in less stay on it. */
  inlineMaxUs: 50,
};

const TOP = ['models', 'scoring', 'http', 'batching', 'workers', 'shadow'];
const ROUTE_KEYS = ['name', 'model', 'variants', 'shadow', 'onError'];
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

export interface ServeFlags {
  models?: string[];
  host?: string;
  port?: string;
}

/** Reads serve.yaml (if given) and the flags into one ServeConfig. */
export async function loadServeConfig(file: string | undefined, flags: ServeFlags = {}): Promise<ServeConfig> {
  let raw: unknown = {};
  if (file !== undefined) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      throw configError(`${file}: cannot read the serve file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    raw = parseYaml(text, file) ?? {};
  }
  const extra = flagModels(flags.models ?? []);
  if (file === undefined && extra.length === 0) throw usageError('sluice serve: give a serve.yaml or at least one --model PATH');
  return readServeConfig(raw, file ?? '<flags>', { baseDir: file === undefined ? process.cwd() : path.dirname(path.resolve(file)), extra, host: flags.host, port: flags.port });
}

/** --model PATH: the file under its base name without the extension. */
function flagModels(paths: string[]): Array<[string, string]> {
  return paths.map((p) => {
    const name = path.basename(p).replace(/\.[^.]*$/, '');
    if (!NAME.test(name)) throw usageError(`--model ${p}: the model would be named ${JSON.stringify(name)}; a name is letters, digits, _ . - (at most 64): rename the file or list it under models: in serve.yaml`);
    return [name, p];
  });
}

export function readServeConfig(raw: unknown, file: string, opts: { baseDir: string; extra?: Array<[string, string]>; host?: string; port?: string }): ServeConfig {
  const r = new Reader(file);
  const top = r.section(raw, '', TOP);
  // `output:` is serve's own key on a model entry: taken off before §12's reader sees the entry.
  const outputs: Record<string, string> = {};
  const rawModels = top.has('models') ? top.get('models') : {};
  if (!isMapping(rawModels)) throw r.expected('models', 'a mapping of model names to models ({ type, source })', rawModels);
  const entries: Record<string, unknown> = {};
  for (const [name, entry] of Object.entries(rawModels)) {
    if (isMapping(entry) && 'output' in entry) {
      const { output, ...rest } = entry;
      outputs[name] = r.str(output, `models.${name}.output`, 'an output name (a non-empty string)');
      entries[name] = rest;
    } else entries[name] = entry;
  }
  for (const [name, p] of opts.extra ?? []) {
    if (name in entries) throw usageError(`--model ${p}: a model named ${JSON.stringify(name)} is already in ${file}`);
    entries[name] = { source: p, maxBytes: DEFAULT_MODEL_MAX_BYTES };
  }
  if (Object.keys(entries).length === 0) throw r.missing('models', 'a mapping of model names to models ({ type, source }), or --model PATH');
  const models = resolveSources(readModels(r, r.section({ models: entries }, '', ['models'])), opts.baseDir);
  for (const name of Object.keys(models)) outputs[name] ??= 'score';
  const route = top.has('scoring') ? readRoute(r, top, models) : null;
  const http = top.section('http', ['host', 'port', 'maxBodyBytes', 'timeoutMs']);
  const batching = top.section('batching', ['maxRows', 'maxDelayMs', 'maxQueueRows', 'inlineMaxUs']);
  const d = SERVE_DEFAULTS;
  const config: ServeConfig = {
    file,
    models,
    outputs,
    route,
    http: {
      host: opts.host ?? http.str('host', d.host, 'a host name or IP address'),
      port: opts.port !== undefined ? portFlag(opts.port) : http.int('port', 'nonNegative', d.port, 65535),
      maxBodyBytes: http.int('maxBodyBytes', 'positive', d.maxBodyBytes),
      timeoutMs: http.int('timeoutMs', 'positive', d.timeoutMs),
    },
    batching: {
      maxRows: batching.int('maxRows', 'positive', d.maxRows),
      maxDelayMs: batching.int('maxDelayMs', 'nonNegative', d.maxDelayMs),
      maxQueueRows: batching.int('maxQueueRows', 'positive', d.maxQueueRows),
      inlineMaxUs: batching.int('inlineMaxUs', 'nonNegative', d.inlineMaxUs),
    },
    // auto: a worker per core but one, as a job's: the main thread reads and parses the bodies
    // and answers (~46% of a core at half load). With a worker on every core the workers and the
    // main thread waited for each other's cores: on 2 cores one worker halved the 100-row p99 at
    // half load and served as many requests at peak (docs/serve.md, Measured).
    workers: { threads: readThreads(r, top) },
    shadowPath: readShadowOutput(r, top, route, opts.baseDir),
  };
  if (config.batching.maxQueueRows < config.batching.maxRows) throw r.expected('batching.maxQueueRows', `at least batching.maxRows (${config.batching.maxRows})`, config.batching.maxQueueRows);
  return config;
}

function readRoute(r: Reader, top: Section, models: Record<string, ModelSpec>): ServeRoute {
  const s = top.section('scoring', ROUTE_KEYS);
  const name = s.str('name', 'default', 'a name to serve the variants under (letters, digits, _ . -)', NAME);
  if (name in models) throw r.fail(s.at('name'), `${JSON.stringify(name)} is also a model's name; the route needs a name of its own`);
  return { name, variants: readVariants(r, s, models), shadow: readShadow(r, s, models), onError: readOnError(r, s, models) };
}

function readShadowOutput(r: Reader, top: Section, route: ServeRoute | null, baseDir: string): string | null {
  if (!top.has('shadow')) return route && route.shadow.length > 0 ? path.resolve(baseDir, 'shadow.jsonl') : null;
  if (!route || route.shadow.length === 0) throw r.fail('shadow', 'the shadow output takes the records of shadow models, and scoring.shadow names none');
  const s = top.section('shadow', ['type', 'path']);
  const type = s.oneOf('type', ['file', 'stdout'] as const);
  s.only('path', type === 'file', 'only with type: file');
  return type === 'stdout' ? '-' : path.resolve(baseDir, s.str('path', undefined, 'a file path'));
}

function portFlag(v: string): number {
  const port = Number(v);
  if (!/^\d+$/.test(v) || port > 65535) throw usageError(`--port ${v}: expected a port number from 0 to 65535`);
  return port;
}

function resolveSources(models: Record<string, ModelSpec>, baseDir: string): Record<string, ModelSpec> {
  return Object.fromEntries(Object.entries(models).map(([name, m]) => [name, m.type === 'ensemble' || m.type === 'remote' || isUrl(m.source) ? m : { ...m, source: path.resolve(baseDir, m.source) }]));
}
