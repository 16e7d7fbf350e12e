// The generator source (SPEC §4): deterministic synthetic card transactions for the example job
// and the benchmarks. Each event is {card: "card-<k>", ts, amount, merchant}: ts advances by
// eventTimeStepMs on average and jitters back by up to outOfOrderMs; amount is log-normal; a few
// cards (fraudShare) now and then make bursts of large payments for the model to find. Events
// are JSON text, so they go through the same decoder as Kafka messages.
import type { GeneratorSourceConfig } from '../../config/types';
import type { RawBatch, Source } from '../../decode/raw-batch';
import { GeneratorRing } from './generator-ring';

/** sfc32: small, fast, 128 bits of state; the same seed gives the same stream everywhere. */
function sfc32(seed: number): () => number {
  let a = 0x9e3779b9, b = 0x243f6a88, c = 0xb7e15162, d = seed >>> 0;
  const next = () => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 16; i++) next(); // let the seed spread through the state
  return next;
}

// Amounts: log-normal, median e^3.4 ~ 30; bursts: median e^5.6 ~ 270, several per minute.
const NORMAL_AMOUNT = { mu: 3.4, sigma: 0.9 };
const BURST_AMOUNT = { mu: 5.6, sigma: 0.5 };
/** Chance that an event starts a burst (when the job has fraud-prone cards). */
const BURST_START_PER_EVENT = 0.0005;
const BURST_EVENTS = { min: 8, max: 24 };
const MERCHANTS = 500;

/** A generator batch can also say which events belong to fraud bursts (for training the example model). */
export interface LabelledBatch extends RawBatch {
  fraud?: Uint8Array;
}

const ascii = (s: string) => Uint8Array.from(s, (ch) => ch.charCodeAt(0));
const CARD = ascii('{"card":"card-');
const TS = ascii('","ts":');
const AMOUNT = ascii(',"amount":');
const MERCHANT = ascii(',"merchant":"m-');
const END = ascii('"}');

/** Writes event JSON straight into bytes: no strings, so no garbage per event. */
export class EventWriter {
  private buf: Uint8Array = new Uint8Array(1 << 16);
  at = 0;
  private readonly digits = new Uint8Array(24);

  /** Buffers of batches the engine is done with, reused instead of allocated (less GC). */
  readonly spare: Uint8Array[] = [];

  reset(bytes: number): void {
    const reuse = this.spare.pop();
    if (reuse && reuse.length >= bytes) this.buf = reuse;
    else if (this.buf.length < bytes) this.buf = new Uint8Array(bytes);
    this.at = 0;
  }

  /** The bytes written; the writer moves on to another buffer for the next batch. */
  take(): Uint8Array {
    const out = this.buf.subarray(0, this.at);
    this.buf = new Uint8Array(0);
    return out;
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(this.buf.length * 2, this.at + n));
    grown.set(this.buf.subarray(0, this.at));
    this.buf = grown;
  }

  bytes(b: Uint8Array): this {
    this.room(b.length);
    // A loop beats TypedArray.set for the few bytes of a JSON fragment.
    for (let i = 0; i < b.length; i++) this.buf[this.at + i] = b[i];
    this.at += b.length;
    return this;
  }

  /** A non-negative integer below 2^53, in decimal. */
  uint(x: number): this {
    this.room(16);
    if (x >= 1e9) {
      // Split so that every digit comes from 32-bit integer arithmetic.
      const hi = Math.floor(x / 1e9);
      this.uint(hi);
      return this.padded9(x - hi * 1e9);
    }
    let v = x | 0;
    let n = 0;
    do {
      const q = (v / 10) | 0;
      this.digits[n++] = 48 + v - q * 10;
      v = q;
    } while (v > 0);
    while (n > 0) this.buf[this.at++] = this.digits[--n];
    return this;
  }

  /** Exactly nine digits, zero-padded (the low part of a large integer). */
  private padded9(x: number): this {
    let v = x | 0;
    for (let i = 8; i >= 0; i--) {
      const q = (v / 10) | 0;
      this.buf[this.at + i] = 48 + v - q * 10;
      v = q;
    }
    this.at += 9;
    return this;
  }

  /** cents / 100 as JavaScript prints it: 12.3, not 12.30; 12, not 12.00. */
  cents(cents: number): this {
    this.uint(Math.floor(cents / 100));
    const frac = cents % 100;
    if (frac === 0) return this;
    this.room(3);
    this.buf[this.at++] = 46; // '.'
    this.buf[this.at++] = 48 + Math.floor(frac / 10);
    if (frac % 10 !== 0) this.buf[this.at++] = 48 + (frac % 10);
    return this;
  }
}

export function* generateEvents(c: GeneratorSourceConfig, maxRecords: number, opts: { labels?: boolean; writer?: EventWriter } = {}): Generator<LabelledBatch> {
  const rand = sfc32(c.seed);
  // Box-Muller gives two normal values per pair of uniforms; the second waits for the next call.
  let spareGauss = NaN;
  const gauss = () => {
    if (!Number.isNaN(spareGauss)) {
      const g = spareGauss;
      spareGauss = NaN;
      return g;
    }
    const r = Math.sqrt(-2 * Math.log(1 - rand())); // 1 - u keeps the log away from 0
    const a = 2 * Math.PI * rand();
    spareGauss = r * Math.sin(a);
    return r * Math.cos(a);
  };
  const fraudCards = Math.max(c.fraudShare > 0 ? 1 : 0, Math.round(c.keys * c.fraudShare));
  const offsets = new Float64Array(c.partitions);
  const w = opts.writer ?? new EventWriter();
  let burstLeft = 0;
  let burstCard = 0;
  let produced = 0;
  do {
    const n = Math.min(maxRecords, c.events - produced);
    // Fresh arrays per batch: the engine keeps a batch until its records are written.
    const batch: LabelledBatch = {
      count: n,
      data: undefined,
      starts: new Int32Array(n),
      ends: new Int32Array(n),
      partition: new Int32Array(n),
      offset: new Float64Array(n),
      recordTimestampMs: new Float64Array(n).fill(NaN),
      topicOf: () => 'generator',
      finished: [],
      fraud: opts.labels ? new Uint8Array(n) : undefined,
    };
    w.reset(n * 96);
    for (let i = 0; i < n; i++, produced++) {
      let card: number;
      let amount: number;
      if (burstLeft === 0 && fraudCards > 0 && rand() < BURST_START_PER_EVENT) {
        burstLeft = BURST_EVENTS.min + Math.floor(rand() * (BURST_EVENTS.max - BURST_EVENTS.min + 1));
        // Fraud-prone cards are spread over the key space: card k with k % stride == 0.
        burstCard = Math.floor(rand() * fraudCards) * Math.max(1, Math.floor(c.keys / fraudCards));
      }
      if (burstLeft > 0) {
        burstLeft--;
        if (batch.fraud) batch.fraud[i] = 1;
        card = burstCard;
        amount = Math.exp(BURST_AMOUNT.mu + BURST_AMOUNT.sigma * gauss());
      } else {
        card = Math.floor(rand() * c.keys);
        amount = Math.exp(NORMAL_AMOUNT.mu + NORMAL_AMOUNT.sigma * gauss());
      }
      const ts = Math.floor(c.startTimeMs + produced * c.eventTimeStepMs - rand() * c.outOfOrderMs);
      const merchant = Math.floor(rand() * MERCHANTS);
      const p = card % c.partitions;
      batch.starts![i] = w.at;
      // {"card":"card-<k>","ts":<ts>,"amount":<amount>,"merchant":"m-<m>"}
      w.bytes(CARD).uint(card).bytes(TS).uint(ts).bytes(AMOUNT).cents(Math.round(amount * 100)).bytes(MERCHANT).uint(merchant).bytes(END);
      batch.ends![i] = w.at;
      batch.partition[i] = p;
      batch.offset[i] = offsets[p]++;
    }
    batch.data = w.take();
    if (produced === c.events) for (let p = 0; p < c.partitions; p++) batch.finished.push({ before: n, partition: p });
    yield batch;
  } while (produced < c.events);
}

/**
 * The generator as a Source. By default it runs on this thread; with `thread: true` (what jobs
 * use) it runs on a thread of its own and hands over batches through a ring of shared buffers,
 * as a broker would deliver them, so generating costs the engine's main thread nothing.
 */
export class GeneratorSource implements Source {
  readonly numPartitions: number;
  private readonly writer = new EventWriter();
  private ring: GeneratorRing | null = null;

  constructor(
    private readonly config: GeneratorSourceConfig,
    private readonly opts: { labels?: boolean; thread?: boolean } = {},
  ) {
    this.numPartitions = config.partitions;
  }

  async *batches(maxRecords: number): AsyncIterable<LabelledBatch> {
    if (this.opts.thread && !this.opts.labels) {
      this.ring = new GeneratorRing(this.config, maxRecords);
      yield* this.ring.batches();
      return;
    }
    yield* generateEvents(this.config, maxRecords, { labels: this.opts.labels, writer: this.writer });
  }

  /** The engine is done with a batch: its memory can be written again. */
  release(batch: RawBatch): void {
    if (this.ring) return this.ring.release();
    // A few spares cover the batches in flight; more would only hold memory.
    if (batch.data && this.writer.spare.length < 4) this.writer.spare.push(new Uint8Array(batch.data.buffer));
  }

  async close(): Promise<void> {
    await this.ring?.close();
  }
}
