// Kafka -> Kafka through a real Kafka-protocol broker (SPEC §2): the same input gives the same
// windows, late records and dead letters as through the file source; result messages carry the
// window key and the timestamp windowEnd - 1 (SPEC §5); offsets are committed to the end, so a
// second run from the committed offsets reads nothing.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runJob } from '../../src/app/run-job';
import { startMetricsServer } from '../../src/io/http/metrics-server';
import { checkRunMetrics, dashboardMetrics, parseMetrics, total } from '../helpers/metrics';
import { startBroker } from './broker';
import { E2E, e2eJob, tmpDir } from './jobs';
import { committedOffsets, endOffsets, produceLines, readTopic, testKafka } from './kafka-io';

const MAX_MESSAGE_BYTES = 4096;

/** The e2e input as one partition, in the order the file source reads two files (round-robin),
 *  plus a message over the size limit. */
function input(): string[] {
  const [p0, p1] = ['p0.jsonl', 'p1.jsonl'].map((f) => fs.readFileSync(path.join(E2E, f), 'utf8').split('\n').filter((l) => l !== ''));
  const out: string[] = [];
  for (let i = 0; i < Math.max(p0.length, p1.length); i++) {
    if (i < p0.length) out.push(p0[i]);
    if (i < p1.length) out.push(p1[i]);
  }
  out.splice(100, 0, JSON.stringify({ card: 'c-big', ts: 1_700_000_000_000, amount: 1, items: 1, pad: 'x'.repeat(MAX_MESSAGE_BYTES) }));
  return out;
}

const job = (source: object, outputs: { sink: object; late: object; deadLetter: object }) => e2eJob({ ...source, maxMessageBytes: MAX_MESSAGE_BYTES }, outputs);

/** Side-output records with the source topic (a file path or a topic name) taken out. */
const withoutTopic = (lines: string[]) =>
  lines.map((l) => {
    const o = JSON.parse(l);
    delete o.source.topic;
    return JSON.stringify(o);
  });

test('a bounded Kafka -> Kafka job gives what the file source gives, and commits its offsets', { timeout: 120_000 }, async (t) => {
  const id = `${process.pid}-${Date.now()}`;
  const topics = { in: `in-${id}`, results: `results-${id}`, late: `late-${id}`, dlq: `dlq-${id}` };
  const broker = await startBroker({ [topics.in]: 1, [topics.results]: 1, [topics.late]: 1, [topics.dlq]: 1 });
  if (!broker) return t.skip('no Kafka broker: see the line above on how to enable Kafka tests');
  try {
    const lines = input();
    await produceLines(broker.brokers, topics.in, { 0: lines });

    const dir = tmpDir('e2e');
    fs.writeFileSync(path.join(dir, 'in.jsonl'), lines.join('\n') + '\n');
    const out = (f: string) => ({ type: 'file', path: path.join(dir, f) });
    const fileSummary = await runJob(job({ type: 'file', path: path.join(dir, 'in.jsonl') }, { sink: out('results.jsonl'), late: out('late.jsonl'), deadLetter: out('dead.jsonl') })).done;
    const fileText = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n').filter((l) => l !== '');

    const kafkaSource = { type: 'kafka', brokers: broker.brokers, topic: topics.in, groupId: `g-${id}`, startFrom: 'committed', bounded: true };
    const kafkaOutputs = { sink: { type: 'kafka', topic: topics.results }, late: { type: 'kafka', topic: topics.late }, deadLetter: { type: 'kafka', topic: topics.dlq } };
    const server = await startMetricsServer('127.0.0.1', 0, 'kafka-metrics');
    const startedAt = performance.now();
    const running = runJob(job(kafkaSource, kafkaOutputs), { metricsServer: server });
    // /readyz turns 200 only once the consumer group has assigned the job its partitions: the
    // mock's first join takes 3 s, long after the model is loaded (well under a second).
    let readyAfterMs = NaN;
    let finished = false;
    void running.done.finally(() => (finished = true)).catch(() => undefined);
    while (!finished && Number.isNaN(readyAfterMs)) {
      if ((await fetch(`http://127.0.0.1:${server.port}/readyz`)).status === 200) readyAfterMs = performance.now() - startedAt;
      else await new Promise((r) => setTimeout(r, 20));
    }
    const summary = await running.done;
    assert.ok(summary.startup.groupJoinMs! >= 2500, `the group join took ${summary.startup.groupJoinMs} ms`);
    assert.ok(readyAfterMs >= summary.startup.groupJoinMs!, `ready ${readyAfterMs} ms after the start, the join took ${summary.startup.groupJoinMs} ms`);
    const metricsText = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    assert.equal((await fetch(`http://127.0.0.1:${server.port}/readyz`)).status, 503, 'not ready after the end');
    await server.close();

    assert.equal(summary.events, lines.length);
    assert.ok(fileSummary.windowsFired > 200 && fileSummary.lateEvents > 100 && fileSummary.deadLetters > 60, 'the input exercises results, late events and dead letters');
    const results = readTopic(broker.brokers, topics.results);
    if (process.env.SLUICE_DEBUG_DIR) fs.writeFileSync(path.join(dir, 'kafka-results.jsonl'), results.map((r) => r.value).join('\n') + '\n');
    assert.deepEqual(results.map((r) => r.value), fileText('results.jsonl'), `see ${dir}`);
    for (const r of results) {
      const v = JSON.parse(r.value);
      assert.equal(r.key, v.key, 'results are keyed by the window key');
      assert.equal(r.timestampMs, v.windowEnd - 1, 'result timestamps are windowEnd - 1');
    }
    // Metrics (SPEC §11) against the run and its outputs, and the Kafka-only ones.
    checkRunMetrics(metricsText, summary, { results: results.map((r) => r.value), deadLetters: readTopic(broker.brokers, topics.dlq).map((r) => r.value) });
    const m = parseMetrics(metricsText);
    assert.ok(total(m, 'sluice_checkpoints_total') >= 1 && total(m, 'sluice_checkpoint_duration_seconds_count') === total(m, 'sluice_checkpoints_total'));
    assert.ok(total(m, 'sluice_checkpoint_bytes') > 0);
    assert.deepEqual(m.get('sluice_consumer_lag_records'), [{ labels: { partition: '0' }, value: 0 }], 'read to the end: no lag');
    for (const output of ['results', 'late', 'deadLetters']) assert.ok(total(m, 'sluice_sink_ack_seconds_count', { output }) > 0, `acks of ${output}`);
    assert.equal(total(m, 'sluice_errors_total'), 0);
    // The Grafana dashboard (docs/grafana/sluice.json) queries only metrics that exist.
    for (const name of dashboardMetrics()) assert.match(metricsText, new RegExp(`^# TYPE ${name} `, 'm'), `the dashboard queries ${name}`);
    const late = readTopic(broker.brokers, topics.late);
    assert.deepEqual(withoutTopic(late.map((r) => r.value)), withoutTopic(fileText('late.jsonl')));
    const dead = readTopic(broker.brokers, topics.dlq).map((r) => JSON.parse(r.value));
    assert.deepEqual(withoutTopic(dead.map((d) => JSON.stringify(d))), withoutTopic(fileText('dead.jsonl')));
    // Every reason, each with where it came from.
    assert.deepEqual([...new Set(dead.map((d) => d.reason))].sort(), ['bad-field', 'bad-timestamp', 'decode', 'missing-key', 'too-large']);
    for (const d of dead) {
      assert.equal(d.source.topic, topics.in);
      assert.equal(d.source.partition, 0);
      assert.equal(d.value, lines[Number(d.source.offset)].slice(0, 64 * 1024));
    }

    assert.deepEqual(await committedOffsets(broker.brokers, `g-${id}`, topics.in), await endOffsets(broker.brokers, topics.in));
    const again = await runJob(job(kafkaSource, kafkaOutputs)).done;
    assert.equal(again.events, 0, 'a second run from the committed offsets reads nothing');
    assert.equal(readTopic(broker.brokers, topics.results).length, results.length);
  } finally {
    await broker.stop();
  }
});

test('timestamp: $kafka takes each record\'s own timestamp as its event time', { timeout: 60_000 }, async (t) => {
  const id = `${process.pid}-${Date.now()}`;
  const topics = { in: `in-${id}`, results: `results-${id}` };
  const broker = await startBroker({ [topics.in]: 1, [topics.results]: 1 });
  if (!broker) return t.skip('no Kafka broker: see the line above on how to enable Kafka tests');
  try {
    // Values carry a misleading ts; only the record timestamps put events in 10 s windows.
    const T0 = 1_700_000_000_000;
    const producer = testKafka(broker.brokers).producer();
    await producer.connect();
    const messages = Array.from({ length: 30 }, (_, i) => ({ value: JSON.stringify({ card: 'c', ts: 0, amount: i, items: 1 }), timestamp: String(T0 + i * 1000) }));
    await producer.send({ topic: topics.in, acks: -1, messages });
    await producer.disconnect();
    const source = { type: 'kafka', brokers: broker.brokers, topic: topics.in, groupId: `g-${id}`, startFrom: 'earliest', bounded: true, timestamp: '$kafka' };
    await runJob(e2eJob(source, { sink: { type: 'kafka', topic: topics.results } })).done;
    const windows = readTopic(broker.brokers, topics.results).map((r) => JSON.parse(r.value));
    assert.deepEqual(windows.map((w) => [w.windowStart - T0, w.events]), [[0, 10], [10000, 10], [20000, 10]]);
  } finally {
    await broker.stop();
  }
});
