// Latency as a user measures it (SPEC §9): from outside the sluice process. Two child processes of
// the kafka suite, each on its own event loop:
//
//   produce <brokers> <topic> <partitions> <keys> <ratePerS> <durationMs> <jitterMs> <out.bin>
//     generator events (event time = wall clock, jittered back), card % partitions, sent every
//     TICK_MS with acks from all replicas; writes per event [ts, partition, ack time, card]
//     (Float64, epoch ms with sub-ms precision) to out.bin.
//   consume <brokers> <topic> <out.json> [per-event]
//     reads results (5 ms fetch wait) from the start until SIGTERM; prints "joined" once it has its
//     partitions; writes [windowEnd, receipt time] per result to out.json (the live jobs have no
//     lateness: every result is a revision 0); per-event: [card, ts, receipt time] per result.
//
// The suite replays the job's watermark over the events in ack order to find, per window end, the
// ack of the event that moved the watermark past it: a result's latency runs from there to its
// receipt (outsideLatency below).
// First: it swaps kafkajs modules (a cheaper produce path for the load) before kafkajs loads.
import { installProduceEncoder } from '../src/io/kafka/produce-request';
import * as fs from 'node:fs';
import { Kafka, logLevel, type Message } from 'kafkajs';
import { KafkaClient } from '../src/io/kafka/client';
import { RECORDS } from '../src/io/kafka/record-batch';
import { generateEvents } from '../src/io/sources/generator';
import { generatorConfig } from './kafka-load';

/** The producer sends what is due every TICK_MS (one send at a time, so a partition's order
 *  holds), as a producer lingers. The mock broker answers a fetch with one record batch per
 *  partition: batches of a 5 ms linger (~40 records at 30k events/s over 4 partitions) could not
 *  be read as fast as they came; at 20 ms they can (docs/kafka.md). */
const TICK_MS = 20;
/** A live consumer's fetch wait: the mock broker holds an empty fetch this long (a real broker
 *  answers as soon as data arrives), so it bounds how late a result can be seen. */
export const OUTSIDE_FETCH_WAIT_MS = 5;

const nowMs = () => performance.timeOrigin + performance.now();
/** Where a generated event's card number starts ({"card":"card-), and its time after the card ("","ts":). */
const CARD_AT = 14;
const TS_AFTER_CARD = 7;
/** Float64s per event in the producer's out.bin. */
const EVENT_WORDS = 4;
/** {"key":"card-: where a per-event result's card number starts. */
const PER_EVENT_CARD_AT = 13;

async function produce(brokers: string[], topic: string, partitions: number, keys: number, ratePerS: number, durationMs: number, jitterMs: number, out: string): Promise<void> {
  installProduceEncoder();
  const events = Math.round((ratePerS * durationMs) / 1000);
  const stepMs = 1000 / ratePerS;
  const kafka = new Kafka({ clientId: 'sluice-bench-outside', brokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  await producer.send({ topic, messages: [] }); // metadata now, not with the first events
  // Generated before the clock, for a start a little ahead (~10 µs an event here, with room to
  // spare): during the run only sends are made.
  const startMs = Date.now() + 1000 + events / 50;
  const messages: Message[] = [];
  const record = new Float64Array(EVENT_WORDS * events); // ts, partition, ack, card
  for (const b of generateEvents(generatorConfig(events, keys, 1, stepMs, jitterMs, startMs), 65_536)) {
    const data = Buffer.from(b.data!.buffer, b.data!.byteOffset, b.data!.byteLength);
    for (let i = 0; i < b.count; i++) {
      // {"card":"card-<k>","ts":<ms>,...: the generator's own layout
      const start = b.starts![i];
      const cardEnd = data.indexOf(34, start + CARD_AT);
      const card = Number(data.toString('latin1', start + CARD_AT, cardEnd));
      const tsEnd = data.indexOf(44, cardEnd + TS_AFTER_CARD);
      const partition = card % partitions;
      record[EVENT_WORDS * messages.length] = Number(data.toString('latin1', cardEnd + TS_AFTER_CARD, tsEnd));
      record[EVENT_WORDS * messages.length + 1] = partition;
      record[EVENT_WORDS * messages.length + 3] = card;
      messages.push({ key: `card-${card}`, value: data.subarray(start, b.ends![i]), partition });
    }
  }
  if (Date.now() > startMs) throw new Error('generating the events took longer than planned');
  await new Promise((resolve) => setTimeout(resolve, startMs - Date.now()));
  process.stdout.write('producing\n');
  // Event i is due at startMs + (i + 1) * stepMs.
  // One send per tick, as a producer with linger.ms = TICK_MS sends: a send takes a few ms, so
  // sending again as soon as one is acked would make batches of ~8 ms (measured: 123 sends/s).
  let sent = 0;
  for (let tick = 1; sent < events; tick++) {
    const due = Math.min(events, Math.floor((Date.now() - startMs) / stepMs));
    if (due > sent) {
      await producer.send({ topic, acks: -1, messages: messages.slice(sent, due) });
      const ackMs = nowMs();
      for (let i = sent; i < due; i++) record[EVENT_WORDS * i + 2] = ackMs;
      sent = due;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, startMs + tick * TICK_MS - Date.now())));
  }
  await producer.disconnect();
  fs.writeFileSync(out, new Uint8Array(record.buffer));
}

/**
 * Reads the results topic from the start until SIGTERM, in a consumer group of its own, with
 * sluice's own Kafka client: it reads each fetched record batch as columns instead of a message
 * object per record, so that taking in 10,000 results adds little of its own to their latency
 * (kafkajs's message objects and JSON.parse took ~100 ms for that many). A result's timestamp is
 * its windowEnd - 1 (SPEC §5).
 */
async function consume(brokers: string[], topic: string, out: string, perEvent: boolean): Promise<void> {
  const client = new KafkaClient({ brokers, kafka: { maxWaitTimeInMs: OUTSIDE_FETCH_WAIT_MS }, clientId: 'sluice-bench-outside' });
  const seen = new Float64Log();
  let onJoin = () => {};
  const joined = new Promise<void>((resolve) => (onJoin = resolve));
  const group = await client.consume(topic, `outside-${topic}`, {
    onAssign: () => onJoin(),
    onBatch: async (batch) => {
      const receivedMs = nowMs();
      for (const m of batch.messages) {
        const cols = m[RECORDS];
        if (perEvent && cols) {
          // A per-event result starts {"key":"card-<k>","ts":<ts>: its event.
          for (let i = 0; i < cols.count; i++) {
            let card = 0;
            for (let at = cols.valueStarts[i] + PER_EVENT_CARD_AT; cols.bytes[at] !== 34; at++) card = 10 * card + cols.bytes[at] - 48;
            seen.push(card, cols.timestampsMs[i], receivedMs);
          }
        } else if (cols) for (let i = 0; i < cols.count; i++) seen.push(cols.timestampsMs[i] + 1, receivedMs);
        else seen.push(Number(m.timestamp) + 1, receivedMs);
      }
    },
  });
  await joined;
  process.stdout.write('joined\n');
  await new Promise<void>((resolve) => process.once('SIGTERM', resolve));
  await group.stop().catch(() => undefined);
  fs.writeFileSync(out, JSON.stringify(seen.toArray()));
}

/** Numbers appended in fixed chunks: a growing JS array of millions of numbers is copied whole
 *  when it grows, a pause of the consumer that would count as result latency. */
class Float64Log {
  private static readonly CHUNK = 1 << 20;
  private readonly chunks: Float64Array[] = [];
  private at = Float64Log.CHUNK;

  push(a: number, b: number, c?: number): void {
    this.one(a);
    this.one(b);
    if (c !== undefined) this.one(c);
  }

  private one(v: number): void {
    if (this.at === Float64Log.CHUNK) {
      this.chunks.push(new Float64Array(Float64Log.CHUNK));
      this.at = 0;
    }
    this.chunks[this.chunks.length - 1][this.at++] = v;
  }

  toArray(): number[] {
    const last = this.chunks.length - 1;
    return this.chunks.flatMap((c, i) => Array.from(i === last ? c.subarray(0, this.at) : c));
  }
}

export interface OutsideLatency {
  /** Results measured (after the warm-up), and those whose window end no replayed watermark passed. */
  results: number;
  unmatched: number;
  /** ms from the ack of the event that moved the watermark past the window's end to the receipt. */
  latencyMs: number[];
  /** Per result (as latencyMs), when that event was acked (Date.now() of the producer). */
  ackedAtMs: number[];
}

/**
 * The job's watermark over the events in ack order (each partition's largest event time less
 * maxOutOfOrdernessMs, the minimum over partitions, -infinity until every partition has data):
 * for each window end, the ack time of the event that first moved it there; then each result's
 * latency. Results of windows whose trigger came within warmUpMs of the first ack are left out.
 */
export function outsideLatency(events: Float64Array, seen: number[], partitions: number, maxOutOfOrdernessMs: number, warmUpMs: number): OutsideLatency {
  const n = events.length / EVENT_WORDS;
  const W = EVENT_WORDS;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => events[W * a + 2] - events[W * b + 2] || a - b);
  const maxTs = new Float64Array(partitions).fill(-Infinity);
  const ends = [...new Set(seen.filter((_, i) => i % 2 === 0))].sort((a, b) => a - b);
  const triggerMs = new Map<number, number>();
  let next = 0;
  let watermark = -Infinity;
  for (const i of order) {
    const p = events[W * i + 1];
    maxTs[p] = Math.max(maxTs[p], events[W * i]);
    let min = Infinity;
    for (let q = 0; q < partitions; q++) min = Math.min(min, maxTs[q]);
    watermark = Math.max(watermark, min - maxOutOfOrdernessMs);
    while (next < ends.length && ends[next] <= watermark) triggerMs.set(ends[next++], events[W * i + 2]);
  }
  const firstAckMs = events[W * order[0] + 2];
  const latencyMs: number[] = [];
  const ackedAtMs: number[] = [];
  let unmatched = 0;
  for (let i = 0; i < seen.length; i += 2) {
    const t = triggerMs.get(seen[i]);
    if (t === undefined) unmatched++;
    else if (t - firstAckMs >= warmUpMs) {
      latencyMs.push(seen[i + 1] - t);
      ackedAtMs.push(t);
    }
  }
  return { results: latencyMs.length, unmatched, latencyMs, ackedAtMs };
}

/**
 * Per-event results (SPEC §9: from the broker's ack of the event itself to the receipt of its
 * result): each result is matched to its event by (card, ts), the first unmatched one acked.
 * Events acked within warmUpMs of the first ack are left out.
 */
export function perEventLatency(events: Float64Array, seen: number[], warmUpMs: number): OutsideLatency {
  const W = EVENT_WORDS;
  const acks = new Map<string, number[]>();
  let firstAckMs = Infinity;
  for (let i = 0; i < events.length; i += W) {
    const k = `${events[i + 3]}@${events[i]}`;
    (acks.get(k) ?? acks.set(k, []).get(k)!).push(events[i + 2]);
    firstAckMs = Math.min(firstAckMs, events[i + 2]);
  }
  const latencyMs: number[] = [];
  const ackedAtMs: number[] = [];
  let unmatched = 0;
  for (let i = 0; i < seen.length; i += 3) {
    const t = acks.get(`${seen[i]}@${seen[i + 1]}`)?.shift();
    if (t === undefined) unmatched++;
    else if (t - firstAckMs >= warmUpMs) {
      latencyMs.push(seen[i + 2] - t);
      ackedAtMs.push(t);
    }
  }
  return { results: latencyMs.length, unmatched, latencyMs, ackedAtMs };
}

async function main(): Promise<void> {
  const [mode, ...args] = process.argv.slice(2);
  const brokers = args[0].split(',');
  if (mode === 'produce') await produce(brokers, args[1], Number(args[2]), Number(args[3]), Number(args[4]), Number(args[5]), Number(args[6]), args[7]);
  else if (mode === 'consume') await consume(brokers, args[1], args[2], args[3] === 'per-event');
  else throw new Error(`unknown mode ${mode}: produce or consume`);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`outside ${process.argv[2]}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
}
