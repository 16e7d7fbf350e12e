// The watermark-and-route stage (SPEC §6): numbers a decoded batch's steps (an event, or a
// watermark move without one: idle timeout, a partition's end, the end of input), moves the
// watermark step by step, and groups the events by key partition into the EventBatch that the
// workers read, arrival order kept within each partition.
import type { DecodedEvents } from '../decode/decoder';
import type { RawBatch } from '../decode/raw-batch';
import { BatchHeader, EventBatch } from '../state/batch';
import type { WatermarkTracker } from '../time/watermark';

/** A batch as the workers get it, and the step of each of its decoded events. */
export interface RoutedBatch {
  batch: EventBatch;
  /** The global step of each decoded event (ascending). */
  eventSeq: Float64Array;
}

/** How events find their key partition: by a hash of their key (the decoder's), or, with a
 *  changelog (SPEC §15), by their source partition, each with a watermark of its own. */
export type Routing =
  | { by: 'key'; partitionOf: (keyId: number) => number }
  /** `keyIn`: told of every event's key and partition (keys new to a partition, co-partitioning). */
  | { by: 'source'; keyIn: (keyId: number, partition: number) => void };

export class Router {
  /** The next global step number. */
  private seq = 0;
  /** Each event's key partition (reused from batch to batch). */
  private parts = new Int32Array(0);

  constructor(
    private readonly tracker: WatermarkTracker,
    private readonly routing: Routing,
    private readonly keyPartitions: number,
    private readonly nowMs: () => number,
  ) {}

  /** Routes one batch; `finalStep` ends the input (the watermark goes to +Infinity). `spare` is
   *  the buffer of a written batch to reuse. */
  route(raw: RawBatch, decoded: DecodedEvents, finalStep: boolean, spare?: SharedArrayBuffer): RoutedBatch {
    if (this.routing.by === 'source') return this.routeBySource(raw, decoded, finalStep, this.routing.keyIn, spare);
    const { tracker } = this;
    const partitionOf = this.routing.partitionOf;
    const watermarkBeforeMs = tracker.current;
    const firstSeq = this.seq;
    const steps: number[] = [];
    const eventSeq = new Float64Array(decoded.count);
    const finishes = raw.finished.slice().sort((a, b) => a.before - b.before);
    let fi = 0;
    const virtualStep = (w: number) => {
      if (w > (steps.length ? steps[steps.length - 1] : watermarkBeforeMs)) {
        steps.push(w);
        this.seq++;
      }
    };
    for (const p of raw.assigned ?? []) tracker.touch(p, this.nowMs());
    virtualStep(tracker.checkIdle(this.nowMs()));
    const now = this.nowMs();
    for (let j = 0; j < decoded.count; j++) {
      const at = decoded.rawIndex[j];
      while (fi < finishes.length && finishes[fi].before <= at) virtualStep(tracker.finish(finishes[fi++].partition));
      steps.push(tracker.observe(raw.partition[at], decoded.timestampMs[j], now));
      eventSeq[j] = this.seq++;
    }
    while (fi < finishes.length) virtualStep(tracker.finish(finishes[fi++].partition));
    if (finalStep) virtualStep(Infinity);

    if (this.parts.length < decoded.count) this.parts = new Int32Array(decoded.count);
    const parts = this.parts;
    for (let j = 0; j < decoded.count; j++) parts[j] = partitionOf(decoded.keyId[j]);
    return { batch: this.fill(decoded, parts, eventSeq, steps, firstSeq, watermarkBeforeMs, false, spare), eventSeq };
  }

  /**
   * Routes by source partition, each partition's watermark its own (SPEC §15): a step per event,
   * per partition that ends, and for the end of input. The job watermark still goes along, for
   * metrics.
   */
  private routeBySource(raw: RawBatch, decoded: DecodedEvents, finalStep: boolean, keyIn: (keyId: number, partition: number) => void, spare?: SharedArrayBuffer): RoutedBatch {
    const { tracker } = this;
    const P = this.keyPartitions;
    const watermarkBeforeMs = tracker.current;
    const firstSeq = this.seq;
    const steps: number[] = [];
    const eventSeq = new Float64Array(decoded.count);
    if (this.parts.length < decoded.count) this.parts = new Int32Array(decoded.count);
    const parts = this.parts;
    const eventWatermark = new Float64Array(decoded.count);
    const clock = new Float64Array(3 * P);
    for (let p = 0; p < P; p++) {
      clock[3 * p] = clock[3 * p + 1] = tracker.partitionWatermark(p);
      clock[3 * p + 2] = -1;
    }
    const finishes = raw.finished.slice().sort((a, b) => a.before - b.before);
    let fi = 0;
    const finish = (p: number) => {
      steps.push(tracker.finish(p));
      clock[3 * p + 1] = Infinity;
      clock[3 * p + 2] = this.seq++;
    };
    const now = this.nowMs();
    for (let j = 0; j < decoded.count; j++) {
      const at = decoded.rawIndex[j];
      while (fi < finishes.length && finishes[fi].before <= at) finish(finishes[fi++].partition);
      const p = raw.partition[at];
      keyIn(decoded.keyId[j], p);
      parts[j] = p;
      steps.push(tracker.observe(p, decoded.timestampMs[j], now));
      eventWatermark[j] = clock[3 * p + 1] = tracker.partitionWatermark(p);
      eventSeq[j] = this.seq++;
    }
    while (fi < finishes.length) finish(finishes[fi++].partition);
    if (finalStep) {
      steps.push(Infinity);
      for (let p = 0; p < P; p++) {
        if (clock[3 * p + 1] === Infinity) continue;
        clock[3 * p + 1] = Infinity;
        clock[3 * p + 2] = this.seq;
      }
      this.seq++;
    }
    const batch = this.fill(decoded, parts, eventSeq, steps, firstSeq, watermarkBeforeMs, true, spare);
    const { eventWatermark: ew, ref } = batch;
    for (let i = 0; i < decoded.count; i++) ew[i] = eventWatermark[ref[i]];
    batch.partitionClock.set(clock);
    return { batch, eventSeq };
  }

  /** The batch the workers read: events grouped by key partition (`parts`), in arrival order,
   *  and the job watermark's steps from firstSeq. */
  private fill(decoded: DecodedEvents, parts: Int32Array, eventSeq: Float64Array, steps: number[], firstSeq: number, watermarkBeforeMs: number, clocks: boolean, spare?: SharedArrayBuffer): EventBatch {
    const P = this.keyPartitions;
    const F = decoded.numFields;
    const counts = new Int32Array(P + 1);
    for (let j = 0; j < decoded.count; j++) counts[parts[j] + 1]++;
    const batch = EventBatch.allocate(decoded.count, F, P, steps.length, spare, decoded.eventIdBytes, clocks);
    if (decoded.eventIdBytes > 0) {
      batch.eventIdEnd.set(decoded.eventIdEnd.subarray(0, decoded.count));
      batch.eventIds.set(decoded.eventIds.subarray(0, decoded.eventIdBytes));
    }
    for (let p = 0; p < P; p++) counts[p + 1] += counts[p];
    batch.partitionStart.set(counts);
    const fill = counts.slice(0, P);
    const { seq: seqCol, timestampMs, keyId, ref, fields } = batch;
    for (let j = 0; j < decoded.count; j++) {
      const i = fill[parts[j]]++;
      seqCol[i] = eventSeq[j];
      timestampMs[i] = decoded.timestampMs[j];
      keyId[i] = decoded.keyId[j];
      ref[i] = j;
      for (let f = 0; f < F; f++) fields[i * F + f] = decoded.fields[j * F + f];
    }
    batch.watermark.set(steps);
    batch.header[BatchHeader.FirstSeq] = firstSeq;
    batch.header[BatchHeader.WatermarkBeforeMs] = watermarkBeforeMs;
    batch.header[BatchHeader.WatermarkAfterMs] = steps.length ? steps[steps.length - 1] : watermarkBeforeMs;
    return batch;
  }
}
