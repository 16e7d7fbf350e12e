// The plan `sluice check` prints, and how model.inputs feed a model: by name when it has feature
// names, else by position (SPEC §4).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { check } from '../../src/cli/check';
import { isSluiceError } from '../../src/errors';
import { loadJob, parseJob } from '../../src/config/job';
import { checkModelInputs, describePlan, type ModelShape } from '../../src/config/plan';
import type { FileModelSpec, JobConfig } from '../../src/config/types';
import type { PlannedModel } from '../../src/models/plan';
import { loadModels, type LoadedModels } from '../../src/models/registry';
import { loadModel } from '../../src/scoring/load-model';
import type { Model } from '../../src/scoring/model';
import * as path from 'node:path';
import { fixture, repoRoot } from '../helpers/paths';

interface Expected { featureNames: string[] | null; numFeatures: number }
const NAMED = 'binary_logistic_missing_named';

function throwsLine(run: () => unknown, message: string) {
  assert.throws(run, (e: unknown) => {
    assert.ok(isSluiceError(e), `not a SluiceError: ${String(e)}`);
    assert.equal(e.code, 'SLUICE_CONFIG_INVALID');
    assert.equal(e.message, message);
    return true;
  });
}

const sourceOf = (j: JobConfig) => (j.models.default as FileModelSpec).source;

/** The loaded models of a one-model job, from a model's shape alone (no file needed). */
function shaped(j: JobConfig, shape: ModelShape): LoadedModels {
  const spec = j.models.default as FileModelSpec;
  const planned: PlannedModel = { name: 'default', kind: 'file', type: spec.type, inputFeature: checkModelInputs(j, shape), versions: [{ version: '0123456789ab', path: spec.source, fromMs: -Infinity }] };
  return { plan: { models: [planned], variantModel: [0], variantWeights: [100], numOutputs: shape.numOutputs, shadow: [], onError: null, inputFeature: [], cache: null }, files: new Map([['default', shape as Model]]) };
}

/** A job of features a..e feeding `m.json`; `more` is appended to the YAML. */
function job(more = '', overrides: string[] = []) {
  const text = [
    'name: plan',
    'source: { type: generator }',
    'window: { type: tumbling, sizeMs: 60000 }',
    'features:',
    ...['a', 'b', 'c', 'd', 'e'].map((n) => `  - { name: ${n}, agg: sum, field: amount }`),
    'model: { path: models/m.json }',
    'sink: { type: stdout }',
    more,
  ].join('\n');
  return parseJob(text, 'job.yaml', overrides);
}

test('the named fixture model carries feature names', () => {
  const index: string[] = JSON.parse(fs.readFileSync(fixture('xgboost', 'index.json'), 'utf8'));
  assert.ok(index.includes(NAMED));
  const exp: Expected = JSON.parse(fs.readFileSync(fixture('xgboost', `${NAMED}.expected.json`), 'utf8'));
  assert.deepEqual(exp.featureNames, ['amount', 'age_days', 'n_tx', 'velocity', 'ratio', 'hour']);
});

test('by name: a model with feature names takes each input by its name, in any order', async () => {
  const j = await loadJob(fixture('jobs', 'named.yaml'));
  const model = await loadModel(sourceOf(j));
  assert.deepEqual(model.featureNames, ['amount', 'age_days', 'n_tx', 'velocity', 'ratio', 'hour']);
  // features: n_tx, amount, hour, velocity, ratio, age_days
  assert.deepEqual(checkModelInputs(j, model), [1, 5, 0, 3, 4, 2]);
  // model.inputs order does not matter either: names decide.
  const reordered = await loadJob(fixture('jobs', 'named.yaml'), ['model.inputs=[hour, ratio, velocity, n_tx, age_days, amount]']);
  assert.deepEqual(checkModelInputs(reordered, model), [1, 5, 0, 3, 4, 2]);
});

test('by name: inputs the model does not know, or model features without an input, are errors', async () => {
  const file = fixture('jobs', 'named.yaml');
  const model = await loadModel(fixture('xgboost', `${NAMED}.json`));
  const renamed = await loadJob(file, ['features.0.name=tx_count']);
  throwsLine(
    () => checkModelInputs(renamed, model),
    `${file}: model.inputs: "tx_count" is not among the feature names of the model ${NAMED}.json (amount, age_days, n_tx, velocity, ratio, hour); inputs are matched to them by name`,
  );
  const fewer = await loadJob(file, ['model.inputs=[amount, age_days, n_tx, velocity, ratio]']);
  throwsLine(() => checkModelInputs(fewer, model), `${file}: model.inputs: the model ${NAMED}.json takes 6 features, but model.inputs lists 5 (missing: "hour")`);
});

test('by position: a model without names takes model.inputs in order', async () => {
  const j = await loadJob(fixture('jobs', 'files.yaml'));
  const model = await loadModel(sourceOf(j));
  assert.equal(model.featureNames, undefined);
  assert.equal(model.numFeatures, 5);
  assert.deepEqual(checkModelInputs(j, model), [0, 1, 2, 3, 4]);
  const reordered = await loadJob(fixture('jobs', 'files.yaml'), ['model.inputs=[amount_mean, tx_count, amount_std, amount_sum, amount_p95]']);
  assert.deepEqual(checkModelInputs(reordered, model), [4, 0, 3, 1, 2]);
  // Features not listed in model.inputs are computed but not scored.
  assert.deepEqual(checkModelInputs(job('', ['model.inputs=[e, a]']), { numFeatures: 2, numOutputs: 1 }), [4, 0]);
});

test('width mismatch is an error at start', () => {
  throwsLine(() => checkModelInputs(job(), { numFeatures: 8, numOutputs: 1 }), 'job.yaml: model.inputs: the model m.json takes 8 features, but model.inputs lists 5');
  throwsLine(() => checkModelInputs(job('', ['model.inputs=[a, b]']), { numFeatures: 3, numOutputs: 1 }), 'job.yaml: model.inputs: the model m.json takes 3 features, but model.inputs lists 2');
  throwsLine(
    () => checkModelInputs(job(), { numFeatures: 5, numOutputs: 1, featureNames: ['a', 'b', 'c', 'd', 'x'] }),
    'job.yaml: model.inputs: "e" is not among the feature names of the model m.json (a, b, c, d, x); inputs are matched to them by name',
  );
  throwsLine(() => shaped(job(), { numFeatures: 4, numOutputs: 1 }), 'job.yaml: model.inputs: the model m.json takes 4 features, but model.inputs lists 5');
});

test('describePlan states every choice, defaults included', async () => {
  const j = await loadJob(fixture('jobs', 'files.yaml'));
  const plan = describePlan(j, await loadModels(j));
  for (const fact of [
    'job files (',
    `files ${fixture('jobs', 'data/part-0.jsonl')}, ${fixture('jobs', 'data/part-1.jsonl')} (2 partitions, bounded)`,
    'key card_id, timestamp ts, format json',
    'max out-of-orderness 5000 ms; a partition silent for 60000 ms goes idle',
    'sliding 60000 ms every 10000 ms (6 windows per event), allowed lateness 2000 ms',
    ' 3. amount_p95   p95(amount) (t-digest, compression 200)',
    ' 2. amount_sum   sum(amount)',
    `default: xgboost ${fixture('xgboost', 'binary_logistic.json')}, version `,
    ': 5 features -> 1 output; variant',
    'scoring    5 inputs -> 1 output as "fraud_score"',
    'inputs matched to the model by position:',
    ' 4 <- amount_mean',
    `sink       file ${fixture('jobs', 'out/scores.jsonl')}`,
    `late       file ${fixture('jobs', 'out/scores.late.jsonl')}`,
    `deadLetter file ${fixture('jobs', 'out/scores.dead.jsonl')}`,
    `state      ${fixture('jobs', 'state')}, checkpoint every 1000 ms`,
    'workers    2 threads',
    'metrics    off',
  ]) {
    assert.ok(plan.includes(fact), `plan lacks ${JSON.stringify(fact)}:\n${plan}`);
  }

  const kafka = await loadJob(fixture('jobs', 'kafka.yaml'));
  const kplan = describePlan(kafka, shaped(kafka, { numFeatures: 2, numOutputs: 3, featureNames: ['tx_count', 'amount_max'] }));
  for (const fact of [
    'kafka topic transactions on 127.0.0.1:9092, group kafka-job, start from earliest, bounded',
    'key card.id, timestamp $kafka',
    'partitions never go idle',
    'session, gap 30000 ms, allowed lateness 0 ms',
    '2 inputs -> 3 outputs (an array) as "score"',
    'inputs matched to the model by feature name:',
    ' 0 tx_count   <- tx_count',
    ' 1 amount_max <- amount_max',
    'sink       kafka topic scores on 127.0.0.1:9092, key format window',
    'late       kafka topic late on 10.0.0.1:9093,[::1]:9094',
    'deadLetter stdout',
    'metrics    http://127.0.0.1:9464/metrics',
  ]) {
    assert.ok(kplan.includes(fact), `plan lacks ${JSON.stringify(fact)}:\n${kplan}`);
  }
  assert.ok(describePlan(job(), shaped(job(), { numFeatures: 5, numOutputs: 1 })).includes('generator: 1000000 events, 10000 keys, seed 42, 1 partition, 0.05 ms per event, up to 2000 ms out of order, from 2023-11-14T22:13:20.000Z, fraud share 0.01'));
});

test('check: loads the job and the model, prints the plan; a width mismatch fails', async () => {
  const out: string[] = [];
  await check(fixture('jobs', 'named.yaml'), [], { write: (s: string | Uint8Array) => (out.push(String(s)), true) });
  const plan = out.join('');
  assert.ok(plan.includes('inputs matched to the model by feature name:'), plan);
  assert.ok(plan.includes(' 1 age_days <- age_days'), plan);

  const file = fixture('jobs', 'files.yaml');
  await assert.rejects(check(file, ['model.inputs=[tx_count]']), (e: unknown) => {
    assert.ok(isSluiceError(e));
    assert.equal(e.message, `${file}: model.inputs: the model binary_logistic.json takes 5 features, but model.inputs lists 1`);
    return true;
  });
  await assert.rejects(check(fixture('jobs', 'minimal.yaml'), []), (e: unknown) => isSluiceError(e) && e.code === 'SLUICE_MODEL_INVALID');
});

test('sluice check prints the mode and each feature with its transform (per-event example)', async () => {
  const out: string[] = [];
  await check(path.join(repoRoot, 'examples', 'card-fraud', 'per-event.yaml'), [], { write: (t: string | Uint8Array) => (out.push(String(t)), true) });
  const plan = out.join('');
  for (const line of [
    'mode       per-event: every event scored as it arrives, in micro-batches of at most 4096 rows, none waiting over 5 ms',
    '(the state aggregates read)',
    'features   7, per event (aggregates as of the event, itself included):',
    '1. amount_log       log1p(amount) (the event\'s own value)',
    '2. amount_z         (amount - 45) / 46 (the event\'s own value)',
    '3. merchant_h       murmur3(merchant) mod 1024 (the event\'s own value)',
    '4. hour             hour(ts, UTC) (the event\'s own value)',
    '6. amount_mean_60s  mean(amount)',
  ]) {
    assert.ok(plan.includes(line), `the plan lacks ${JSON.stringify(line)}:\n${plan}`);
  }
});
