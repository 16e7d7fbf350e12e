// sluice serve (SPEC §14): a test per error code, each followed by a good request that still
// works; and the serve.yaml mistakes that stop it at start.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as os from 'node:os';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { readServeConfig } from '../../src/serve/config';
import { fixture, repoRoot } from '../helpers/paths';
import { get, matrixBody, post, serve } from './harness';

const MODEL_C = path.join(repoRoot, 'test', 'models', 'fixtures', 'model-c.json');
const ALL_INF = path.join(repoRoot, 'test', 'models', 'fixtures', 'reload-inf.json');
const ROW = [1, 2, 3, 4, 5, 6, 7];

/** A good request after a bad one: the server still answers. */
async function stillWorks(url: string): Promise<void> {
  const got = await post(`${url}/v2/models/c/infer`, matrixBody([ROW]));
  assert.equal(got.status, 200, JSON.stringify(got.body));
  assert.equal(got.body.outputs[0].data.length, 1);
}

/** Sends raw bytes over one connection (not half-closed: Node's server drops what it has not
 *  answered when the client ends its side); resolves to the status line's code and the body once
 *  the server closes the connection. */
function raw(url: string, request: string | Buffer): Promise<{ status: number; body: string }> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1', () => socket.write(request));
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('close', () => resolve({ status: Number(text.split(' ')[1]), body: text.split('\r\n\r\n').slice(1).join('\r\n\r\n') }));
    socket.on('error', reject);
  });
}

test('400: bad JSON, shape, width, datatype, values; 404: unknown model, version, path', async () => {
  const s = await serve({ models: { c: { source: MODEL_C } } });
  try {
    const infer = `${s.url}/v2/models/c/infer`;
    const cases: Array<[unknown, RegExp]> = [
      ['{"inputs": [', /not JSON/],
      ['[1, 2]', /JSON object with "inputs"/],
      [{ inputs: [] }, /inputs: expected a non-empty list/],
      [{ inputs: [{ name: 'input', shape: [1, 7, 1], datatype: 'FP32', data: ROW }] }, /shape: expected \[N, F\]/],
      [{ inputs: [{ name: 'input', shape: [1, 6], datatype: 'FP32', data: ROW.slice(1) }] }, /model takes 7 features/],
      [{ inputs: [{ name: 'input', shape: [2, 7], datatype: 'FP32', data: ROW }] }, /7 values for shape \[2, 7\]/],
      [{ inputs: [{ name: 'input', shape: [1, 7], datatype: 'BYTES', data: ROW }] }, /datatype: expected one of FP32/],
      [{ inputs: [{ name: 'input', shape: [1, 7], datatype: 'FP32', data: [1, 2, 3, 'x', 5, 6, 7] }] }, /data\[3\]: expected a number or null/],
      [{ inputs: [{ name: 'input', shape: [1, 7], datatype: 'UINT8', data: [1, 2, 3, 300, 5, 6, 7] }] }, /300 is not a UINT8/],
      [{ inputs: [{ name: 'input', shape: [2, 7], datatype: 'FP32', data: [ROW, ROW.slice(1)] }] }, /data\[1\]: 6 values/],
      [{ inputs: [{ name: 'n', shape: [1], datatype: 'FP32', data: [1] }] }, /inputs: missing amount_sum, amount_mean/],
      [{ inputs: [{ name: 'f0', shape: [1], datatype: 'FP32', data: [1] }] }, /"f0" is not an input of the model \(n, amount_sum/],
      [{ id: 7, inputs: [{ name: 'input', shape: [1, 7], datatype: 'FP32', data: ROW }] }, /id: expected a string/],
    ];
    for (const [body, message] of cases) {
      const got = await post(infer, body);
      assert.equal(got.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(got.body)}`);
      assert.match(got.body.error, message);
      await stillWorks(s.url);
    }
    // Shapes are the client's word: rows are not allocated for more values than the body holds.
    for (const shape of [[1_000_000_000, 7], [1e15, 7], [3, 1e12]]) {
      const got = await post(infer, { inputs: [{ name: 'input', shape, datatype: 'FP32', data: ROW }] });
      assert.equal(got.status, shape[0] > 100_000 ? 413 : 400, `${shape}: ${JSON.stringify(got.body)}`);
      await stillWorks(s.url);
    }
    const deep = await post(infer, '['.repeat(100_000));
    assert.equal(deep.status, 400);
    await stillWorks(s.url);
    for (const url of [`${s.url}/v2/models/nope/infer`, `${s.url}/v2/models/c/versions/000000000000/infer`, `${s.url}/v2/models/c/explain`]) {
      const got = await post(url, matrixBody([ROW]));
      assert.equal(got.status, 404, url);
      assert.equal(typeof got.body.error, 'string');
      await stillWorks(s.url);
    }
    for (const url of [`${s.url}/v2/models/nope`, `${s.url}/v2/models/nope/ready`, `${s.url}/v2/models/c/versions/zzz`, `${s.url}/nothing`]) assert.equal((await get(url)).status, 404, url);
    // Names from URLs that name no model make no metric series.
    assert.doesNotMatch((await get(`${s.url}/metrics`)).body, /model="nope"/);
  } finally {
    await s.close();
  }
});

test('413: a body over maxBodyBytes, declared or chunked; a request with more rows than maxQueueRows', async () => {
  const s = await serve({ models: { c: { source: MODEL_C } }, http: { maxBodyBytes: 4096 }, batching: { maxRows: 16, maxQueueRows: 32 } });
  try {
    const big = JSON.stringify(matrixBody(Array.from({ length: 400 }, () => ROW)));
    const declared = await post(`${s.url}/v2/models/c/infer`, big);
    assert.equal(declared.status, 413);
    assert.match(declared.body.error, /over http.maxBodyBytes/);
    await stillWorks(s.url);
    const chunked = await raw(s.url, `POST /v2/models/c/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${[0, 1, 2].map(() => `${(2000).toString(16)}\r\n${' '.repeat(2000)}\r\n`).join('')}0\r\n\r\n`);
    assert.equal(chunked.status, 413);
    assert.match(chunked.body, /over http.maxBodyBytes/);
    await stillWorks(s.url);
    const rows = await post(`${s.url}/v2/models/c/infer`, matrixBody(Array.from({ length: 33 }, () => ROW)));
    assert.equal(rows.status, 413);
    assert.match(rows.body.error, /33 rows in one request; batching.maxQueueRows is 32/);
    await stillWorks(s.url);
  } finally {
    await s.close();
  }
});

test('408: a body that stalls is cut after timeoutMs; pipelined requests are answered in order', async () => {
  const s = await serve({ models: { c: { source: MODEL_C } }, http: { timeoutMs: 300 } });
  try {
    const startedAt = Date.now();
    const { port } = new URL(s.url);
    const stalled = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => socket.write('POST /v2/models/c/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"in'));
      let text = '';
      socket.on('data', (d: Buffer) => (text += d));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    assert.match(stalled, /^HTTP\/1.1 408/);
    assert.match(stalled, /did not arrive within http.timeoutMs \(300 ms\)/);
    assert.ok(Date.now() - startedAt < 5000);
    const one = (id: string, last = false) => {
      const body = JSON.stringify(matrixBody([ROW], { id }));
      return `POST /v2/models/c/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${last ? 'Connection: close\r\n' : ''}Content-Length: ${body.length}\r\n\r\n${body}`;
    };
    const piped = await raw(s.url, one('p1') + one('p2') + one('p3', true));
    assert.equal(piped.status, 200);
    assert.deepEqual([...piped.body.matchAll(/"id":"(p\d)"/g)].map((m) => m[1]), ['p1', 'p2', 'p3']);
    await stillWorks(s.url);
  } finally {
    await s.close();
  }
});

test('500: a model that fails (non-finite outputs); 504: a model slower than timeoutMs', async () => {
  // A remote scorer that answers after 300 ms.
  const slow = http.createServer((req, res) => {
    req.resume().on('end', () => setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ model_name: 'x', model_version: 'x1', outputs: [{ name: 'score', datatype: 'FP32', shape: [1, 1], data: [0.5] }] })), 300));
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  const s = await serve({ models: { c: { source: MODEL_C }, inf: { source: ALL_INF }, slow: { type: 'remote', url: `http://127.0.0.1:${(slow.address() as AddressInfo).port}/v2/models/x`, timeoutMs: 5000, retries: 0 } }, http: { timeoutMs: 100 } });
  try {
    const failed = await post(`${s.url}/v2/models/inf/infer`, matrixBody([ROW]));
    assert.equal(failed.status, 500);
    assert.match(failed.body.error, /model inf gave a non-finite output \(Infinity\) for row 0/);
    await stillWorks(s.url);
    const late = await post(`${s.url}/v2/models/slow/infer`, matrixBody([ROW]));
    assert.equal(late.status, 504);
    assert.match(late.body.error, /not scored within http.timeoutMs \(100 ms\)/);
    await stillWorks(s.url);
    const metrics = (await get(`${s.url}/metrics`)).body as string;
    assert.match(metrics, /sluice_serve_requests_total\{model="inf",status="500"\} 1/);
    assert.match(metrics, /sluice_serve_requests_total\{model="slow",status="504"\} 1/);
    assert.match(metrics, /sluice_serve_requests_total\{model="c",status="200"\} 2/);
  } finally {
    await s.close();
    slow.close();
  }
});

test('503 while the models load: live is 200, ready and infer 503; then 200', async () => {
  // A model whose URL answers after 800 ms.
  const bytes = fs.readFileSync(MODEL_C);
  const slow = http.createServer((_req, res) => setTimeout(() => res.writeHead(200).end(bytes), 800));
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  const s = await serve({ models: { c: { type: 'xgboost', source: `http://127.0.0.1:${(slow.address() as AddressInfo).port}/c.json` } } }, { waitLoaded: false });
  try {
    assert.equal((await get(`${s.url}/v2/health/live`)).status, 200);
    assert.equal((await get(`${s.url}/v2/health/ready`)).status, 503);
    assert.equal((await get(`${s.url}/readyz`)).status, 503);
    const early = await post(`${s.url}/v2/models/c/infer`, matrixBody([ROW]));
    assert.equal(early.status, 503);
    assert.match(early.body.error, /still loading/);
    await s.server.loaded;
    assert.equal((await get(`${s.url}/v2/health/ready`)).status, 200);
    await stillWorks(s.url);
  } finally {
    await s.close();
    slow.close();
  }
});

test('serve.yaml mistakes name the file, the key and what was expected', () => {
  const read = (raw: unknown) => () => readServeConfig(raw, 'serve.yaml', { baseDir: repoRoot });
  const c = { source: fixture('xgboost', 'binary_logistic.json') };
  assert.throws(read({}), /serve.yaml: models: missing; expected a mapping of model names/);
  assert.throws(read({ models: { c }, htp: {} }), /serve.yaml: htp: unknown key; expected one of .*\(did you mean http\?\)/);
  assert.throws(read({ models: { c }, http: { port: 70000 } }), /serve.yaml: http.port: expected an integer from 0 to 65535, got 70000/);
  assert.throws(read({ models: { c }, batching: { maxRows: 0 } }), /batching.maxRows: expected a positive integer, got 0/);
  assert.throws(read({ models: { c }, batching: { maxRows: 100, maxQueueRows: 10 } }), /batching.maxQueueRows: expected at least batching.maxRows \(100\), got 10/);
  assert.throws(read({ models: { c: { ...c, output: 7 } } }), /models.c.output: expected an output name/);
  assert.throws(read({ models: { c }, scoring: { name: 'c', model: 'c' } }), /scoring.name: "c" is also a model's name/);
  assert.throws(read({ models: { c }, scoring: { variants: [{ model: 'd', weight: 1 }] } }), /scoring.variants\[0\].model: expected the name of a model \(c\)/);
  assert.throws(read({ models: { c }, shadow: { type: 'file', path: 'x' } }), /shadow: the shadow output takes the records of shadow models/);
  // workers.threads: auto leaves a core to the main thread, as a job's does (docs/serve.md).
  const auto = Math.max(1, os.availableParallelism() - 1);
  assert.equal(read({ models: { c } })().workers.threads, auto);
  assert.equal(read({ models: { c }, workers: { threads: 'auto' } })().workers.threads, auto);
  assert.equal(read({ models: { c }, workers: { threads: 3 } })().workers.threads, 3);
});

test('a shadow output that cannot be written stops the server at start, with the path', async () => {
  const yaml = { models: { c: { source: MODEL_C } }, scoring: { model: 'c', shadow: ['c'] }, shadow: { type: 'file', path: '/nonexistent-dir/shadow.jsonl' } };
  await assert.rejects(async () => {
    const s = await serve(yaml);
    await s.close();
  }, /serve.yaml: shadow.path: cannot write \/nonexistent-dir\/shadow.jsonl \(ENOENT\)/);
});
