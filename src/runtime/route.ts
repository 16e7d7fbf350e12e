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

export class Router {
  /** The next global step number. */
  private seq = 0;

  constructor(
    private readonly tracker: WatermarkTracker,
    /** The key partition of a key id (the decoder's). */
    private readonly partitionOf: (keyId: number) => number,
    private readonly keyPartitions: number,
    private readonly nowMs: () => number,
  ) {}

  /** Routes one batch; `finalStep` ends the input (the watermark goes to +Infinity). `spare` is
   *  the buffer of a written batch to reuse. */
  route(raw: RawBatch, decoded: DecodedEvents, finalStep: boolean, spare?: SharedArrayBuffer): RoutedBatch {
    const { tracker } = this;
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

    const P = this.keyPartitions;
    const F = decoded.numFields;
    const counts = new Int32Array(P + 1);
    for (let j = 0; j < decoded.count; j++) counts[this.partitionOf(decoded.keyId[j]) + 1]++;
    const batch = EventBatch.allocate(decoded.count, F, P, steps.length, spare, decoded.eventIdBytes);
    if (decoded.eventIdBytes > 0) {
      batch.eventIdEnd.set(decoded.eventIdEnd.subarray(0, decoded.count));
      batch.eventIds.set(decoded.eventIds.subarray(0, decoded.eventIdBytes));
    }
    for (let p = 0; p < P; p++) counts[p + 1] += counts[p];
    batch.partitionStart.set(counts);
    const fill = counts.slice(0, P);
    const { seq: seqCol, timestampMs, keyId, ref, fields } = batch;
    for (let j = 0; j < decoded.count; j++) {
      const i = fill[this.partitionOf(decoded.keyId[j])]++;
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
    return { batch, eventSeq };
  }
}
