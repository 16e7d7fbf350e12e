// Per-window aggregates in a slot (SPEC §6 Features): count, sum, min and max exact in float64 in
// arrival order; mean = sum / count; population stddev from Welford's running mean and M2, merged
// with Chan's formula, so 1e9 + small noise keeps its digits. Percentiles come from t-digests.
import { Slot } from '../state/arena';
import { Agg, FeatureKind, type FeaturePlan } from './plan';

/** The t-digest operations features need, on digests that live in the arena (see digest-store.ts). */
export interface DigestStore {
  add(slotBase: number, digest: number, x: number): void;
  /** Merges src's digest into dst's; src is left as it was. */
  merge(dstBase: number, srcBase: number, digest: number): void;
  quantile(slotBase: number, digest: number, q: number): number;
  free(slotBase: number, digest: number): void;
  /** Completes adds the store may have deferred; called before the state is handed back. */
  flush(): void;
}

export function initAggregates(f64: Float64Array, slotBase: number, plan: FeaturePlan): void {
  for (let b = 0; b < plan.aggFields.length; b++) {
    const a = slotBase + plan.aggBase + b * Agg.Words;
    f64[a + Agg.Sum] = 0;
    f64[a + Agg.Min] = Infinity;
    f64[a + Agg.Max] = -Infinity;
    f64[a + Agg.Mean] = 0;
    f64[a + Agg.M2] = 0;
    f64[a + Agg.N] = 0;
  }
}

/** Adds one event (its field values at fields[fieldBase ...]) to the window in the slot. */
export function addEvent(f64: Float64Array, slotBase: number, plan: FeaturePlan, fields: Float64Array, fieldBase: number, digests: DigestStore): void {
  f64[slotBase + Slot.Count]++;
  const aggFields = plan.aggFields;
  for (let b = 0; b < aggFields.length; b++) {
    const x = fields[fieldBase + aggFields[b]];
    if (x !== x) continue; // missing (NaN): skipped, SPEC §13
    const a = slotBase + plan.aggBase + b * Agg.Words;
    const n = ++f64[a + Agg.N];
    f64[a + Agg.Sum] += x;
    if (x < f64[a + Agg.Min]) f64[a + Agg.Min] = x;
    if (x > f64[a + Agg.Max]) f64[a + Agg.Max] = x;
    const delta = x - f64[a + Agg.Mean];
    f64[a + Agg.Mean] += delta / n;
    f64[a + Agg.M2] += delta * (x - f64[a + Agg.Mean]);
  }
  for (let d = 0; d < plan.digests.length; d++) {
    const x = fields[fieldBase + plan.digests[d].field];
    if (x === x) digests.add(slotBase, d, x);
  }
}

/** Folds the window in src into dst (session merges); dst keeps its place, src is not changed. */
export function mergeInto(f64: Float64Array, dstBase: number, srcBase: number, plan: FeaturePlan, digests: DigestStore): void {
  for (let k = 0; k < plan.aggFields.length; k++) {
    const a = dstBase + plan.aggBase + k * Agg.Words;
    const b = srcBase + plan.aggBase + k * Agg.Words;
    const na = f64[a + Agg.N];
    const nb = f64[b + Agg.N];
    const n = na + nb;
    f64[a + Agg.N] = n;
    f64[a + Agg.Sum] += f64[b + Agg.Sum];
    if (f64[b + Agg.Min] < f64[a + Agg.Min]) f64[a + Agg.Min] = f64[b + Agg.Min];
    if (f64[b + Agg.Max] > f64[a + Agg.Max]) f64[a + Agg.Max] = f64[b + Agg.Max];
    if (n > 0) {
      const delta = f64[b + Agg.Mean] - f64[a + Agg.Mean];
      f64[a + Agg.M2] += f64[b + Agg.M2] + ((delta * delta * na) / n) * nb;
      f64[a + Agg.Mean] += (delta * nb) / n;
    }
  }
  f64[dstBase + Slot.Count] += f64[srcBase + Slot.Count];
  for (let d = 0; d < plan.digests.length; d++) digests.merge(dstBase, srcBase, d);
}

/**
 * Writes the feature values, in the job's order, to out[outBase ...]: aggregates from the window in
 * the slot (slotBase < 0: no window, they are missing), own values from the event's columns at
 * fields[fieldBase ...] (per-event mode). An aggregate over no values is missing (NaN).
 */
export function readFeatures(f64: Float64Array, slotBase: number, plan: FeaturePlan, digests: DigestStore, out: Float64Array, outBase: number, fields?: Float64Array, fieldBase = 0): void {
  for (let i = 0; i < plan.features.length; i++) {
    const spec = plan.features[i];
    if (spec.kind === FeatureKind.Value) {
      out[outBase + i] = fields![fieldBase + spec.field];
      continue;
    }
    if (slotBase < 0) {
      out[outBase + i] = NaN;
      continue;
    }
    if (spec.kind === FeatureKind.Count) {
      out[outBase + i] = f64[slotBase + Slot.Count];
      continue;
    }
    if (spec.kind === FeatureKind.Percentile) {
      out[outBase + i] = digests.quantile(slotBase, spec.digest, spec.q); // NaN: no values yet
      continue;
    }
    const a = slotBase + plan.aggBase + spec.agg * Agg.Words;
    const n = f64[a + Agg.N];
    let v: number;
    switch (spec.kind) {
      case FeatureKind.Sum: v = f64[a + Agg.Sum]; break;
      case FeatureKind.Mean: v = f64[a + Agg.Sum] / n; break;
      case FeatureKind.Min: v = f64[a + Agg.Min]; break;
      case FeatureKind.Max: v = f64[a + Agg.Max]; break;
      default: v = Math.sqrt(Math.max(0, f64[a + Agg.M2]) / n); break; // stddev
    }
    out[outBase + i] = n > 0 ? v : NaN;
  }
}
