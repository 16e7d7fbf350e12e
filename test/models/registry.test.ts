// Several models in one job (SPEC §12): variants by key bucket, ensembles, versions in records,
// and a clear error for each kind of bad models:/scoring: section. Scores are checked against
// each model's own predictions (its parity with xgboost is test/scoring's), combined here
// independently of src/models/scorer.ts.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { runJob } from '../../src/app/run-job';
import { check } from '../../src/cli/check';
import { parseJob } from '../../src/config/job';
import { murmur3String } from '../../src/util/murmur3';
import { loadModel } from '../../src/scoring/load-model';
import { repoRoot } from '../helpers/paths';
import { modelsJob } from './harness';

const E2E = path.join(repoRoot, 'test', 'e2e');
const FIXTURES = path.join(repoRoot, 'test', 'models', 'fixtures');
const FEATURES = ['n', 'amount_sum', 'amount_mean', 'amount_min', 'amount_max', 'amount_std', 'items_sum'];
const sha12 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex').slice(0, 12);

type Spec = { type?: string; source?: string; members?: string[]; combine?: string; weights?: number[]; threshold?: number };
const MODELS: Record<string, Spec> = {
  a: { type: 'xgboost', source: 'a.json' },
  b: { type: 'xgboost', source: 'b.json' },
  c: { source: 'c.json' },
  blend: { type: 'ensemble', members: ['a', 'b'], combine: 'mean' },
  mix: { type: 'ensemble', members: ['a', 'c'], combine: 'weighted', weights: [3, 1] },
  poll: { type: 'ensemble', members: ['a', 'b', 'c'], combine: 'vote', threshold: 0.3 },
  high: { type: 'ensemble', members: ['blend', 'c'], combine: 'max' },
  low: { type: 'ensemble', members: ['a', 'b'], combine: 'min' },
};
const VARIANTS = [
  { model: 'a', weight: 15 },
  { model: 'blend', weight: 15 },
  { model: 'mix', weight: 15 },
  { model: 'poll', weight: 15 },
  { model: 'high', weight: 20 },
  { model: 'low', weight: 20 },
];

test('variants route each key by its MurmurHash3 bucket; ensembles combine their members; records carry model and version', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-models-'));
  const summary = await runJob(modelsJob(dir, MODELS, { variants: VARIANTS })).done;
  assert.ok(summary.windowsFired > 100, `${summary.windowsFired} windows fired`);

  // Expected, computed here: variant by bucket, each file model's own prediction, combined.
  const file = { a: await loadModel(path.join(dir, 'a.json')), b: await loadModel(path.join(dir, 'b.json')), c: await loadModel(path.join(dir, 'c.json')) };
  const fileVersion = Object.fromEntries(['a', 'b', 'c'].map((m) => [m, sha12(fs.readFileSync(path.join(dir, `${m}.json`)))]));
  const version = (m: string): string => {
    const spec = MODELS[m];
    return spec.members ? sha12(spec.members.map(version).join(',')) : fileVersion[m];
  };
  const predict = (m: string, features: Record<string, number>): number => {
    const spec = MODELS[m];
    if (!spec.members) {
      const model = file[m as 'a' | 'b' | 'c'];
      return model.predictSync!(Float32Array.from(model.featureNames!.map((f) => features[f])), 1)[0];
    }
    const ps = spec.members.map((x) => predict(x, features));
    if (spec.combine === 'mean') return ps.reduce((s, p) => s + p, 0) / ps.length;
    if (spec.combine === 'weighted') return ps.reduce((s, p, i) => s + spec.weights![i] * p, 0) / spec.weights!.reduce((s, w) => s + w, 0);
    if (spec.combine === 'vote') return ps.filter((p) => p >= spec.threshold!).length / ps.length;
    return spec.combine === 'max' ? Math.max(...ps) : Math.min(...ps);
  };
  const ends = [1500, 3000, 4500, 6000, 8000, 10000]; // floor(10000 · cumulative weight / 100)
  const variantOf = (key: string) => VARIANTS[ends.findIndex((e) => murmur3String(key) % 10000 < e)].model;

  const records = fs.readFileSync(path.join(dir, 'out', 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const seen = new Map<string, number>();
  for (const r of records) {
    if (r.retracted) continue;
    const model = variantOf(r.key);
    assert.equal(r.model, model, `key ${r.key}`);
    assert.equal(r.modelVersion, version(model), `${r.key}: version of ${model}`);
    assert.deepEqual(Object.keys(r).slice(-4), ['risk', 'model', 'modelVersion', 'revision']);
    const want = Math.fround(predict(model, r.features));
    assert.ok(Math.abs(r.risk - want) <= 1e-6, `${r.key} ${model}: risk ${r.risk}, expected ${want}`);
    seen.set(model, (seen.get(model) ?? 0) + 1);
  }
  // The e2e input's 21 keys fall in every variant's buckets with these weights.
  for (const v of VARIANTS) assert.ok((seen.get(v.model) ?? 0) > 0, `no result scored by ${v.model}: ${JSON.stringify([...seen])}`);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('scoring: { model } is one variant; the model: shorthand names its model "default"', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-models-'));
  await runJob(modelsJob(dir, MODELS, { model: 'mix' })).done;
  const records = fs.readFileSync(path.join(dir, 'out', 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(records.length > 0 && records.every((r) => r.retracted || r.model === 'mix'));
  const out: string[] = [];
  await check(path.join(dir, 'job.yaml'), [], { write: (s: string | Uint8Array) => (out.push(String(s)), true) });
  const plan = out.join('');
  for (const fact of [
    'scoring    7 inputs -> 1 output as "risk"',
    'variant mix: weight 100 (100.0% of keys, buckets 0-9999)',
    `model      a: xgboost ${path.join(dir, 'a.json')}, version ${sha12(fs.readFileSync(path.join(dir, 'a.json')))}: 7 features -> 1 output; member of `,
    'model      c: xgboost',
    'model      mix: ensemble of a, c (weighted 3:1), version ',
    'model      high: ensemble of blend, c (max)',
    'not used',
  ]) {
    assert.ok(plan.includes(fact), `plan lacks ${JSON.stringify(fact)}:\n${plan}`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A job file's text with `models:` and `scoring:` (or whatever `extra` holds) over a small base. */
const yamlJob = (extra: object) =>
  stringify({
    name: 'm',
    source: { type: 'generator' },
    window: { type: 'tumbling', sizeMs: 60000 },
    features: [{ name: 'n', agg: 'count' }],
    sink: { type: 'stdout' },
    ...extra,
  });

const fails = (extra: object, message: string) => assert.throws(() => parseJob(yamlJob(extra), 'job.yaml'), (e: Error) => (assert.equal(e.message, message), true));

test('each kind of bad models: and scoring: section is an error naming the place and what to write', () => {
  const m = { a: { source: 'a.json' }, b: { source: 'b.onnx' } };
  fails({ model: { path: 'a.json' }, models: m }, 'job.yaml: models: a job has model: (one model) or models: with scoring:, not both');
  fails({ model: { path: 'a.json' }, scoring: { model: 'a' } }, 'job.yaml: scoring.model: next to model:, scoring: takes only maxBatchRows and maxWaitMs; put inputs and output in model:, or name the model under models: to use scoring:');
  fails({ model: { path: 'a.json' }, scoring: { maxBatchRows: 0 } }, 'job.yaml: scoring.maxBatchRows: expected a positive integer, got 0');
  fails({}, 'job.yaml: model: missing; expected a mapping with the model path (or models: with scoring:)');
  fails({ models: m }, 'job.yaml: scoring: missing; expected a mapping naming the model that scores (scoring: { model: a })');
  fails({ models: m, scoring: {} }, 'job.yaml: scoring.model: missing; expected the name of a model (a, b)');
  fails({ models: m, scoring: { model: 'c' } }, 'job.yaml: scoring.model: expected the name of a model (a, b), got "c"');
  fails({ models: m, scoring: { model: 'a', variants: [{ model: 'b', weight: 1 }] } }, 'job.yaml: scoring.model: scoring takes model: (one model) or variants:, not both');
  fails({ models: m, scoring: { variants: [{ model: 'a', weight: 1 }, { model: 'a', weight: 2 }] } }, 'job.yaml: scoring.variants[1]: "a" is already scoring.variants[0]; list each model once');
  fails({ models: m, scoring: { variants: [{ model: 'a', weight: 0 }] } }, 'job.yaml: scoring.variants: every weight is 0; give at least one variant a positive weight');
  fails({ models: m, scoring: { variants: [{ model: 'a', weight: -1 }] } }, 'job.yaml: scoring.variants[0].weight: expected a weight >= 0, got -1');
  fails({ models: m, scoring: { variants: [{ model: 'a', wieght: 1 }] } }, 'job.yaml: scoring.variants[0].wieght: unknown key; expected one of model, weight (did you mean weight?)');
  fails({ models: {}, scoring: { model: 'a' } }, 'job.yaml: models: expected a mapping of model names to models ({ type, source }), got {}');
  fails({ models: { 'a b': { source: 'a.json' } }, scoring: { model: 'a b' } }, 'job.yaml: models.a b: expected a model name (letters, digits, _ . -; at most 64) as the key');
  fails({ models: { a: { type: 'xgboost' } }, scoring: { model: 'a' } }, 'job.yaml: models.a.source: missing; expected a model file path (relative to the job file) or an http(s) URL');
  fails({ models: { a: { type: 'tensorflow', source: 'a.pb' } }, scoring: { model: 'a' } }, 'job.yaml: models.a.type: expected one of xgboost, onnx, ensemble, remote, got "tensorflow"');
  fails({ models: { a: { source: 'https://' } }, scoring: { model: 'a' } }, 'job.yaml: models.a.source: expected a model file path (relative to the job file) or an http(s) URL, got "https://"');
  fails({ models: { a: { source: 'a.json', reload: { pollMs: 0 } } }, scoring: { model: 'a' } }, 'job.yaml: models.a.reload.pollMs: expected a positive integer, got 0');
  fails({ models: { a: { source: 'a.json', reload: { pollMS: 5 } } }, scoring: { model: 'a' } }, 'job.yaml: models.a.reload.pollMS: unknown key; expected one of pollMs (did you mean pollMs?)');
  fails({ models: { a: { source: 'a.json', reload: 5000 } }, scoring: { model: 'a' } }, 'job.yaml: models.a.reload: expected a mapping, got 5000');
  fails({ model: { path: 'a.json', reload: { pollMs: 5000 } } }, 'job.yaml: model.reload: the model: shorthand takes no reload; name the model under models: (models: { default: { source: ..., reload: { pollMs: 5000 } } }) with scoring: { model: default }');
  fails({ models: { a: { type: 'remote' } }, scoring: { model: 'a' } }, "job.yaml: models.a.url: missing; expected the model's Open Inference Protocol URL (http://host:port/v2/models/<name>)");
  fails({ models: { a: { type: 'remote', url: 'scorer:8000' } }, scoring: { model: 'a' } }, 'job.yaml: models.a.url: expected an http(s) URL (http://host:port/v2/models/<name>), got "scorer:8000"');
  fails({ models: { a: { type: 'remote', url: 'http://x', source: 'a.json' } }, scoring: { model: 'a' } }, 'job.yaml: models.a.source: unknown key; expected one of type, url, headers, timeoutMs, retries, backoffMs, breaker, outputs, maxBatchRows');
  fails({ models: { a: { type: 'remote', url: 'http://x', breaker: { failures: 0 } } }, scoring: { model: 'a' } }, 'job.yaml: models.a.breaker.failures: expected a positive integer, got 0');
  fails({ models: { a: { type: 'remote', url: 'http://x', retries: -1 } }, scoring: { model: 'a' } }, 'job.yaml: models.a.retries: expected a non-negative integer, got -1');
  fails({ models: { a: { source: 'a.json', members: ['a'] } }, scoring: { model: 'a' } }, 'job.yaml: models.a.members: unknown key; expected one of type, source, maxBytes, reload, headers, downloadTimeoutMs');
  const e = (spec: object) => ({ models: { ...m, e: { type: 'ensemble', ...spec } }, scoring: { model: 'e' } });
  fails(e({ members: ['a', 'z'] }), 'job.yaml: models.e.members[1]: expected a list of model names (a, b, e), got "z"');
  fails(e({ members: [] }), 'job.yaml: models.e.members: expected a list of model names (a, b, e), got []');
  fails(e({ members: ['a', 'b'], combine: 'median' }), 'job.yaml: models.e.combine: expected one of mean, max, min, weighted, vote, got "median"');
  fails(e({ members: ['a', 'b'], weights: [1, 2] }), 'job.yaml: models.e.weights: only with combine: weighted, but combine is mean');
  fails(e({ members: ['a', 'b'], combine: 'max', threshold: 0.5 }), 'job.yaml: models.e.threshold: only with combine: vote, but combine is max');
  fails(e({ members: ['a', 'b'], combine: 'weighted', weights: [1] }), 'job.yaml: models.e.weights: expected 2 weights, one per member, got [1]');
  fails(e({ members: ['a', 'b'], combine: 'weighted', weights: [0, 0] }), 'job.yaml: models.e.weights: expected weights with a positive sum, got [0,0]');
  fails(e({ members: ['a', 'b'], combine: 'weighted' }), 'job.yaml: models.e.weights: expected a list of 2 weights >= 0, one per member, got nothing');
  fails(e({ members: ['a', 'e'] }), 'job.yaml: models.e.members: the ensembles e -> e contain themselves');
  fails({ models: { ...m, x: { type: 'ensemble', members: ['a', 'y'] }, y: { type: 'ensemble', members: ['x'] } }, scoring: { model: 'x' } }, 'job.yaml: models.x.members: the ensembles x -> y -> x contain themselves');
  fails({ models: m, scoring: { model: 'a', output: 'modelVersion' } }, 'job.yaml: scoring.output: "modelVersion" is a field of result records (key, windowStart, windowEnd, events, features, model, modelVersion, revision, retracted, early, update, ts, eventId, late); pick another name for the score');
});

test('models load and check at start: a missing file and a wrong input width name the model', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-models-'));
  const missing = modelsJob(dir, { a: { source: 'a.json' }, gone: { source: 'gone.json' } }, { model: 'a' });
  await assert.rejects(runJob(missing).done, (e: Error) => (assert.match(e.message, /gone\.json/), true));
  const narrow = modelsJob(dir, { a: { source: 'a.json' }, b: { source: 'b.json' } }, { model: 'a', inputs: ['n', 'amount_sum'] });
  await assert.rejects(runJob(narrow).done, (e: Error) => (assert.match(e.message, /scoring\.inputs: .*the model a \(a\.json\)/), true));
  fs.rmSync(dir, { recursive: true, force: true });
});
