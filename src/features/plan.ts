// How a job's features map onto window slots: which numeric fields are decoded, which aggregates
// and digests each slot holds, and how each feature value is read back when a window fires.
import type { FeatureConfig, Transform } from '../config/types';
import { Slot } from '../state/arena';

export const enum FeatureKind {
  Count,
  Sum,
  Mean,
  Min,
  Max,
  Stddev,
  Percentile,
  /** The event's own (transformed) value: per-event mode. */
  Value,
}

/** Per column, six words: running sum, min, max, Welford's mean and M2, and how many values were
 *  there (events whose value was missing are skipped, SPEC §13). */
export const enum Agg {
  Sum = 0,
  Min = 1,
  Max = 2,
  Mean = 3,
  M2 = 4,
  N = 5,
  Words = 6,
}

export interface FeatureSpec {
  name: string;
  kind: FeatureKind;
  /** Index into fieldPaths (the decoded column); -1 for count. */
  field: number;
  /** Index into aggFields (the slot's aggregate block); -1 for count, own values and percentiles. */
  agg: number;
  /** Index into digests; -1 unless a percentile. */
  digest: number;
  /** Quantile in (0, 1) for percentiles. */
  q: number;
}

export interface FeaturePlan {
  /** The columns the decoder extracts: a field path each, read through its transform. */
  fieldPaths: string[];
  transforms: Array<Transform | undefined>;
  /** The columns a slot aggregates (sum, min, max, mean, M2, n each), in block order: only those
   *  a sum/mean/min/max/stddev reads. An own value (per-event mode) needs no block. */
  aggFields: number[];
  /** One t-digest per distinct (field, compression) among the percentile features. */
  digests: Array<{ field: number; compression: number }>;
  features: FeatureSpec[];
  /** Words (8 bytes) per window slot. */
  slotWords: number;
  /** Word offset in a slot of aggregate block b (aggFields[b]'s): aggBase + b * Agg.Words. */
  aggBase: number;
  /** Word offset in a slot of digest d's reference (i32 block offset, i32 block words): digestBase + d. */
  digestBase: number;
}

const KIND: Record<string, FeatureKind> = { value: FeatureKind.Value, count: FeatureKind.Count, sum: FeatureKind.Sum, mean: FeatureKind.Mean, min: FeatureKind.Min, max: FeatureKind.Max, stddev: FeatureKind.Stddev, percentile: FeatureKind.Percentile };

/** `sessions`: slots also hold what session windows need (see Slot.SessionFixed). */
export function planFeatures(features: readonly FeatureConfig[], sessions = false): FeaturePlan {
  const fieldPaths: string[] = [];
  const transforms: Array<Transform | undefined> = [];
  const columnKeys: string[] = [];
  const digests: FeaturePlan['digests'] = [];
  // One column per distinct (field, transform): amount and log1p(amount) are two.
  const fieldIndex = (path: string, t: Transform | undefined) => {
    const key = JSON.stringify([path, t ?? null]);
    let i = columnKeys.indexOf(key);
    if (i < 0) {
      i = columnKeys.push(key) - 1;
      fieldPaths.push(path);
      transforms.push(t);
    }
    return i;
  };
  const aggFields: number[] = [];
  const aggIndex = (field: number) => {
    let b = aggFields.indexOf(field);
    if (b < 0) b = aggFields.push(field) - 1;
    return b;
  };
  const specs = features.map((f): FeatureSpec => {
    if (f.agg === 'count') return { name: f.name, kind: FeatureKind.Count, field: -1, agg: -1, digest: -1, q: 0 };
    const field = fieldIndex(f.field, f.transform);
    if (f.agg === 'value') return { name: f.name, kind: FeatureKind.Value, field, agg: -1, digest: -1, q: 0 };
    if (f.agg !== 'percentile') return { name: f.name, kind: KIND[f.agg], field, agg: aggIndex(field), digest: -1, q: 0 };
    let digest = digests.findIndex((d) => d.field === field && d.compression === f.compression);
    if (digest < 0) digest = digests.push({ field, compression: f.compression }) - 1;
    return { name: f.name, kind: FeatureKind.Percentile, field, agg: -1, digest, q: f.q };
  });
  const aggBase = sessions ? Slot.SessionFixed : Slot.Fixed;
  const digestBase = aggBase + aggFields.length * Agg.Words;
  return { fieldPaths, transforms, aggFields, digests, features: specs, slotWords: digestBase + digests.length, aggBase, digestBase };
}
