// `features:` (SPEC §4): what is computed per window.
import type { FeatureConfig, Transform } from './types';
import { FIELD_PATH, FIELD_PATH_WHAT, isMapping, type Reader, type Section } from './schema';
import { FEATURE, keysOf, NAMED_TRANSFORMS, SIMPLE_AGGS as SIMPLE_AGG_NAMES, TRANSFORM_KEYS } from './job-schema';
import { DEFAULT_COMPRESSION } from './defaults';

const SIMPLE_AGGS = SIMPLE_AGG_NAMES;
type SimpleAgg = (typeof SIMPLE_AGGS)[number];
const AGG_WHAT = `one of ${SIMPLE_AGGS.join(', ')} or a percentile pNN / pNN.N with 0 < NN < 100 (p50, p95, p99.9)`;
/** pNN or pNN.N: at most two digits before the point (no leading zero) and one after. */
const PERCENTILE = /^p(0|[1-9][0-9]?)(?:\.([0-9]))?$/;
const COMPRESSION_RANGE = { min: 10, max: 10_000 };


/** Fields of result records (SPEC §5, §13): the score field must not shadow one. */
export const RECORD_FIELDS = ['key', 'windowStart', 'windowEnd', 'events', 'features', 'model', 'modelVersion', 'revision', 'retracted', 'early', 'update', 'ts', 'eventId', 'late'];

/** q of `pNN` / `pNN.N` (p99.9 → 0.999), or undefined when `agg` is not a valid percentile. */
export function percentileQ(agg: string): number | undefined {
  const m = PERCENTILE.exec(agg);
  if (!m) return undefined;
  // Tenths of a percent as an integer, so q is the double nearest NN.N/100 (99.9/100 is not).
  const tenths = Number(m[1]) * 10 + Number(m[2] ?? 0);
  return tenths > 0 ? tenths / 1000 : undefined;
}

/** The features of a job, onehot transforms expanded into one feature per value (`ch=pos`). */
export function readFeatures(r: Reader, parent: Section, normalizedForms: boolean, mode: 'windows' | 'per-event'): FeatureConfig[] {
  const known = normalizedForms ? [...keysOf(FEATURE), 'q'] : keysOf(FEATURE);
  const v = parent.get('features');
  if (v === undefined || v === null) throw r.missing('features', 'a non-empty list of features ({ name, agg, field })');
  const read = r.list(v, 'features', 'a non-empty list of features ({ name, agg, field })', (item, path) => ({
    path,
    features: readFeature(r, r.section(item, path, known), normalizedForms, mode),
  }));
  const seen = new Map<string, string>();
  for (const { path, features } of read) {
    for (const f of features) {
      const first = seen.get(f.name);
      if (first !== undefined) throw r.fail(`${path}.name`, `${JSON.stringify(f.name)} is already the name of ${first}; names must be unique`);
      seen.set(f.name, path);
    }
  }
  return read.flatMap((f) => f.features);
}

function readFeature(r: Reader, s: Section, normalizedForms: boolean, mode: 'windows' | 'per-event'): FeatureConfig[] {
  const name = s.str('name');
  if (!s.has('agg')) {
    if (mode !== 'per-event') throw r.missing(s.at('agg'), `${AGG_WHAT}; a feature without agg (the event's own value) needs mode: per-event`);
    s.only('compression', false, 'only for percentile features (pNN)');
    const field = s.str('field', undefined, `${FIELD_PATH_WHAT}; the feature is this field's value`, FIELD_PATH);
    return withTransform(r, s, { name, agg: 'value', field }, normalizedForms);
  }
  const aggText = s.str('agg', undefined, AGG_WHAT);
  if (normalizedForms && aggText === 'value') return withTransform(r, s, { name, agg: 'value', field: s.str('field') }, normalizedForms);
  const isSimple = (SIMPLE_AGGS as readonly string[]).includes(aggText);
  const isNormalized = normalizedForms && aggText === 'percentile';
  let q = isSimple || isNormalized ? undefined : percentileQ(aggText);
  if (!isSimple && !isNormalized && q === undefined) throw r.expected(s.at('agg'), AGG_WHAT, aggText);
  const isPercentile = !isSimple;

  s.only('compression', isPercentile, `only for percentile features (pNN), but agg is ${aggText}`);
  s.only('q', isNormalized, `only with agg: percentile; write the percentile as agg: pNN instead`);
  if (aggText === 'count') {
    s.only('field', false, 'count takes no field (it counts the events in the window)');
    s.only('transform', false, 'count takes no transform (it counts the events in the window)');
    return [{ name, agg: 'count' }];
  }
  const field = s.str('field', undefined, `${FIELD_PATH_WHAT}; ${aggText} needs the numeric field it aggregates`, FIELD_PATH);
  if (isSimple) return withTransform(r, s, { name, agg: aggText as Exclude<SimpleAgg, 'count'>, field }, normalizedForms);
  if (isNormalized) q = s.num('q', 'a number between 0 and 1 (exclusive)', { min: 0, exclusiveMin: true, max: 1 });
  if (q === 1) throw r.expected(s.at('q'), 'a number between 0 and 1 (exclusive)', q);
  const compression = s.num('compression', `a number from ${COMPRESSION_RANGE.min} to ${COMPRESSION_RANGE.max}`, COMPRESSION_RANGE, DEFAULT_COMPRESSION);
  return withTransform(r, s, { name, agg: 'percentile', field, q: q as number, compression }, normalizedForms);
}

type FieldFeature = Exclude<FeatureConfig, { agg: 'count' }>;

/** The feature with its transform, if it has one; onehot as written gives one feature per value. */
function withTransform(r: Reader, s: Section, f: FieldFeature, normalizedForms: boolean): FieldFeature[] {
  if (!s.has('transform')) return [f];
  const t = readTransform(r, s.get('transform'), s.at('transform'), normalizedForms);
  if (t.type === 'onehot' && t.index < 0) return t.values.map((value, index) => ({ ...f, name: `${f.name}=${value}`, transform: { ...t, index } }));
  return [{ ...f, transform: t }];
}

const TRANSFORM_WHAT = `one of ${NAMED_TRANSFORMS.join(', ')}, or a mapping with one of ${TRANSFORM_KEYS.join(', ')}`;

/** A transform as the job file writes it; with normalizedForms, also as a JobConfig holds it. */
export function readTransform(r: Reader, v: unknown, path: string, normalizedForms = false): Transform {
  if (typeof v === 'string') return { type: r.oneOf(v, path, NAMED_TRANSFORMS) };
  if (normalizedForms && isMapping(v) && 'type' in v) return readNormalizedTransform(r, v, path);
  const s = r.section(v, path, TRANSFORM_KEYS);
  const keys = Object.keys(s.raw).filter((k) => s.has(k));
  if (keys.length !== 1) throw r.expected(path, TRANSFORM_WHAT, v);
  const key = keys[0] as (typeof TRANSFORM_KEYS)[number];
  const at = s.at(key);
  switch (key) {
    case 'standardize': {
      const p = s.section(key, ['mean', 'std']);
      return { type: 'standardize', mean: p.num('mean', 'a finite number', {}), std: p.num('std', 'a positive number', { min: 0, exclusiveMin: true }) };
    }
    case 'normalize': {
      const p = s.section(key, ['min', 'max']);
      const min = p.num('min', 'a finite number', {});
      const max = p.num('max', `a finite number above min (${min})`, { min, exclusiveMin: true });
      return { type: 'normalize', min, max };
    }
    case 'bucket': {
      const bounds = r.list(s.get(key), at, 'a non-empty list of ascending finite numbers', (x, p) => r.num(x, p, 'a finite number'));
      bounds.forEach((b, i) => {
        if (i > 0 && !(b > bounds[i - 1])) throw r.expected(`${at}[${i}]`, `a number above ${at}[${i - 1}] (${bounds[i - 1]}): bounds ascend`, b);
      });
      return { type: 'bucket', bounds };
    }
    case 'category':
    case 'onehot': {
      const values = r.list(s.get(key), at, 'a non-empty list of distinct strings', (x, p) => {
        if (typeof x !== 'string') throw r.expected(p, 'a string', x);
        return x;
      });
      values.forEach((x, i) => {
        if (values.indexOf(x) !== i) throw r.fail(`${at}[${i}]`, `${JSON.stringify(x)} is already ${at}[${values.indexOf(x)}]; values must be distinct`);
      });
      return key === 'category' ? { type: 'category', values } : { type: 'onehot', values, index: -1 };
    }
    case 'hash':
      return { type: 'hash', buckets: r.int(s.get(key), at, 'positive', 2 ** 31) };
  }
}

/** What each transform's JobConfig form must have besides its type. */
const NORMALIZED_KEYS: Record<string, string[]> = { standardize: ['mean', 'std'], normalize: ['min', 'max'], bucket: ['bounds'], category: ['values'], onehot: ['values', 'index'], hash: ['buckets'] };

/** The JobConfig form ({ type: 'bucket', bounds }) read with the same checks as the written form;
 *  an expanded onehot feature keeps its index. */
function readNormalizedTransform(r: Reader, v: Record<string, unknown>, path: string): Transform {
  const s = r.section(v, path, ['type', 'mean', 'std', 'min', 'max', 'bounds', 'values', 'index', 'buckets']);
  const type = s.get('type');
  if (typeof type === 'string' && (NAMED_TRANSFORMS as readonly string[]).includes(type)) return { type: type as (typeof NAMED_TRANSFORMS)[number] };
  const written: Record<string, unknown> = {
    standardize: { standardize: { mean: v.mean, std: v.std } },
    normalize: { normalize: { min: v.min, max: v.max } },
    bucket: { bucket: v.bounds },
    category: { category: v.values },
    onehot: { onehot: v.values },
    hash: { hash: v.buckets },
  };
  if (typeof type !== 'string' || !(type in written)) throw r.expected(s.at('type'), TRANSFORM_WHAT, type);
  for (const key of NORMALIZED_KEYS[type]) if (!s.has(key)) throw r.missing(s.at(key), `the ${key} of a ${type} transform`);
  const t = readTransform(r, written[type], path);
  if (t.type === 'onehot') return { ...t, index: s.int('index', 'nonNegative', undefined, t.values.length - 1) };
  return t;
}
