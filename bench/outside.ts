// Latency as a user measures it (SPEC §9): from outside the sluice process, through a producer
// and a consumer of librdkafka's (bench/peers/outside-kafka.c), as a user's own services would
// be. They share the machine's two cores with sluice and the broker, so they must cost little:
// kafkajs clients took about a third of a core each at 30k events/s (docs/kafka.md).
//
// The events are generated here, before the clock (event time = wall clock, jittered back); the
// producer sends what is due every TICK_MS with acks from all replicas and records each event's
// ack; the consumer records each result's receipt. The suite replays the job's watermark over the
// events in ack order to find, per window end, the ack of the event that moved the watermark
// past it: a result's latency runs from there to its receipt (outsideLatency below).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compileC } from './common';
import type { BenchContext } from './harness';
import { generatorConfig } from './kafka-load';
import { generateEvents } from '../src/io/sources/generator';

/** The producer sends what is due every TICK_MS, as a producer with linger.ms = TICK_MS would.
 *  The mock broker answers a fetch with one record batch per partition: batches of a 5 ms linger
 *  (~40 records at 30k events/s over 4 partitions) could not be read as fast as they came; at
 *  20 ms they can (docs/kafka.md). */
export const TICK_MS = 20;
/** A live consumer's fetch wait: the mock broker holds an empty fetch this long (a real broker
 *  answers as soon as data arrives), so it bounds how late a result can be seen. */
export const OUTSIDE_FETCH_WAIT_MS = 5;

/** Where a generated event's card number starts ({"card":"card-), and its time after the card ("","ts":). */
const CARD_AT = 14;
const TS_AFTER_CARD = 7;
/** Float64s per event in OutsideEvents.record. */
export const EVENT_WORDS = 4;

/** The C producer and consumer, compiled into the bench cache (needs cc and librdkafka-dev). */
export function outsideTool(ctx: BenchContext): string {
  const built = compileC(ctx, path.join(ctx.rootDir, 'bench', 'peers', 'outside-kafka.c'), ['-lrdkafka'], 'librdkafka-dev');
  if ('skipped' in built) throw new Error(`the outside-in latency cases need their librdkafka producer and consumer: ${built.skipped}`);
  return built.exe;
}

export interface OutsideEvents {
  /** Per event: event time, partition, ack time (NaN until readAcks), card. Epoch ms. */
  record: Float64Array;
  /** When the first event is due (epoch ms); event i is due at startMs + (i + 1) * stepMs. */
  startMs: number;
  stepMs: number;
}

/**
 * Generates `ratePerS * durationMs / 1000` events into `file` for the producer (per message:
 * u32 partition, u32 key bytes, key, u32 value bytes, value; little-endian), keyed by card,
 * partition card % partitions. Their clock starts a little ahead, after the generating
 * (~10 µs an event here, with room to spare).
 */
export function writeOutsideEvents(file: string, partitions: number, keys: number, ratePerS: number, durationMs: number, jitterMs: number): OutsideEvents {
  const events = Math.round((ratePerS * durationMs) / 1000);
  const stepMs = 1000 / ratePerS;
  const startMs = Date.now() + 1000 + events / 50;
  const record = new Float64Array(EVENT_WORDS * events);
  const out = fs.openSync(file, 'w');
  let n = 0;
  try {
    for (const b of generateEvents(generatorConfig(events, keys, 1, stepMs, jitterMs, startMs), 65_536)) {
      const data = Buffer.from(b.data!.buffer, b.data!.byteOffset, b.data!.byteLength);
      const chunks: Buffer[] = [];
      for (let i = 0; i < b.count; i++, n++) {
        // {"card":"card-<k>","ts":<ms>,...: the generator's own layout
        const start = b.starts![i];
        const cardEnd = data.indexOf(34, start + CARD_AT);
        const card = Number(data.toString('latin1', start + CARD_AT, cardEnd));
        const tsEnd = data.indexOf(44, cardEnd + TS_AFTER_CARD);
        const partition = card % partitions;
        record.set([Number(data.toString('latin1', cardEnd + TS_AFTER_CARD, tsEnd)), partition, NaN, card], EVENT_WORDS * n);
        const key = Buffer.from(`card-${card}`, 'latin1');
        const value = data.subarray(start, b.ends![i]);
        const head = Buffer.alloc(8);
        head.writeUInt32LE(partition, 0);
        head.writeUInt32LE(key.length, 4);
        const len = Buffer.alloc(4);
        len.writeUInt32LE(value.length, 0);
        chunks.push(head, key, len, value);
      }
      fs.writeSync(out, Buffer.concat(chunks));
    }
  } finally {
    fs.closeSync(out);
  }
  if (Date.now() > startMs) throw new Error('generating the events took longer than planned');
  return { record, startMs, stepMs };
}

/** The producer's acks.bin (a float64 per event) into the events' records. */
export function readAcks(events: OutsideEvents, file: string): void {
  const acks = readFloat64s(file);
  if (acks.length * EVENT_WORDS !== events.record.length) throw new Error(`${file}: ${acks.length} acks for ${events.record.length / EVENT_WORDS} events`);
  for (let i = 0; i < acks.length; i++) events.record[EVENT_WORDS * i + 2] = acks[i];
}

export function readFloat64s(file: string): Float64Array {
  const bytes = fs.readFileSync(file);
  const out = new Float64Array(bytes.byteLength / 8);
  new Uint8Array(out.buffer).set(bytes);
  return out;
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
export function outsideLatency(events: Float64Array, seen: Float64Array, partitions: number, maxOutOfOrdernessMs: number, warmUpMs: number): OutsideLatency {
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
export function perEventLatency(events: Float64Array, seen: Float64Array, warmUpMs: number): OutsideLatency {
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
