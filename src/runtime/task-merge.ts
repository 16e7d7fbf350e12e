// Worker side: the outputs of a pooled task's partitions, merged into one run in output order
// before they go back, so that the main thread has a run per worker thread to merge, not one per
// key partition (with one thread: nothing to merge, and its records go to the sink as they are).
import type { KeyNames } from '../decode/key-names';
import { native } from '../native/index';
import { EncodedRecords, EncodedRecordsBuilder } from '../records/encoded';
import { TaskOutput } from '../state/output';
import type { EncodedTaskRecords } from './result-records';

/** One partition's output of a task, as runWindowTask made it. */
export interface PartOutput {
  output: TaskOutput;
  records: EncodedTaskRecords;
}

const empty = (numOutputs: number): PartOutput => ({
  output: TaskOutput.allocate(0, 0, numOutputs, 0),
  records: { results: new EncodedRecordsBuilder().pack(), deadLetters: null, topRows: [] },
});

const results = new EncodedRecordsBuilder();
const deadLetters = new EncodedRecordsBuilder();
let mergedRun = new Int32Array(1024);
let mergedRow = new Int32Array(1024);

/**
 * The partitions' outputs as one: results in output order (with their sort columns, scores and
 * window bounds, not their features, which the main thread does not read), late events one after
 * another, records gathered in the same order. `unscored`: the task's windows go to the dead
 * letters (all its partitions alike), retractions to the results.
 */
export function mergeParts(parts: PartOutput[], keys: KeyNames, numOutputs: number, unscored: boolean): PartOutput {
  const busy = parts.filter((p) => p.output.numResults > 0 || p.output.numLate > 0);
  if (busy.length === 0) return empty(numOutputs);
  if (busy.length === 1) return busy[0];
  const runs = busy.filter((p) => p.output.numResults > 0);
  const total = runs.reduce((n, p) => n + p.output.numResults, 0);
  if (mergedRun.length < total) [mergedRun, mergedRow] = [new Int32Array(2 * total), new Int32Array(2 * total)];
  const sortColumns = runs.map(({ output: o }) => ({ step: o.step, phase: o.phase, sortEndMs: o.sortEndMs, keyId: o.keyId, sub: o.sub, count: o.numResults }));
  const n = native.mergeResults(sortColumns, keys.index, keys.bytes, mergedRun, mergedRow);
  const out = TaskOutput.allocate(n, 0, numOutputs, busy.reduce((l, p) => l + p.output.numLate, 0));
  const resultRecords = runs.map((p) => EncodedRecords.fromBuffer(p.records.results));
  const deadRecords = runs.map((p) => (p.records.deadLetters ? EncodedRecords.fromBuffer(p.records.deadLetters) : EncodedRecords.empty));
  const pick = { results: new Picks(n), deadLetters: new Picks(n) };
  const nextResult = new Int32Array(runs.length);
  const nextDeadLetter = new Int32Array(runs.length);
  const topAt = new Int32Array(runs.length);
  const topRows: number[] = [];
  for (let m = 0; m < n; m++) {
    const i = mergedRun[m];
    const r = mergedRow[m];
    const o = runs[i].output;
    out.step[m] = o.step[r];
    out.phase[m] = o.phase[r];
    out.sortEndMs[m] = o.sortEndMs[r];
    out.keyId[m] = o.keyId[r];
    out.sub[m] = o.sub[r];
    out.windowStartMs[m] = o.windowStartMs[r];
    out.windowEndMs[m] = o.windowEndMs[r];
    out.events[m] = o.events[r];
    out.revision[m] = o.revision[r];
    out.retracted[m] = o.retracted[r];
    for (let k = 0; k < numOutputs; k++) out.scores[m * numOutputs + k] = o.scores[r * numOutputs + k];
    if (unscored && !o.retracted[r]) pick.deadLetters.add(i, nextDeadLetter[i]++);
    else pick.results.add(i, nextResult[i]++);
    // Candidates for the summary's top windows keep their standing (their rows ascend per run).
    const top = runs[i].records.topRows;
    if (topAt[i] < top.length && top[topAt[i]] === r) {
      topRows.push(m);
      topAt[i]++;
    }
  }
  let late = 0;
  for (const { output: o } of busy) {
    out.lateByMs.set(o.lateByMs, late);
    out.lateWindowEndMs.set(o.lateWindowEndMs, late);
    out.lateRef.set(o.lateRef, late);
    late += o.numLate;
  }
  results.reset().gather(resultRecords, pick.results.source, pick.results.row, pick.results.none, pick.results.flags, pick.results.count);
  deadLetters.reset().gather(deadRecords, pick.deadLetters.source, pick.deadLetters.row, pick.deadLetters.none, pick.deadLetters.flags, pick.deadLetters.count);
  return { output: out, records: { results: results.pack(), deadLetters: deadLetters.count > 0 ? deadLetters.pack() : null, topRows } };
}

/** (source, record) pairs picked for one output. */
class Picks {
  count = 0;
  readonly source: Int32Array;
  readonly row: Int32Array;
  /** No latency start, no flags: the main thread sets them. */
  readonly none: Float64Array;
  readonly flags: Uint8Array;

  constructor(max: number) {
    this.source = new Int32Array(max);
    this.row = new Int32Array(max);
    this.none = new Float64Array(max).fill(NaN);
    this.flags = new Uint8Array(max);
  }

  add(source: number, row: number): void {
    this.source[this.count] = source;
    this.row[this.count++] = row;
  }
}
