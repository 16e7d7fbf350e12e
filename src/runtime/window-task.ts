// One window task, as a worker runs it: per partition, copy its state and apply the batch; then
// score what fired in all of them and encode the records, once; hand back the new states and the
// output. Kept out of workers/ so it can be tested without threads.
import { KeyNames } from '../decode/key-names';
import { planFeatures, type FeaturePlan } from '../features/plan';
import { createDigestStore } from '../features/digest-store';
import { VariantScorer } from '../models/scorer';
import { Arena, type PartitionState } from '../state/arena';
import { EventBatch } from '../state/batch';
import { OutputBuilder, TaskOutput } from '../state/output';
import { WindowOperator } from '../windows/operator';
import type { PartitionResult, PartitionWork, WindowTask, WindowTaskResult, WorkerJobSpec } from './protocol';
import { ResultRecordWriter } from './result-records';

/** What a worker keeps per job between tasks. */
interface JobContext {
  plan: FeaturePlan;
  scorer: VariantScorer;
  writer: ResultRecordWriter;
}

const contexts = new Map<string, JobContext>();

function contextOf(job: WorkerJobSpec): JobContext {
  let c = contexts.get(job.jobId);
  if (!c) {
    c = { plan: planFeatures(job.features, job.window.type === 'session'), scorer: new VariantScorer(job.scoring), writer: new ResultRecordWriter(job.records) };
    contexts.set(job.jobId, c);
  }
  return c;
}
/** Output builders between tasks, by feature count: one per task cost a partition's task ~30 KB. */
const spareBuilders = new Map<number, OutputBuilder[]>();

/**
 * Copies made ahead, per job and partition: after a task, its worker copies the state the task
 * returned (prepareStates), off the results' path, so that the partition's next task here
 * starts at once. The copy is this thread's alone; it is used only if the next task's state
 * carries the same stamp (the state the copy was made of), otherwise its buffers are reused.
 */
const prepared = new Map<string, PartitionState>();
/** Past this, no more copies are made ahead: they cost memory, and more than their own bytes
 *  (buffers they replace are freed only at a GC). The 1 h sliding-window bench (140 MiB of state;
 *  SPEC §9: under 1 GiB of RSS) took 916 and 986 MiB at 64 and 256 MiB, and 741-942 at 16 (RSS
 *  moves with GC timing), against 542-676 without copies ahead. */
const MAX_PREPARED_BYTES = 16 << 20;

/** A copy to make after a task: the state it returned, and buffers free to take it. */
export interface Preparation {
  key: string;
  state: PartitionState;
  slotWords: number;
  into: PartitionState | undefined;
}

function takePrepared(key: string): PartitionState | undefined {
  const p = prepared.get(key);
  prepared.delete(key);
  return p;
}

/** Makes the copies of a successful task's states (see `prepared`). */
export function prepareStates(list: Preparation[]): void {
  for (const { key, state, slotWords, into } of list) {
    try {
      prepared.delete(key); // a copy of an older state: dropped
      let preparedBytes = 0;
      for (const p of prepared.values()) preparedBytes += Arena.bytesOf(p);
      if (preparedBytes + Arena.bytesOf(state) > MAX_PREPARED_BYTES) continue;
      // Into buffers too small for the state (it grew): no copy, rather than new buffers.
      if (into && !Arena.fits(into, state)) continue;
      prepared.set(key, Arena.copyStamped(state, slotWords, into));
    } finally {
      Arena.setCopyPending(state, false); // read for the last time: free to be a spare
    }
  }
}

/** The copy of a partition's state that its task works on, and buffers free for the next copy. */
function copyOf(key: string, part: PartitionWork, slotWords: number): { arena: Arena; free: PartitionState | undefined } {
  const ready = takePrepared(key);
  // The spare is the state before the last, which the worker that returned it may not have
  // copied ahead yet (its setImmediate waits while that thread handles messages: this very
  // task, even); writing into it then would change it under that copy.
  const spare = part.spare && !Arena.copyPending(part.spare) ? part.spare : undefined;
  const stamp = Arena.stampOf(part.state);
  // A copy made ahead of this very state: no copy now, and the spare is free for the next one.
  const ahead = ready !== undefined && stamp !== 0 && Arena.stampOf(ready) === stamp;
  const arena = ahead ? Arena.over(ready, slotWords) : Arena.copyForTask(part.state, slotWords, spare);
  const free = ahead ? spare : ready;
  return { arena, free: free?.meta === arena.partitionState.meta ? undefined : free }; // never the task's own buffers
}

/**
 * Runs a pooled task: each partition's events applied to its state (a copy), all into one
 * output; then the output scored and written as records, once. `preparations`: where a worker
 * collects the copies to make ahead once the task's results are sent (prepareStates); without
 * it (tests), every partition copies its state.
 */
export async function runWindowTask(task: WindowTask, preparations?: Preparation[]): Promise<WindowTaskResult> {
  const { job } = task;
  const { plan, scorer, writer } = contextOf(job);
  scorer.useVersions(task.versions);
  // The models first: a bad model fails the task before any work.
  await scorer.ready();
  // Busy time counts from here: a worker interleaves tasks at awaits, so wall time would overlap.
  let busyMs = 0;
  let startedAt = performance.now();
  const spares = spareBuilders.get(plan.features.length) ?? spareBuilders.set(plan.features.length, []).get(plan.features.length)!;
  const out = spares.pop()?.reset() ?? new OutputBuilder(plan.features.length);
  const batch = new EventBatch(task.batch);
  const parts: PartitionResult[] = [];
  for (const part of task.parts) {
    const key = `${job.jobId}/${part.partition}`;
    // In place (an inline task): no copy, and none to make ahead. Not while the worker that
    // returned the state may still be copying it ahead.
    const inPlace = part.inPlace === true && !Arena.copyPending(part.state);
    const { arena, free } = inPlace ? { arena: Arena.over(part.state, plan.slotWords), free: undefined } : copyOf(key, part, plan.slotWords);
    const op = new WindowOperator(job.window, plan, arena, createDigestStore(arena, plan), out, job.mode);
    op.apply(batch, part.partition);
    if (part.failMidTask === 'throw') throw new Error(`test failure injected in partition ${part.partition}`);
    if (part.failMidTask === 'exit') process.exit(70);
    if (part.delayMs) {
      busyMs += performance.now() - startedAt;
      await new Promise((resolve) => setTimeout(resolve, part.delayMs));
      startedAt = performance.now();
    }
    arena.restamp();
    const state = arena.partitionState;
    if (!inPlace) preparations?.push({ key, state, slotWords: plan.slotWords, into: free });
    parts.push({ state, nextTimerMs: op.nextTimerMs(), counters: op.counters, openWindows: arena.liveSlots, stateBytes: Arena.bytesOf(state) });
  }
  // Before the result goes: its states are read once more, by their copies ahead (prepareStates).
  for (const p of preparations ?? []) Arena.setCopyPending(p.state, true);
  const keys = KeyNames.of(task.keys);
  const output: TaskOutput = out.pack(job.scoring.numOutputs, keys);
  if (spares.length < 4) spares.push(out); // packed: the output has its own copy
  busyMs += performance.now() - startedAt;
  const scored = task.noScore ? null : await scorer.score(output, keys, task.failedWhy, task.warmUp);
  const scoreMs = scored?.scoreMs ?? 0;
  const encodeStartedAt = performance.now();
  const records = writer.write(output, keys, scored, { ends: batch.eventIdEnd, bytes: batch.eventIds });
  busyMs += scoreMs + performance.now() - encodeStartedAt;
  return { parts, output: output.buffer, records, busyMs, scoreMs, scoredRows: task.noScore ? 0 : output.numResults, samples: scored?.samples, scoring: scored?.counts };
}
