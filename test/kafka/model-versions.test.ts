// Durable model switches (SPEC §12) with real `sluice run` processes on a Kafka job: a version
// accepted mid-run is recorded with its bytes; after kill -9 the restart replays every window with
// the version that scored it first (byte-identical repeats), even though the model file has
// meanwhile gone bad, which the restart refuses once its replay is over. A job with no recorded
// version does not start on a bad source.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { jobFromObject } from '../../src/config/job';
import { runJob } from '../../src/app/run-job';
import { repoRoot } from '../helpers/paths';
import { startBroker } from './broker';
import { tmpDir } from './jobs';
import { produceLines, readTopic } from './kafka-io';

const SLUICE = path.join(repoRoot, 'bin', 'sluice.js');
const FIXTURES = path.join(repoRoot, 'test', 'models', 'fixtures');
const FEATURES = ['n', 'amount_sum', 'amount_mean', 'amount_min', 'amount_max', 'amount_std', 'items_sum'];
const PARTITIONS = 2;
const KEYS = 8; // per partition
const sha12 = (data: Buffer) => createHash('sha256').update(data).digest('hex').slice(0, 12);
const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, name));

/** Partition p's events over [fromMs, toMs): keys k<p>-<i>, one event per key every 500 ms. */
function events(fromMs: number, toMs: number): Record<number, string[]> {
  const out: Record<number, string[]> = {};
  for (let p = 0; p < PARTITIONS; p++) {
    out[p] = [];
    for (let ts = fromMs; ts < toMs; ts += 500) {
      for (let k = 0; k < KEYS; k++) out[p].push(JSON.stringify({ card: `k${p}-${k}`, ts, amount: 1 + ((ts / 500 + 13 * k + p) % 89), items: 1 + (k % 3) }));
    }
  }
  return out;
}

function writeJob(dir: string, brokers: string[], topics: { in: string; results: string }): string {
  const job = {
    name: 'model-versions',
    source: { type: 'kafka', brokers, topic: topics.in, groupId: 'set-per-run', startFrom: 'earliest', key: 'card', timestamp: 'ts', kafka: { maxWaitTimeInMs: 50 } },
    watermark: { maxOutOfOrdernessMs: 0, idleTimeoutMs: 0 },
    window: { type: 'tumbling', sizeMs: 10000 },
    features: [{ name: 'n', agg: 'count' }, ...FEATURES.slice(1, 6).map((name) => ({ name, agg: name.replace('amount_', '').replace('std', 'stddev'), field: 'amount' })), { name: 'items_sum', agg: 'sum', field: 'items' }],
    models: { m: { source: path.join(dir, 'm.json'), reload: { pollMs: 50 } } },
    scoring: { model: 'm', output: 'risk' },
    sink: { type: 'kafka', brokers, topic: topics.results },
    late: { type: 'file', path: path.join(dir, 'late.jsonl') },
    deadLetter: { type: 'file', path: path.join(dir, 'dead.jsonl') },
    // No checkpoint while the job runs: the restart replays the whole input.
    state: { dir: path.join(dir, 'state'), checkpointIntervalMs: 3_600_000 },
    metrics: { port: 0 },
    workers: { threads: 1 },
  };
  fs.writeFileSync(path.join(dir, 'job.yaml'), stringify(job));
  return path.join(dir, 'job.yaml');
}

interface Life {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function life(jobFile: string, groupId: string): Life {
  const child = spawn(process.execPath, [SLUICE, 'run', jobFile, '--quiet', '--set', `source.groupId=${groupId}`], { env: { ...process.env, SLUICE_LOG_LEVEL: 'info' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, stderr: () => stderr, exited };
}

async function until(what: string, done: () => boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const identity = (v: string) => {
  const r = JSON.parse(v) as { key: string; windowStart: number; revision: number };
  return `${r.key}@${r.windowStart}#${r.revision}`;
};

test('a switch is durable: after kill -9 the replay scores each window with the version that scored it first, and a bad source is refused', { timeout: 240_000 }, async (t) => {
  const id = `${process.pid}-${Date.now()}`;
  const topics = { in: `in-${id}`, results: `results-${id}` };
  const broker = await startBroker({ [topics.in]: PARTITIONS, [topics.results]: 2 });
  if (!broker) return t.skip('no Kafka broker: see the line above on how to enable Kafka tests');
  const lives: Life[] = [];
  try {
    const dir = tmpDir('model-versions');
    fs.writeFileSync(path.join(dir, 'm.json'), fixture('model-c.json'));
    const file = writeJob(dir, broker.brokers, topics);
    const results = () => readTopic(broker.brokers, topics.results).map((r) => r.value);
    const windowsOf = (n: number) => n * PARTITIONS * KEYS;

    // Life 1: two windows scored, then a new version, then the rest of the input.
    const first = life(file, `g-${id}-1`);
    lives.push(first);
    await produceLines(broker.brokers, topics.in, events(0, 30_000));
    await until('the first windows', () => results().length >= windowsOf(2));
    fs.writeFileSync(path.join(dir, 'm.json'), fixture('reload-next.json'));
    await until('the new version accepted', () => / accepted; /.test(first.stderr()));
    // T: the largest event time read by then, + 1 (the windows of [0, 20 s) had fired).
    const T = Number(/\(T = (\d+);/.exec(first.stderr())![1]);
    assert.ok(T > 20_000 && T <= 29_501, `T = ${T}`);
    // The rest, and an event far ahead per partition that fires every window of the input.
    const rest = events(30_000, 60_000);
    for (let p = 0; p < PARTITIONS; p++) rest[p].push(JSON.stringify({ card: `flush-${p}`, ts: 1_000_000, amount: 1, items: 1 }));
    await produceLines(broker.brokers, topics.in, rest);
    await until('every window', () => results().length >= windowsOf(6));
    first.child.kill('SIGKILL');
    await first.exited;
    const firstLife = results();

    // The model file goes bad while the job is down. Life 2 (a fresh group: it reads from the
    // start, there being no checkpoint) replays with the recorded versions.
    fs.writeFileSync(path.join(dir, 'm.json'), fixture('reload-next.json').subarray(0, 100));
    const second = life(file, `g-${id}-2`);
    lives.push(second);
    await until('the replay', () => results().length >= firstLife.length + windowsOf(6));
    await until('the bad source refused', () => / new version refused, the version in force \(\w+\) keeps scoring: .*m\.json: version \w+ does not load: /.test(second.stderr()));
    second.child.kill('SIGTERM');
    assert.equal((await second.exited).code, 0, second.stderr());

    const [before, after] = [sha12(fixture('model-c.json')), sha12(fixture('reload-next.json'))];
    const firstSeen = new Map<string, string>();
    for (const v of results()) {
      const k = identity(v);
      if (!firstSeen.has(k)) firstSeen.set(k, v);
      else assert.equal(v, firstSeen.get(k), 'a repeat differs from its first emission');
    }
    const byVersion = { [before]: 0, [after]: 0 };
    for (const v of firstSeen.values()) {
      const r = JSON.parse(v) as { windowEnd: number; modelVersion: string };
      assert.equal(r.modelVersion, r.windowEnd > T ? after : before, v);
      byVersion[r.modelVersion]++;
    }
    assert.equal(byVersion[before] + byVersion[after], windowsOf(6));
    assert.ok(byVersion[before] >= windowsOf(2) && byVersion[after] >= windowsOf(3), JSON.stringify(byVersion));
    // Both versions' bytes are under state.dir/models, named by version.
    assert.deepEqual(fs.readdirSync(path.join(dir, 'state', 'models', 'm')).sort(), [`${after}.model`, `${before}.model`].sort());

    // A fresh state dir has no recorded version: the bad source stops the job at start.
    const fresh = tmpDir('model-versions-fresh');
    fs.writeFileSync(path.join(fresh, 'm.json'), fixture('reload-next.json').subarray(0, 100));
    const third = life(writeJob(fresh, broker.brokers, topics), `g-${id}-3`);
    lives.push(third);
    assert.equal((await third.exited).code, 2, third.stderr());
    assert.match(third.stderr(), /m\.json: not valid JSON/);
  } finally {
    for (const l of lives) l.child.kill('SIGKILL');
    await broker.stop();
  }
});

test('shadow records to a Kafka topic: one per result and shadow model, keyed and stamped as the result', { timeout: 120_000 }, async (t) => {
  const id = `${process.pid}-${Date.now()}`;
  const topics = { in: `in-${id}`, results: `results-${id}`, shadow: `shadow-${id}` };
  const broker = await startBroker({ [topics.in]: 2, [topics.results]: 2, [topics.shadow]: 2 });
  if (!broker) return t.skip('no Kafka broker: see the line above on how to enable Kafka tests');
  try {
    const dir = tmpDir('shadow');
    fs.writeFileSync(path.join(dir, 'c.json'), fixture('model-c.json'));
    fs.writeFileSync(path.join(dir, 'next.json'), fixture('reload-next.json'));
    const lines = events(0, 60_000);
    for (let p = 0; p < PARTITIONS; p++) lines[p].push(JSON.stringify({ card: `flush-${p}`, ts: 1_000_000, amount: 1, items: 1 }));
    await produceLines(broker.brokers, topics.in, lines);
    const job = {
      name: 'shadow',
      source: { type: 'kafka', brokers: broker.brokers, topic: topics.in, groupId: `g-${id}`, startFrom: 'earliest', bounded: true, key: 'card', timestamp: 'ts' },
      watermark: { maxOutOfOrdernessMs: 0, idleTimeoutMs: 0 },
      window: { type: 'tumbling', sizeMs: 10000 },
      features: [{ name: 'n', agg: 'count' }, ...FEATURES.slice(1, 6).map((name) => ({ name, agg: name.replace('amount_', '').replace('std', 'stddev'), field: 'amount' })), { name: 'items_sum', agg: 'sum', field: 'items' }],
      models: { c: { source: path.join(dir, 'c.json') }, next: { source: path.join(dir, 'next.json') } },
      scoring: { model: 'c', output: 'risk', shadow: ['next'] },
      sink: { type: 'kafka', topic: topics.results },
      shadow: { type: 'kafka', topic: topics.shadow },
      state: { dir: path.join(dir, 'state') },
      metrics: { port: 0 },
      workers: { threads: 2 },
    };
    const summary = await runJob(jobFromObject(job, { file: path.join(dir, 'job.yaml') })).done;
    assert.match(summary.outputs.shadow!, new RegExp(topics.shadow));
    const results = readTopic(broker.brokers, topics.results);
    const shadow = readTopic(broker.brokers, topics.shadow);
    assert.equal(results.length, 6 * PARTITIONS * KEYS + PARTITIONS, 'every window, the flush keys\' too (a bounded run ends at +infinity)');
    assert.equal(shadow.length, results.length);
    const identity = (v: string) => {
      const r = JSON.parse(v) as { key: string; windowStart: number; windowEnd: number; revision: number };
      return `${r.key}@${r.windowStart}-${r.windowEnd}#${r.revision}`;
    };
    const byIdentity = new Map(results.map((r) => [identity(r.value), r]));
    for (const s of shadow) {
      const r = byIdentity.get(identity(s.value));
      assert.ok(r, `a shadow record without its result: ${s.value}`);
      assert.deepEqual([s.key, s.timestampMs, s.partition], [r.key, r.timestampMs, r.partition], 'keyed, stamped and partitioned as its result');
      const [sv, rv] = [JSON.parse(s.value), JSON.parse(r.value)];
      assert.deepEqual([sv.model, sv.modelVersion], ['next', sha12(fixture('reload-next.json'))]);
      assert.deepEqual(sv.features, rv.features);
    }
  } finally {
    await broker.stop();
  }
});
