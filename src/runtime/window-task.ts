// One window task, as a worker runs it: copy the partition's state, apply the batch, score what
// fired, encode the records, hand back the new state and the outputs. Kept out of workers/ so it can be tested
// without threads.
import { KeyNames } from '../decode/key-names';
import { planFeatures, type FeaturePlan } from '../features/plan';
import { createDigestStore } from '../features/digest-store';
import { VariantScorer } from '../models/scorer';
import { Arena, type PartitionState } from '../state/arena';
import { EventBatch } from '../state/batch';
import { OutputBuilder, TaskOutput } from '../state/output';
import { WindowOperator } from '../windows/operator';
import type { WindowTask, WindowTaskResult, WorkerJobSpec } from './protocol';
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
let preparedBytes = 0;
/** Past this, no more copies are made ahead: a state this big is copied by its task. */
const MAX_PREPARED_BYTES = 256 << 20;

/** A copy to make after a task: the state it returned, and buffers free to take it. */
export interface Preparation {
  key: string;
  state: PartitionState;
  slotWords: number;
  into: PartitionState | undefined;
}

const bytesOf = (s: PartitionState) => s.meta.byteLength + s.slots.byteLength + s.index.byteLength + s.timers.byteLength + s.digests.byteLength;

function takePrepared(key: string): PartitionState | undefined {
  const p = prepared.get(key);
  if (p) {
    prepared.delete(key);
    preparedBytes -= bytesOf(p);
  }
  return p;
}

/** Makes the copies of a successful task's states (see `prepared`). */
export function prepareStates(list: Preparation[]): void {
  for (const { key, state, slotWords, into } of list) {
    takePrepared(key); // a copy of an older state: dropped
    if (preparedBytes + bytesOf(state) > MAX_PREPARED_BYTES) continue;
    const copy = Arena.copyStamped(state, slotWords, into);
    prepared.set(key, copy);
    preparedBytes += bytesOf(copy);
  }
}

/**
 * `preparations`: where a worker collects the copies to make ahead once the task's results are
 * sent (prepareStates); without it (tests, the main thread), every task copies its state.
 */
export async function runWindowTask(task: WindowTask, preparations?: Preparation[]): Promise<WindowTaskResult> {
  const { job } = task;
  const { plan, scorer, writer } = contextOf(job);
  scorer.useVersions(task.versions);
  // The models first: a bad model fails the task before any work.
  await scorer.ready();
  // Busy time counts from here: a worker interleaves tasks at awaits, so wall time would overlap.
  const startedAt = performance.now();
  const key = `${job.jobId}/${task.partition}`;
  const ready = takePrepared(key);
  const stamp = Arena.stampOf(task.state);
  // A copy made ahead of this very state: no copy now, and the spare is free for the next one.
  const ahead = ready !== undefined && stamp !== 0 && Arena.stampOf(ready) === stamp;
  const arena = ahead ? Arena.over(ready, plan.slotWords) : Arena.copyForTask(task.state, plan.slotWords, task.spare);
  let free = ahead ? task.spare : ready;
  if (free?.meta === arena.partitionState.meta) free = undefined; // never the task's own buffers
  const spares = spareBuilders.get(plan.features.length) ?? spareBuilders.set(plan.features.length, []).get(plan.features.length)!;
  const out = spares.pop()?.reset() ?? new OutputBuilder(plan.features.length);
  const op = new WindowOperator(job.window, plan, arena, createDigestStore(arena, plan), out, job.mode);
  const batch = new EventBatch(task.batch);
  op.apply(batch, task.partition);
  if (task.failMidTask === 'throw') throw new Error(`test failure injected in partition ${task.partition}`);
  if (task.failMidTask === 'exit') process.exit(70);
  if (task.delayMs) await new Promise((resolve) => setTimeout(resolve, task.delayMs));
  const keys = KeyNames.of(task.keys);
  const output: TaskOutput = out.pack(job.scoring.numOutputs, keys);
  if (spares.length < 4) spares.push(out); // packed: the output has its own copy
  const applyMs = performance.now() - startedAt;
  const scored = task.noScore ? null : await scorer.score(output, keys, task.failedWhy, task.warmUp);
  const scoreMs = scored?.scoreMs ?? 0;
  const encodeStartedAt = performance.now();
  const records = writer.write(output, keys, scored, { ends: batch.eventIdEnd, bytes: batch.eventIds });
  const encodeMs = performance.now() - encodeStartedAt;
  arena.restamp();
  const state = arena.partitionState;
  preparations?.push({ key, state, slotWords: plan.slotWords, into: free });
  const stateBytes = state.meta.byteLength + state.slots.byteLength + state.index.byteLength + state.timers.byteLength + state.digests.byteLength;
  return { state, output: output.buffer, records, nextTimerMs: op.nextTimerMs(), counters: op.counters, openWindows: arena.liveSlots, stateBytes, busyMs: applyMs + scoreMs + encodeMs, scoreMs, scoredRows: task.noScore ? 0 : output.numResults, samples: scored?.samples, scoring: scored?.counts };
}
