// A window task's results as the sinks take them, made on the worker that fired them: the addon
// writes each record's bytes from the task's columns (src/records/program.ts); the main thread
// only merges the partitions' records into output order and copies them.
import type { KeyNames } from '../decode/key-names';
import { EncodedRecordsBuilder, SKIP_ROW } from '../records/encoded';
import { RecordPrograms, type ColumnMap } from '../records/program';
import { encodeDeadLetter, ResultEncoder, type DeadLetterReason, perEventLayout, resultLayout, retractionLayout, type ModelTag, type RecordPart } from '../records/records';
import { NO_SCORE, type Scored } from '../models/scorer';
import type { TaskOutput } from '../state/output';

/** What a worker needs to write a job's result records. */
export interface RecordsSpec {
  featureNames: string[];
  /** The score's field name (model.output). */
  outputName: string;
  /** The results sink's Kafka key: the window key, or `<key>@<windowStart>` (sink.keyFormat). */
  keyFormat: 'key' | 'window';
  /** For the detail of a window whose model call timed out. */
  modelTimeoutMs: number;
  /** per-event: a record per event (SPEC §13), keyed by its key and stamped with its time. */
  mode: 'windows' | 'per-event';
  /** Per-event records carry the event's id (job.eventId). */
  eventId: boolean;
}

/** The batch's event ids as JSON texts (src/state/batch.ts), which per-event rows name by ref. */
export interface EventIdTexts {
  ends: Int32Array;
  bytes: Uint8Array;
}

const NO_TEXTS: EventIdTexts = { ends: new Int32Array(0), bytes: new Uint8Array(0) };

/** The summary's top windows come from each task's best few (SPEC §2). */
export const TOP_CANDIDATES = 5;

export interface EncodedTaskRecords {
  /** EncodedRecords buffers: result records, and dead letters (rows without a score). */
  results: SharedArrayBuffer;
  deadLetters: SharedArrayBuffer | null;
  /** The rows that went to the dead letters instead of the results, ascending (null: none). */
  deadRows: Int32Array | null;
  /** Their reason: model-timeout (the task's model calls ran past timeoutMs) or model-error. */
  deadReason: 'model-timeout' | 'model-error';
  /** Per shadow model: its records, and per row whether it has one (1) or not (0). */
  shadows: Array<{ records: SharedArrayBuffer; rows: Uint8Array }>;
  /** Rows that may be among the run's top-scored windows, ascending. */
  topRows: number[];
}

/** Row kinds: the program that writes the row; results with tag t (src/models/scorer.ts) are
 *  Result + 2t, early results (per-event mode: late events' results) Result + 2t + 1. */
const enum Kind {
  Retraction = 0,
  Result = 1,
}

/** The columns of a call, in this order (TaskOutput's). */
const enum Column {
  WindowStartMs = 0,
  WindowEndMs = 1,
  Events = 2,
  Features = 3,
  Scores = 4,
  Revision = 5,
  KeyId = 6,
  Ref = 7,
  EventIdEnds = 8,
  EventIds = 9,
}

export class ResultRecordWriter {
  private readonly encoder: ResultEncoder;
  private readonly results = new EncodedRecordsBuilder();
  private readonly deadLetters = new EncodedRecordsBuilder();
  private readonly shadow = new EncodedRecordsBuilder();
  /** Programs for `tags` (one per tag, after the retraction's) by (features, outputs) per row. */
  private readonly programs = new Map<string, RecordPrograms>();
  private tags: readonly ModelTag[] = [];
  private kinds = new Uint8Array(256);
  private stamps = new Float64Array(256);

  constructor(private readonly spec: RecordsSpec) {
    this.encoder = new ResultEncoder(spec.featureNames, spec.outputName, undefined, spec.mode, spec.eventId);
  }

  /**
   * Encodes every result row of `out` (already in output order): retractions and scored windows
   * as result records, each with the model fields of its tag (SPEC §12); a row without a score
   * (its call failed, or the task's calls timed out: `scored` null) as a dead letter instead.
   * Shadow models' scores become records of their own.
   */
  write(out: TaskOutput, keys: KeyNames, scored: Pick<Scored, 'rowTag' | 'noScoreWhy' | 'tags' | 'shadows'> | null, texts: EventIdTexts = NO_TEXTS): EncodedTaskRecords {
    const n = out.numResults;
    if (this.kinds.length < n) {
      this.kinds = new Uint8Array(2 * n);
      this.stamps = new Float64Array(2 * n);
    }
    const kinds = this.kinds;
    const stamps = this.stamps;
    const top = new TopRows(TOP_CANDIDATES);
    const deadLetters = this.deadLetters.reset();
    const deadRows: number[] = [];
    for (let r = 0; r < n; r++) {
      // Kafka: inside the window (SPEC §5); a per-event result at its event's time (§13).
      stamps[r] = this.spec.mode === 'per-event' ? Math.floor(out.windowStartMs[r]) : out.windowEndMs[r] - 1;
      if (out.retracted[r]) kinds[r] = Kind.Retraction;
      else if (scored !== null && scored.rowTag[r] !== NO_SCORE) {
        kinds[r] = Kind.Result + 2 * scored.rowTag[r] + out.early[r];
        top.offer(r, out.scores[r * out.numOutputs]);
      } else {
        kinds[r] = SKIP_ROW;
        deadRows.push(r);
        const why = scored?.noScoreWhy.get(r);
        deadLetters.text(why === undefined ? this.timedOutDeadLetter(out, keys, r, texts) : this.unscoredDeadLetter(out, keys, r, texts, 'model-error', why));
        deadLetters.endRecord(null, 0, 0, 0, NaN);
      }
    }
    const tags = scored?.tags ?? this.tags;
    const programs = this.programsFor(out, tags);
    const results = this.results.reset();
    results.encode(programs, columnsOf(out, out.scores, texts), kinds, keys, stamps, 0, n);
    const shadows = (scored?.shadows ?? []).map((shadow) => {
      // A shadow record is a result record with the shadow model's name, version and score.
      const shadowKinds = new Uint8Array(n);
      for (let r = 0; r < n; r++) shadowKinds[r] = shadow.rowTag[r] === NO_SCORE ? SKIP_ROW : Kind.Result + 2 * shadow.rowTag[r] + out.early[r];
      const records = this.shadow.reset();
      records.encode(programs, columnsOf(out, shadow.scores, texts), shadowKinds, keys, stamps, 0, n);
      return { records: records.pack(), rows: shadowKinds.map((k) => (k === SKIP_ROW ? 0 : 1)) };
    });
    return {
      results: results.pack(),
      deadLetters: deadLetters.count > 0 ? deadLetters.pack() : null,
      deadRows: deadRows.length > 0 ? Int32Array.from(deadRows) : null,
      deadReason: scored === null ? 'model-timeout' : 'model-error',
      shadows,
      topRows: top.rows(),
    };
  }

  private programsFor(out: TaskOutput, tags: readonly ModelTag[]): RecordPrograms {
    if (tags !== this.tags) {
      // The scorer started a new tag list (its old one was full): compile again.
      this.programs.clear();
      this.tags = tags;
    }
    const shape = `${out.numFeatures}:${out.numOutputs}`;
    let programs = this.programs.get(shape);
    if (!programs) {
      programs = new RecordPrograms();
      programs.add(retractionLayout(), this.kafkaKey, this.columns(out)); // Kind.Retraction
      this.programs.set(shape, programs);
    }
    // Tags added since (a new variant's first result, a reloaded version): a result's program and an
    // early result's (per-event mode: a late event's).
    const layout = this.spec.mode === 'per-event' ? perEventLayout : resultLayout;
    for (let t = (programs.programs.length - Kind.Result) / 2; t < tags.length; t++) {
      programs.add(layout(this.spec.featureNames, this.spec.outputName, tags[t], false, this.spec.eventId), this.kafkaKey, this.columns(out));
      programs.add(layout(this.spec.featureNames, this.spec.outputName, tags[t], true, this.spec.eventId), this.kafkaKey, this.columns(out));
    }
    return programs;
  }

  private get kafkaKey(): RecordPart[] {
    return this.spec.keyFormat === 'key' || this.spec.mode === 'per-event' ? [{ key: true }] : [{ key: true }, { text: '@' }, { number: 'windowStartMs' }];
  }

  private columns(out: TaskOutput): ColumnMap {
    return {
      numbers: {
        windowStartMs: { column: Column.WindowStartMs, type: 'f64' },
        windowEndMs: { column: Column.WindowEndMs, type: 'f64' },
        events: { column: Column.Events, type: 'f64' },
        revision: { column: Column.Revision, type: 'i32' },
      },
      features: { column: Column.Features, perRow: out.numFeatures },
      scores: { column: Column.Scores, perRow: out.numOutputs },
      keyId: Column.KeyId,
      eventId: { index: Column.Ref, ends: Column.EventIdEnds, bytes: Column.EventIds },
    };
  }

  /** A window whose model call timed out (model.onTimeout: dead-letter). */
  private timedOutDeadLetter(out: TaskOutput, keys: KeyNames, r: number, texts: EventIdTexts): string {
    return this.unscoredDeadLetter(out, keys, r, texts, 'model-timeout', `the model call for this window did not finish within model.timeoutMs (${this.spec.modelTimeoutMs} ms)`);
  }

  /** A window without its score, as a dead letter. */
  private unscoredDeadLetter(out: TaskOutput, keys: KeyNames, r: number, texts: EventIdTexts, reason: DeadLetterReason, detail: string): string {
    const F = out.numFeatures;
    const t = out.ref[r];
    const eventIdJson = t < 0 || texts.ends.length === 0 ? undefined : Buffer.from(texts.bytes.subarray(t === 0 ? 0 : texts.ends[t - 1], texts.ends[t])).toString('utf8');
    const value = this.encoder.encode({ key: keys.name(out.keyId[r]), windowStartMs: out.windowStartMs[r], windowEndMs: out.windowEndMs[r], events: out.events[r], features: out.features.subarray(r * F, r * F + F), scores: new Float32Array(0), revision: out.revision[r], eventIdJson });
    return encodeDeadLetter(reason, detail, null, value);
  }
}

/** The columns of a call, in Column's order. */
function columnsOf(out: TaskOutput, scores: Float32Array, texts: EventIdTexts) {
  return [out.windowStartMs, out.windowEndMs, out.events, out.features, scores, out.revision, out.keyId, out.ref, texts.ends, texts.bytes];
}

/**
 * Rows that may be among the run's best `n` by score: every row scoring at least this task's n-th
 * best. The main thread offers them to the summary in output order; a row below that cannot be
 * kept, since n rows of its own task outscore it.
 */
class TopRows {
  private readonly best: number[] = [];
  private readonly offered: Array<{ row: number; score: number }> = [];

  constructor(private readonly n: number) {}

  offer(row: number, score: number): void {
    const b = this.best;
    if (!(score > (b.length < this.n ? -Infinity : b[this.n - 1]))) {
      if (score === b[this.n - 1]) this.offered.push({ row, score }); // a tie with the n-th
      return;
    }
    let i = b.length;
    while (i > 0 && b[i - 1] < score) i--;
    b.splice(i, 0, score);
    if (b.length > this.n) b.pop();
    this.offered.push({ row, score });
  }

  rows(): number[] {
    const nth = this.best.length < this.n ? -Infinity : this.best[this.n - 1];
    return this.offered.filter((o) => o.score >= nth).map((o) => o.row);
  }
}
