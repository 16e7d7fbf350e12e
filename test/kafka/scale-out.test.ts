// Scale-out (SPEC §15) with real processes on the mock broker: several `sluice run` of one job
// file in one consumer group, state per source partition through a changelog topic. Partitions
// move when a process is killed (kill -9), joins with an empty state dir, or stops (SIGTERM); the
// results must be those of one process with the same per-partition semantics: none lost, any
// repeat byte-identical, and none at all after a graceful stop.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { repoRoot } from '../helpers/paths';
import { startBroker, type TestBroker } from './broker';
import { e2eJobObject, startJob, tmpDir } from './jobs';
import { produceLines, readTopic, testKafka } from './kafka-io';
import { jobFromObject } from '../../src/config/job';
import { KafkaClient } from '../../src/io/kafka/client';

const SLUICE = path.join(repoRoot, 'bin', 'sluice.js');
const T0 = 1_700_000_000_000;
const PARTITIONS = 12;
const KEYS_PER_PARTITION = 20;
const ROUNDS = 24;
const EVENTS_PER_ROUND = 25;

/** Partition p's events in rounds: keys k<p>-<i> (co-partitioned), 100 ms of event time apart
 *  with up to 1 s of disorder (the job allows 2 s: nothing is late); the last round ends with an
 *  event far ahead, which fires every window of the partition. */
function input(): string[][][] {
  return Array.from({ length: PARTITIONS }, (_, p) => {
    const rounds: string[][] = [];
    for (let round = 0, j = 0; round < ROUNDS; round++) {
      const lines: string[] = [];
      for (let e = 0; e < EVENTS_PER_ROUND; e++, j++) {
        const jitter = ((j * 7919 + p * 104729) % 1000);
        lines.push(JSON.stringify({ card: `k${p}-${(j * 7) % KEYS_PER_PARTITION}`, ts: T0 + j * 100 - jitter, amount: ((j * 31 + p) % 5000) / 100, items: 1 + (j % 3) }));
      }
      if (round === ROUNDS - 1) lines.push(JSON.stringify({ card: `flush-${p}`, ts: T0 + 3_600_000, amount: 0, items: 0 }));
      rounds.push(lines);
    }
    return rounds;
  });
}

const identity = (line: string) => {
  const r = JSON.parse(line) as { key: string; windowStart: number; revision: number };
  return `${r.key}@${r.windowStart}#${r.revision}`;
};
const isFlush = (line: string) => (JSON.parse(line) as { key: string }).key.startsWith('flush-');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function jobObject(broker: TestBroker, topics: { in: string; changelog: string }, sink: object, dir: string, extra: Record<string, unknown> = {}) {
  return e2eJobObject(
    { type: 'kafka', brokers: broker.brokers, topic: topics.in, groupId: 'scale-out', startFrom: 'earliest', kafka: { sessionTimeout: 6000, maxWaitTimeInMs: 20 } },
    { sink, late: { type: 'file', path: path.join(dir, 'late.jsonl') }, deadLetter: { type: 'file', path: path.join(dir, 'dead.jsonl') } },
    { name: 'scale-out', state: { dir: path.join(dir, 'state'), checkpointIntervalMs: 200, changelog: topics.changelog }, workers: { threads: 1 }, ...extra },
  );
}

interface Proc {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
  logs: () => Array<Record<string, unknown>>;
}

/** `sluice run` of the job file, with a state dir of its own. */
function run(jobFile: string, stateDir: string, group: string): Proc {
  const logFile = fs.createWriteStream(`${stateDir}.log`);
  const child = spawn(process.execPath, [SLUICE, 'run', jobFile, '--set', `state.dir=${stateDir}`, '--set', `source.groupId=${group}`], {
    env: { ...process.env, SLUICE_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => ((stderr += d), logFile.write(d)));
  child.stdout!.setEncoding('utf8').on('data', (d: string) => ((stdout += d), logFile.write(d)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const logs = () =>
    (stderr + stdout)
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { child, exited, stderr: () => stderr, logs };
}

async function waitFor(what: string, done: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > end) throw new Error(`${what}: not after ${timeoutMs} ms`);
    await sleep(250);
  }
}

/** The reference: one process with the same per-partition semantics, over the whole topic. */
async function referenceRun(broker: TestBroker, topic: string, changelog: string, id: string): Promise<string[]> {
  const refDir = tmpDir('scale-out-ref');
  const refOut = path.join(refDir, 'results.jsonl');
  const ref = jobFromObject(jobObject(broker, { in: topic, changelog }, { type: 'file', path: refOut }, refDir, {}));
  if (ref.source.type === 'kafka') {
    ref.source.bounded = true;
    ref.source.groupId = `ref-${id}`;
  }
  await startJob(ref).done;
  const reference = fs.readFileSync(refOut, 'utf8').split('\n').filter((l) => l !== '' && !isFlush(l));
  assert.ok(reference.length > 300, `reference results: ${reference.length}`);
  return reference;
}

/** Every result once; repeats (counted) byte-identical to the first. */
function compare(written: string[], reference: string[]): number {
  const first = new Map<string, string>();
  for (const v of written) {
    const k = identity(v);
    if (!first.has(k)) first.set(k, v);
    else assert.equal(v, first.get(k), 'a repeated result differs from its first emission');
  }
  assert.deepEqual([...first.values()].sort(), reference.slice().sort());
  return written.length - reference.length;
}

/** A broker with the topics, the job file writing results to Kafka, and `round(r)` producing
 *  round r of every partition's input. */
async function sharedJob(suffix: string) {
  const id = `${process.pid}-${Date.now()}`;
  const topics = { in: `in-${id}`, changelog: `changelog-${id}`, results: `results-${id}`, refChangelog: `ref-changelog-${id}` };
  const broker = await startBroker({ [topics.in]: PARTITIONS, [topics.changelog]: PARTITIONS, [topics.results]: 4, [topics.refChangelog]: PARTITIONS });
  if (!broker) return null;
  const data = input();
  const dir = tmpDir(`scale-out${suffix}`);
  const jobFile = path.join(dir, 'job.yaml');
  fs.writeFileSync(jobFile, stringify(jobObject(broker, topics, { type: 'kafka', topic: topics.results }, dir)));
  const round = (r: number) => produceLines(broker.brokers, topics.in, Object.fromEntries(data.map((rounds, p) => [p, rounds[r]])));
  return { id, topics, broker, dir, jobFile, group: `g-${id}`, round };
}

const assigned = (p: Proc) => p.logs().filter((l) => l.msg === 'partition assigned');
const logTime = (l: { time?: unknown }) => Date.parse(String(l.time));
/** The partitions of p's last assignment, or none if it has given them up since. */
const held = (p: Proc) => {
  const lastRevoke = Math.max(-Infinity, ...p.logs().filter((l) => l.msg === 'partitions revoked').map(logTime));
  return assigned(p).filter((l) => logTime(l) >= lastRevoke).map((l) => l.partition as number);
};

test('3 processes share a 12-partition job; one is killed (kill -9), a 4th joins with an empty state dir: no window lost, repeats byte-identical', { timeout: 300_000 }, async (t) => {
  const setup = await sharedJob('');
  if (!setup) return void t.skip('no Kafka broker: see the line above on how to enable Kafka tests');
  const { id, topics, broker, dir, jobFile, group, round } = setup;
  const procs: Proc[] = [];
  try {
    const startedAt = Date.now();
    const phase = (what: string) => t.diagnostic(`${((Date.now() - startedAt) / 1000).toFixed(1)} s: ${what} (logs: ${dir})`);
    for (let r = 0; r < 4; r++) await round(r);
    const states = [0, 1, 2, 3].map((i) => path.join(dir, `state-${i}`));
    for (let i = 0; i < 3; i++) procs.push(run(jobFile, states[i], group));
    // All three hold partitions before one dies, with no rebalance under way.
    const settled = () => procs.every((p) => held(p).length > 0) && procs.reduce((n, p) => n + held(p).length, 0) === PARTITIONS;
    await waitFor('three processes holding partitions', settled, 60_000);
    for (let r = 4; r < 10; r++) {
      await round(r);
      await sleep(300);
    }
    await waitFor('no rebalance under way', settled, 60_000);
    const killedHeld = held(procs[1]);
    phase('killing process 1');
    procs[1].child.kill('SIGKILL');
    for (let r = 10; r < 16; r++) {
      await round(r);
      await sleep(300);
    }
    // A 4th process with an empty state dir: what it takes comes from the changelog only.
    phase('starting process 3');
    procs.push(run(jobFile, states[3], group));
    await waitFor('the 4th process holding partitions', () => assigned(procs[3]).length > 0, 60_000);
    for (let r = 16; r < ROUNDS; r++) {
      await round(r);
      await sleep(300);
    }

    phase('the reference run');
    const reference = await referenceRun(broker, topics.in, topics.refChangelog, id);
    phase('waiting for every result');
    const results = () => readTopic(broker.brokers, topics.results).map((r) => r.value).filter((l) => !isFlush(l));
    await waitFor('every result', () => new Set(results().map(identity)).size >= reference.length, 90_000);
    phase('stopping (SIGTERM)');
    for (const p of [procs[0], procs[2], procs[3]]) p.child.kill('SIGTERM');
    for (const p of [procs[0], procs[2], procs[3]]) assert.equal((await p.exited).code, 0, p.stderr());
    phase('stopped');

    phase('comparing');
    const repeats = compare(results(), reference);
    t.diagnostic(`${reference.length} results, ${repeats} repeats (all byte-identical)`);

    // Partitions moved: what the killed process held when it died went to
    // the others, restored with its state: from the changelog, or from a local copy when the
    // killed process had not written the partition since it took it (the copy then matches the
    // changelog's end). The 4th took its partitions from the changelog (its state dir was empty).
    const lastKilledLog = Math.max(...assigned(procs[1]).map(logTime));
    const takenOver = killedHeld.map((p) => [procs[0], procs[2], procs[3]].flatMap(assigned).filter((l) => l.partition === p && logTime(l) > lastKilledLog));
    killedHeld.forEach((p, i) => assert.ok(takenOver[i].some((l) => l.restoredFrom === 'changelog' || l.restoredFrom === 'local'), `partition ${p} of the killed process was restored by another: ${JSON.stringify(takenOver[i])}`));
    assert.ok(takenOver.flat().some((l) => l.restoredFrom === 'changelog'), JSON.stringify(takenOver));
    const fourth = assigned(procs[3]);
    const firstTaken = [...new Map(fourth.reverse().map((l) => [l.partition, l])).values()];
    assert.ok(firstTaken.every((l) => l.restoredFrom === 'changelog' || l.restoredFrom === 'none'), JSON.stringify(fourth));
    assert.ok(firstTaken.some((l) => l.restoredFrom === 'changelog'), JSON.stringify(fourth));
    assert.deepEqual(fs.readFileSync(path.join(dir, 'late.jsonl'), 'utf8').trim(), '');
  } finally {
    for (const p of procs) p.child.kill('SIGKILL');
    await broker.stop();
  }
});

test('a process joins, then leaves on SIGTERM: partitions move both ways and no result is written twice', { timeout: 300_000 }, async (t) => {
  const setup = await sharedJob('-graceful');
  if (!setup) return void t.skip('no Kafka broker: see the line above on how to enable Kafka tests');
  const { id, topics, broker, dir, jobFile, group, round } = setup;
  const procs: Proc[] = [];
  try {
    for (let r = 0; r < 4; r++) await round(r);
    procs.push(run(jobFile, path.join(dir, 'state-a'), group));
    await waitFor('the first process holding every partition', () => assigned(procs[0]).length >= PARTITIONS, 60_000);
    for (let r = 4; r < 8; r++) await round(r);
    procs.push(run(jobFile, path.join(dir, 'state-b'), group));
    await waitFor('the second process holding partitions', () => assigned(procs[1]).length > 0, 60_000);
    for (let r = 8; r < 16; r++) {
      await round(r);
      await sleep(300);
    }
    procs[1].child.kill('SIGTERM');
    assert.equal((await procs[1].exited).code, 0, procs[1].stderr());
    for (let r = 16; r < ROUNDS; r++) await round(r);
    const reference = await referenceRun(broker, topics.in, topics.refChangelog, id);
    const results = () => readTopic(broker.brokers, topics.results).map((r) => r.value).filter((l) => !isFlush(l));
    await waitFor('every result', () => new Set(results().map(identity)).size >= reference.length, 90_000);
    procs[0].child.kill('SIGTERM');
    assert.equal((await procs[0].exited).code, 0, procs[0].stderr());
    assert.equal(compare(results(), reference), 0, 'no repeats after graceful moves');
    // The partitions the second process gave back came to the first from the changelog.
    const back = assigned(procs[0]).filter((l) => l.restoredFrom === 'changelog');
    assert.ok(back.length > 0, JSON.stringify(assigned(procs[0])));
    t.diagnostic(`${reference.length} results, no repeats; ${back.length} partitions came back from the changelog`);
  } finally {
    for (const p of procs) p.child.kill('SIGKILL');
    await broker.stop();
  }
});

test('a changelog with a damaged page: the process taking the partition stops with the damage named', { timeout: 120_000 }, async (t) => {
  const id = `${process.pid}-${Date.now()}`;
  const topics = { in: `in-${id}`, changelog: `changelog-${id}` };
  const broker = await startBroker({ [topics.in]: 2, [topics.changelog]: 2 });
  if (!broker) return void t.skip('no Kafka broker: see the line above on how to enable Kafka tests');
  try {
    const dir = tmpDir('scale-out-damaged');
    const jobFile = path.join(dir, 'job.yaml');
    fs.writeFileSync(jobFile, stringify(jobObject(broker, topics, { type: 'file', path: path.join(dir, 'out.jsonl') }, dir)));
    await produceLines(broker.brokers, topics.in, Object.fromEntries(input().slice(0, 2).map((rounds, p) => [p, rounds[0]])));
    const first = run(jobFile, path.join(dir, 'state-a'), `g-${id}`);
    // Partition 0's manifest in force must need a slot page: one written before the process had
    // read its events has none (a slow run), and then nothing the test damages is read.
    const log = await new KafkaClient({ brokers: broker.brokers, kafka: {}, clientId: 'test' }).partitionLog(topics.changelog);
    const lastManifest = async () => {
      const { low, high } = await log.offsets();
      let manifest: { pages: { slots: number[] } } | null = null;
      await log.read(0, low[0], high[0], (_, key, value) => key === 'manifest' && value && (manifest = JSON.parse(value.toString('utf8'))));
      return manifest as { pages: { slots: number[] } } | null;
    };
    await waitFor('a checkpoint of partition 0 with slot pages in the changelog', async () => ((await lastManifest())?.pages.slots.length ?? 0) > 0, 60_000);
    first.child.kill('SIGTERM');
    assert.equal((await first.exited).code, 0, first.stderr());

    // Overwrite (latest value per key) a page partition 0's manifest needs.
    const manifest = await lastManifest();
    assert.ok(manifest?.pages.slots.length, 'the last manifest needs slot pages');
    const page = `r/slots/00000000/${String(manifest.pages.slots[0]).padStart(8, '0')}`;
    await log.append(0, [[page, Buffer.from('not a page')]]);
    await log.close();

    // A process with an empty state dir must read partition 0 from the changelog.
    const second = run(jobFile, path.join(dir, 'state-b'), `g2-${id}`);
    const exit = await Promise.race([second.exited, sleep(60_000).then(() => null)]);
    assert.ok(exit, `the process stopped; its log ends:\n${second.stderr().slice(-3000)}`);
    assert.equal(exit.code, 1, second.stderr());
    assert.match(second.stderr(), new RegExp(`changelog topic "${topics.changelog}" partition 0: the state is damaged: page ${page} fails its checksum`));
  } finally {
    await broker.stop();
  }
});

test('a changelog topic that is missing or has too few partitions: one line at start saying what to create', { timeout: 60_000 }, async (t) => {
  const id = `${process.pid}-${Date.now()}`;
  const broker = await startBroker({ [`in-${id}`]: 4, [`small-${id}`]: 2 });
  if (!broker) return void t.skip('no Kafka broker: see the line above on how to enable Kafka tests');
  try {
    const dir = tmpDir('scale-out-topic');
    for (const [changelog, want] of [
      [`missing-${id}`, new RegExp(`state\\.changelog: topic "missing-${id}" does not exist on .*; create it with 4 partitions, compacted`)],
      [`small-${id}`, new RegExp(`state\\.changelog: topic "small-${id}" has 2 partitions, and source topic "in-${id}" 4`)],
    ] as const) {
      const job = jobFromObject(jobObject(broker, { in: `in-${id}`, changelog }, { type: 'file', path: path.join(dir, 'out.jsonl') }, dir));
      await assert.rejects(startJob(job).done, (e: Error) => (assert.match(e.message, want), true));
    }
    // Nothing was created on the way (the mock creates topics a metadata request names).
    const admin = testKafka(broker.brokers).admin();
    await admin.connect();
    assert.ok(!(await admin.listTopics()).includes(`missing-${id}`));
    await admin.disconnect();
  } finally {
    await broker.stop();
  }
});
