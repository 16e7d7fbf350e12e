// Model calls in a worker: a plan model (file or ensemble) at an epoch's versions, over some rows
// of a task's output (SPEC §1: many rows per addon or onnxruntime call). A call that throws, or
// gives a row a non-finite output, is an error for those rows (SPEC §12), never for the task.
import { cachedModel } from '../scoring/load-model';
import type { TaskOutput } from '../state/output';
import { fileVersionAt, type PlannedModel, type RemotePlan, type ScoringPlan } from './plan';
import { PredictionCache } from './cache';
import { ModelCallError, RemoteModel } from './remote';

/** Rows a reload checks a new version on (SPEC §12): the last this many a model scored. */
export const SAMPLE_ROWS = 1000;
/** A worker sends back every row a version scores up to SAMPLE_ROWS, then some at most this
 *  often: the check rows stay recent, and the main thread is not handed a copy of every row. */
const SAMPLE_EVERY_MS = 1000;

/** Whether rows a version just scored are worth keeping for its reload check: every row up to
 *  SAMPLE_ROWS, then some at most every SAMPLE_EVERY_MS (workers here, sluice serve's main thread). */
export class SampleClock {
  /** Per model and version: rows kept so far, and when last. */
  private readonly kept = new Map<string, { rows: number; atMs: number }>();

  due(model: string, version: string, rows: number): boolean {
    const key = `${model}\u0000${version}`;
    const now = performance.now();
    const last = this.kept.get(key) ?? { rows: 0, atMs: -Infinity };
    if (last.rows >= SAMPLE_ROWS && now - last.atMs < SAMPLE_EVERY_MS) return false;
    this.kept.set(key, { rows: last.rows + rows, atMs: now });
    return true;
  }

  clear(): void {
    this.kept.clear();
  }
}

/** Model input rows a file model's version scored (the last SAMPLE_ROWS of a call at most). */
export interface ScoredSample {
  model: string;
  version: string;
  width: number;
  rows: Float32Array;
}

/** error: the call threw; non-finite: an output was NaN or infinite; timeout: the call (a remote
 *  model's request, or the task's calls) ran past timeoutMs; breaker: a remote model's breaker
 *  was open. */
export type ErrorKind = 'error' | 'non-finite' | 'timeout' | 'breaker';

/** A call's outputs (rows x numOutputs), and which rows failed, why. */
export interface CallResult {
  scores: Float32Array;
  /** Per row of the call: null, or why it has no score. Null when every row has one. */
  errors: Array<string | null> | null;
  kind: ErrorKind | null;
}

export class ModelCalls {
  /** When a version's rows go back to the main thread. */
  private readonly sampled = new SampleClock();
  /** What the calls since the last take() scored (reload checks). */
  samples: ScoredSample[] = [];
  /** A warm-up's made-up rows: remote models are not called (their scores are zeros). */
  warmUp = false;
  /** Remote models by plan index (their breakers are shared; their versions are this worker's). */
  private readonly remotes = new Map<number, RemoteModel>();

  /** scoring.cache (one per worker thread), or null. */
  private readonly cache: PredictionCache | null;

  constructor(
    private readonly plan: () => ScoringPlan,
    private readonly bounds: () => readonly number[],
  ) {
    const config = plan().cache;
    this.cache = config ? new PredictionCache(config) : null;
  }

  /** A new key table (the warm-up's rows are made up): sampling starts over. */
  resetSamples(): void {
    this.sampled.clear();
  }

  /** Model `index` at `epoch` over `rows` of `output`; errors caught, per row. With a cache,
   *  rows it has are not scored again; rows scored to finite outputs go into it. */
  async attempt(index: number, epoch: number, output: TaskOutput, rows: readonly number[], version: string | null): Promise<CallResult> {
    const cache = this.cache;
    if (cache === null || this.warmUp) return this.attemptAll(index, epoch, output, rows);
    const k = output.numOutputs;
    const nowMs = Date.now();
    const inputs = inputRows(output, rows, this.plan().inputFeature);
    const width = this.plan().inputFeature.length;
    const keys = rows.map((_, i) => PredictionCache.key(index, version, inputs.subarray(i * width, (i + 1) * width)));
    const scores = new Float32Array(rows.length * k);
    // Rows not in the cache, each scored once: a row the call holds twice (a task's partitions
    // share one call) takes the first one's outputs, as a hit.
    const missed: number[] = [];
    const firstMiss = new Map<string, number>();
    const repeats: Array<[row: number, of: number]> = [];
    keys.forEach((key, i) => {
      const hit = cache.get(key, nowMs);
      if (hit) scores.set(hit, i * k);
      else if (firstMiss.has(key)) repeats.push([i, firstMiss.get(key)!]);
      else firstMiss.set(key, missed.push(i) - 1);
    });
    this.noteCache(index, rows.length - missed.length, missed.length);
    if (missed.length === 0) return { scores, errors: null, kind: null };
    const got = await this.attemptAll(index, epoch, output, missed.map((i) => rows[i]));
    let errors: Array<string | null> | null = null;
    missed.forEach((i, j) => {
      const outputs = got.scores.slice(j * k, j * k + k);
      scores.set(outputs, i * k);
      const error = got.errors?.[j];
      if (error) (errors ??= rows.map(() => null))[i] = error;
      else cache.set(keys[i], outputs, nowMs);
    });
    for (const [i, j] of repeats) {
      scores.set(got.scores.subarray(j * k, j * k + k), i * k);
      const error = got.errors?.[j];
      if (error) (errors ??= rows.map(() => null))[i] = error;
    }
    return { scores, errors, kind: got.kind };
  }

  /** Per model index: cache hits and misses since the last take. */
  cacheCounts = new Map<number, { hits: number; misses: number }>();

  private noteCache(index: number, hits: number, misses: number): void {
    const c = this.cacheCounts.get(index) ?? { hits: 0, misses: 0 };
    c.hits += hits;
    c.misses += misses;
    this.cacheCounts.set(index, c);
  }

  private async attemptAll(index: number, epoch: number, output: TaskOutput, rows: readonly number[]): Promise<CallResult> {
    const k = output.numOutputs;
    let scores: Float32Array;
    try {
      scores = await this.run(index, epoch, output, rows);
    } catch (e) {
      const why = `the model call failed: ${String((e as Error)?.message ?? e).split('\n')[0]}`;
      return { scores: new Float32Array(rows.length * k), errors: rows.map(() => why), kind: e instanceof ModelCallError ? e.kind : 'error' };
    }
    let errors: Array<string | null> | null = null;
    for (let i = 0; i < rows.length; i++) {
      for (let j = 0; j < k; j++) {
        if (Number.isFinite(scores[i * k + j])) continue;
        errors ??= rows.map(() => null);
        errors[i] = `the model gave a non-finite output (${scores[i * k + j]})`;
        break;
      }
    }
    return { scores, errors, kind: errors ? 'non-finite' : null };
  }

  /** The outputs of model `index` in `epoch` for `rows` of `output` (rows x numOutputs). */
  private async run(index: number, epoch: number, output: TaskOutput, rows: readonly number[]): Promise<Float32Array> {
    const m: PlannedModel = this.plan().models[index];
    if (m.kind === 'file') {
      const version = fileVersionAt(m, this.bounds(), epoch);
      const model = await cachedModel(version.path, m.type);
      const width = m.inputFeature.length;
      const input = inputRows(output, rows, m.inputFeature);
      if (this.sampled.due(m.name, version.version, rows.length)) this.samples.push({ model: m.name, version: version.version, width, rows: input.slice(Math.max(0, rows.length - SAMPLE_ROWS) * width) });
      return model.predictSync ? model.predictSync(input, rows.length) : model.predict(input, rows.length);
    }
    if (m.kind === 'remote' && this.warmUp) return new Float32Array(rows.length * m.numOutputs);
    if (m.kind === 'remote') return this.remote(index).predict(inputRows(output, rows, m.inputFeature), rows.length, m.inputFeature.length);
    const outs: Float32Array[] = [];
    for (const member of m.members) outs.push(await this.run(member, epoch, output, rows));
    return combine(m, outs);
  }

  /** The version a remote model's server last answered here (null before it answered). */
  remoteVersion(index: number): string | null {
    return this.remotes.get(index)?.version ?? null;
  }

  private remote(index: number): RemoteModel {
    let r = this.remotes.get(index);
    if (!r) this.remotes.set(index, (r = new RemoteModel(this.plan().models[index] as RemotePlan)));
    return r;
  }

  /** The samples since the last take. */
  take(): ScoredSample[] {
    const out = this.samples;
    this.samples = [];
    return out;
  }

  /** Cache hits and misses by model index since the last take. */
  takeCacheCounts(): Map<number, { hits: number; misses: number }> {
    const out = this.cacheCounts;
    this.cacheCounts = new Map();
    return out;
  }
}

/** The model input rows: each row's features picked and ordered by `inputFeature`, as float32. */
function inputRows(output: TaskOutput, rows: readonly number[], inputFeature: readonly number[]): Float32Array {
  const width = inputFeature.length;
  const F = output.numFeatures;
  const input = new Float32Array(rows.length * width);
  rows.forEach((r, i) => {
    for (let j = 0; j < width; j++) input[i * width + j] = output.features[r * F + inputFeature[j]];
  });
  return input;
}

/** An ensemble's outputs from its members' (each rows x numOutputs, the same shape). */
export function combine(m: Pick<Extract<PlannedModel, { kind: 'ensemble' }>, 'combine' | 'weights' | 'threshold'>, outs: readonly Float32Array[]): Float32Array {
  const len = outs[0].length;
  const result = new Float32Array(len);
  const weights = m.weights ?? outs.map(() => 1);
  const totalWeight = weights.reduce((a, b) => a + b, 0);
  const threshold = m.threshold ?? 0.5;
  for (let i = 0; i < len; i++) {
    let acc = m.combine === 'max' ? -Infinity : m.combine === 'min' ? Infinity : 0;
    for (let j = 0; j < outs.length; j++) {
      const p = outs[j][i];
      if (m.combine === 'max') acc = Math.max(acc, p);
      else if (m.combine === 'min') acc = Math.min(acc, p);
      else if (m.combine === 'vote') acc += p >= threshold ? 1 : 0;
      else acc += weights[j] * p;
    }
    result[i] = m.combine === 'max' || m.combine === 'min' ? acc : m.combine === 'vote' ? acc / outs.length : acc / totalWeight;
  }
  return result;
}
