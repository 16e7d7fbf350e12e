// The event batch workers read: one SharedArrayBuffer per batch, events grouped by key partition
// (partition p's events are [partitionStart[p], partitionStart[p + 1]) in arrival order), plus
// the job watermark after every step of the batch. A step is a clean event or a watermark move
// without one (idle timeout, end of input); steps are numbered globally by `seq`.
//
// With a changelog (SPEC §15) each key partition is a source partition with a watermark of its
// own: then `eventWatermark` holds, per event, its partition's watermark after it, and
// `partitionClock` per partition its watermark before the batch, after it, and the step that took
// it there when that was not one of its events (its end, the end of input; else -1).
//
// Layout (8-byte aligned sections, in this order):
//   header   Float64 x 9: numEvents, numFields, numPartitions, numSteps, firstSeq, watermarkBeforeMs,
//            watermarkAfterMs, eventIdBytes, partitionClocks (1: the two sections at the end)
//   partitionStart Int32 x (numPartitions + 1)
//   seq       Float64 x numEvents   global step of the event
//   timestampMs Float64 x numEvents
//   fields    Float64 x numEvents x numFields (row-major)
//   keyId     Int32 x numEvents
//   ref       Int32 x numEvents     index of the event in the main thread's decoded batch
//   watermark Float64 x numSteps    job watermark after step firstSeq + i
//   eventIdEnd Int32 x numEvents    per-event mode's event ids as JSON text, by ref: event ref r's
//   eventIds  Uint8 x eventIdBytes  is eventIds[eventIdEnd[r - 1], eventIdEnd[r]) (none: 0 bytes)
//   eventWatermark Float64 x numEvents         (partition clocks only)
//   partitionClock Float64 x 3 x numPartitions (partition clocks only): before, after, afterSeq

import { lowerBound } from '../util/sorted';

export const enum BatchHeader {
  NumEvents = 0,
  NumFields = 1,
  NumPartitions = 2,
  NumSteps = 3,
  FirstSeq = 4,
  WatermarkBeforeMs = 5,
  WatermarkAfterMs = 6,
  EventIdBytes = 7,
  PartitionClocks = 8,
  Words = 9,
}

const align8 = (n: number) => (n + 7) & ~7;

export class EventBatch {
  readonly header: Float64Array;
  readonly partitionStart: Int32Array;
  readonly seq: Float64Array;
  readonly timestampMs: Float64Array;
  readonly fields: Float64Array;
  readonly keyId: Int32Array;
  readonly ref: Int32Array;
  readonly watermark: Float64Array;
  readonly eventIdEnd: Int32Array;
  readonly eventIds: Uint8Array;
  readonly eventWatermark: Float64Array;
  readonly partitionClock: Float64Array;

  /** Views over an existing batch buffer (a worker receiving one). */
  constructor(readonly buffer: SharedArrayBuffer) {
    this.header = new Float64Array(buffer, 0, BatchHeader.Words);
    const n = this.header[BatchHeader.NumEvents];
    const f = this.header[BatchHeader.NumFields];
    const p = this.header[BatchHeader.NumPartitions];
    const s = this.header[BatchHeader.NumSteps];
    let at = BatchHeader.Words * 8;
    this.partitionStart = new Int32Array(buffer, at, p + 1);
    at = align8(at + 4 * (p + 1));
    this.seq = new Float64Array(buffer, at, n);
    at += 8 * n;
    this.timestampMs = new Float64Array(buffer, at, n);
    at += 8 * n;
    this.fields = new Float64Array(buffer, at, n * f);
    at += 8 * n * f;
    this.keyId = new Int32Array(buffer, at, n);
    at = align8(at + 4 * n);
    this.ref = new Int32Array(buffer, at, n);
    at = align8(at + 4 * n);
    this.watermark = new Float64Array(buffer, at, s);
    at += 8 * s;
    this.eventIdEnd = new Int32Array(buffer, at, n);
    at = align8(at + 4 * n);
    this.eventIds = new Uint8Array(buffer, at, this.header[BatchHeader.EventIdBytes]);
    at = align8(at + this.header[BatchHeader.EventIdBytes]);
    const clocks = this.header[BatchHeader.PartitionClocks] === 1;
    this.eventWatermark = new Float64Array(buffer, at, clocks ? n : 0);
    at += clocks ? 8 * n : 0;
    this.partitionClock = new Float64Array(buffer, at, clocks ? 3 * p : 0);
  }

  static bytes(numEvents: number, numFields: number, numPartitions: number, numSteps: number, eventIdBytes = 0, partitionClocks = false): number {
    const n = numEvents;
    const clocks = partitionClocks ? 8 * n + 24 * numPartitions : 0;
    return BatchHeader.Words * 8 + align8(4 * (numPartitions + 1)) + 8 * n * (2 + numFields) + 3 * align8(4 * n) + 8 * numSteps + align8(eventIdBytes) + clocks;
  }

  /** A batch for this many events; `reuse` (a done batch's buffer) is taken if it is big enough. */
  static allocate(numEvents: number, numFields: number, numPartitions: number, numSteps: number, reuse?: SharedArrayBuffer, eventIdBytes = 0, partitionClocks = false): EventBatch {
    const bytes = EventBatch.bytes(numEvents, numFields, numPartitions, numSteps, eventIdBytes, partitionClocks);
    const buffer = reuse && reuse.byteLength >= bytes ? reuse : new SharedArrayBuffer(bytes);
    const h = new Float64Array(buffer, 0, BatchHeader.Words);
    h[BatchHeader.NumEvents] = numEvents;
    h[BatchHeader.NumFields] = numFields;
    h[BatchHeader.NumPartitions] = numPartitions;
    h[BatchHeader.NumSteps] = numSteps;
    h[BatchHeader.EventIdBytes] = eventIdBytes;
    h[BatchHeader.PartitionClocks] = partitionClocks ? 1 : 0;
    return new EventBatch(buffer);
  }

  get numFields(): number {
    return this.header[BatchHeader.NumFields];
  }
  get firstSeq(): number {
    return this.header[BatchHeader.FirstSeq];
  }
  get numSteps(): number {
    return this.header[BatchHeader.NumSteps];
  }
  get watermarkBeforeMs(): number {
    return this.header[BatchHeader.WatermarkBeforeMs];
  }
  get watermarkAfterMs(): number {
    return this.header[BatchHeader.WatermarkAfterMs];
  }
  get partitionClocks(): boolean {
    return this.header[BatchHeader.PartitionClocks] === 1;
  }
  /** The first step at which the watermark reached `timeMs` (binary search; it never goes down). */
  stepReaching(timeMs: number): number {
    return this.firstSeq + lowerBound(this.watermark, timeMs);
  }
}
