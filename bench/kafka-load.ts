// Input for the kafka suite: the generator's events (the pipeline's bytes) put into topics, either
// all at once before the clock starts (kafkajs) or at a fixed rate while sluice reads (kcat).
import { spawn, spawnSync } from 'node:child_process';
import type { Message } from 'kafkajs';
import type { GeneratorSourceConfig } from '../src/config/types';
import { generateEvents, type LabelledBatch } from '../src/io/sources/generator';
import { testKafka } from '../test/kafka/kafka-io';

/** The mock broker drops a partition's oldest record batches beyond this (rdkafka_mock.c). */
const MOCK_PARTITION_BYTES = 5 << 20;
/** Events per send when filling a topic: ~1,000 per partition, so few, large record batches. */
const FILL_BATCH = 32_768;
/** The live producer hands kcat what is due every TICK_MS. */
export const TICK_MS = 5;

export function generatorConfig(events: number, keys: number, partitions: number, eventTimeStepMs: number, outOfOrderMs: number, startTimeMs: number): GeneratorSourceConfig {
  return { type: 'generator', key: 'card', timestamp: 'ts', format: 'json', maxMessageBytes: 1 << 20, events, keys, seed: 42, eventTimeStepMs, outOfOrderMs, partitions, startTimeMs, fraudShare: 0.01 };
}

/** The card of an event: {"card":"card-<k>",... starts every value, 9 bytes before the card. */
function keyEnd(buf: Buffer, start: number): number {
  return buf.indexOf(34, start + 9);
}

export interface Filled {
  /** Average bytes of a message value. */
  valueBytes: number;
  maxPartitionBytes: number;
  ms: number;
}

/** The pipeline's events (eventTimeStepMs 0.05, 2 s out of order), keyed by card, card % partitions,
 *  then a check that the broker kept them all: the mock silently drops a full partition's start. */
export async function fillTopic(brokers: string[], topic: string, events: number, keys: number, partitions: number): Promise<Filled> {
  const t0 = performance.now();
  const partitionBytes = new Float64Array(partitions);
  const kafka = testKafka(brokers);
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    for (const b of generateEvents(generatorConfig(events, keys, partitions, 0.05, 2000, 1_700_000_000_000), FILL_BATCH)) {
      await producer.send({ topic, acks: -1, messages: toMessages(b, partitionBytes) });
    }
  } finally {
    await producer.disconnect();
  }
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  const kept = offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
  const cut = offsets.filter((o) => Number(o.low) > 0).map((o) => o.partition);
  if (kept !== events || cut.length > 0) {
    throw new Error(`the broker kept ${kept} of ${events} events (partitions ${cut.join(', ')} lost their start); the mock keeps about ${MOCK_PARTITION_BYTES >> 20} MiB a partition`);
  }
  const valueBytes = partitionBytes.reduce((a, b) => a + b, 0) / events;
  return { valueBytes, maxPartitionBytes: Math.max(...partitionBytes), ms: performance.now() - t0 };
}

function toMessages(b: LabelledBatch, partitionBytes: Float64Array): Message[] {
  const buf = Buffer.from(b.data!.buffer, b.data!.byteOffset, b.data!.byteLength);
  const out: Message[] = new Array(b.count);
  for (let i = 0; i < b.count; i++) {
    const start = b.starts![i];
    out[i] = { key: buf.toString('latin1', start + 9, keyEnd(buf, start)), value: buf.subarray(start, b.ends![i]), partition: b.partition[i] };
    partitionBytes[b.partition[i]] += b.ends![i] - start;
  }
  return out;
}

/** Why kcat cannot produce (Debian: apt-get install kcat), or null when it can. */
export function kcatMissing(): string | null {
  const r = spawnSync('kcat', ['-V'], { encoding: 'utf8' });
  return r.error ? `kcat is not installed (${r.error.message})` : null;
}

/**
 * Produces `keys` cards' events at `ratePerS` for `durationMs`, event time following the wall
 * clock (jittered back by up to jitterMs). kcat (librdkafka) does the producing, so that the load
 * generator takes little of the CPU the measured job needs; it partitions by the card as key.
 */
export async function produceLive(brokers: string[], topic: string, keys: number, ratePerS: number, durationMs: number, jitterMs: number): Promise<{ events: number; elapsedMs: number }> {
  const kcat = spawn('kcat', ['-P', '-b', brokers.join(','), '-t', topic, '-K', '\t', '-X', 'linger.ms=5', '-X', 'batch.num.messages=10000', '-X', 'acks=all'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  kcat.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  const exited = new Promise<number | null>((resolve, reject) => {
    kcat.on('exit', resolve);
    kcat.on('error', reject);
  });
  kcat.stdin.on('error', () => {}); // EPIPE if kcat died: reported through its exit code
  const stepMs = 1000 / ratePerS;
  const startMs = Date.now();
  const config = generatorConfig(Math.round((ratePerS * durationMs) / 1000), keys, 1, stepMs, jitterMs, startMs);
  const batches = generateEvents(config, Math.max(1, Math.round((ratePerS * TICK_MS) / 1000)));
  const tab = Buffer.from('\t');
  const newline = Buffer.from('\n');
  let sent = 0;
  let next = batches.next();
  while (!next.done) {
    const parts: Buffer[] = [];
    // A batch is due once the time of its last event has come.
    while (!next.done && startMs + (sent + next.value.count) * stepMs <= Date.now()) {
      const b = next.value;
      const buf = Buffer.from(b.data!.buffer, b.data!.byteOffset, b.data!.byteLength);
      for (let i = 0; i < b.count; i++) {
        const start = b.starts![i];
        parts.push(buf.subarray(start + 9, keyEnd(buf, start)), tab, buf.subarray(start, b.ends![i]), newline);
      }
      sent += b.count;
      next = batches.next();
    }
    if (parts.length > 0) kcat.stdin.write(Buffer.concat(parts));
    if (!next.done) await new Promise((resolve) => setTimeout(resolve, Math.max(1, startMs + (sent + next.value.count) * stepMs - Date.now())));
  }
  kcat.stdin.end();
  const code = await exited;
  if (code !== 0) throw new Error(`kcat -P exited with ${code}: ${stderr.trim()}`);
  return { events: sent, elapsedMs: Date.now() - startMs };
}
