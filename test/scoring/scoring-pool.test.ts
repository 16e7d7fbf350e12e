// ScoringPool: coalesced scoring from many callers, back-pressure both ways, draining close().
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ScoringPool } from '../../src/scoring/scoring-pool';
import { XGBoostModel } from '../../src/scoring/xgboost/xgboost-model';
import { fixture } from '../helpers/paths';
import { rng } from '../helpers/random';

const MODEL = fixture('xgboost', 'multi_softprob_3.json');

function randomRows(r: () => number, n: number, f: number): Float32Array {
  const rows = new Float32Array(n * f);
  for (let i = 0; i < rows.length; i++) rows[i] = r() < 0.05 ? NaN : (r() - 0.5) * 6;
  return rows;
}

test('200 concurrent callers get exactly what predictSync gives them', async () => {
  const direct = await XGBoostModel.load(MODEL);
  const pool = new ScoringPool({ model: MODEL, threads: 2, maxBatchRows: 256 });
  try {
    const r = rng(5);
    const requests = Array.from({ length: 200 }, () => randomRows(r, 1 + Math.floor(r() * 40), direct.numFeatures));
    const results = await Promise.all(requests.map((rows) => pool.score(rows, rows.length / direct.numFeatures)));
    requests.forEach((rows, i) => assert.deepEqual(results[i], direct.predictSync(rows, rows.length / direct.numFeatures)));
    assert.deepEqual(await pool.model(), { numFeatures: direct.numFeatures, numOutputs: direct.numOutputs, featureNames: direct.featureNames } as never);
  } finally {
    await pool.close();
  }
});

test("a full queue makes score() wait by default, or fail with onFull: 'error'", async () => {
  const direct = await XGBoostModel.load(MODEL);
  const F = direct.numFeatures;
  const waiting = new ScoringPool({ model: MODEL, threads: 1, maxBatchRows: 8, maxQueuedRows: 8 });
  const failing = new ScoringPool({ model: MODEL, threads: 1, maxBatchRows: 8, maxQueuedRows: 8, onFull: 'error' });
  try {
    const r = rng(6);
    const reqs = Array.from({ length: 50 }, () => randomRows(r, 8, F));
    const all = await Promise.all(reqs.map((rows) => waiting.score(rows, 8)));
    assert.equal(all.length, 50);
    await failing.model();
    const settled = await Promise.allSettled(reqs.map((rows) => failing.score(rows, 8)));
    const rejected = settled.filter((s) => s.status === 'rejected') as PromiseRejectedResult[];
    assert.ok(rejected.length > 0, 'some requests were refused');
    assert.match(String(rejected[0].reason.message), /ScoringPool queue is full \(\d+ rows queued, at most 8\)/);
    assert.ok(settled.some((s) => s.status === 'fulfilled'));
  } finally {
    await waiting.close();
    await failing.close();
  }
});

test('close() scores what is queued, then refuses new work; bad input is refused', async () => {
  const direct = await XGBoostModel.load(MODEL);
  const pool = new ScoringPool({ model: MODEL, threads: 1 });
  const rows = randomRows(rng(7), 100, direct.numFeatures);
  await pool.model();
  const pending = pool.score(rows, 100);
  await pool.close();
  assert.deepEqual(await pending, direct.predictSync(rows, 100));
  await assert.rejects(pool.score(rows, 1), /ScoringPool is closed/);
  const other = new ScoringPool({ model: MODEL, threads: 1 });
  await assert.rejects(other.score(new Float32Array(3), 2), (e: Error & { code?: string }) => e.code === 'SLUICE_MODEL_INPUT');
  await other.close();
  const bad = new ScoringPool({ model: fixture('xgboost', 'nope.json'), threads: 1 });
  await assert.rejects(bad.score(rows, 1), /nope\.json: cannot read the file/);
  await bad.close();
});

test('maxDelayMs: concurrent requests of one model share a call; requests for other models get theirs', async () => {
  const multi = await XGBoostModel.load(MODEL);
  const OTHER = fixture('xgboost', 'binary_logistic.json');
  const other = await XGBoostModel.load(OTHER);
  const batches: number[] = [];
  // One thread, and 50 ms to gather: everything sent at once lands in one call per model.
  const pool = new ScoringPool({ threads: 1, maxDelayMs: 50, onBatch: (n) => batches.push(n) });
  try {
    const r = rng(8);
    const a = Array.from({ length: 10 }, () => randomRows(r, 3, multi.numFeatures));
    const b = Array.from({ length: 5 }, () => randomRows(r, 2, other.numFeatures));
    const [ra, rb] = await Promise.all([Promise.all(a.map((rows) => pool.score(rows, 3, { model: MODEL }))), Promise.all(b.map((rows) => pool.score(rows, 2, { model: OTHER })))]);
    a.forEach((rows, i) => assert.deepEqual(ra[i], multi.predictSync(rows, 3)));
    b.forEach((rows, i) => assert.deepEqual(rb[i], other.predictSync(rows, 2)));
    assert.deepEqual(batches.sort((x, y) => x - y), [10, 30]);
    await assert.rejects(pool.score(a[0], 3), /no model given/);
  } finally {
    await pool.close();
  }
});

test('timeoutMs: rows still queued past it are not scored, and score() rejects with SLUICE_TIMEOUT', async () => {
  const direct = await XGBoostModel.load(MODEL);
  const F = direct.numFeatures;
  const pool = new ScoringPool({ model: MODEL, threads: 1, maxDelayMs: 100 });
  try {
    await pool.model();
    const rows = randomRows(rng(9), 4, F);
    const [late, onTime] = await Promise.allSettled([pool.score(rows, 2, { timeoutMs: 10 }), pool.score(rows, 4, { timeoutMs: 5000 })]);
    assert.equal(late.status, 'rejected');
    assert.equal((late as PromiseRejectedResult).reason.code, 'SLUICE_TIMEOUT');
    assert.deepEqual((onTime as PromiseFulfilledResult<Float32Array>).value, direct.predictSync(rows, 4));
    assert.equal(pool.waitingRows, 0);
  } finally {
    await pool.close();
  }
});

/** Ten 3-row requests sent in one turn of the event loop; each answer checked against predictSync. */
async function tenInOneTurn(pool: ScoringPool, direct: XGBoostModel, seed: number): Promise<void> {
  await pool.model();
  const r = rng(seed);
  const requests = Array.from({ length: 10 }, () => randomRows(r, 3, direct.numFeatures));
  const results = await Promise.all(requests.map((rows) => pool.score(rows, 3)));
  requests.forEach((rows, i) => assert.deepEqual(results[i], direct.predictSync(rows, 3)));
}

test('inlineMaxUs: cheap batches score on the calling thread at the end of its turn, with all that arrived in it', async () => {
  const direct = await XGBoostModel.load(MODEL);
  const batches: Array<[number, boolean]> = [];
  // Everything fits the budget: the ten requests of this turn make one call, scored here.
  const pool = new ScoringPool({ model: MODEL, threads: 1, inlineMaxUs: 1e9, onBatch: (n, inline) => batches.push([n, inline]) });
  try {
    await tenInOneTurn(pool, direct, 10);
    assert.deepEqual(batches, [[30, true]]);
    assert.equal(pool.waitingRows, 0);
  } finally {
    await pool.close();
  }
});

test('inlineMaxUs: rows over the budget go to a worker, batched as without it', async () => {
  const direct = await XGBoostModel.load(MODEL);
  const batches: Array<[number, boolean]> = [];
  // A budget no call fits: the requests wait maxDelayMs for company, then go to the worker together.
  const pool = new ScoringPool({ model: MODEL, threads: 1, maxDelayMs: 50, inlineMaxUs: 0.001, onBatch: (n, inline) => batches.push([n, inline]) });
  try {
    await tenInOneTurn(pool, direct, 11);
    assert.deepEqual(batches, [[30, false]]);
  } finally {
    await pool.close();
  }
});

test('warm() loads the model on every worker: scoring goes on after its file is gone; a file that does not load rejects', async () => {
  const direct = await XGBoostModel.load(MODEL);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-warm-'));
  const file = path.join(dir, 'model.json');
  fs.copyFileSync(MODEL, file);
  // Every call to a worker, each request at once: two at a time take both workers.
  const pool = new ScoringPool({ threads: 2 });
  try {
    await pool.warm(file);
    fs.rmSync(file);
    const r = rng(12);
    const requests = Array.from({ length: 8 }, () => randomRows(r, 5, direct.numFeatures));
    const results = await Promise.all(requests.map((rows) => pool.score(rows, 5, { model: file })));
    requests.forEach((rows, i) => assert.deepEqual(results[i], direct.predictSync(rows, 5)));
    await assert.rejects(pool.warm(fixture('xgboost', 'nope.json')), /nope\.json/);
  } finally {
    await pool.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('close() scores a batch still waiting for its turn to end (inline), then stops', async () => {
  const direct = await XGBoostModel.load(MODEL);
  const pool = new ScoringPool({ model: MODEL, threads: 1, inlineMaxUs: 1e9 });
  await pool.model();
  const rows = randomRows(rng(13), 4, direct.numFeatures);
  const scored = pool.score(rows, 4);
  await pool.close(); // called before the turn ends
  assert.deepEqual(await scored, direct.predictSync(rows, 4));
  await assert.rejects(pool.score(rows, 4), /closed/);
});
