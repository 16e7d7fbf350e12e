// Durable state (SPEC §10) with real processes: `sluice run` killed with SIGKILL at random
// moments, and at the fault-injection points between the steps of a checkpoint, then restarted;
// its outputs must be those of a run without faults. Input keyed by the window key, so every
// window's result is deterministic (SPEC §6).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import { stringify } from 'yaml';
import { repoRoot } from '../helpers/paths';
import { rng } from '../helpers/random';
import { startBroker, type TestBroker } from './broker';
import { e2eJobObject, fileReference, startJob, tmpDir } from './jobs';
import { produceLines, readTopic } from './kafka-io';
import { jobFromObject } from '../../src/config/job';

const SLUICE = path.join(repoRoot, 'bin', 'sluice.js');
const T0 = 1_700_000_000_000;
const PARTITIONS = 16;
const KEYS_PER_PARTITION = 64; // 1,024 keys
const ROUNDS = 60;
const EVENTS_PER_ROUND = 40; // per partition: 2,400 events each, 38,400 in all

/** Partition p's events, in rounds: keys k<p>-<i>, time advancing 50 ms an event with up to
 *  1.5 s of disorder (the job allows 2 s: nothing is late), and now and then a line that is not
 *  JSON (a dead letter). The last round ends with a flush event far ahead, which fires every
 *  data window. */
function input(seed: number): string[][][] {
  const r = rng(seed);
  return Array.from({ length: PARTITIONS }, (_, p) => {
    const rounds: string[][] = [];
    for (let round = 0, j = 0; round < ROUNDS; round++) {
      const lines: string[] = [];
      for (let e = 0; e < EVENTS_PER_ROUND; e++, j++) {
        if (r() < 0.004) lines.push(`{"card": "k${p}-bad", "ts": ${j}`);
        else lines.push(JSON.stringify({ card: `k${p}-${Math.floor(r() * KEYS_PER_PARTITION)}`, ts: T0 + j * 50 - Math.floor(r() * 1500), amount: Math.round(r() * 50000) / 100, items: 1 + (j % 3), id: `${p}-${j}` }));
      }
      if (round === ROUNDS - 1) lines.push(JSON.stringify({ card: `flush-${p}`, ts: T0 + 3_600_000, amount: 0, items: 0, id: `flush-${p}` }));
      rounds.push(lines);
    }
    return rounds;
  });
}

const identity = (line: string) => {
  const r = JSON.parse(line) as { key: string; windowStart: number; revision: number };
  return `${r.key}@${r.windowStart}#${r.revision}`;
};
/** A per-event result is its event's (SPEC §13). */
const eventIdentity = (line: string) => String((JSON.parse(line) as { eventId: string }).eventId);
/** Per-event mode with the same features and model: one result per event. */
const PER_EVENT = { mode: 'per-event', eventId: 'id' };
const isFlush = (line: string) => (JSON.parse(line) as { key: string }).key.startsWith('flush-');
/** Lines grouped by window key, in the order they came: per key, order is deterministic. */
function byKey(lines: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const l of lines) {
    const k = (JSON.parse(l) as { key: string }).key;
    out.set(k, [...(out.get(k) ?? []), l]);
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)));
}

interface Life {
  exit: number | null;
  signal: NodeJS.Signals | null;
  /** The test's timer sent the SIGKILL (rather than a fault point, or an exit). */
  killedByTimer: boolean;
  stderr: string;
}

/** One `sluice run` of the job file: SIGKILL after killAfterMs, SIGTERM once `termWhen` resolves. */
function life(jobFile: string, groupId: string, opts: { killAfterMs?: number; faults?: string; termWhen?: Promise<void> } = {}): Promise<Life> {
  const child = spawn(process.execPath, [SLUICE, 'run', jobFile, '--quiet', '--set', `source.groupId=${groupId}`], {
    env: { ...process.env, SLUICE_FAULTS: opts.faults ?? '', SLUICE_LOG_LEVEL: 'error' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  let killedByTimer = false;
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = opts.killAfterMs === undefined ? undefined : setTimeout(() => ((killedByTimer = true), child.kill('SIGKILL')), opts.killAfterMs);
  void opts.termWhen?.then(() => child.kill('SIGTERM'));
  return new Promise((resolve) =>
    child.on('exit', (exit, signal) => {
      clearTimeout(timer);
      resolve({ exit, signal, killedByTimer, stderr });
    }),
  );
}

/** The job file: the e2e job (test/e2e) reading `topic`, writing results to `sink`. */
function writeJob(dir: string, broker: TestBroker, topic: string, sink: object, extra: Record<string, unknown> = {}): string {
  const job = e2eJobObject(
    { type: 'kafka', brokers: broker.brokers, topic, groupId: 'set-per-run', startFrom: 'earliest' },
    { sink, late: { type: 'file', path: path.join(dir, 'late.jsonl') }, deadLetter: { type: 'file', path: path.join(dir, 'dead.jsonl') } },
    { name: 'recovery', state: { dir: path.join(dir, 'state'), checkpointIntervalMs: 200 }, workers: { threads: 1 }, ...extra },
  );
  const file = path.join(dir, 'job.yaml');
  fs.writeFileSync(file, stringify(job));
  return file;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const STARTUP_MS = 4000;

/** Polls `done`, starting after STARTUP_MS: by then a restarted job has cut its file sinks back
 *  to the checkpoint (what an earlier life wrote past it does not count) and handles SIGTERM. */
async function until(what: string, done: () => boolean, timeoutMs: number): Promise<void> {
  await sleep(STARTUP_MS);
  const end = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > end) throw new Error(`${what}: not after ${timeoutMs} ms`);
    await sleep(500);
  }
}

const fileLines = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : []);

/** Which jobs a kill -9 test runs at once over the same input (each killed on its own). */
type JobName = 'kafka' | 'file' | 'per-event';

test('kill -9 at random moments and between the steps of a checkpoint: the outputs are those of a run without faults', { timeout: 600_000 }, (t) => killAndCompare(t, ['kafka', 'file']));

test('per-event mode: kill -9 at random moments and between the steps of a checkpoint; every result once, repeats byte-identical', { timeout: 600_000 }, (t) => killAndCompare(t, ['per-event']));

async function killAndCompare(t: TestContext, names: JobName[]): Promise<void> {
  const seed = Number(process.env.SLUICE_TEST_SEED ?? Date.now() % 1_000_000);
  t.diagnostic(`seed ${seed} (SLUICE_TEST_SEED=${seed} repeats this run)`);
  const id = `${process.pid}-${Date.now()}`;
  const topics = { in: `in-${id}`, results: `results-${id}`, perEvent: `per-event-${id}` };
  const broker = await startBroker({ [topics.in]: PARTITIONS, [topics.results]: 4, [topics.perEvent]: 4 });
  if (!broker) return void t.skip('no Kafka broker: see the line above on how to enable Kafka tests');
  try {
    const data = input(seed);
    const all = data.map((rounds) => rounds.flat());
    const bad = all.flat().filter((l) => /"ts": \d+$/.test(l)).length; // the lines input() cut short
    const windows = names.includes('kafka') || names.includes('file');
    const reference = windows ? (await fileReference(all, { key: 'card', timestamp: 'ts' })).filter((l) => !isFlush(l)) : [];
    const perEventReference = names.includes('per-event') ? await fileReference(all, { key: 'card', timestamp: 'ts' }, PER_EVENT) : [];
    // Jobs over the same input, killed independently: results to Kafka, to a file, or per-event
    // results to Kafka.
    const kafkaDir = tmpDir('recovery-kafka');
    const fileDir = tmpDir('recovery-file');
    const perEventDir = tmpDir('recovery-per-event');
    const jobs = [
      { name: 'kafka', dir: kafkaDir, file: writeJob(kafkaDir, broker, topics.in, { type: 'kafka', topic: topics.results }) },
      { name: 'file', dir: fileDir, file: writeJob(fileDir, broker, topics.in, { type: 'file', path: path.join(fileDir, 'results.jsonl') }) },
      { name: 'per-event', dir: perEventDir, file: writeJob(perEventDir, broker, topics.in, { type: 'kafka', topic: topics.perEvent }, PER_EVENT) },
    ].filter((j) => names.includes(j.name as JobName));
    const kafkaResults = () => readTopic(broker.brokers, topics.results).map((r) => r.value);
    const perEventResults = () => readTopic(broker.brokers, topics.perEvent).map((r) => r.value);
    // A Kafka topic keeps what earlier lives wrote, so all results there can come before the
    // last life has read to the end; its dead-letter file, cut back to its checkpoint at start,
    // is complete only once it has.
    const deadComplete = (dir: string) => fileLines(path.join(dir, 'dead.jsonl')).length >= bad;
    const complete: Record<string, () => boolean> = {
      kafka: () => new Set(kafkaResults().map(identity)).size >= reference.length && deadComplete(kafkaDir),
      file: () => fileLines(path.join(fileDir, 'results.jsonl')).length >= reference.length,
      'per-event': () => new Set(perEventResults().map(eventIdentity)).size >= perEventReference.length && deadComplete(perEventDir),
    };

    // The input arrives in rounds while the jobs run, die and restart.
    let producing = true;
    const produced = (async () => {
      for (let round = 0; round < ROUNDS; round++) {
        await produceLines(broker.brokers, topics.in, Object.fromEntries(data.map((rounds, p) => [p, rounds[round]])));
        await sleep(800);
      }
      producing = false;
    })();

    const r = rng(seed);
    const delays = Array.from({ length: 200 }, () => 500 + Math.floor(r() * 6000));
    const stats = await Promise.all(
      jobs.map(async (job, j) => {
        let lives = 0;
        const group = () => `g-${id}-${job.name}-${lives++}`; // a fresh group: no wait for the killed member's session to time out
        // The fault points first: each life kills itself there.
        for (const faults of ['after-state-write:2', 'after-sink-flush:3', 'after-commit:2']) {
          const l = await life(job.file, group(), { faults, killAfterMs: 60_000 });
          assert.equal(l.signal, 'SIGKILL', `${job.name}, ${faults}: ${l.stderr} (seed ${seed})`);
          assert.ok(!l.killedByTimer, `${job.name}: the fault point ${faults} was never reached (seed ${seed})`);
        }
        let kills = 3;
        for (let k = j; producing || kills < 20; k += 2) {
          const l = await life(job.file, group(), { killAfterMs: delays[k % delays.length] });
          assert.equal(l.signal, 'SIGKILL', `${job.name}: a life ended by itself: exit ${l.exit}, ${l.stderr} (seed ${seed})`);
          kills++;
        }
        await produced;
        // The last life runs until every result is out, then stops on SIGTERM: drain, checkpoint, exit 0.
        const last = await life(job.file, group(), { termWhen: until(`${job.name} results`, complete[job.name], 120_000) });
        assert.equal(last.exit, 0, `${job.name}: the last life: ${last.stderr} (seed ${seed})`);
        return kills;
      }),
    );
    t.diagnostic(`kills survived: ${jobs.map((job, j) => `${job.name} job ${stats[j]}`).join(', ')}`);

    // Kafka: every result, and every repeat the same bytes as the first.
    for (const [what, written, want, id] of [
      ['kafka', names.includes('kafka') ? kafkaResults() : [], reference, identity],
      ['per-event', names.includes('per-event') ? perEventResults() : [], perEventReference, eventIdentity],
    ] as const) {
      if (!names.includes(what)) continue;
      const first = new Map<string, string>();
      for (const v of written) {
        const k = id(v);
        if (!first.has(k)) first.set(k, v);
        else assert.equal(v, first.get(k), `${what}: a repeated result differs from its first emission (seed ${seed})`);
      }
      assert.deepEqual([...first.values()].sort(), want.slice().sort(), `${what}: seed ${seed}`);
      t.diagnostic(`${what}: ${want.length} results, ${written.length - want.length} repeats (all byte-identical)`);
    }
    // File: exactly the fault-free run's lines, none twice, each key's in the same order.
    if (names.includes('file')) assert.deepEqual(byKey(fileLines(path.join(fileDir, 'results.jsonl'))), byKey(reference), `seed ${seed}`);
    for (const job of jobs) {
      // Dead letters (files, every job): each bad line once; nothing is late.
      const dead = fileLines(path.join(job.dir, 'dead.jsonl'));
      assert.equal(new Set(dead).size, dead.length, `${job.name}: a dead letter twice (seed ${seed})`);
      assert.equal(dead.length, bad, `${job.name}: dead letters (seed ${seed})`);
      assert.deepEqual(fileLines(path.join(job.dir, 'late.jsonl')), []);
    }
  } finally {
    await broker.stop();
  }
}

test('SIGTERM mid-run drains, checkpoints and exits 0; the next run goes on with the same results; other checkpoint timings and threads change nothing', { timeout: 300_000 }, async (t) => {
  const id = `${process.pid}-${Date.now()}`;
  const topics = { in: `in-${id}` };
  const broker = await startBroker({ [topics.in]: 4 });
  if (!broker) return t.skip('no Kafka broker: see the line above on how to enable Kafka tests');
  try {
    const rounds = input(7).slice(0, 4);
    const all = rounds.map((r) => r.flat());
    const half = (from: number, to: number) => Object.fromEntries(rounds.map((r, p) => [p, r.slice(from, to).flat()]));
    await produceLines(broker.brokers, topics.in, half(0, ROUNDS / 2));
    const reference = (await fileReference(all, { key: 'card', timestamp: 'ts' })).filter((l) => !isFlush(l));
    const dir = tmpDir('recovery-term');
    const out = path.join(dir, 'results.jsonl');
    const file = writeJob(dir, broker, topics.in, { type: 'file', path: out });
    // Stopped while reading the first half of the input, then run on (same group) over the rest.
    const first = await life(file, `g-${id}`, { termWhen: until('first results', () => fileLines(out).length > 0, 60_000) });
    assert.equal(first.exit, 0, first.stderr);
    await produceLines(broker.brokers, topics.in, half(ROUNDS / 2, ROUNDS));
    const second = await life(file, `g-${id}`, { termWhen: until('all results', () => fileLines(out).length >= reference.length, 60_000) });
    assert.equal(second.exit, 0, second.stderr);
    assert.deepEqual(byKey(fileLines(out)), byKey(reference));

    // A damaged state dir: one clear line and exit 1, never a fresh start.
    fs.rmSync(path.join(dir, 'state', 'checkpoints', 'CURRENT'));
    const damaged = await life(file, `g-${id}`, { killAfterMs: 60_000 });
    assert.equal(damaged.exit, 1);
    assert.match(damaged.stderr, /state[/\\]checkpoints: the state is damaged or half-written: its CURRENT file is missing\. Nothing was read from it/);
    assert.doesNotMatch(damaged.stderr, /\n\s+at /, 'no stack trace');

    // Bounded runs with checkpoints every 20 ms or only at the end, with 1 or 2 threads and small
    // or large batches: the same results (SPEC §6 determinism).
    for (const [checkpointIntervalMs, threads, batchSize] of [[20, 1, 97], [3_600_000, 2, 65_536], [50, 2, 1000]]) {
      const d = tmpDir('recovery-det');
      const config = jobFromObject(
        e2eJobObject(
          { type: 'kafka', brokers: broker.brokers, topic: topics.in, groupId: `g-${id}-${checkpointIntervalMs}`, startFrom: 'earliest', bounded: true },
          { sink: { type: 'file', path: path.join(d, 'results.jsonl') } },
          { state: { dir: path.join(d, 'state'), checkpointIntervalMs }, workers: { threads } },
        ),
      );
      const summary = await startJob(config, { batchSize }).done;
      assert.ok(summary.checkpoints!.count >= 1);
      assert.deepEqual(byKey(fileLines(path.join(d, 'results.jsonl')).filter((l) => !isFlush(l))), byKey(reference), `checkpoints every ${checkpointIntervalMs} ms, ${threads} threads, batches of ${batchSize}`);
    }
  } finally {
    await broker.stop();
  }
});
