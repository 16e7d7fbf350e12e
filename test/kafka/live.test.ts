// Unbounded Kafka jobs under way (SPEC §6, §9): per-partition watermarks with an idle partition,
// a broker outage, a rebalance, and a handler slower than the session timeout. Each compares what
// the job wrote with what it must have written.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Kafka, logLevel } from 'kafkajs';
import { KafkaSource } from '../../src/io/kafka/source';
import type { KafkaSourceConfig } from '../../src/config/types';
import { startBroker, type TestBroker } from './broker';
import { committedOffsets, produceLines, readTopic } from './kafka-io';
import { e2eJob, fileReference, keyedEvents, sorted, startJob, waitForRecords } from './jobs';

const T0 = 1_700_000_000_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Topics {
  in: string;
  results: string;
}

async function withBroker(t: { skip(m: string): void }, partitions: number, body: (broker: TestBroker, topics: Topics, id: string) => Promise<void>, brokers?: number) {
  const id = `${process.pid}-${Date.now()}`;
  const topics = { in: `in-${id}`, results: `results-${id}` };
  const broker = await startBroker({ [topics.in]: partitions, [topics.results]: 1 }, { brokers });
  if (!broker) return t.skip('no Kafka broker: see the line above on how to enable Kafka tests');
  try {
    await body(broker, topics, id);
  } finally {
    await broker.stop();
  }
}

const kafkaSource = (broker: TestBroker, topics: Topics, id: string, extra: object = {}) => ({
  type: 'kafka',
  brokers: broker.brokers,
  topic: topics.in,
  groupId: `g-${id}`,
  startFrom: 'earliest',
  ...extra,
});

/** One late-window flush event per partition: far ahead, so every data window fires before it. */
const flushLines = (partitions: number, tsMs: number) => Array.from({ length: partitions }, (_, p) => [JSON.stringify({ card: `flush-${p}`, ts: tsMs, amount: 0, items: 0 })]);
const byPartition = (parts: string[][]) => Object.fromEntries(parts.map((lines, p) => [p, lines]));
/** Reference results below the flush: the windows an unbounded run fires before the flush events' own. */
const beforeFlush = (lines: string[]) => lines.filter((l) => !JSON.parse(l).key.startsWith('flush-'));

test('the watermark follows the slowest active partition, and an idle partition stops holding it', { timeout: 90_000 }, async (t) => {
  await withBroker(t, 8, async (broker, topics, id) => {
    // Partitions 0-6 carry 10 keys each, one event per 50 ms; partition 0 only half as far
    // (10 s of event time, the others 20 s); partition 7 sends nothing and idles after 1.5 s.
    const data = keyedEvents(7, 10, 400, T0, 50);
    data[0] = data[0].slice(0, 200);
    const source = kafkaSource(broker, topics, id);
    const config = e2eJob(source, { sink: { type: 'kafka', topic: topics.results } }, {
      watermark: { maxOutOfOrdernessMs: 0, idleTimeoutMs: 1500 },
      window: { type: 'tumbling', sizeMs: 1000 },
    });
    // Keeps partitions 0-6 active without moving their watermarks: each 300 ms, one more event
    // at the partition's latest event time (into a window that has not fired).
    let keepAlive = [0, 1, 2, 3, 4, 5, 6];
    const last = data.map((lines) => lines[lines.length - 1]);
    let trickling = true;
    const trickle = (async () => {
      while (trickling) {
        await produceLines(broker.brokers, topics.in, Object.fromEntries(keepAlive.map((p) => [p, [last[p]]])));
        await sleep(300);
      }
    })();
    const job = startJob(config);
    try {
      await produceLines(broker.brokers, topics.in, byPartition(data));
      // Watermark = partition 0's latest time, T0 + 9950: windows ending at T0 + 9000 or before.
      let results = await waitForRecords(broker.brokers, topics.results, 630, 30_000, job);
      await sleep(2000);
      results = readTopic(broker.brokers, topics.results);
      assert.equal(results.length, 630, 'no window past the slowest active partition fires');
      assert.ok(results.every((r) => JSON.parse(r.value).windowEnd <= T0 + 9000));
      // Partition 0 falls silent and idles: the watermark moves to T0 + 19950.
      keepAlive = [1, 2, 3, 4, 5, 6];
      results = await waitForRecords(broker.brokers, topics.results, 630 + 600 + 10, 30_000, job);
      await sleep(1000);
      results = readTopic(broker.brokers, topics.results);
      assert.equal(results.length, 1240);
      assert.ok(results.every((r) => JSON.parse(r.value).windowEnd <= T0 + 19000));
    } finally {
      trickling = false;
      await trickle;
      await job.stop();
    }
  });
});

test('a broker outage mid-run: the job retries, resumes, and loses nothing', { timeout: 120_000 }, async (t) => {
  await withBroker(t, 1, async (broker, topics, id) => {
    const [all] = keyedEvents(1, 20, 4000, T0, 10);
    const phase1 = all.slice(0, 2000);
    const phase2 = [...all.slice(2000), ...flushLines(1, T0 + 3_600_000)[0]];
    const source = kafkaSource(broker, topics, id);
    const reference = beforeFlush(await fileReference([[...phase1, ...phase2]], { key: 'card', timestamp: 'ts' }));
    const job = startJob(e2eJob(source, { sink: { type: 'kafka', topic: topics.results } }, { kafka: undefined }));
    try {
      await produceLines(broker.brokers, topics.in, { 0: phase1 });
      await waitForRecords(broker.brokers, topics.results, 20, 30_000, job); // the first window fired
      for (const b of [1, 2, 3]) assert.equal(await broker.command(`down ${b}`), 'ok');
      // Produced during the outage: the test's producer retries until the brokers are back.
      const produced = produceLines(broker.brokers, topics.in, { 0: phase2 });
      await sleep(4000);
      for (const b of [1, 2, 3]) assert.equal(await broker.command(`up ${b}`), 'ok');
      await produced;
      await waitForRecords(broker.brokers, topics.results, reference.length, 60_000, job);
      await sleep(1000);
      // Every result, none lost. A send that was under way when the brokers went may be written
      // twice when kafkajs retries it (at-least-once, SPEC §10): then as the same bytes.
      const written = readTopic(broker.brokers, topics.results).map((r) => r.value);
      assert.deepEqual(sorted([...new Set(written)]), sorted(reference));
      assert.ok(written.length <= 2 * reference.length, `${written.length - reference.length} repeated results`);
      // Stopped with the flush event's window open: that window is in the last checkpoint, so the
      // commit covers everything read (SPEC §10).
      await job.stop();
      const [committed] = await committedOffsets(broker.brokers, `g-${id}`, topics.in);
      assert.equal(committed, phase1.length + phase2.length);
    } finally {
      await job.stop();
    }
  });
});

test('a second consumer joins the group and leaves: nothing is lost or counted twice', { timeout: 120_000 }, async (t) => {
  await withBroker(t, 4, async (broker, topics, id) => {
    const data = keyedEvents(4, 5, 3000, T0, 10);
    const phase1 = data.map((lines) => lines.slice(0, 1500));
    const phase2 = data.map((lines, p) => [...lines.slice(1500), ...flushLines(4, T0 + 3_600_000)[p]]);
    // idleTimeoutMs 0: partitions away during the rebalance hold the watermark, so nothing is late.
    const extra = { watermark: { maxOutOfOrdernessMs: 2000, idleTimeoutMs: 0 } };
    const reference = beforeFlush(await fileReference(data.map((lines, p) => [...lines, ...phase2[p].slice(-1)]), { key: 'card', timestamp: 'ts' }, extra));
    const config = e2eJob(kafkaSource(broker, topics, id), { sink: { type: 'kafka', topic: topics.results } }, extra);
    const source = await KafkaSource.open(config.source as KafkaSourceConfig, config.name);
    const job = startJob(config, { source });
    const other = new Kafka({ clientId: 'intruder', brokers: broker.brokers, logLevel: logLevel.NOTHING }).consumer({ groupId: `g-${id}`, sessionTimeout: 10_000, heartbeatInterval: 500 });
    try {
      await produceLines(broker.brokers, topics.in, byPartition(phase1));
      await waitForRecords(broker.brokers, topics.results, 20, 30_000, job); // window [T0, T0 + 10 s) of all 20 keys
      // The intruder takes some partitions and reads them, without committing.
      let joined!: () => void;
      const hasJoined = new Promise<void>((r) => (joined = r));
      other.on(other.events.GROUP_JOIN, () => joined());
      await other.connect();
      await other.subscribe({ topic: topics.in, fromBeginning: true });
      await other.run({ autoCommit: false, eachBatch: async () => {} });
      await hasJoined;
      await produceLines(broker.brokers, topics.in, byPartition(phase2));
      await sleep(2000);
      await other.disconnect();
      const results = await waitForRecords(broker.brokers, topics.results, reference.length, 60_000, job);
      await sleep(1000);
      assert.ok(source.groupJoins >= 3, `the job's member rejoined as the group changed (joins: ${source.groupJoins})`);
      assert.deepEqual(sorted(readTopic(broker.brokers, topics.results).map((r) => r.value)), sorted(reference));
      assert.equal(results.length, reference.length);
      // Stopped with the flush events' windows open: they are in the last checkpoint, so each
      // partition's commit covers everything read, its flush event (offset 3000) included.
      await job.stop();
      assert.deepEqual(await committedOffsets(broker.brokers, `g-${id}`, topics.in), [3001, 3001, 3001, 3001]);
    } finally {
      await other.disconnect().catch(() => undefined);
      await job.stop();
    }
  });
});

test('a batch slower than the session timeout does not get the consumer evicted', { timeout: 120_000 }, async (t) => {
  await withBroker(t, 1, async (broker, topics, id) => {
    const [data] = keyedEvents(1, 20, 3000, T0, 10);
    await produceLines(broker.brokers, topics.in, { 0: data });
    const reference = await fileReference([data], { key: 'card', timestamp: 'ts' });
    const config = e2eJob(kafkaSource(broker, topics, id, { bounded: true, kafka: { sessionTimeout: 6000, heartbeatInterval: 500, maxBytesPerPartition: 16384 } }), { sink: { type: 'kafka', topic: topics.results } });
    const source = await KafkaSource.open(config.source as KafkaSourceConfig, config.name);
    // Small batches and fetches, so the source's queue fills while the slow batch is under way and the
    // consumer's fetch loop waits in eachBatch for 9 s: longer than the 6 s session.
    const summary = await startJob(config, { source, batchSize: 200, slowBatch: { afterEvents: 400, ms: 9000 } }).done;
    assert.equal(summary.events, data.length);
    assert.equal(source.groupJoins, 1, 'the member was not evicted and did not rejoin');
    assert.deepEqual(readTopic(broker.brokers, topics.results).map((r) => r.value), reference);
    // One broker: kafkajs heartbeats from each broker's fetch loop, and with more brokers the idle
    // ones' loops would keep the member alive whatever eachBatch does.
  }, 1);
});
