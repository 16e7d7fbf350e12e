// The addon in several threads at once: plain worker_threads and a Piscina pool, each scoring a
// slice of one SharedArrayBuffer into another, must give the main thread's numbers exactly.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { native } from '../../src/native';
import { XGBoostModel } from '../../src/scoring/xgboost/xgboost-model';
import scoreAndDigest, { DIGEST_WORDS } from './score-and-digest-task';
import { fixture } from '../helpers/paths';

const MODEL = fixture('xgboost', 'multi_softprob_3.json');
const THREADS = 4;

function sharedRows(nRows: number, numFeatures: number): Float32Array {
  const rows = new Float32Array(new SharedArrayBuffer(nRows * numFeatures * 4));
  for (let i = 0; i < rows.length; i++) rows[i] = i % 17 === 0 ? NaN : Math.sin(i) * 3;
  return rows;
}

test('worker_threads score slices of a SharedArrayBuffer concurrently', async () => {
  const model = await XGBoostModel.load(MODEL);
  const nRows = 4000;
  const rows = sharedRows(nRows, model.numFeatures);
  const out = new Float32Array(new SharedArrayBuffer(nRows * model.numOutputs * 4));
  const scoreTask = path.join(__dirname, 'score-task.js');
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const score = require(${JSON.stringify(scoreTask)}).default;
    parentPort.postMessage(score(workerData));`;
  const per = nRows / THREADS;
  const done = await Promise.all(
    Array.from({ length: THREADS }, (_, t) =>
      new Promise<number>((resolve, reject) => {
        const w = new Worker(code, {
          eval: true,
          workerData: { modelPath: MODEL, rows: rows.buffer, out: out.buffer, numFeatures: model.numFeatures, numOutputs: model.numOutputs, begin: t * per, end: (t + 1) * per },
        });
        w.once('message', resolve);
        w.once('error', reject);
      }),
    ),
  );
  assert.deepEqual(done, [per, per, per, per]);
  assert.deepEqual(out, model.predictSync(rows, nRows));
});

test('a Piscina pool loads the addon in each thread and scores in parallel', async () => {
  const model = await XGBoostModel.load(MODEL);
  const nRows = 8000;
  const rows = sharedRows(nRows, model.numFeatures);
  const out = new Float32Array(new SharedArrayBuffer(nRows * model.numOutputs * 4));
  const pool = new Piscina({ filename: path.join(__dirname, 'score-task.js'), minThreads: 2, maxThreads: 2 });
  try {
    const chunk = 250;
    const tasks = [];
    for (let b = 0; b < nRows; b += chunk) {
      tasks.push(pool.run({ modelPath: MODEL, rows: rows.buffer, out: out.buffer, numFeatures: model.numFeatures, numOutputs: model.numOutputs, begin: b, end: b + chunk }));
    }
    const counts = await Promise.all(tasks);
    assert.equal(counts.reduce((a, b) => a + b, 0), nRows);
  } finally {
    await pool.destroy();
  }
  assert.deepEqual(out, model.predictSync(rows, nRows));
});

test('workers score and build digests in one SharedArrayBuffer at once; merged, they equal one thread\'s', async () => {
  const model = await XGBoostModel.load(MODEL);
  const nRows = 8000;
  const rows = sharedRows(nRows, model.numFeatures);
  const region = new Float64Array(new SharedArrayBuffer((THREADS + 1) * DIGEST_WORDS * 8));
  const per = nRows / THREADS;
  const task = (t: number) => ({ modelPath: MODEL, rows: rows.buffer as SharedArrayBuffer, region: region.buffer as SharedArrayBuffer, numFeatures: model.numFeatures, begin: t * per, end: (t + 1) * per, slot: t });
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    parentPort.postMessage(require(${JSON.stringify(path.join(__dirname, 'score-and-digest-task.js'))}).default(workerData));`;
  await Promise.all(
    Array.from({ length: THREADS }, (_, t) =>
      new Promise((resolve, reject) => {
        const w = new Worker(code, { eval: true, workerData: task(t) });
        w.once('message', resolve);
        w.once('error', reject);
      }),
    ),
  );
  // The same work on this thread, into a second region, then both merged in slot order.
  const mine = new Float64Array(new SharedArrayBuffer((THREADS + 1) * DIGEST_WORDS * 8));
  for (let t = 0; t < THREADS; t++) scoreAndDigest({ ...task(t), region: mine.buffer as SharedArrayBuffer });
  const merged = THREADS * DIGEST_WORDS;
  for (const r of [region, mine]) {
    native.digestInit(r, merged, DIGEST_WORDS, 100);
    for (let t = 0; t < THREADS; t++) assert.equal(native.digestMerge(r, merged, t * DIGEST_WORDS), 0);
  }
  assert.deepEqual(region, mine);
  const all = model.predictSync(rows, nRows).slice().sort();
  for (const q of [0.01, 0.5, 0.99]) {
    const x = native.digestQuantile(region, merged, q);
    const rank = all.findIndex((v) => v >= x) / all.length;
    assert.ok(Math.abs(rank - q) <= 0.01, `q=${q}: estimate ${x} has rank ${rank}`);
  }
});
