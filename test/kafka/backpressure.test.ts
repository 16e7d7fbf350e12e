// Back-pressure (SPEC §9): with the results sink stalled for 30 s (the broker answers the first
// Produce request 30 s late), the job stops reading instead of buffering: resident memory grows
// by less than 256 MB, although the input's results would take far more. Then it finishes.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { KafkaSource } from '../../src/io/kafka/source';
import type { KafkaSourceConfig } from '../../src/config/types';
import { startBroker } from './broker';
import { produceLines } from './kafka-io';
import { e2eJob, keyedEvents, startJob } from './jobs';

const PARTITIONS = 16;
const EVENTS_PER_PARTITION = 50_000; // about 4 MB a partition: under the mock's 5 MB
const STALL_MS = 30_000;
const MAX_GROWTH_BYTES = 256 * 2 ** 20;
const PRODUCE_API = 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a sink stalled for 30 s holds memory within 256 MB', { timeout: 180_000 }, async (t) => {
  const id = `${process.pid}-${Date.now()}`;
  const topics = { in: `in-${id}`, results: `results-${id}` };
  // One broker, so that it leads the results topic and its delayed answer is the sink's.
  const broker = await startBroker({ [topics.in]: PARTITIONS, [topics.results]: 1 }, { brokers: 1 });
  if (!broker) return t.skip('no Kafka broker: see the line above on how to enable Kafka tests');
  try {
    // 100 keys a partition and 1 s windows over 500 s of event time: 800,000 results, about
    // 250 MB of JSON, which an engine without back-pressure would hold while the sink is stalled.
    const data = keyedEvents(PARTITIONS, 100, EVENTS_PER_PARTITION, 1_700_000_000_000, 10);
    await produceLines(broker.brokers, topics.in, Object.fromEntries(data.map((l, p) => [p, l])), 5000);
    const source = { type: 'kafka', brokers: broker.brokers, topic: topics.in, groupId: `g-${id}`, startFrom: 'earliest', bounded: true, kafka: { requestTimeout: STALL_MS + 10_000 } };
    const config = e2eJob(source, { sink: { type: 'kafka', topic: topics.results, kafka: { requestTimeout: STALL_MS + 10_000 } } }, {
      watermark: { maxOutOfOrdernessMs: 0, idleTimeoutMs: 0 },
      window: { type: 'tumbling', sizeMs: 1000 },
    });
    const kafkaSource = await KafkaSource.open(config.source as KafkaSourceConfig, config.name);
    assert.equal(await broker.command(`delay 1 ${PRODUCE_API} ${STALL_MS} 1`), 'ok');
    const job = startJob(config, { source: kafkaSource });
    // From the group join (reading starts) for the length of the stall: the first send goes out
    // within a second or so of reading, and nothing more is sent until it is acknowledged. (The
    // mock appends the records at once and delays only its answer, so the topic cannot tell.)
    while (kafkaSource.groupJoins === 0) await sleep(20);
    const joinedAt = Date.now();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
    await sleep(STALL_MS);
    clearInterval(sampler);
    let afterPeak = process.memoryUsage().rss;
    const after = setInterval(() => (afterPeak = Math.max(afterPeak, process.memoryUsage().rss)), 100);
    const summary = await job.done;
    clearInterval(after);
    assert.ok(Date.now() - joinedAt >= STALL_MS + 1000, 'the run outlasted the stall');
    assert.ok(summary.latencyMs.max >= STALL_MS - 2000, `the first results waited for the stalled ack (max latency ${summary.latencyMs.max} ms)`);
    assert.equal(summary.events, PARTITIONS * EVENTS_PER_PARTITION);
    assert.equal(summary.windowsFired, PARTITIONS * 100 * 500);
    const growth = peak - baseline;
    const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MB`;
    assert.ok(growth < MAX_GROWTH_BYTES, `RSS grew by ${mb(growth)} (from ${mb(baseline)}) while the sink was stalled`);
    t.diagnostic(`RSS ${mb(baseline)} at the start of reading, peak ${mb(peak)} during the ${STALL_MS} ms stall, peak ${mb(afterPeak)} while catching up`);
  } finally {
    await broker.stop();
  }
});
