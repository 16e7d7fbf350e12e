// The SPEC §9 Kafka peer: a bare kafkajs consumer on one thread, JSON.parse of every message value,
// in a fresh consumer group, reading each partition up to the end offset it saw at start. It uses
// the consumer settings sluice's source uses (session, heartbeat, fetch wait), so only what is done
// with the records differs, and commits nothing (sluice commits: a harder peer). Prints one JSON
// line: events, the time from its first record received to its last record parsed, and start-up.
//   node dist/bench/peers/kafka-consumer.js <broker,broker,...> <topic> <groupId>
import { Kafka, logLevel } from 'kafkajs';

async function main(): Promise<void> {
  const [brokers, topic, groupId] = process.argv.slice(2);
  const kafka = new Kafka({ clientId: 'sluice-bench-peer', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const endOffset: number[] = [];
  let unfinished = 0;
  for (const o of offsets) {
    endOffset[o.partition] = Number(o.high);
    if (Number(o.high) > Number(o.low)) unfinished++;
  }
  const expected = offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);

  const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1000, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const runAtMs = performance.now();
  let firstMs = NaN;
  let lastMs = NaN;
  let events = 0;
  // Summed so that no parse can be optimized away.
  let amountSum = 0;
  const finished = new Set<number>();
  const done = new Promise<void>((resolve) => {
    void consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const end = endOffset[batch.partition];
        if (batch.messages.length > 0 && firstMs !== firstMs) firstMs = performance.now();
        for (const m of batch.messages) {
          if (Number(m.offset) >= end) break;
          const e = JSON.parse(m.value!.toString('utf8')) as { amount: number };
          amountSum += e.amount;
          events++;
        }
        const last = batch.messages[batch.messages.length - 1];
        if (last && Number(last.offset) + 1 >= end && !finished.has(batch.partition)) {
          finished.add(batch.partition);
          if (finished.size === unfinished) {
            lastMs = performance.now();
            resolve();
          }
        }
      },
    });
  });
  if (unfinished > 0) await done;
  const readingMs = lastMs - firstMs;
  process.stdout.write(
    JSON.stringify({ events, expected, readingMs, eventsPerSecond: (events / readingMs) * 1000, joinMs: firstMs - runAtMs, processMs: lastMs, amountSum }) + '\n',
  );
  await consumer.disconnect();
}

main().catch((e: unknown) => {
  process.stderr.write(`kafka-consumer peer: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
