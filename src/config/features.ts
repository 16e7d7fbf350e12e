// `features:` (SPEC §4): what is computed per window.
import type { FeatureConfig } from './types';
import type { Reader, Section } from './schema';
import { FEATURE, keysOf, SIMPLE_AGGS as SIMPLE_AGG_NAMES } from './job-schema';
import { DEFAULT_COMPRESSION } from './defaults';

const SIMPLE_AGGS = SIMPLE_AGG_NAMES;
type SimpleAgg = (typeof SIMPLE_AGGS)[number];
const AGG_WHAT = `one of ${SIMPLE_AGGS.join(', ')} or a percentile pNN / pNN.N with 0 < NN < 100 (p50, p95, p99.9)`;
/** pNN or pNN.N: at most two digits before the point (no leading zero) and one after. */
const PERCENTILE = /^p(0|[1-9][0-9]?)(?:\.([0-9]))?$/;
const COMPRESSION_RANGE = { min: 10, max: 10_000 };

const FIELD_PATH = /^[^.]+(\.[^.]+)*$/;
const FIELD_PATH_WHAT = 'a field path (names separated by dots)';

/** Fields every result record has (SPEC §5); the score field must not shadow one. */
export const RECORD_FIELDS = ['key', 'windowStart', 'windowEnd', 'events', 'features', 'model', 'modelVersion', 'revision', 'retracted'];

/** q of `pNN` / `pNN.N` (p99.9 → 0.999), or undefined when `agg` is not a valid percentile. */
export function percentileQ(agg: string): number | undefined {
  const m = PERCENTILE.exec(agg);
  if (!m) return undefined;
  // Tenths of a percent as an integer, so q is the double nearest NN.N/100 (99.9/100 is not).
  const tenths = Number(m[1]) * 10 + Number(m[2] ?? 0);
  return tenths > 0 ? tenths / 1000 : undefined;
}

export function readFeatures(r: Reader, parent: Section, normalizedForms: boolean): FeatureConfig[] {
  const known = normalizedForms ? [...keysOf(FEATURE), 'q'] : keysOf(FEATURE);
  const v = parent.get('features');
  if (v === undefined || v === null) throw r.missing('features', 'a non-empty list of features ({ name, agg, field })');
  const features = r.list(v, 'features', 'a non-empty list of features ({ name, agg, field })', (item, path) =>
    readFeature(r, r.section(item, path, known), normalizedForms),
  );
  const seen = new Map<string, number>();
  features.forEach((f, i) => {
    const first = seen.get(f.name);
    if (first !== undefined) throw r.fail(`features[${i}].name`, `${JSON.stringify(f.name)} is already the name of features[${first}]; names must be unique`);
    seen.set(f.name, i);
  });
  return features;
}

function readFeature(r: Reader, s: Section, normalizedForms: boolean): FeatureConfig {
  const name = s.str('name');
  const aggText = s.str('agg', undefined, AGG_WHAT);
  const isSimple = (SIMPLE_AGGS as readonly string[]).includes(aggText);
  const isNormalized = normalizedForms && aggText === 'percentile';
  let q = isSimple || isNormalized ? undefined : percentileQ(aggText);
  if (!isSimple && !isNormalized && q === undefined) throw r.expected(s.at('agg'), AGG_WHAT, aggText);
  const isPercentile = !isSimple;

  s.only('compression', isPercentile, `only for percentile features (pNN), but agg is ${aggText}`);
  s.only('q', isNormalized, `only with agg: percentile; write the percentile as agg: pNN instead`);
  if (aggText === 'count') {
    s.only('field', false, 'count takes no field (it counts the events in the window)');
    return { name, agg: 'count' };
  }
  const field = s.str('field', undefined, `${FIELD_PATH_WHAT}; ${aggText} needs the numeric field it aggregates`, FIELD_PATH);
  if (isSimple) return { name, agg: aggText as SimpleAgg, field };
  if (isNormalized) q = s.num('q', 'a number between 0 and 1 (exclusive)', { min: 0, exclusiveMin: true, max: 1 });
  if (q === 1) throw r.expected(s.at('q'), 'a number between 0 and 1 (exclusive)', q);
  const compression = s.num('compression', `a number from ${COMPRESSION_RANGE.min} to ${COMPRESSION_RANGE.max}`, COMPRESSION_RANGE, DEFAULT_COMPRESSION);
  return { name, agg: 'percentile', field, q: q as number, compression };
}
