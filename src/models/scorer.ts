// Scores fired windows in a worker (SPEC §1: many windows per addon or onnxruntime call), each by
// its key's variant (SPEC §12). The model sees each window's features picked and ordered by its
// inputs, cast to float32 (SPEC §6 Scores); an ensemble scores the same rows with each member and
// combines their outputs, output by output.
import type { KeyNames } from '../decode/key-names';
import { cachedModel } from '../scoring/load-model';
import type { TaskOutput } from '../state/output';
import type { PlannedModel, ScoringPlan } from './plan';
import { VariantTable } from './variants';

export class VariantScorer {
  /** Per key id of the key table `lineage`, its variant + 1 (0: not looked up yet). */
  private variantOfKey = new Uint8Array(1024);
  private lineage = -1;
  private rowVariant = new Uint8Array(256);
  private readonly table: VariantTable;

  constructor(private readonly plan: ScoringPlan) {
    if (plan.variantModel.length > 250) throw new Error(`${plan.variantModel.length} variants; at most 250`);
    this.table = new VariantTable(plan.variantWeights);
  }

  /** Loads every file model (a task's first call): a bad model fails the task before any work. */
  async ready(): Promise<void> {
    for (const m of this.plan.models) if (m.kind === 'file') await cachedModel(m.path, m.type);
  }

  /**
   * Fills output.scores for every non-retraction row and returns each row's variant (valid for
   * output.numResults rows, until the next call). Resolves with the milliseconds spent scoring.
   */
  async score(output: TaskOutput, keys: KeyNames): Promise<{ variants: Uint8Array; scoreMs: number }> {
    const startedAt = performance.now();
    const n = output.numResults;
    if (this.rowVariant.length < n) this.rowVariant = new Uint8Array(2 * n);
    const variants = this.rowVariant;
    const numVariants = this.plan.variantModel.length;
    if (keys.buffers.lineage !== this.lineage) {
      // Another key table (the warm-up's, say): its ids are other keys.
      this.variantOfKey.fill(0);
      this.lineage = keys.buffers.lineage;
    }
    const rowsOf: number[][] = Array.from({ length: numVariants }, () => []);
    for (let r = 0; r < n; r++) {
      variants[r] = numVariants === 1 ? 0 : this.variantOf(output.keyId[r], keys);
      if (!output.retracted[r]) rowsOf[variants[r]].push(r);
    }
    const k = output.numOutputs;
    for (let v = 0; v < numVariants; v++) {
      const rows = rowsOf[v];
      if (rows.length === 0) continue;
      const scores = await this.run(this.plan.variantModel[v], output, rows);
      rows.forEach((r, i) => output.scores.set(scores.subarray(i * k, i * k + k), r * k));
    }
    return { variants, scoreMs: performance.now() - startedAt };
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

  /** The outputs of model `index` for `rows` of `output` (rows x numOutputs). */
  private async run(index: number, output: TaskOutput, rows: readonly number[]): Promise<Float32Array> {
    const m: PlannedModel = this.plan.models[index];
    if (m.kind === 'file') {
      const model = await cachedModel(m.path, m.type);
      const width = m.inputFeature.length;
      const F = output.numFeatures;
      const input = new Float32Array(rows.length * width);
      rows.forEach((r, i) => {
        for (let j = 0; j < width; j++) input[i * width + j] = output.features[r * F + m.inputFeature[j]];
      });
      return model.predictSync ? model.predictSync(input, rows.length) : model.predict(input, rows.length);
    }
    const outs: Float32Array[] = [];
    for (const member of m.members) outs.push(await this.run(member, output, rows));
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
