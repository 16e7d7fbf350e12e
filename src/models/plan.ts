// The models of a job as workers get them (small: sent once as workerData, then with every task
// once a model has been reloaded): every model the variants read, file models by the paths of
// their versions with the feature order they take, ensembles by member index.
import type { Combine } from '../config/types';
import { ensembleVersion } from './version';

/** One version of a file model, and where it takes over (SPEC §12's switch rule). */
export interface VersionRef {
  version: string;
  /** Its bytes on disk: under state.dir for a job with state. */
  path: string;
  /** T: it scores every window with windowEnd > fromMs; -Infinity for the version loaded first. */
  fromMs: number;
}

export type PlannedModel =
  | { name: string; kind: 'file'; type: 'xgboost' | 'onnx'; inputFeature: number[]; versions: VersionRef[] }
  | { name: string; kind: 'ensemble'; members: number[]; combine: Combine; weights?: number[]; threshold?: number }
  | RemotePlan;

/** A remote model (src/models/remote.ts): its endpoint, limits, and its breaker, shared by every
 *  worker (src/models/breaker.ts). */
export interface RemotePlan {
  name: string;
  kind: 'remote';
  url: string;
  headers: Record<string, string>;
  timeoutMs: number;
  retries: number;
  backoffMs: number;
  maxBatchRows: number;
  numOutputs: number;
  /** Per model input, the job feature it takes (scoring.inputs' order). */
  inputFeature: number[];
  breaker: { failures: number; openMs: number; state: SharedArrayBuffer };
}

export interface ScoringPlan {
  models: PlannedModel[];
  /** Per variant, the index of its model in `models`, and its weight (src/models/variants.ts). */
  variantModel: number[];
  variantWeights: number[];
  /** Outputs per row, the same for every variant, shadow and fallback. */
  numOutputs: number;
  /** Models scored into the shadow output (indices in `models`). */
  shadow: number[];
  /** Rows whose model call failed: scored by this model, or given this value; null: dead letters. */
  onError: { model: number } | { value: number[] } | null;
  /** scoring.inputs as job feature indices: a cached row's key. */
  inputFeature: number[];
  /** scoring.cache: outputs by exact float32 input row (src/models/cache.ts), or null. */
  cache: { maxEntries: number; ttlMs: number } | null;
}

/** Per file model (by index; [] for ensembles), its versions: what a task carries after a reload. */
export type PlanVersions = { revision: number; versions: VersionRef[][] };

/**
 * The switch times of all models, ascending: they cut event time into epochs, in each of which
 * every model has one version. Epoch e holds the windows with bounds[e-1] < windowEnd <= bounds[e].
 */
export function epochBounds(plan: ScoringPlan): number[] {
  const bounds = new Set<number>();
  for (const m of plan.models) if (m.kind === 'file') for (const v of m.versions) if (Number.isFinite(v.fromMs)) bounds.add(v.fromMs);
  return [...bounds].sort((a, b) => a - b);
}

/** The epoch of a window: how many switch times lie before its end. */
export function epochOf(bounds: readonly number[], windowEndMs: number): number {
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (bounds[mid] < windowEndMs) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The version of file model m in force in epoch e (see epochBounds). */
export function fileVersionAt(m: Extract<PlannedModel, { kind: 'file' }>, bounds: readonly number[], epoch: number): VersionRef {
  const after = epoch === 0 ? -Infinity : bounds[epoch - 1];
  let found = m.versions[0];
  for (const v of m.versions) if (v.fromMs <= after) found = v;
  return found;
}

/**
 * The version of model `index` in epoch e: a file model's, an ensemble's from its members', a
 * remote model's as its server last answered (`remote`; null before it answered).
 */
export function versionAt(plan: ScoringPlan, index: number, bounds: readonly number[], epoch: number, remote: (index: number) => string | null = () => null): string | null {
  const m = plan.models[index];
  if (m.kind === 'file') return fileVersionAt(m, bounds, epoch).version;
  if (m.kind === 'remote') return remote(index);
  return ensembleVersion(m.members.map((i) => String(versionAt(plan, i, bounds, epoch, remote))));
}

/** The plan with a task's versions in place of the ones it was made with. */
export function withVersions(plan: ScoringPlan, v: PlanVersions): ScoringPlan {
  return { ...plan, models: plan.models.map((m, i) => (m.kind === 'file' ? { ...m, versions: v.versions[i] } : m)) };
}

/** The version of model `index` in force now: as of the last switch. */
export function versionInForce(plan: ScoringPlan, index: number): string | null {
  const bounds = epochBounds(plan);
  return versionAt(plan, index, bounds, bounds.length);
}
