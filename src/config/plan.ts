// What `sluice check` prints, and the model-input check that must fail at start, not at the first
// window (SPEC §4).
import * as path from 'node:path';
import type { LoadedModels } from '../models/registry';
import { versionInForce } from '../models/plan';
import { VariantTable } from '../models/variants';
import { configError } from '../errors';
import { DEFAULT_MODEL_NAME } from './defaults';
import type { FeatureConfig, FileModelSpec, JobConfig, SinkConfig, SourceConfig, Transform, WindowConfig } from './types';

/** A job written with the `model:` shorthand (one model, named "default"). */
export const isShorthand = (job: JobConfig): boolean => Object.keys(job.models).length === 1 && DEFAULT_MODEL_NAME in job.models && job.scoring.variants.length === 1;

/** What the plan needs from a loaded model (a subset of the Model interface, SPEC §8). */
export interface ModelShape {
  numFeatures: number;
  numOutputs: number;
  featureNames?: string[];
}

const list = (names: string[]) => names.map((n) => JSON.stringify(n)).join(', ');

/**
 * For each model input position, the index into job.features of the feature that feeds it.
 * A model with feature names is matched by name (its feature i takes the input named
 * featureNames[i]); a model without them takes model.inputs by position.
 */
export function checkModelInputs(job: JobConfig, model: ModelShape, name = DEFAULT_MODEL_NAME): number[] {
  const inputsAt = isShorthand(job) ? 'model.inputs' : 'scoring.inputs';
  const where = `${job.file}: ${inputsAt}`;
  const spec = job.models[name];
  const file = spec && (spec.type === 'xgboost' || spec.type === 'onnx') ? path.basename(spec.source) : name;
  const modelName = isShorthand(job) ? `the model ${file}` : `the model ${name} (${file})`;
  const inputs = job.scoring.inputs;
  const featureIndex = (feature: string) => {
    const i = job.features.findIndex((f) => f.name === feature);
    if (i < 0) throw configError(`${where}: ${JSON.stringify(feature)} is not a feature`);
    return i;
  };

  const names = model.featureNames;
  if (names && names.length > 0) {
    const unknown = inputs.filter((n) => !names.includes(n));
    if (unknown.length > 0) {
      throw configError(`${where}: ${list(unknown)} ${unknown.length > 1 ? 'are' : 'is'} not among the feature names of ${modelName} (${names.join(', ')}); inputs are matched to them by name`);
    }
    const missing = names.filter((n) => !inputs.includes(n));
    if (model.numFeatures !== inputs.length || missing.length > 0) {
      const why = missing.length > 0 ? ` (missing: ${list(missing)})` : '';
      throw configError(`${where}: ${modelName} takes ${model.numFeatures} features, but ${inputsAt} lists ${inputs.length}${why}`);
    }
    return names.map(featureIndex);
  }
  if (model.numFeatures !== inputs.length) {
    throw configError(`${where}: ${modelName} takes ${model.numFeatures} features, but ${inputsAt} lists ${inputs.length}`);
  }
  return inputs.map(featureIndex);
}

/** The human-readable plan of `sluice check`: every choice the job will run with, defaults included. */
function hasRemoteMember(plan: LoadedModels['plan'], index: number): boolean {
  const m = plan.models[index];
  return m.kind === 'remote' || (m.kind === 'ensemble' && m.members.some((i) => hasRemoteMember(plan, i)));
}

export function describePlan(job: JobConfig, models: LoadedModels): string {
  const lines: string[] = [];
  const row = (label: string, text: string) => lines.push(`${label.padEnd(11)}${text}`);
  const more = (text: string) => lines.push(`${' '.repeat(11)}${text}`);

  lines.push(`job ${job.name} (${job.file}): ok`);
  row('source', describeSource(job.source));
  more(`key ${job.source.key}, timestamp ${job.source.timestamp}, format ${job.source.format}`);
  const idle = job.watermark.idleTimeoutMs === 0 ? 'partitions never go idle' : `a partition silent for ${job.watermark.idleTimeoutMs} ms goes idle`;
  row('watermark', `max out-of-orderness ${job.watermark.maxOutOfOrdernessMs} ms; ${idle}`);
  if (job.mode === 'per-event') {
    const id = job.eventId === undefined ? '' : `, with eventId from ${job.eventId}`;
    row('mode', `per-event: every event scored as it arrives, in micro-batches of at most ${job.scoring.maxBatchRows} rows, none waiting over ${job.scoring.maxWaitMs} ms${id}`);
  } else row('mode', 'windows: a result per window as it fires');
  row('window', describeWindow(job.window) + (job.mode === 'per-event' ? ' (the state aggregates read)' : ''));
  row('features', job.mode === 'per-event' ? `${job.features.length}, per event (aggregates as of the event, itself included):` : `${job.features.length}, per key and window:`);
  const width = Math.max(...job.features.map((f) => f.name.length));
  job.features.forEach((f, i) => more(`${String(i + 1).padStart(2)}. ${f.name.padEnd(width)}  ${describeFeature(f)}`));

  const { plan } = models;
  const outputs = plan.numOutputs === 1 ? '1 output' : `${plan.numOutputs} outputs (an array)`;
  row('scoring', `${job.scoring.inputs.length} inputs -> ${outputs} as "${job.scoring.output}"; model call timeout ${job.scoring.timeoutMs} ms, then ${job.scoring.onTimeout}`);
  const onError = job.scoring.onError?.fallback;
  if (onError !== undefined) more(`on a model error: ${typeof onError === 'string' ? `the fallback model ${onError}` : `the value ${onError.value.join(', ')}`}`);
  if (job.scoring.shadow.length > 0) more(`shadow: ${job.scoring.shadow.join(', ')}, into ${describeSink(job.shadow)}`);
  const total = job.scoring.variants.reduce((a, v) => a + v.weight, 0);
  const { bucketEnd } = new VariantTable(plan.variantWeights);
  job.scoring.variants.forEach((v, i) => {
    const from = i === 0 ? 0 : bucketEnd[i - 1];
    more(`variant ${v.model}: weight ${v.weight} (${((100 * v.weight) / total).toFixed(1)}% of keys, buckets ${from}-${bucketEnd[i] - 1})`);
  });
  for (const m of plan.models) {
    const used = [
      ...job.scoring.variants.filter((v) => v.model === m.name).map(() => 'variant'),
      ...plan.models.filter((e) => e.kind === 'ensemble' && e.members.some((i) => plan.models[i].name === m.name)).map((e) => `member of ${e.name}`),
      ...(job.scoring.shadow.includes(m.name) ? ['shadow'] : []),
      ...(job.scoring.onError?.fallback === m.name ? ['fallback'] : []),
    ];
    const usedText = used.length ? used.join(', ') : 'not used';
    if (m.kind === 'ensemble') {
      const how = m.combine === 'weighted' ? `weighted ${m.weights!.join(':')}` : m.combine === 'vote' ? `vote, threshold ${m.threshold}` : m.combine;
      const version = hasRemoteMember(plan, plan.models.indexOf(m)) ? 'version from its remote members\' answers' : `version ${versionInForce(plan, plan.models.indexOf(m))}`;
      row('model', `${m.name}: ensemble of ${m.members.map((i) => plan.models[i].name).join(', ')} (${how}), ${version}; ${usedText}`);
      continue;
    }
    if (m.kind === 'remote') {
      row('model', `${m.name}: remote ${m.url} (Open Inference Protocol; not contacted at start): ${m.inputFeature.length} inputs -> ${m.numOutputs === 1 ? '1 output' : `${m.numOutputs} outputs`}, timeout ${m.timeoutMs} ms, ${m.retries} retries, breaker after ${m.breaker.failures} failures for ${m.breaker.openMs} ms; ${usedText}`);
      continue;
    }
    const loaded = models.files.get(m.name)!;
    const spec = job.models[m.name] as FileModelSpec;
    const reload = spec.reload ? `, reloaded (polled every ${spec.reload.pollMs} ms)` : '';
    row('model', `${m.name}: ${m.type} ${spec.source}, version ${versionInForce(plan, plan.models.indexOf(m))}${reload}: ${loaded.numFeatures} features -> ${loaded.numOutputs === 1 ? '1 output' : `${loaded.numOutputs} outputs`}; ${usedText}`);
    more(loaded.featureNames?.length ? '  inputs matched to the model by feature name:' : '  inputs matched to the model by position:');
    const nameWidth = Math.max(0, ...(loaded.featureNames ?? []).map((n) => n.length));
    m.inputFeature.forEach((fi, i) => {
      const name = loaded.featureNames?.[i];
      more(`  ${String(i).padStart(2)}${name ? ` ${name.padEnd(nameWidth)}` : ''} <- ${job.features[fi].name}`);
    });
  }

  row('sink', describeSink(job.sink) + (job.sink.type === 'kafka' ? `, key format ${job.sink.keyFormat}` : ''));
  row('late', describeSink(job.late));
  row('deadLetter', describeSink(job.deadLetter));
  row('state', `${job.state.dir}, checkpoint every ${job.state.checkpointIntervalMs} ms`);
  const inline = job.mode === 'per-event' && job.workers.inlineMaxUs > 0 ? `; tasks of a live source predicted at most ${job.workers.inlineMaxUs} µs run on the main thread` : '';
  row('workers', `${job.workers.threads} thread${job.workers.threads === 1 ? '' : 's'}${inline}`);
  row('metrics', job.metrics.port === 0 ? 'off' : `http://${job.metrics.host}:${job.metrics.port}/metrics`);
  return lines.join('\n') + '\n';
}

function describeSource(s: SourceConfig): string {
  switch (s.type) {
    case 'kafka':
      return `kafka topic ${s.topic} on ${s.brokers.join(',')}, group ${s.groupId}, start from ${s.startFrom}${s.bounded ? ', bounded' : ''}`;
    case 'file':
      return `file${s.paths.length > 1 ? 's' : ''} ${s.paths.join(', ')} (${s.paths.length} partition${s.paths.length > 1 ? 's' : ''}, bounded)`;
    case 'generator':
      return (
        `generator: ${s.events} events, ${s.keys} keys, seed ${s.seed}, ${s.partitions} partition${s.partitions > 1 ? 's' : ''}, ` +
        `${s.eventTimeStepMs} ms per event, up to ${s.outOfOrderMs} ms out of order, from ${new Date(s.startTimeMs).toISOString()}, fraud share ${s.fraudShare}`
      );
  }
}

function describeWindow(w: WindowConfig): string {
  const lateness = `allowed lateness ${w.allowedLatenessMs} ms`;
  switch (w.type) {
    case 'tumbling':
      return `tumbling ${w.sizeMs} ms, ${lateness}`;
    case 'sliding':
      return `sliding ${w.sizeMs} ms every ${w.slideMs} ms (${w.sizeMs / w.slideMs} windows per event), ${lateness}`;
    case 'session':
      return `session, gap ${w.gapMs} ms, ${lateness}`;
  }
}

function describeFeature(f: FeatureConfig): string {
  if (f.agg === 'count') return 'count';
  const input = f.transform ? describeTransform(f.transform, f.field) : f.field;
  if (f.agg === 'value') return `${input} (the event's own value)`;
  if (f.agg === 'percentile') return `p${+(f.q * 100).toPrecision(12)}(${input}) (t-digest, compression ${f.compression})`;
  return `${f.agg}(${input})`;
}

/** A transform as a formula over the field (SPEC §13). */
function describeTransform(t: Transform, field: string): string {
  switch (t.type) {
    case 'standardize': return `(${field} - ${t.mean}) / ${t.std}`;
    case 'normalize': return `(${field} - ${t.min}) / ${t.max - t.min}`;
    case 'bucket': return `bucket(${field}; ${t.bounds.join(', ')})`;
    case 'category': return `category(${field}; ${t.values.map((v) => JSON.stringify(v)).join(', ')})`;
    case 'onehot': return `${field} == ${JSON.stringify(t.values[t.index])} ? 1 : 0`;
    case 'hash': return `murmur3(${field}) mod ${t.buckets}`;
    case 'hour': case 'minute': case 'weekday': case 'day': case 'month': return `${t.type}(${field}, UTC)`;
    default: return `${t.type}(${field})`;
  }
}

function describeSink(s: SinkConfig): string {
  if (s.type === 'stdout') return 'stdout';
  if (s.type === 'file') return `file ${s.path}`;
  return `kafka topic ${s.topic} on ${(s.brokers ?? []).join(',')}`;
}
