// The generator on a thread of its own (workers/generator-worker.ts). Batches come back through a
// ring of shared buffers: the worker fills a slot, posts its number, and waits for a free slot
// when all are full; the engine frees a slot once the batch's records are written (release()).
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { GeneratorSourceConfig } from '../../config/types';
import type { RawBatch } from '../../decode/raw-batch';
import { SluiceError } from '../../errors';
import { EventWriter, generateEvents } from './generator';

/** Slots: more than the engine holds at once (3 batches in flight plus the one being read). */
const SLOTS = 5;
/** Bytes reserved per event: generated events are about 75 bytes; a batch that needs more gets a
 *  bigger slot buffer (see fillRing). */
const BYTES_PER_EVENT = 112;

interface Slot {
  data: SharedArrayBuffer;
  starts: SharedArrayBuffer;
  ends: SharedArrayBuffer;
  partition: SharedArrayBuffer;
  offset: SharedArrayBuffer;
}

export interface RingWorkerData {
  config: GeneratorSourceConfig;
  maxRecords: number;
  slots: Slot[];
  /** Int32 x 1: free slots. */
  credits: SharedArrayBuffer;
}

type RingMessage = { slot: number; count: number; finished: RawBatch['finished']; grownData?: SharedArrayBuffer } | { done: true };

export class GeneratorRing {
  private readonly worker: Worker;
  private readonly slots: Slot[];
  private readonly credits: Int32Array;
  private readonly messages: RingMessage[] = [];
  private wake: (() => void) | null = null;
  private failure: Error | null = null;

  constructor(config: GeneratorSourceConfig, maxRecords: number) {
    this.slots = Array.from({ length: SLOTS }, () => ({
      data: new SharedArrayBuffer(maxRecords * BYTES_PER_EVENT),
      starts: new SharedArrayBuffer(maxRecords * 4),
      ends: new SharedArrayBuffer(maxRecords * 4),
      partition: new SharedArrayBuffer(maxRecords * 4),
      offset: new SharedArrayBuffer(maxRecords * 8),
    }));
    const credits = new SharedArrayBuffer(4);
    this.credits = new Int32Array(credits);
    this.credits[0] = SLOTS;
    const workerData: RingWorkerData = { config, maxRecords, slots: this.slots, credits };
    // Compiled layout: dist/src/io/sources/ -> dist/workers/generator-worker.js
    this.worker = new Worker(path.join(__dirname, '..', '..', '..', 'workers', 'generator-worker.js'), { workerData });
    this.worker.on('message', (m: RingMessage) => this.push(m));
    this.worker.on('error', (e) => {
      this.failure = new SluiceError('SLUICE_RUNTIME', `generator thread failed: ${e.message}`, { cause: e });
      this.push({ done: true });
    });
  }

  private push(m: RingMessage): void {
    this.messages.push(m);
    this.wake?.();
    this.wake = null;
  }

  async *batches(): AsyncIterable<RawBatch> {
    while (true) {
      while (this.messages.length === 0) await new Promise<void>((r) => (this.wake = r));
      const m = this.messages.shift()!;
      if (this.failure) throw this.failure;
      if ('done' in m) return;
      const s = this.slots[m.slot];
      if (m.grownData) s.data = m.grownData;
      yield {
        count: m.count,
        data: new Uint8Array(s.data),
        starts: new Int32Array(s.starts, 0, m.count),
        ends: new Int32Array(s.ends, 0, m.count),
        partition: new Int32Array(s.partition, 0, m.count),
        offset: new Float64Array(s.offset, 0, m.count),
        recordTimestampMs: new Float64Array(m.count).fill(NaN),
        topicOf: () => 'generator',
        finished: m.finished,
      };
    }
  }

  /** Frees the oldest slot (batches are released in the order they were read). */
  release(): void {
    Atomics.add(this.credits, 0, 1);
    Atomics.notify(this.credits, 0);
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

/** The worker side: fill slots in turn, waiting while none is free. */
export function fillRing(d: RingWorkerData, post: (m: RingMessage) => void): void {
  const credits = new Int32Array(d.credits);
  const writer = new EventWriter();
  let next = 0;
  for (const batch of generateEvents(d.config, d.maxRecords, { writer })) {
    while (Atomics.load(credits, 0) === 0) Atomics.wait(credits, 0, 0);
    Atomics.sub(credits, 0, 1);
    const slot = d.slots[next];
    const bytes = batch.count ? batch.ends![batch.count - 1] : 0;
    let grownData: SharedArrayBuffer | undefined;
    if (bytes > slot.data.byteLength) slot.data = grownData = new SharedArrayBuffer(bytes * 2); // rare: very long keys
    new Uint8Array(slot.data).set(batch.data!.subarray(0, bytes));
    new Int32Array(slot.starts).set(batch.starts!);
    new Int32Array(slot.ends).set(batch.ends!);
    new Int32Array(slot.partition).set(batch.partition);
    new Float64Array(slot.offset).set(batch.offset);
    // The writer's buffer is free again as soon as it is copied.
    writer.spare.push(new Uint8Array(batch.data!.buffer));
    post({ slot: next, count: batch.count, finished: batch.finished, grownData });
    next = (next + 1) % d.slots.length;
  }
  post({ done: true });
}
