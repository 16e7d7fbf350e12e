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

/** The pipeline's events (eventTimeStepMs 0.05 unless given, 2 s out of order), keyed by card,
 *  card % partitions, then a check that the broker kept them all: the mock silently drops a full
 *  partition's start. */
export async function fillTopic(brokers: string[], topic: string, events: number, keys: number, partitions: number, eventTimeStepMs = 0.05): Promise<Filled> {
  const t0 = performance.now();
  const partitionBytes = new Float64Array(partitions);
  const kafka = testKafka(brokers);
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    for (const b of generateEvents(generatorConfig(events, keys, partitions, eventTimeStepMs, 2000, 1_700_000_000_000), FILL_BATCH)) {
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
 * clock (jittered back by up to jitterMs). kcat (librdkafka) does the producing, keyed by the card.
 * The events are written out before the clock starts (for a start time a little ahead, worked out
 * from how fast a sample generates), so that the load generator takes little of the CPU the
 * measured job needs: it then only hands kcat what is due every TICK_MS.
 */
export async function produceLive(brokers: string[], topic: string, keys: number, ratePerS: number, durationMs: number, jitterMs: number): Promise<{ events: number; elapsedMs: number }> {
  const events = Math.round((ratePerS * durationMs) / 1000);
  const stepMs = 1000 / ratePerS;
  const sampleMs = timed(() => kcatLines(generatorConfig(Math.min(events, 100_000), keys, 1, stepMs, jitterMs, Date.now())));
  const startMs = Date.now() + 500 + 2 * sampleMs * (events / Math.min(events, 100_000));
  const { data, ends } = kcatLines(generatorConfig(events, keys, 1, stepMs, jitterMs, startMs));
  if (Date.now() > startMs) throw new Error('generating the live events took longer than planned');
  const kcat = spawn('kcat', ['-P', '-b', brokers.join(','), '-t', topic, '-K', '\t', '-X', 'linger.ms=5', '-X', 'batch.num.messages=10000', '-X', 'acks=all'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  kcat.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  const exited = new Promise<number | null>((resolve, reject) => {
    kcat.on('exit', resolve);
    kcat.on('error', reject);
  });
  kcat.stdin.on('error', () => {}); // EPIPE if kcat died: reported through its exit code
  await new Promise((resolve) => setTimeout(resolve, startMs - Date.now()));
  // Event i is due at startMs + (i + 1) * stepMs.
  let sent = 0;
  while (sent < events) {
    const due = Math.min(events, Math.floor((Date.now() - startMs) / stepMs));
    if (due > sent) {
      kcat.stdin.write(data.subarray(sent === 0 ? 0 : ends[sent - 1], ends[due - 1]));
      sent = due;
    }
    if (sent < events) await new Promise((resolve) => setTimeout(resolve, TICK_MS));
  }
  kcat.stdin.end();
  const code = await exited;
  if (code !== 0) throw new Error(`kcat -P exited with ${code}: ${stderr.trim()}`);
  return { events: sent, elapsedMs: Date.now() - startMs };
}

function timed(f: () => void): number {
  const t0 = Date.now();
  f();
  return Date.now() - t0;
}

/** The events as kcat's input: `<card>\t<json>\n` each, back to back; ends[i] is where line i ends. */
function kcatLines(config: GeneratorSourceConfig): { data: Buffer; ends: Float64Array } {
  const chunks: Buffer[] = [];
  const ends = new Float64Array(config.events);
  let bytes = 0;
  let n = 0;
  for (const b of generateEvents(config, 65_536)) {
    const buf = Buffer.from(b.data!.buffer, b.data!.byteOffset, b.data!.byteLength);
    const out = Buffer.allocUnsafe(2 * (b.ends![b.count - 1] - b.starts![0]) + 2 * b.count);
    let at = 0;
    for (let i = 0; i < b.count; i++) {
      const start = b.starts![i];
      at += buf.copy(out, at, start + 9, keyEnd(buf, start));
      out[at++] = 9; // tab
      at += buf.copy(out, at, start, b.ends![i]);
      out[at++] = 10; // newline
      ends[n++] = bytes + at;
    }
    chunks.push(out.subarray(0, at));
    bytes += at;
  }
  return { data: Buffer.concat(chunks, bytes), ends };
}
