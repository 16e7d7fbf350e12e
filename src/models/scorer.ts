// Scores fired windows in a worker, each by its key's variant and by the versions in force at its
// end (SPEC §12): one model call per (variant, epoch) group (src/models/calls.ts). Rows whose call
// fails get the fallback model's score, or the fallback value, or go to the dead letters; shadow
// models score every row too, into records of their own. The model sees each window's features
// picked and ordered by its inputs, cast to float32 (SPEC §6 Scores).
import type { KeyNames } from '../decode/key-names';
import type { ModelTag } from '../records/records';
import { cachedModel } from '../scoring/load-model';
import type { TaskOutput } from '../state/output';
import { ModelCalls, type CallResult, type ErrorKind, type ScoredSample } from './calls';
import { epochBounds, epochOf, versionAt, withVersions, type PlanVersions, type ScoringPlan } from './plan';
import { VariantTable } from './variants';

/** Row tags become record kinds 1 + 2t and 2 + 2t (results, early results; 0 is a retraction,
 *  255 no record): 127 tags at most. */
const MAX_TAGS = 127;
/** A row tag: the row has no score (its call failed, nothing replaced it). */
export const NO_SCORE = 255;

/** Upper bounds of the score histogram's buckets (the first output; +Inf past the last). */
export const SCORE_BUCKETS = [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1];

/** A task's figures per model (metrics): rows a model failed, by kind; rows a fallback (a model
 *  or "value") scored instead; cache hits and misses; and per result `model`, its scores
 *  (counts per SCORE_BUCKETS bucket, not cumulative, then +Inf; and their sum). */
export interface ScoringCounts {
  errors: Array<{ model: string; kind: ErrorKind; rows: number }>;
  fallbacks: Array<{ model: string; fallback: string; rows: number }>;
  cache: Array<{ model: string; hits: number; misses: number }>;
  scores: Array<{ model: string; buckets: number[]; sum: number }>;
}

/** A shadow model's scores for a task: its tag per row (NO_SCORE: none, a retraction or an error). */
export interface ShadowScores {
  scores: Float32Array;
  rowTag: Uint8Array;
}

export interface Scored {
  /** Per row (valid for output.numResults rows, until the next call): its index in `tags`, or
   *  NO_SCORE (a dead letter, why in `noScoreWhy`). */
  rowTag: Uint8Array;
  noScoreWhy: Map<number, string>;
  /** What each tag's records carry. Grows between calls; a new array when full. */
  tags: readonly ModelTag[];
  shadows: ShadowScores[];
  scoreMs: number;
  /** Rows some versions scored (the models' reload checks). */
  samples: ScoredSample[];
  counts: ScoringCounts;
}

export class VariantScorer {
  /** Per key id of the key table `lineage`, its variant + 1 (0: not looked up yet). */
  private variantOfKey = new Uint8Array(1024);
  private lineage = -1;
  /** score() calls out now (a worker interleaves tasks at awaits). */
  private inFlight = 0;
  private readonly table: VariantTable;
  private plan: ScoringPlan;
  private revision = 0;
  private bounds: number[];
  private tags: ModelTag[] = [];
  private tagIndex = new Map<string, number>();
  private readonly calls: ModelCalls;

  constructor(private readonly initial: ScoringPlan) {
    this.table = new VariantTable(initial.variantWeights);
    this.plan = initial;
    this.bounds = epochBounds(initial);
    this.calls = new ModelCalls(
      () => this.plan,
      () => this.bounds,
    );
  }

  /** Takes a task's versions (after a reload) if they are newer than the ones in use. */
  useVersions(v: PlanVersions | undefined): void {
    if (!v || v.revision <= this.revision) return;
    this.plan = withVersions(this.initial, v);
    this.revision = v.revision;
    this.bounds = epochBounds(this.plan);
  }

  /** Loads every file model's newest version (a task's first call): a bad model fails the task
   *  before any work. Older versions load when a replayed window needs them. */
  async ready(): Promise<void> {
    for (const m of this.plan.models) if (m.kind === 'file') await cachedModel(m.versions[m.versions.length - 1].path, m.type);
  }

  /** Fills output.scores for every scored row; see Scored. `failedWhy`: every variant's call is
   *  taken to have failed so (a timed-out task, run again for the fallback). */
  async score(output: TaskOutput, keys: KeyNames, failedWhy?: string, warmUp = false): Promise<Scored> {
    // A worker runs several tasks at once (they interleave at model calls that await: ONNX,
    // remote): a call's own rows' tags are its own; the tag list is shared and only grows while
    // calls are out.
    this.inFlight++;
    try {
      return await this.scoreOnce(output, keys, failedWhy, warmUp);
    } finally {
      this.inFlight--;
    }
  }

  private async scoreOnce(output: TaskOutput, keys: KeyNames, failedWhy: string | undefined, warmUp: boolean): Promise<Scored> {
    this.calls.warmUp = warmUp;
    const startedAt = performance.now();
    const n = output.numResults;
    const rowTag = new Uint8Array(n);
    if (keys.buffers.lineage !== this.lineage) {
      // Another key table (the warm-up's, say): its ids are other keys, and its rows made up.
      this.variantOfKey.fill(0);
      this.lineage = keys.buffers.lineage;
      this.calls.resetSamples();
    }
    const { groups, epochs } = this.groups(output, keys);
    // Room for every tag this call may add (a failed call adds up to 3 per group: errors differ by kind).
    if (this.inFlight === 1 && Math.min(MAX_TAGS, 4 * groups.size + this.plan.shadow.length * epochs) > MAX_TAGS - this.tags.length) this.resetTags();
    const counts: ScoringCounts = { errors: [], fallbacks: [], cache: [], scores: [] };
    const noScoreWhy = new Map<number, string>();
    const k = output.numOutputs;
    for (const [group, rows] of groups) {
      const variant = Math.floor(group / epochs);
      const epoch = group % epochs;
      const index = this.plan.variantModel[variant];
      const got: CallResult = failedWhy ? { scores: new Float32Array(0), errors: rows.map(() => failedWhy), kind: 'timeout' } : await this.calls.attempt(index, epoch, output, rows, this.versionAt(index, epoch));
      const failed: number[] = [];
      const { scores, errors } = got;
      // After the call: a remote model's version is the one it answered. A tag only if a row has it.
      const tag = errors?.every((e) => e) ? -1 : this.tagOf({ model: this.plan.models[index].name, version: this.versionAt(index, epoch) });
      for (let i = 0; i < rows.length; i++) {
        if (errors?.[i]) {
          failed.push(i);
          continue;
        }
        const r = rows[i];
        for (let j = 0; j < k; j++) output.scores[r * k + j] = scores[i * k + j];
        rowTag[r] = tag;
      }
      if (failed.length === 0) continue;
      counts.errors.push({ model: this.plan.models[index].name, kind: got.kind!, rows: failed.length });
      await this.fallBack(index, epoch, output, failed.map((i) => rows[i]), failed.map((i) => got.errors![i]!), counts, noScoreWhy, rowTag);
    }
    const shadows = await this.shadows(output, groups, epochs, counts);
    for (const [index, c] of this.calls.takeCacheCounts()) counts.cache.push({ model: this.plan.models[index].name, ...c });
    counts.scores = this.histograms(output, groups, epochs, rowTag);
    return { rowTag, noScoreWhy, tags: this.tags, shadows, scoreMs: performance.now() - startedAt, samples: this.calls.take(), counts };
  }

  /** Per variant model, its results' first outputs by SCORE_BUCKETS (fallbacks' included). */
  private histograms(output: TaskOutput, groups: Map<number, number[]>, epochs: number, rowTag: Uint8Array): ScoringCounts['scores'] {
    const byModel = new Map<string, { model: string; buckets: number[]; sum: number }>();
    const k = output.numOutputs;
    for (const [group, rows] of groups) {
      const model = this.plan.models[this.plan.variantModel[Math.floor(group / epochs)]].name;
      let h = byModel.get(model);
      if (!h) byModel.set(model, (h = { model, buckets: new Array(SCORE_BUCKETS.length + 1).fill(0), sum: 0 }));
      for (const r of rows) {
        if (rowTag[r] === NO_SCORE) continue;
        const score = output.scores[r * k];
        let b = 0;
        while (b < SCORE_BUCKETS.length && score > SCORE_BUCKETS[b]) b++;
        h.buckets[b]++;
        h.sum += score;
      }
    }
    return [...byModel.values()];
  }

  /** Non-retracted rows by (variant, epoch): group = variant * epochs + epoch. */
  private groups(output: TaskOutput, keys: KeyNames): { groups: Map<number, number[]>; epochs: number } {
    const groups = new Map<number, number[]>();
    const epochs = this.bounds.length + 1;
    const numVariants = this.plan.variantModel.length;
    for (let r = 0; r < output.numResults; r++) {
      if (output.retracted[r]) continue;
      const variant = numVariants === 1 ? 0 : this.variantOf(output.keyId[r], keys);
      const epoch = epochs === 1 ? 0 : epochOf(this.bounds, switchTimeOf(output, r));
      const group = variant * epochs + epoch;
      let rows = groups.get(group);
      if (!rows) groups.set(group, (rows = []));
      rows.push(r);
    }
    return { groups, epochs };
  }

  /** Rows model `index` failed to score: the fallback model's scores, or the value, or none. */
  private async fallBack(index: number, epoch: number, output: TaskOutput, rows: number[], why: string[], counts: ScoringCounts, noScoreWhy: Map<number, string>, rowTag: Uint8Array): Promise<void> {
    const k = output.numOutputs;
    const onError = this.plan.onError;
    const tag = { model: this.plan.models[index].name, version: this.versionAt(index, epoch) };
    if (onError === null) {
      rows.forEach((r, i) => ((rowTag[r] = NO_SCORE), noScoreWhy.set(r, why[i])));
      return;
    }
    if ('value' in onError) {
      rows.forEach((r, i) => {
        output.scores.set(onError.value, r * k);
        rowTag[r] = this.tagOf({ ...tag, fallback: 'value', error: why[i] });
      });
      counts.fallbacks.push({ model: tag.model, fallback: 'value', rows: rows.length });
      return;
    }
    const fallback = { fallback: this.plan.models[onError.model].name, fallbackVersion: this.versionAt(onError.model, epoch) };
    const got = await this.calls.attempt(onError.model, epoch, output, rows, fallback.fallbackVersion);
    let scored = 0;
    rows.forEach((r, i) => {
      const failed = got.errors?.[i];
      if (failed) {
        rowTag[r] = NO_SCORE;
        noScoreWhy.set(r, `${why[i]}; the fallback ${fallback.fallback} failed too: ${failed}`);
        return;
      }
      output.scores.set(got.scores.subarray(i * k, i * k + k), r * k);
      rowTag[r] = this.tagOf({ ...tag, ...fallback, error: why[i] });
      scored++;
    });
    if (scored < rows.length) counts.errors.push({ model: fallback.fallback, kind: got.kind!, rows: rows.length - scored });
    if (scored > 0) counts.fallbacks.push({ model: tag.model, fallback: fallback.fallback, rows: scored });
  }

  /** Every shadow model over every non-retracted row (the variants' groups merged by epoch); its
   *  errors only counted. */
  private async shadows(output: TaskOutput, groups: Map<number, number[]>, epochs: number, counts: ScoringCounts): Promise<ShadowScores[]> {
    if (this.plan.shadow.length === 0) return [];
    const n = output.numResults;
    const k = output.numOutputs;
    const byEpoch = new Map<number, number[]>();
    for (const [group, rows] of groups) {
      const epoch = group % epochs;
      const merged = byEpoch.get(epoch);
      if (merged) for (const r of rows) merged.push(r);
      else byEpoch.set(epoch, rows.slice());
    }
    const out: ShadowScores[] = [];
    for (const index of this.plan.shadow) {
      const shadow: ShadowScores = { scores: new Float32Array(n * k), rowTag: new Uint8Array(n).fill(NO_SCORE) };
      for (const [epoch, rows] of byEpoch) {
        const got = await this.calls.attempt(index, epoch, output, rows, this.versionAt(index, epoch));
        const tag = this.tagOf({ model: this.plan.models[index].name, version: this.versionAt(index, epoch) });
        let failed = 0;
        rows.forEach((r, i) => {
          if (got.errors?.[i]) return void failed++;
          shadow.scores.set(got.scores.subarray(i * k, i * k + k), r * k);
          shadow.rowTag[r] = tag;
        });
        if (failed > 0) counts.errors.push({ model: this.plan.models[index].name, kind: got.kind!, rows: failed });
      }
      out.push(shadow);
    }
    return out;
  }

  private versionAt(index: number, epoch: number): string | null {
    return versionAt(this.plan, index, this.bounds, epoch, (i) => this.calls.remoteVersion(i));
  }

  private tagOf(tag: ModelTag): number {
    const key = `${tag.model}\u0000${tag.version}\u0000${tag.fallback ?? ''}\u0000${tag.fallbackVersion ?? ''}\u0000${tag.error ?? ''}`;
    let i = this.tagIndex.get(key);
    if (i === undefined) {
      if (this.tags.length === MAX_TAGS) throw new Error(`more than ${MAX_TAGS} kinds of result in one task (models, versions, fallbacks and errors)`);
      i = this.tags.length;
      this.tags.push(tag);
      this.tagIndex.set(key, i);
    }
    return i;
  }

  /** A fresh tag list: the writer sees a new array and compiles its programs again. */
  private resetTags(): void {
    this.tags = [];
    this.tagIndex = new Map();
  }

  private variantOf(keyId: number, keys: KeyNames): number {
    if (keyId >= this.variantOfKey.length) {
      const grown = new Uint8Array(Math.max(2 * this.variantOfKey.length, keyId + 1));
      grown.set(this.variantOfKey);
      this.variantOfKey = grown;
    }
    const known = this.variantOfKey[keyId];
    if (known > 0) return known - 1;
    // The Kafka key's bytes are the key's UTF-8 (lone surrogates as U+FFFD).
    const v = this.table.ofKey(keys.bytes, keys.kafkaStart(keyId), keys.kafkaEnd(keyId));
    this.variantOfKey[keyId] = v + 1;
    return v;
  }
}

/**
 * The time a row is scored as of, against switch times (SPEC §12): a result's window end; an
 * early result's threshold (SPEC §13), which is before T for every early result emitted before a
 * switch, so its replay is scored by the same version.
 */
function switchTimeOf(output: TaskOutput, r: number): number {
  return output.early[r] ? output.sortEndMs[r] : output.windowEndMs[r];
}
