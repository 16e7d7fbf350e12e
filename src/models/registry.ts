// The models of a job, loaded and checked at start on the main thread (SPEC §12): every file
// model loads and takes the job's inputs, every model that scores gives as many outputs, and
// each has its version. Workers load the same files themselves (src/models/scorer.ts).
import * as fs from 'node:fs';
import { checkModelInputs } from '../config/plan';
import type { JobConfig, ModelSpec } from '../config/types';
import { configError } from '../errors';
import { loadModel } from '../scoring/load-model';
import type { Model } from '../scoring/model';
import type { PlannedModel, ScoringPlan } from './plan';
import { VariantTable } from './variants';
import { bytesVersion, ensembleVersion } from './version';

export interface LoadedModels {
  plan: ScoringPlan;
  /** The loaded file models by name (sluice check prints them). */
  files: Map<string, Model>;
}

export async function loadModels(job: JobConfig): Promise<LoadedModels> {
  const files = new Map<string, Model>();
  const planned: PlannedModel[] = [];
  const index = new Map<string, number>();
  const outputs = new Map<string, number>();
  // Members before the ensembles that read them: a depth-first walk from every model.
  const visit = async (name: string): Promise<number> => {
    const known = index.get(name);
    if (known !== undefined) return known;
    const spec: ModelSpec = job.models[name];
    let model: PlannedModel;
    if (spec.type === 'ensemble') {
      const members: number[] = [];
      for (const m of spec.members) members.push(await visit(m));
      const widths = new Set(spec.members.map((m) => outputs.get(m)));
      if (widths.size > 1) throw configError(`${job.file}: models.${name}.members: the members give ${spec.members.map((m) => `${m} ${outputs.get(m)}`).join(', ')} outputs; an ensemble combines members with as many outputs each`);
      outputs.set(name, outputs.get(spec.members[0])!);
      model = { name, kind: 'ensemble', version: ensembleVersion(members.map((i) => planned[i].version)), members, combine: spec.combine, weights: spec.weights, threshold: spec.threshold };
    } else {
      const loaded = await loadModel(spec.source, { format: spec.type, maxBytes: spec.maxBytes });
      files.set(name, loaded);
      outputs.set(name, loaded.numOutputs);
      const inputFeature = checkModelInputs(job, loaded, name);
      model = { name, kind: 'file', version: bytesVersion(fs.readFileSync(spec.source)), type: spec.type, path: spec.source, inputFeature };
    }
    index.set(name, planned.length);
    planned.push(model);
    return planned.length - 1;
  };
  for (const name of Object.keys(job.models)) await visit(name);
  const variants = job.scoring.variants;
  const widths = new Set(variants.map((v) => outputs.get(v.model)));
  if (widths.size > 1) throw configError(`${job.file}: scoring.variants: the variants give ${variants.map((v) => `${v.model} ${outputs.get(v.model)}`).join(', ')} outputs; results have one shape, so every variant needs as many`);
  const variantWeights = variants.map((v) => v.weight);
  new VariantTable(variantWeights); // throws on weights the config check let through
  return {
    plan: { models: planned, variantModel: variants.map((v) => index.get(v.model)!), variantWeights, numOutputs: outputs.get(variants[0].model)! },
    files,
  };
}
