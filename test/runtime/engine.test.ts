// Engine behaviour that golden files cannot show: partitions that never send or go idle (with a
// scripted source and clock), a worker that fails mid-task, ONNX models in jobs, oversized events.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { jobFromObject } from '../../src/config/job';
import type { RawBatch, Source } from '../../src/decode/raw-batch';
import { runJob, type RunJobOptions } from '../../src/app/run-job';
import { OnnxModel } from '../../src/scoring/onnx/onnx-model';
import { fixture, repoRoot } from '../helpers/paths';

const CONST_MODEL = path.join(repoRoot, 'test', 'golden', 'const-model.json');

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-engine-'));
}

function job(dir: string, extra: Record<string, unknown> = {}) {
  return jobFromObject(
    {
      name: 'engine-test',
      source: { type: 'file', path: [path.join(dir, 'p0.jsonl'), path.join(dir, 'p1.jsonl')], key: 'key', timestamp: 'ts' },
      watermark: { maxOutOfOrdernessMs: 0, idleTimeoutMs: 1000 },
      window: { type: 'tumbling', sizeMs: 10000 },
      features: [
        { name: 'n', agg: 'count' },
        { name: 's', agg: 'sum', field: 'amount' },
        { name: 'mn', agg: 'min', field: 'amount' },
        { name: 'mx', agg: 'max', field: 'amount' },
      ],
      model: { path: CONST_MODEL },
      sink: { type: 'file', path: path.join(dir, 'out', 'results.jsonl') },
      metrics: { port: 0 },
      workers: { threads: 1 },
      ...extra,
    },
    { file: path.join(dir, 'job.yaml') },
  );
}

const read = (dir: string, f: string) => fs.readFileSync(path.join(dir, 'out', f), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

/** A source that plays a script: each step is a batch of (partition, event) or a clock jump. */
class ScriptedSource implements Source {
  readonly numPartitions = 2;
  constructor(
    private readonly script: Array<{ events?: Array<[number, object]>; advanceClockMs?: number; finish?: number[] }>,
    private readonly clock: { nowMs: number },
  ) {}
  async *batches(): AsyncIterable<RawBatch> {
    const offsets = [0, 0];
    for (const step of this.script) {
      if (step.advanceClockMs) this.clock.nowMs += step.advanceClockMs;
      const events = step.events ?? [];
      yield {
        count: events.length,
        values: events.map(([, e]) => JSON.stringify(e)),
        partition: Int32Array.from(events.map(([p]) => p)),
        offset: Float64Array.from(events.map(([p]) => offsets[p]++)),
        recordTimestampMs: new Float64Array(events.length).fill(NaN),
        topicOf: (p) => `p${p}`,
        finished: (step.finish ?? []).map((p) => ({ before: events.length, partition: p })),
      };
    }
  }
  async close() {}
}

async function runScript(script: ConstructorParameters<typeof ScriptedSource>[0], opts: RunJobOptions = {}) {
  const dir = tmpDir();
  const clock = { nowMs: 1_000_000 };
  const summary = await runJob(job(dir), { ...opts, source: new ScriptedSource(script, clock), nowMs: () => clock.nowMs }).done;
  return { summary, results: read(dir, 'results.jsonl'), late: read(dir, 'results.late.jsonl') };
}

const ev = (key: string, ts: number, amount: number) => ({ key, ts, amount });

test('a partition that never sent anything holds the watermark back', async () => {
  // p1 sends nothing: the watermark stays at -infinity, so a@3000 still joins [0,10000).
  const held = await runScript([{ events: [[0, ev('a', 1000, 1)], [0, ev('a', 12000, 2)], [0, ev('a', 3000, 3)]] }, { finish: [0, 1] }]);
  assert.equal(held.late.length, 0);
  assert.deepEqual(held.results.map((r) => [r.windowStart, r.events]), [[0, 2], [10000, 1]]);
  // Once p1 has finished it no longer counts: a@12000 fires [0,10000) and a@3000 is late.
  const finished = await runScript([{ finish: [1] }, { events: [[0, ev('a', 1000, 1)], [0, ev('a', 12000, 2)], [0, ev('a', 3000, 3)]] }, { finish: [0] }]);
  assert.equal(finished.late.length, 1);
  assert.equal(finished.late[0].lateByMs, 2000);
});

test('a silent partition stops holding the watermark after idleTimeoutMs', async () => {
  const script = (advanceClockMs: number) => [
    { events: [[0, ev('a', 1000, 1)], [1, ev('b', 500, 1)]] as Array<[number, object]> },
    { events: [[0, ev('a', 12000, 2)]] as Array<[number, object]>, advanceClockMs },
    { events: [[0, ev('a', 3000, 3)]] as Array<[number, object]> },
    { finish: [0, 1] },
  ];
  // p1 last sent at t0; 999 ms later it is not idle yet: it holds the watermark at 500.
  const notIdle = await runScript(script(999));
  assert.equal(notIdle.late.length, 0);
  // 1000 ms later it is idle: the watermark follows p0 to 12000, so a@3000 is late.
  const idle = await runScript(script(1000));
  assert.equal(idle.late.length, 1);
  assert.deepEqual(idle.late[0].event, ev('a', 3000, 3));
  assert.equal(idle.late[0].lateByMs, 2000);
});

for (const how of ['throw', 'exit'] as const) {
  test(`a worker that ${how === 'throw' ? 'throws' : 'exits'} mid-task is replaced and the output is unchanged`, async () => {
    const golden = path.join(repoRoot, 'test', 'golden', 'session');
    const dir = tmpDir();
    fs.cpSync(golden, path.join(dir, 'session'), { recursive: true });
    fs.copyFileSync(CONST_MODEL, path.join(dir, 'const-model.json'));
    // One key partition and batches of 3 events: the failing task (batch 2) has state to lose.
    const summary = await runJob(path.join(dir, 'session', 'job.yaml'), { overrides: ['workers.threads=2'], keyPartitions: 1, batchSize: 3, failTask: { batch: 2, partition: 0, how } }).done;
    assert.equal(summary.taskRetries, 1);
    for (const f of ['results', 'late']) {
      assert.equal(fs.readFileSync(path.join(dir, 'session', 'out', `${f}.jsonl`), 'utf8'), fs.readFileSync(path.join(golden, 'expected', `${f}.jsonl`), 'utf8'));
    }
  });
}

test('a per-event task that throws part-way on the main thread, changing states in place, stops the job instead of running again', async () => {
  const dir = tmpDir();
  const lines: string[] = [];
  for (let i = 0; i < 300; i++) lines.push(JSON.stringify({ key: `k${i % 7}`, ts: i * 100, amount: i % 13 }));
  fs.writeFileSync(path.join(dir, 'p0.jsonl'), lines.join('\n'));
  fs.writeFileSync(path.join(dir, 'p1.jsonl'), '');
  const perEvent = job(dir, { mode: 'per-event' });
  await assert.rejects(runJob(perEvent, { keyPartitions: 1, batchSize: 10, inline: 'always', failTask: { batch: 3, partition: 0, how: 'throw' } }).done, (e: Error & { code?: string }) => {
    assert.equal(e.code, 'SLUICE_RUNTIME');
    assert.match(e.message, /partition\(s\) 0 failed on the main thread, part-way through changing their state: test failure injected in partition 0/);
    return true;
  });
  // On a worker (a copy of the state) the same failure is retried, and the job ends.
  const summary = await runJob(perEvent, { keyPartitions: 1, batchSize: 10, failTask: { batch: 3, partition: 0, how: 'throw' } }).done;
  assert.equal(summary.taskRetries, 1);
  assert.equal(summary.windowsFired, 300);
});

test('an ONNX model scores windows in the workers', async () => {
  const dir = tmpDir();
  const lines: string[] = [];
  for (let i = 0; i < 400; i++) lines.push(JSON.stringify({ key: `k${i % 7}`, ts: i * 100, amount: (i * 37) % 101, items: i % 5 }));
  fs.writeFileSync(path.join(dir, 'p0.jsonl'), lines.join('\n'));
  fs.writeFileSync(path.join(dir, 'p1.jsonl'), '');
  const features = [
    { name: 'n', agg: 'count' },
    { name: 's', agg: 'sum', field: 'amount' },
    { name: 'mean', agg: 'mean', field: 'amount' },
    { name: 'mn', agg: 'min', field: 'amount' },
    { name: 'mx', agg: 'max', field: 'amount' },
    { name: 'sd', agg: 'stddev', field: 'amount' },
    { name: 'items', agg: 'sum', field: 'items' },
  ];
  const model = fixture('onnx', 'mlp.onnx');
  await runJob(job(dir, { features, model: { type: 'onnx', path: model, output: 'p' }, workers: { threads: 2 } })).done;
  const results = read(dir, 'results.jsonl');
  assert.ok(results.length > 20);
  const onnx = await OnnxModel.load(model);
  const rows = new Float32Array(results.flatMap((r) => features.map((f) => r.features[f.name])));
  const want = await onnx.predict(rows, results.length);
  results.forEach((r, i) => assert.ok(Math.abs(r.p - want[i]) <= 1e-6 * Math.max(1, Math.abs(want[i])), `window ${i}: ${r.p} vs ${want[i]}`));
});

test('an event larger than 1 MiB is a too-large dead letter, cut at 64 KiB', async () => {
  const dir = tmpDir();
  const big = JSON.stringify({ key: 'a', ts: 1, amount: 1, pad: 'x'.repeat(1 << 20) });
  fs.writeFileSync(path.join(dir, 'p0.jsonl'), [JSON.stringify(ev('a', 1, 1)), big, JSON.stringify(ev('a', 2, 2))].join('\n'));
  fs.writeFileSync(path.join(dir, 'p1.jsonl'), '');
  const summary = await runJob(job(dir)).done;
  const dead = read(dir, 'results.dead.jsonl');
  assert.equal(summary.deadLetters, 1);
  assert.equal(dead[0].reason, 'too-large');
  assert.match(dead[0].detail, /larger than 1048576 bytes/);
  assert.equal(dead[0].value.length, 64 * 1024);
  assert.equal(dead[0].source.offset, '1');
  assert.deepEqual(read(dir, 'results.jsonl').map((r) => r.events), [2]);
});
