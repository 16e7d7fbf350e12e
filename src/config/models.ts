// `model:` (SPEC §4), or `models:` with `scoring:` (SPEC §12): the models a job has, and which of
// them score its results. The shorthand becomes one model named "default" with one variant.
import type { Combine, FeatureConfig, ModelSpec, OnError, RemoteModelSpec, ScoringConfig } from './types';
import { RECORD_FIELDS } from './features';
import { joinPath, type Reader, type Section } from './schema';
import { COMBINES, keysOf, MICRO_BATCH_KEYS, MODEL, MODEL_SHORTHAND, SCORING } from './job-schema';
import type { TSchema } from './json-schema';
import { CACHE_DEFAULTS, DEFAULT_DOWNLOAD_TIMEOUT_MS, DEFAULT_MODEL_MAX_BYTES, DEFAULT_MODEL_NAME, DEFAULT_MODEL_TIMEOUT_MS, DEFAULT_RELOAD_POLL_MS, MAX_VARIANTS, PER_EVENT_DEFAULTS, REMOTE_DEFAULTS } from './defaults';


/** Model names go into every record and metric label: keep them plain. */
const MODEL_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const MODEL_NAME_WHAT = 'a model name (letters, digits, _ . -; at most 64)';
const FILE_KEYS = keysOf(MODEL.file);
const ENSEMBLE_KEYS = keysOf(MODEL.ensemble);
const REMOTE_KEYS = keysOf(MODEL.remote);
/** A model source that is an http(s) URL rather than a path. */
export const isUrl = (source: string): boolean => /^https?:\/\//i.test(source);

export interface Scoring {
  models: Record<string, ModelSpec>;
  scoring: ScoringConfig;
}

export function readScoring(r: Reader, top: Section, features: FeatureConfig[]): Scoring {
  if (top.has('model') && top.has('models')) throw r.fail('models', 'a job has model: (one model) or models: with scoring:, not both');
  if (top.has('model')) {
    return readShorthand(r, top, features);
  }
  if (!top.has('models')) throw r.missing('model', 'a mapping with the model path (or models: with scoring:)');
  const models = readModels(r, top);
  if (!top.has('scoring')) throw r.missing('scoring', `a mapping naming the model that scores (scoring: { model: ${Object.keys(models)[0]} })`);
  const s = top.section('scoring', keysOf(SCORING));
  return {
    models,
    scoring: {
      ...readInputsOutput(r, s, features, 'scoring'),
      variants: readVariants(r, s, models),
      ...readTimeout(s),
      shadow: readShadow(r, s, models),
      onError: readOnError(r, s, models),
      cache: readCache(r, s),
      ...readMicroBatch(s),
    },
  };
}

function readShorthand(r: Reader, top: Section, features: FeatureConfig[]): Scoring {
  const raw = top.get('model');
  if (raw && typeof raw === 'object' && 'reload' in raw) {
    throw r.fail('model.reload', 'the model: shorthand takes no reload; name the model under models: (models: { default: { source: ..., reload: { pollMs: 5000 } } }) with scoring: { model: default }');
  }
  // Next to model:, scoring: holds only the micro-batch keys (SPEC §13).
  const rawScoring = top.get('scoring');
  const other = rawScoring && typeof rawScoring === 'object' ? Object.keys(rawScoring).filter((k) => !MICRO_BATCH_KEYS.includes(k)) : [];
  if (other.length > 0) {
    throw r.fail(`scoring.${other[0]}`, `next to model:, scoring: takes only ${MICRO_BATCH_KEYS.join(' and ')}; put inputs and output in model:, or name the model under models: to use scoring:`);
  }
  const micro = top.section('scoring', MICRO_BATCH_KEYS, MICRO_BATCH_KEYS);
  const s = top.section('model', keysOf(MODEL_SHORTHAND));
  const path = s.str('path', undefined, 'a model file path');
  // The loader picks the format by extension too (src/scoring/load-model), so the default agrees with it.
  const type = s.oneOf('type', ['xgboost', 'onnx'] as const, defaultType(path));
  const maxBytes = s.int('maxBytes', 'positive', DEFAULT_MODEL_MAX_BYTES);
  return {
    models: { [DEFAULT_MODEL_NAME]: { type, source: path, maxBytes } },
    scoring: { ...readInputsOutput(r, s, features, 'model'), variants: [{ model: DEFAULT_MODEL_NAME, weight: 100 }], ...readTimeout(s), shadow: [], onError: null, cache: null, ...readMicroBatch(micro) },
  };
}

/** From the file name (a URL's path): .onnx is ONNX, anything else XGBoost (SPEC §4). */
const defaultType = (source: string) => {
  // An invalid URL: the source check says so.
  const name = isUrl(source) && URL.canParse(source) ? new URL(source).pathname : source;
  return name.toLowerCase().endsWith('.onnx') ? 'onnx' : 'xgboost';
};

export function readModels(r: Reader, top: Section): Record<string, ModelSpec> {
  const all = top.section('models', Object.keys(top.get('models') ?? {}));
  const names = Object.keys(all.raw).filter((n) => all.has(n));
  if (names.length === 0) throw r.expected('models', 'a mapping of model names to models ({ type, source })', all.raw);
  const models: Record<string, ModelSpec> = {};
  for (const name of names) {
    const at = all.at(name);
    if (!MODEL_NAME.test(name)) throw r.fail(at, `expected ${MODEL_NAME_WHAT} as the key`);
    const raw = all.get(name) as Record<string, unknown> | null;
    const type = r.section(raw, at, [...new Set([...FILE_KEYS, ...ENSEMBLE_KEYS, ...REMOTE_KEYS])]).oneOf('type', ['xgboost', 'onnx', 'ensemble', 'remote'] as const, defaultTypeOf(raw));
    if (type === 'remote') {
      models[name] = readRemote(r, r.section(raw, at, REMOTE_KEYS));
      continue;
    }
    if (type === 'ensemble') {
      models[name] = readEnsemble(r, r.section(raw, at, ENSEMBLE_KEYS), names);
      continue;
    }
    const s = r.section(raw, at, FILE_KEYS);
    const source = s.str('source', undefined, 'a model file path (relative to the job file) or an http(s) URL');
    const url = isUrl(source);
    s.only('headers', url, `only with an http(s) source, but source is the file ${JSON.stringify(source)}`);
    s.only('downloadTimeoutMs', url, `only with an http(s) source, but source is the file ${JSON.stringify(source)}`);
    models[name] = { type, source, maxBytes: s.int('maxBytes', 'positive', DEFAULT_MODEL_MAX_BYTES) };
    if (url) {
      models[name] = { ...models[name], downloadTimeoutMs: s.int('downloadTimeoutMs', 'positive', DEFAULT_DOWNLOAD_TIMEOUT_MS) } as ModelSpec;
      if (!URL.canParse(source)) throw r.expected(s.at('source'), 'a model file path (relative to the job file) or an http(s) URL', source);
    }
    if (s.has('headers')) models[name] = { ...models[name], headers: readHeaders(r, s) } as ModelSpec;
    if (s.has('reload')) {
      const reload = r.section(s.get('reload') ?? {}, s.at('reload'), keysOf(MODEL.file.properties.reload));
      models[name] = { ...models[name], reload: { pollMs: reload.int('pollMs', 'positive', DEFAULT_RELOAD_POLL_MS) } } as ModelSpec;
    }
  }
  checkNoCycles(r, models);
  return models;
}

function readRemote(r: Reader, s: Section): RemoteModelSpec {
  const url = s.str('url', undefined, 'the model\'s Open Inference Protocol URL (http://host:port/v2/models/<name>)');
  if (!isUrl(url) || !URL.canParse(url)) throw r.expected(s.at('url'), 'an http(s) URL (http://host:port/v2/models/<name>)', url);
  const d = REMOTE_DEFAULTS;
  const b = r.section(s.get('breaker') ?? {}, s.at('breaker'), keysOf(MODEL.remote.properties.breaker));
  return {
    type: 'remote',
    url: url.replace(/\/+$/, ''),
    ...(s.has('headers') ? { headers: readHeaders(r, s) } : {}),
    timeoutMs: s.int('timeoutMs', 'positive', d.timeoutMs),
    retries: s.int('retries', 'nonNegative', d.retries),
    backoffMs: s.int('backoffMs', 'nonNegative', d.backoffMs),
    breaker: { failures: b.int('failures', 'positive', d.breaker.failures), openMs: b.int('openMs', 'positive', d.breaker.openMs) },
    outputs: s.int('outputs', 'positive', d.outputs),
    maxBatchRows: s.int('maxBatchRows', 'positive', d.maxBatchRows),
  };
}

/** headers: a mapping of header names to string values. */
function readHeaders(r: Reader, s: Section): Record<string, string> {
  const raw = s.get('headers');
  const headers = r.section(raw, s.at('headers'), Object.keys((raw as object | null) ?? {}));
  const out: Record<string, string> = {};
  for (const h of Object.keys(headers.raw)) out[h] = headers.str(h, undefined, 'a header value (a string)');
  return out;
}

const defaultTypeOf = (raw: unknown) => {
  const source = (raw as { source?: unknown } | null)?.source;
  return typeof source === 'string' ? defaultType(source) : undefined;
};

function readEnsemble(r: Reader, s: Section, names: string[]): ModelSpec {
  const what = `a list of model names (${names.join(', ')})`;
  const members = r.list(s.get('members'), s.at('members'), what, (v, p) => {
    if (typeof v !== 'string' || !names.includes(v)) throw r.expected(p, what, v);
    return v;
  });
  const combine = s.oneOf('combine', COMBINES, 'mean');
  s.only('weights', combine === 'weighted', `only with combine: weighted, but combine is ${combine}`);
  s.only('threshold', combine === 'vote', `only with combine: vote, but combine is ${combine}`);
  if (combine === 'weighted') {
    const weights = r.list(s.get('weights'), s.at('weights'), `a list of ${members.length} weights >= 0, one per member`, (v, p) => r.num(v, p, 'a weight >= 0', { min: 0 }));
    if (weights.length !== members.length) throw r.expected(s.at('weights'), `${members.length} weights, one per member`, weights);
    if (!weights.some((w) => w > 0)) throw r.expected(s.at('weights'), 'weights with a positive sum', weights);
    return { type: 'ensemble', members, combine, weights };
  }
  if (combine === 'vote') return { type: 'ensemble', members, combine, threshold: s.num('threshold', 'a number', {}, 0.5) };
  return { type: 'ensemble', members, combine };
}

/** An ensemble may not contain itself, through any number of members. */
function checkNoCycles(r: Reader, models: Record<string, ModelSpec>): void {
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: string[]) => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') throw r.fail(`models.${path[0]}.members`, `the ensembles ${[...path, name].join(' -> ')} contain themselves`);
    state.set(name, 'visiting');
    const m = models[name];
    if (m.type === 'ensemble') for (const member of m.members) visit(member, [...path, name]);
    state.set(name, 'done');
  };
  for (const name of Object.keys(models)) visit(name, []);
}

export function readVariants(r: Reader, s: Section, models: Record<string, ModelSpec>): ScoringConfig['variants'] {
  const names = Object.keys(models);
  const modelWhat = `the name of a model (${names.join(', ')})`;
  const modelName = (v: unknown, p: string) => {
    if (typeof v !== 'string' || !names.includes(v)) throw r.expected(p, modelWhat, v);
    return v;
  };
  if (s.has('model') && s.has('variants')) throw r.fail(s.at('model'), 'scoring takes model: (one model) or variants:, not both');
  if (s.has('model')) return [{ model: modelName(s.get('model'), s.at('model')), weight: 100 }];
  if (!s.has('variants')) throw r.missing(s.at('model'), modelWhat);
  const variants = r.list(s.get('variants'), s.at('variants'), 'a non-empty list of { model, weight }', (v, p) => {
    const vs = r.section(v, p, keysOf(SCORING.properties.variants.items as TSchema));
    return { model: modelName(vs.get('model'), vs.at('model')), weight: vs.num('weight', 'a weight >= 0', { min: 0 }) };
  });
  variants.forEach((v, i) => {
    const first = variants.findIndex((w) => w.model === v.model);
    if (first !== i) throw r.fail(joinPath(s.at('variants'), i), `${JSON.stringify(v.model)} is already scoring.variants[${first}]; list each model once`);
  });
  if (!variants.some((v) => v.weight > 0)) throw r.fail(s.at('variants'), 'every weight is 0; give at least one variant a positive weight');
  if (variants.length > MAX_VARIANTS) throw r.fail(s.at('variants'), `${variants.length} variants; at most ${MAX_VARIANTS}`);
  return variants;
}

/** Model names, each once, of the models the job has. */
function modelNames(r: Reader, s: Section, key: string, models: Record<string, ModelSpec>): string[] {
  const names = Object.keys(models);
  const what = `a list of model names (${names.join(', ')})`;
  const list = r.list(s.get(key), s.at(key), what, (v, p) => {
    if (typeof v !== 'string' || !names.includes(v)) throw r.expected(p, what, v);
    return v;
  });
  list.forEach((name, i) => {
    const first = list.indexOf(name);
    if (first !== i) throw r.fail(joinPath(s.at(key), i), `${JSON.stringify(name)} is already ${s.at(key)}[${first}]; list each model once`);
  });
  return list;
}


function readCache(r: Reader, s: Section): ScoringConfig['cache'] {
  const v = s.get('cache');
  if (v === undefined || v === null) return null;
  const c = r.section(v, s.at('cache'), keysOf(SCORING.properties.cache));
  return { maxEntries: c.int('maxEntries', 'positive', CACHE_DEFAULTS.maxEntries), ttlMs: c.int('ttlMs', 'positive', CACHE_DEFAULTS.ttlMs) };
}

export function readShadow(r: Reader, s: Section, models: Record<string, ModelSpec>): string[] {
  const v = s.get('shadow');
  return v === undefined || v === null || (Array.isArray(v) && v.length === 0) ? [] : modelNames(r, s, 'shadow', models);
}

/** { fallback: <model> } or { fallback: { value: <number or one per output> } }. */
export function readOnError(r: Reader, s: Section, models: Record<string, ModelSpec>): OnError | null {
  if (!s.has('onError') || s.get('onError') === null) return null;
  const e = r.section(s.get('onError'), s.at('onError'), keysOf(SCORING.properties.onError));
  const names = Object.keys(models);
  const what = `a model name (${names.join(', ')}) or { value: <a number, or a list of one per output> }`;
  const f = e.get('fallback');
  if (typeof f === 'string') {
    if (!names.includes(f)) throw r.expected(e.at('fallback'), what, f);
    return { fallback: f };
  }
  if (f === undefined || f === null || typeof f !== 'object' || Array.isArray(f)) throw r.expected(e.at('fallback'), what, f);
  const v = r.section(f, e.at('fallback'), ['value']); // SCORING.onError.fallback's mapping form
  const value = v.get('value');
  const finite = (x: unknown, p: string) => r.num(x, p, 'a finite number', {});
  if (Array.isArray(value)) return { fallback: { value: r.list(value, v.at('value'), 'a non-empty list of finite numbers, one per output', finite) } };
  return { fallback: { value: [finite(value, v.at('value'))] } };
}

function readInputsOutput(r: Reader, s: Section, features: FeatureConfig[], where: string): { inputs: string[]; output: string } {
  const names = features.map((f) => f.name);
  const featureWhat = `the name of a feature (${names.join(', ')})`;
  const inputs = s.has('inputs')
    ? r.list(s.get('inputs'), s.at('inputs'), 'a non-empty list of feature names', (v, p) => {
        if (typeof v !== 'string' || !names.includes(v)) throw r.expected(p, featureWhat, v);
        return v;
      })
    : names;
  inputs.forEach((name, i) => {
    const first = inputs.indexOf(name);
    if (first !== i) throw r.fail(joinPath(s.at('inputs'), i), `${JSON.stringify(name)} is already ${where}.inputs[${first}]; each input is listed once`);
  });
  const output = s.str('output', 'score');
  if (names.includes(output)) throw r.fail(s.at('output'), `${JSON.stringify(output)} is also a feature name; pick another name for the score`);
  if (RECORD_FIELDS.includes(output)) {
    throw r.fail(s.at('output'), `${JSON.stringify(output)} is a field of result records (${RECORD_FIELDS.join(', ')}); pick another name for the score`);
  }
  return { inputs: [...inputs], output };
}

function readTimeout(s: Section): Pick<ScoringConfig, 'timeoutMs' | 'onTimeout'> {
  return {
    timeoutMs: s.int('timeoutMs', 'positive', DEFAULT_MODEL_TIMEOUT_MS),
    onTimeout: s.oneOf('onTimeout', ['fail', 'dead-letter'] as const, 'dead-letter'),
  };
}

function readMicroBatch(s: Section): Pick<ScoringConfig, 'maxBatchRows' | 'maxWaitMs'> {
  return {
    maxBatchRows: s.int('maxBatchRows', 'positive', PER_EVENT_DEFAULTS.maxBatchRows),
    maxWaitMs: s.int('maxWaitMs', 'nonNegative', PER_EVENT_DEFAULTS.maxWaitMs),
  };
}
