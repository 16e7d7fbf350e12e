// The emit stage: a batch's outputs, written to the sinks in the order a one-event-at-a-time run
// would have produced them (SPEC §6). Workers hand back their results already encoded and in
// order per key partition; here the addon merges them across partitions and copies their records
// into whole buffers for the sinks. Dead letters (from the decoder) and late records (whose
// events' text is here, in the source's memory) are encoded here, into the same form.
import type { DecodedEvents } from '../decode/decoder';
import type { KeyNames } from '../decode/key-names';
import { arrivalOf, messageText, type RawBatch } from '../decode/raw-batch';
import { EncodedRecords, EncodedRecordsBuilder, RecordFlag } from '../records/encoded';
import { encodeDeadLetter, encodeLate, type SourcePosition } from '../records/records';
import type { TaskOutput } from '../state/output';
import { native } from '../native/index';
import { lowerBound } from '../util/sorted';
import type { EngineMetrics, JobSinks } from './ports';
import type { EncodedTaskRecords } from './result-records';
import { LATENCY_WARMUP_MS, type SummaryBuilder } from './summary';

/** Records handed to a sink at a time: bounds the memory of a batch that fires a million windows. */
const EMIT_CHUNK_ROWS = 16_384;

/** One key partition's task output, as the worker returned it. */
export interface FiredOutput {
  out: TaskOutput;
  records: EncodedTaskRecords;
}

/** What the emit stage needs of a batch. */
export interface EmitWork {
  raw: RawBatch;
  decoded: DecodedEvents;
  /** The global step of each decoded event (ascending). */
  eventSeq: Float64Array;
  /** performance.now() when the batch was received. */
  startedAtMs: number;
}

/** Counts of one batch's written results (metrics). */
export interface Emitted {
  results: number;
  revisions: number;
  retractions: number;
  late: number;
}

export class Emitter {
  private readonly results = new EncodedRecordsBuilder();
  private readonly deadLetters = new EncodedRecordsBuilder();
  private readonly late = new EncodedRecordsBuilder();
  private readonly shadow = new EncodedRecordsBuilder();
  /** The merged output order of a batch's results: run and row, kept between batches. */
  private mergedRun = new Int32Array(1024);
  private mergedRow = new Int32Array(1024);

  constructor(
    private readonly sinks: JobSinks,
    private readonly summary: SummaryBuilder,
    private readonly metrics: EngineMetrics,
    /** The key names as they are now (the table is replaced when it grows). */
    private readonly keys: () => KeyNames,
  ) {}

  async emit(work: EmitWork, outputs: FiredOutput[]): Promise<Emitted> {
    await this.writeDeadLetters(work);
    const late = await this.writeLate(work, outputs);
    return { ...(await this.writeResults(work, outputs)), late };
  }

  private async writeDeadLetters({ raw, decoded }: EmitWork): Promise<void> {
    const b = this.deadLetters;
    for (const d of decoded.deadLetters) {
      b.text(encodeDeadLetter(d.reason, d.detail, origin(raw, d.rawIndex), messageText(raw, d.rawIndex)));
      b.endRecord(null, 0, 0, 0, raw.recordTimestampMs[d.rawIndex]);
      this.metrics.deadLetters(d.reason, 1);
    }
    this.summary.deadLetters += decoded.deadLetters.length;
    if (b.count > 0) await this.sinks.deadLetters.write(b.take());
  }

  /** Late events, in arrival order, keyed by their window key and stamped with their event time. */
  private async writeLate({ raw, decoded }: EmitWork, outputs: FiredOutput[]): Promise<number> {
    const late: Array<[number, number, number]> = [];
    for (const { out } of outputs) for (let i = 0; i < out.numLate; i++) late.push([out.lateRef[i], out.lateByMs[i], out.lateWindowEndMs[i]]);
    if (late.length === 0) return 0;
    late.sort((a, b) => a[0] - b[0]);
    const keys = this.keys();
    const b = this.late;
    for (const [ref, lateByMs, windowEndMs] of late) {
      const i = decoded.rawIndex[ref];
      const id = decoded.keyId[ref];
      b.text(encodeLate(lateByMs, windowEndMs, origin(raw, i), JSON.stringify(JSON.parse(messageText(raw, i)))));
      // Kafka timestamps are whole milliseconds; an event time may have a fraction.
      b.endRecord(keys.bytes, keys.kafkaStart(id), keys.kafkaEnd(id), keys.hash(id), Math.floor(decoded.timestampMs[ref]));
    }
    await this.sinks.late.write(b.take());
    return late.length;
  }

  /**
   * Results in output order: each partition's are in order already, so the addon merges them by
   * (step, phase, sortEndMs, key, sub) and then copies their records, a chunk at a time.
   * Each result's latency starts when the event of its step arrived (the one that fired it, or
   * moved the watermark past its end); steps without an event count from the batch's start.
   */
  private async writeResults(work: EmitWork, outputs: FiredOutput[]): Promise<Omit<Emitted, 'late'>> {
    const counts = { results: 0, revisions: 0, retractions: 0 };
    const runs = outputs.filter((o) => o.out.numResults > 0).map((o) => new Run(o));
    if (runs.length === 0) return counts;
    const keys = this.keys();
    const total = runs.reduce((n, r) => n + r.fired.out.numResults, 0);
    if (this.mergedRun.length < total) [this.mergedRun, this.mergedRow] = [new Int32Array(2 * total), new Int32Array(2 * total)];
    const merged = native.mergeResults(runs.map((r) => r.sortColumns), keys.index, keys.bytes, this.mergedRun, this.mergedRow);
    const warmUpEndsMs = (this.summary.firstRecordAtMs ?? work.startedAtMs) + LATENCY_WARMUP_MS;
    const since = new StepArrival(work);
    const results = new Gathering(runs.map((r) => r.results));
    const deadLetters = new Gathering(runs.map((r) => r.deadLetters ?? EncodedRecords.empty));
    // Shadow records of run i and shadow model s come from source i * S + s.
    const S = Math.max(0, ...runs.map((r) => r.shadows.length));
    const shadow = new Gathering(runs.flatMap((r) => Array.from({ length: S }, (_, s) => r.shadows[s]?.records ?? EncodedRecords.empty)));
    for (let m = 0; m < merged; m++) {
      const i = this.mergedRun[m];
      const run = runs[i];
      const { out } = run.fired;
      const r = this.mergedRow[m];
      const sinceMs = since.of(out.step[r]);
      const flags = sinceMs < warmUpEndsMs ? RecordFlag.WarmingUp : 0;
      for (let s = 0; s < run.shadows.length; s++) if (run.shadows[s].rows[r]) shadow.add(i * S + s, run.shadows[s].next++, sinceMs, flags);
      if (run.isDead(r)) {
        deadLetters.add(i, run.nextDeadLetter++, NaN, 0);
        this.summary.deadLetters++;
        this.metrics.deadLetters(run.fired.records.deadReason, 1);
        continue;
      }
      results.add(i, run.nextResult++, sinceMs, flags);
      if (out.retracted[r]) {
        counts.retractions++;
        this.summary.retractions++;
        continue;
      }
      counts.results++;
      if (out.revision[r] > 0) counts.revisions++;
      if (run.isTopCandidate(r)) this.summary.offerTop({ key: keys.name(out.keyId[r]), windowStartMs: out.windowStartMs[r], windowEndMs: out.windowEndMs[r], score: out.scores[r * out.numOutputs] });
      if (results.count >= EMIT_CHUNK_ROWS) await this.flushResults(results, deadLetters, shadow);
    }
    await this.flushResults(results, deadLetters, shadow);
    this.summary.windowsFired += counts.results;
    return counts;
  }

  private async flushResults(results: Gathering, deadLetters: Gathering, shadow: Gathering): Promise<void> {
    if (results.count > 0) {
      const records = results.into(this.results);
      await this.sinks.results.write(records);
      this.recordLatency(records);
      this.metrics.windowsFired(records.count);
    }
    if (deadLetters.count > 0) await this.sinks.deadLetters.write(deadLetters.into(this.deadLetters));
    if (shadow.count > 0) await this.sinks.shadow!.write(shadow.into(this.shadow));
  }

  /** Latency to the write, per run of records that share a start (results of one step do). */
  private recordLatency(records: EncodedRecords): void {
    const now = performance.now();
    const { sinceMs, flags } = records;
    for (let i = 0; i < records.count; ) {
      let j = i + 1;
      while (j < records.count && sinceMs[j] === sinceMs[i]) j++;
      if (!Number.isNaN(sinceMs[i])) this.summary.recordLatencyMs(now - sinceMs[i], (flags[i] & RecordFlag.WarmingUp) !== 0, j - i);
      i = j;
    }
  }
}

function origin(raw: RawBatch, i: number): SourcePosition {
  return { topic: raw.topicOf(raw.partition[i]), partition: raw.partition[i], offset: String(raw.offset[i]) };
}

/** Arrival time of the event of a step, for runs of rows of the same step. */
class StepArrival {
  private lastStep = NaN;
  private lastSinceMs: number;

  constructor(private readonly work: EmitWork) {
    this.lastSinceMs = work.startedAtMs;
  }

  of(step: number): number {
    if (step === this.lastStep) return this.lastSinceMs;
    const { eventSeq, raw, decoded, startedAtMs } = this.work;
    this.lastStep = step;
    const j = lowerBound(eventSeq, step);
    this.lastSinceMs = j < eventSeq.length && eventSeq[j] === step ? (arrivalOf(raw, decoded.rawIndex[j]) ?? startedAtMs) : startedAtMs;
    return this.lastSinceMs;
  }
}

/** Records picked for a sink, in order, as (source, record) pairs; copied in one go. */
class Gathering {
  count = 0;
  private source = new Int32Array(1024);
  private row = new Int32Array(1024);
  private sinceMs = new Float64Array(1024);
  private flags = new Uint8Array(1024);

  constructor(private readonly sources: EncodedRecords[]) {}

  add(source: number, row: number, sinceMs: number, flags: number): void {
    const i = this.count++;
    if (i === this.source.length) {
      const grow = <T extends Int32Array | Float64Array | Uint8Array>(a: T): T => {
        const b = new (a.constructor as new (n: number) => T)(2 * a.length);
        b.set(a);
        return b;
      };
      this.source = grow(this.source);
      this.row = grow(this.row);
      this.sinceMs = grow(this.sinceMs);
      this.flags = grow(this.flags);
    }
    this.source[i] = source;
    this.row[i] = row;
    this.sinceMs[i] = sinceMs;
    this.flags[i] = flags;
  }

  /** The records picked so far, copied by `builder` (which gives them up); empty again. */
  into(builder: EncodedRecordsBuilder): EncodedRecords {
    builder.gather(this.sources, this.source, this.row, this.sinceMs, this.flags, this.count);
    this.count = 0;
    return builder.take();
  }
}

/** One partition's results and their records, taken in order. */
class Run {
  nextResult = 0;
  nextDeadLetter = 0;
  readonly results: EncodedRecords;
  readonly deadLetters: EncodedRecords | null;
  /** Per shadow model: its records, which rows have one, and the next to take. */
  readonly shadows: Array<{ records: EncodedRecords; rows: Uint8Array; next: number }>;
  private topAt = 0;
  private deadAt = 0;

  constructor(readonly fired: FiredOutput) {
    this.results = EncodedRecords.fromBuffer(fired.records.results);
    this.deadLetters = fired.records.deadLetters ? EncodedRecords.fromBuffer(fired.records.deadLetters) : null;
    this.shadows = fired.records.shadows.map((s) => ({ records: EncodedRecords.fromBuffer(s.records), rows: s.rows, next: 0 }));
  }

  /** The row went to the dead letters (no score). Rows are asked in ascending order. */
  isDead(row: number): boolean {
    const dead = this.fired.records.deadRows;
    if (dead === null) return false;
    while (this.deadAt < dead.length && dead[this.deadAt] < row) this.deadAt++;
    return this.deadAt < dead.length && dead[this.deadAt] === row;
  }

  get sortColumns() {
    const o = this.fired.out;
    return { step: o.step, phase: o.phase, sortEndMs: o.sortEndMs, keyId: o.keyId, sub: o.sub, count: o.numResults };
  }

  /** Rows are asked in ascending order. */
  isTopCandidate(row: number): boolean {
    const top = this.fired.records.topRows;
    while (this.topAt < top.length && top[this.topAt] < row) this.topAt++;
    return this.topAt < top.length && top[this.topAt] === row;
  }
}
