// Model errors, fallbacks and shadow models (SPEC §12). partly-inf.json (made by real xgboost, its
// leaves edited: make_models.py) gives +inf for rows with a large amount_sum and a finite score for
// the rest; which rows fail is computed here from the model itself, independently of the scorer.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runJob } from '../../src/app/run-job';
import { check } from '../../src/cli/check';
import { parseJob } from '../../src/config/job';
import { startMetricsServer } from '../../src/io/http/metrics-server';
import { loadModel } from '../../src/scoring/load-model';
import type { Model } from '../../src/scoring/model';
import { total } from '../helpers/metrics';
import { repoRoot } from '../helpers/paths';
import { modelsJob, scrape } from './harness';
import { stringify } from 'yaml';

const sha12 = (data: Buffer) => createHash('sha256').update(data).digest('hex').slice(0, 12);
const lines = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
const MODELS = { a: { source: 'a.json' }, b: { source: 'b.json' }, c: { source: 'c.json' }, bad: { source: 'bad.json' } };

async function run(scoring: object, extra: object = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-fallback-'));
  const server = await startMetricsServer('127.0.0.1', 0, 'fallback');
  try {
    const summary = await runJob(modelsJob(dir, MODELS, scoring, extra), { metricsServer: server }).done;
    const model = async (m: string) => loadModel(path.join(dir, `${m}.json`));
    // A missing feature (null in the record) is NaN to the model.
    const predict = (model: Model, features: Record<string, number | null>) => model.predictSync!(Float32Array.from(model.featureNames!.map((f) => features[f] ?? NaN)), 1)[0];
    return {
      summary,
      dir,
      metrics: await scrape(server),
      results: lines(path.join(dir, 'out', 'results.jsonl')),
      dead: lines(path.join(dir, 'out', 'results.dead.jsonl')),
      shadow: lines(path.join(dir, 'out', 'results.shadow.jsonl')),
      bad: await model('bad'),
      model,
      predict,
      version: (m: string) => sha12(fs.readFileSync(path.join(dir, `${m}.json`))),
    };
  } finally {
    await server.close();
  }
}

const close = (got: number, want: number) => Math.abs(got - Math.fround(want)) <= 1e-6 * Math.max(1, Math.abs(want));

test('onError fallback model: rows the model fails are scored by the fallback, and say so; shadow models write records of their own', async () => {
  const r = await run({ model: 'bad', onError: { fallback: 'a' }, shadow: ['b', 'c'] });
  const [a, b, c] = [await r.model('a'), await r.model('b'), await r.model('c')];
  const scored = r.results.filter((x) => !x.retracted);
  let fellBack = 0;
  for (const x of scored) {
    const own = r.predict(r.bad, x.features);
    assert.equal(x.model, 'bad');
    assert.equal(x.modelVersion, r.version('bad'));
    if (Number.isFinite(own)) {
      assert.ok(close(x.risk, own), `${x.key}: ${x.risk} vs ${own}`);
      assert.deepEqual(Object.keys(x).slice(-4), ['risk', 'model', 'modelVersion', 'revision']);
      continue;
    }
    fellBack++;
    assert.ok(close(x.risk, r.predict(a, x.features)), `${x.key}: the fallback's score`);
    assert.deepEqual(Object.keys(x).slice(-7), ['risk', 'model', 'modelVersion', 'fallback', 'fallbackVersion', 'error', 'revision']);
    assert.equal(x.fallback, 'a');
    assert.equal(x.fallbackVersion, r.version('a'));
    assert.equal(x.error, 'the model gave a non-finite output (Infinity)');
  }
  assert.ok(fellBack > 0 && fellBack < scored.length, `${fellBack} of ${scored.length} results fell back`);
  assert.equal(total(r.metrics, 'sluice_model_errors_total', { model: 'bad', kind: 'non-finite' }), fellBack);
  assert.equal(total(r.metrics, 'sluice_model_fallbacks_total', { model: 'bad', fallback: 'a' }), fellBack);

  // Shadow: per result, one record per shadow model, in order, joined on the window identity.
  assert.equal(r.shadow.length, 2 * scored.length);
  scored.forEach((x, i) => {
    for (const [j, [name, model]] of ([['b', b], ['c', c]] as const).entries()) {
      const s = r.shadow[2 * i + j];
      assert.deepEqual([s.key, s.windowStart, s.windowEnd, s.revision], [x.key, x.windowStart, x.windowEnd, x.revision]);
      assert.deepEqual([s.model, s.modelVersion], [name, r.version(name)]);
      assert.deepEqual(s.features, x.features);
      assert.ok(close(s.risk, r.predict(model, x.features)), `shadow ${name} of ${x.key}`);
    }
  });
  assert.match(r.summary.outputs.shadow!, /results\.shadow\.jsonl$/);
  // sluice check says where each model is used.
  const out: string[] = [];
  await check(path.join(r.dir, 'job.yaml'), [], { write: (t: string | Uint8Array) => (out.push(String(t)), true) });
  const plan = out.join('');
  for (const fact of ['on a model error: the fallback model a', 'shadow: b, c, into file ', `model      a: xgboost ${path.join(r.dir, 'a.json')}, version ${r.version('a')}: 7 features -> 1 output; fallback`, '; shadow\n']) {
    assert.ok(plan.includes(fact), `plan lacks ${JSON.stringify(fact)}:\n${plan}`);
  }
  fs.rmSync(r.dir, { recursive: true, force: true });
});

test('onError fallback value: the value, with "fallback":"value"; without onError the rows are model-error dead letters', async () => {
  const value = await run({ model: 'bad', onError: { fallback: { value: 0.25 } } });
  const failed = value.results.filter((x) => !x.retracted && !Number.isFinite(value.predict(value.bad, x.features)));
  assert.ok(failed.length > 0);
  for (const x of failed) {
    assert.equal(x.risk, 0.25);
    assert.deepEqual(Object.keys(x).slice(-6), ['risk', 'model', 'modelVersion', 'fallback', 'error', 'revision']);
    assert.equal(x.fallback, 'value');
  }
  assert.equal(total(value.metrics, 'sluice_model_fallbacks_total', { model: 'bad', fallback: 'value' }), failed.length);
  assert.equal(value.shadow.length, 0);
  fs.rmSync(value.dir, { recursive: true, force: true });

  const none = await run({ model: 'bad' });
  const results = none.results.filter((x) => !x.retracted);
  assert.ok(results.every((x) => Number.isFinite(none.predict(none.bad, x.features)) && x.fallback === undefined));
  const dead = none.dead.filter((d) => d.reason === 'model-error');
  assert.equal(dead.length, failed.length, 'the same rows fail, as dead letters');
  for (const d of dead) {
    assert.equal(d.detail, 'the model gave a non-finite output (Infinity)');
    assert.equal(d.source, null);
    const window = JSON.parse(d.value);
    assert.deepEqual(window.risk, [], 'no score');
    assert.ok(!Number.isFinite(none.predict(none.bad, window.features)));
  }
  assert.equal(none.summary.deadLetters, none.dead.length, 'the decode dead letters and these');
  assert.equal(total(none.metrics, 'sluice_dead_letters_total', { reason: 'model-error' }), dead.length);
  fs.rmSync(none.dir, { recursive: true, force: true });
});

test('each kind of bad shadow:, onError:, cache: and shadow output is an error naming the place', () => {
  const job = (scoring: object, extra: object = {}) =>
    stringify({
      name: 'm',
      source: { type: 'generator' },
      window: { type: 'tumbling', sizeMs: 1000 },
      features: [{ name: 'n', agg: 'count' }],
      models: { a: { source: 'a.json' }, b: { source: 'b.json' } },
      scoring: { model: 'a', ...scoring },
      sink: { type: 'file', path: 'out/r.jsonl' },
      ...extra,
    });
  const fails = (scoring: object, message: string, extra: object = {}) => assert.throws(() => parseJob(job(scoring, extra), 'job.yaml'), (e: Error) => (assert.equal(e.message, message), true));
  fails({ shadow: ['z'] }, 'job.yaml: scoring.shadow[0]: expected a list of model names (a, b), got "z"');
  fails({ shadow: ['b', 'b'] }, 'job.yaml: scoring.shadow[1]: "b" is already scoring.shadow[0]; list each model once');
  fails({ shadow: 'b' }, 'job.yaml: scoring.shadow: expected a list of model names (a, b), got "b"');
  fails({ onError: { fallback: 'z' } }, 'job.yaml: scoring.onError.fallback: expected a model name (a, b) or { value: <a number, or a list of one per output> }, got "z"');
  fails({ onError: {} }, 'job.yaml: scoring.onError.fallback: expected a model name (a, b) or { value: <a number, or a list of one per output> }, got nothing');
  fails({ onError: { fallback: { value: 'x' } } }, 'job.yaml: scoring.onError.fallback.value: expected a finite number, got "x"');
  fails({ onError: { fallback: { vaule: 1 } } }, 'job.yaml: scoring.onError.fallback.vaule: unknown key; expected one of value (did you mean value?)');
  fails({ onError: { fallbak: 'b' } }, 'job.yaml: scoring.onError.fallbak: unknown key; expected one of fallback (did you mean fallback?)');
  fails({ cache: { maxEntries: 0 } }, 'job.yaml: scoring.cache.maxEntries: expected a positive integer, got 0');
  fails({ cache: { ttlMS: 5 } }, 'job.yaml: scoring.cache.ttlMS: unknown key; expected one of maxEntries, ttlMs (did you mean ttlMs?)');
  fails({}, 'job.yaml: shadow: the shadow output takes the records of shadow models, and scoring.shadow names none', { shadow: { type: 'stdout' } });
  fails({ shadow: ['b'] }, 'job.yaml: shadow.path: "out/r.jsonl" is also sink\'s file; each output needs its own file', { shadow: { type: 'file', path: 'out/r.jsonl' } });
});

test('an ensemble of an XGBoost and an ONNX model scores the mean of their own predictions', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-mixed-'));
  const mlpPath = path.join(repoRoot, 'test', 'fixtures', 'onnx', 'mlp.onnx');
  const models = { a: { source: 'a.json' }, mlp: { source: mlpPath }, mix: { type: 'ensemble', members: ['a', 'mlp'], combine: 'mean' } };
  await runJob(modelsJob(dir, models, { model: 'mix' })).done;
  const [a, mlp] = [await loadModel(path.join(dir, 'a.json')), await loadModel(mlpPath)];
  const FEATURES = ['n', 'amount_sum', 'amount_mean', 'amount_min', 'amount_max', 'amount_std', 'items_sum'];
  const records = lines(path.join(dir, 'out', 'results.jsonl')).filter((x) => !x.retracted);
  assert.ok(records.length > 50);
  for (const x of records) {
    const pa = a.predictSync!(Float32Array.from(a.featureNames!.map((f) => x.features[f])), 1)[0];
    const pm = (await mlp.predict(Float32Array.from(FEATURES.map((f) => x.features[f])), 1))[0];
    assert.ok(close(x.risk, (pa + pm) / 2), `${x.key}: ${x.risk} vs mean(${pa}, ${pm})`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('per-event mode (SPEC §13) scores through the same models: fallbacks and shadow records per event', async () => {
  const r = await run({ model: 'bad', onError: { fallback: 'a' }, shadow: ['b'] }, { mode: 'per-event' });
  const [a, b] = [await r.model('a'), await r.model('b')];
  assert.equal(r.results.length, r.summary.events - r.summary.deadLetters, 'one result per clean event');
  let fellBack = 0;
  r.results.forEach((x, i) => {
    assert.deepEqual(Object.keys(x).slice(0, 3), ['key', 'ts', 'features']);
    const own = r.predict(r.bad, x.features);
    if (Number.isFinite(own)) assert.ok(close(x.risk, own), `${x.key}@${x.ts}: ${x.risk} vs ${own}`);
    else {
      fellBack++;
      assert.deepEqual([x.fallback, x.fallbackVersion], ['a', r.version('a')]);
      assert.ok(close(x.risk, r.predict(a, x.features)), `${x.key}@${x.ts}: the fallback's score`);
    }
    const s = r.shadow[i];
    assert.deepEqual([s.key, s.ts, s.model, s.features], [x.key, x.ts, 'b', x.features]);
    assert.ok(close(s.risk, r.predict(b, x.features)), `shadow of ${x.key}@${x.ts}`);
  });
  assert.ok(fellBack > 0, 'some events fell back');
  assert.equal(r.shadow.length, r.results.length);
  fs.rmSync(r.dir, { recursive: true, force: true });
});
