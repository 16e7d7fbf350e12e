// Scores fired windows in a worker (SPEC §1: many windows per addon or onnxruntime call), each by
// its key's variant and by the versions in force at its end (SPEC §12). The model sees each
// window's features picked and ordered by its inputs, cast to float32 (SPEC §6 Scores); an
// ensemble scores the same rows with each member and combines their outputs, output by output.
import type { KeyNames } from '../decode/key-names';
import type { ModelTag } from '../records/records';
import { cachedModel } from '../scoring/load-model';
import type { TaskOutput } from '../state/output';
import { epochBounds, epochOf, fileVersionAt, versionAt, withVersions, type PlannedModel, type PlanVersions, type ScoringPlan } from './plan';
import { VariantTable } from './variants';

/** Rows a reload checks a new version on (SPEC §12): the last this many a model scored. */
export const SAMPLE_ROWS = 1000;
/** A worker sends back every row a version scores up to SAMPLE_ROWS, then some at most this
 *  often: the check rows stay recent, and the main thread is not handed a copy of every row. */
const SAMPLE_EVERY_MS = 1000;
/** Row tags are record kinds 1..254 (0 is a retraction, 255 no record). */
const MAX_TAGS = 254;

/** Model input rows a file model's version scored (the last SAMPLE_ROWS of a task at most). */
export interface ScoredSample {
  model: string;
  version: string;
  width: number;
  rows: Float32Array;
}

export interface Scored {
  /** Per row (valid for output.numResults rows, until the next call): its index in `tags`. */
  rowTag: Uint8Array;
  /** The model and version each tag's results carry. Grows between calls; a new array when full. */
  tags: readonly ModelTag[];
  scoreMs: number;
  /** Rows some versions scored (see SAMPLE_EVERY_MS). */
  samples: ScoredSample[];
}

export class VariantScorer {
  /** Per key id of the key table `lineage`, its variant + 1 (0: not looked up yet). */
  private variantOfKey = new Uint8Array(1024);
  private lineage = -1;
  private rowTag = new Uint8Array(256);
  private readonly table: VariantTable;
  private plan: ScoringPlan;
  private revision = 0;
  private bounds: number[];
  private tags: ModelTag[] = [];
  private tagIndex = new Map<string, number>();
  /** Per model and version: rows sent back so far, and when last. */
  private sampled = new Map<string, { rows: number; atMs: number }>();

  constructor(private readonly initial: ScoringPlan) {
    if (initial.variantModel.length > 250) throw new Error(`${initial.variantModel.length} variants; at most 250`);
    this.table = new VariantTable(initial.variantWeights);
    this.plan = initial;
    this.bounds = epochBounds(initial);
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

  /** Fills output.scores for every non-retraction row; see Scored. */
  async score(output: TaskOutput, keys: KeyNames): Promise<Scored> {
    const startedAt = performance.now();
    const n = output.numResults;
    if (this.rowTag.length < n) this.rowTag = new Uint8Array(2 * n);
    const rowTag = this.rowTag;
    const numVariants = this.plan.variantModel.length;
    if (keys.buffers.lineage !== this.lineage) {
      // Another key table (the warm-up's, say): its ids are other keys, and its rows made up.
      this.variantOfKey.fill(0);
      this.lineage = keys.buffers.lineage;
      this.sampled.clear();
    }
    // Rows by (variant, epoch): one model call each.
    const groups = new Map<number, number[]>();
    const epochs = this.bounds.length + 1;
    for (let r = 0; r < n; r++) {
      if (output.retracted[r]) continue;
      const variant = numVariants === 1 ? 0 : this.variantOf(output.keyId[r], keys);
      const epoch = epochs === 1 ? 0 : epochOf(this.bounds, output.windowEndMs[r]);
      const group = variant * epochs + epoch;
      let rows = groups.get(group);
      if (!rows) groups.set(group, (rows = []));
      rows.push(r);
    }
    if (groups.size > MAX_TAGS - this.tags.length) this.resetTags();
    const k = output.numOutputs;
    const samples: ScoredSample[] = [];
    for (const [group, rows] of groups) {
      const variant = Math.floor(group / epochs);
      const epoch = group % epochs;
      const index = this.plan.variantModel[variant];
      const tag = this.tagOf(index, epoch);
      const scores = await this.run(index, epoch, output, rows, samples);
      rows.forEach((r, i) => {
        output.scores.set(scores.subarray(i * k, i * k + k), r * k);
        rowTag[r] = tag;
      });
    }
    return { rowTag, tags: this.tags, scoreMs: performance.now() - startedAt, samples };
  }

  private tagOf(index: number, epoch: number): number {
    const tag: ModelTag = { model: this.plan.models[index].name, version: versionAt(this.plan, index, this.bounds, epoch) };
    const key = `${tag.model}\u0000${tag.version}`;
    let i = this.tagIndex.get(key);
    if (i === undefined) {
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

  private sampleDue(model: string, version: string, rows: number): boolean {
    const key = `${model}\u0000${version}`;
    const now = performance.now();
    const last = this.sampled.get(key) ?? { rows: 0, atMs: -Infinity };
    if (last.rows >= SAMPLE_ROWS && now - last.atMs < SAMPLE_EVERY_MS) return false;
    this.sampled.set(key, { rows: last.rows + rows, atMs: now });
    return true;
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

  /** The outputs of model `index` in `epoch` for `rows` of `output` (rows x numOutputs). */
  private async run(index: number, epoch: number, output: TaskOutput, rows: readonly number[], samples: ScoredSample[]): Promise<Float32Array> {
    const m: PlannedModel = this.plan.models[index];
    if (m.kind === 'file') {
      const version = fileVersionAt(m, this.bounds, epoch);
      const model = await cachedModel(version.path, m.type);
      const width = m.inputFeature.length;
      const F = output.numFeatures;
      const input = new Float32Array(rows.length * width);
      rows.forEach((r, i) => {
        for (let j = 0; j < width; j++) input[i * width + j] = output.features[r * F + m.inputFeature[j]];
      });
      if (this.sampleDue(m.name, version.version, rows.length)) samples.push({ model: m.name, version: version.version, width, rows: input.slice(Math.max(0, rows.length - SAMPLE_ROWS) * width) });
      return model.predictSync ? model.predictSync(input, rows.length) : model.predict(input, rows.length);
    }
    const outs: Float32Array[] = [];
    for (const member of m.members) outs.push(await this.run(member, epoch, output, rows, samples));
    return combine(m, outs);
  }
}

/** An ensemble's outputs from its members' (each rows x numOutputs, the same shape). */
export function combine(m: Extract<PlannedModel, { kind: 'ensemble' }>, outs: readonly Float32Array[]): Float32Array {
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
