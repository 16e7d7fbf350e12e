// The Piscina pool of window workers. A task that fails (a worker that throws, exits or is
// killed) is run again: it worked on a copy of the partition's state, so nothing of it remains.
// Small per-event tasks run on the calling thread instead (inline): see WindowPool.inlineMaxUs.
import * as path from 'node:path';
import { Piscina } from 'piscina';
import { SluiceError } from '../errors';
import type { CandidateCheck, CheckOutcome } from '../models/check';
import type { PooledWindowTask, WindowTaskResult, WindowWorkerData, WorkerJobSpec } from './protocol';
import { within } from '../util/within';
import { prepareStates, runWindowTask, type Preparation } from './window-task';

/** Tries per task before the job fails: a bug that fails every time should stop the job, not loop. */
export const TASK_ATTEMPTS = 3;

/** A task that ran past its time (a hung or slow model call); its worker was stopped. Not retried:
 *  it would hang again. */
export class TaskTimeout extends Error {
  constructor(readonly partitions: number[], readonly timeoutMs: number) {
    super(`the window task of key partition(s) ${partitions.join(', ')} did not finish within ${timeoutMs} ms`);
  }
}

/** Tasks with fewer events than this do not update the cost per event: fixed costs dominate them. */
const MIN_EVENTS_TO_TIME = 32;

export class WindowPool {
  private readonly pool: Piscina;
  retries = 0;
  /** µs of a task per event, averaged over recent tasks (NaN: none timed yet). */
  private usPerEvent = NaN;
  /** forced 'by-turns': inline when true. */
  private turn = false;
  /** Tasks handed to Piscina and not yet finished. */
  private running = 0;
  private readonly filename: string;
  private readonly workerData: WindowWorkerData;
  /** The reload checks' thread (startChecker, checkCandidate). */
  private checker: Piscina | null = null;

  constructor(
    readonly threads: number,
    job: WorkerJobSpec,
    /** Per task, after which its worker is stopped (model.timeoutMs). */
    private readonly timeoutMs = Infinity,
    /**
     * Per-event tasks predicted (from the last tasks' cost per event) to take at most this many
     * µs run on this thread, not a worker's: the hop to a worker and back costs a live job more
     * latency than a small task's work, on a machine whose cores are busy (docs/per-event.md).
     * 0: none.
     */
    private readonly inlineMaxUs = 0,
    /** Tests only: tasks that may run inline do so always, or every other time, whatever they
     *  cost and whatever the source has waiting. */
    private readonly forced?: 'always' | 'by-turns',
  ) {
    // Compiled layout: dist/src/runtime/pool.js -> dist/workers/window-worker.js
    const filename = path.join(__dirname, '..', '..', 'workers', 'window-worker.js');
    // Several tasks per worker at once: the worker starts the next (another partition's) without
    // waiting for the main thread, which may be busy reading and decoding. A partition never has
    // two tasks out at once (the engine chains them), so interleaving them is safe.
    const workerData: WindowWorkerData = { job };
    this.filename = filename;
    this.workerData = workerData;
    // No Atomics waits between tasks: the worker's event loop turns, and makes the next tasks'
    // state copies then (src/runtime/window-task.ts), off the results' path.
    this.pool = new Piscina({ filename, minThreads: threads, maxThreads: threads, idleTimeout: 60_000, concurrentTasksPerWorker: 8, workerData, atomics: 'disabled' });
  }

  /** Tasks waiting for a worker thread, and threads running one. */
  get load(): { queued: number; busy: number } {
    return { queued: this.pool.queueSize, busy: Math.min(this.threads, this.running - this.pool.queueSize) };
  }

  /** Whether tasks may run on this thread. */
  get inlines(): boolean {
    return this.inlineMaxUs > 0 && this.workerData.job.mode === 'per-event';
  }

  /**
   * Whether inline tasks may change the committed states themselves (PartitionWork.inPlace):
   * only when nothing they call awaits (XGBoost models, no ONNX or remote ones), so that no
   * timeout can give one up half-way and run it again over the states it changed.
   */
  get inPlace(): boolean {
    return this.inlines && this.workerData.job.scoring.models.every((m) => m.kind === 'ensemble' || (m.kind === 'file' && m.type === 'xgboost'));
  }

  /** A warm-up task on this thread, if tasks may run here (src/runtime/warm-up.ts). */
  async warmHere(task: PooledWindowTask): Promise<void> {
    if (this.inlines) await this.inline(task);
  }

  /**
   * Runs the task (of `events` events) inline or on a worker; retries it on a worker if it fails.
   * Inline only if `live` (the source is keeping up; with a backlog, this thread reads the next
   * batch while a worker runs this one) and the task is predicted to take at most inlineMaxUs.
   */
  async run(task: PooledWindowTask, events = 0, live = false): Promise<WindowTaskResult> {
    // NaN (nothing timed yet) compares false: the first tasks go to workers.
    const cheap = this.forced ? this.forced === 'always' || (this.turn = !this.turn) : live && events * this.usPerEvent <= this.inlineMaxUs;
    // Tests' slow or failing tasks go to workers, unless forced here (a throw only).
    const inline = cheap && this.inlines && !task.warmUp && !task.parts.some((p) => p.delayMs || (p.failMidTask && !(this.forced && p.failMidTask === 'throw')));
    const r = await this.attempt(task, inline);
    if (!task.warmUp && events >= MIN_EVENTS_TO_TIME) {
      const us = (1000 * r.busyMs) / events;
      this.usPerEvent = Number.isNaN(this.usPerEvent) ? us : 0.8 * this.usPerEvent + 0.2 * us;
    }
    return r;
  }

  private async attempt(task: PooledWindowTask, inline: boolean, attempt = 1): Promise<WindowTaskResult> {
    const inPlace = task.parts.some((p) => p.inPlace);
    try {
      if (inline) return await this.inline(task);
      return await this.once(inPlace ? { ...task, parts: task.parts.map((p) => ({ ...p, inPlace: undefined })) } : task);
    } catch (e) {
      if (e instanceof TaskTimeout) throw e;
      if ((e as Error).name === 'AbortError') throw new TaskTimeout(task.parts.map((p) => p.partition), this.timeoutMs);
      // A bad model or config fails the same way every time: no retry. (Errors from a worker lose
      // their class on the way back, so the code is what tells.)
      const code = (e as { code?: string }).code;
      if (code?.startsWith('SLUICE_') && code !== 'SLUICE_RUNTIME') throw e;
      // Its states may be half-changed: the job stops (a checkpoint restores them), no retry.
      if (inline && inPlace) throw new SluiceError('SLUICE_RUNTIME', `window task for partition(s) ${task.parts.map((p) => p.partition).join(', ')} failed on the main thread, part-way through changing their state: ${(e as Error).message}`, { cause: e });
      if (attempt >= TASK_ATTEMPTS) {
        const partitions = task.parts.map((p) => p.partition).join(', ');
        throw new SluiceError('SLUICE_RUNTIME', `window task for partition(s) ${partitions} failed ${attempt} times: ${(e as Error).message}`, { cause: e });
      }
      this.retries++;
      this.onRetry?.();
      // Without the spare: the failed try may still be writing into it (a copy made ahead).
      return this.attempt({ ...task, parts: task.parts.map((p) => ({ ...p, spare: undefined, failMidTask: undefined })) }, false, attempt + 1);
    }
  }

  /** The task on this thread, as a worker runs it (workers/window-worker.ts). */
  private async inline(task: PooledWindowTask): Promise<WindowTaskResult> {
    const preparations: Preparation[] = [];
    const run = runWindowTask({ ...task, job: this.workerData.job }, preparations);
    // Past timeoutMs, a task that awaits (an ONNX or remote call) is given up, as a worker's is;
    // what it still writes goes to its own copies. A synchronous one (inPlace) cannot be stopped:
    // only tasks measured to be small come here.
    const result = Number.isFinite(this.timeoutMs) && !this.inPlace ? await within(run, this.timeoutMs, () => new TaskTimeout(task.parts.map((p) => p.partition), this.timeoutMs)) : await run;
    setImmediate(() => prepareStates(preparations));
    return { ...result, inline: true };
  }

  private async once(task: PooledWindowTask): Promise<WindowTaskResult> {
    this.running++;
    try {
      // Piscina stops the worker of an aborted task: a hung native call cannot be interrupted otherwise.
      const signal = Number.isFinite(this.timeoutMs) ? AbortSignal.timeout(this.timeoutMs) : undefined;
      return (await this.pool.run(task, { signal })) as WindowTaskResult;
    } finally {
      this.running--;
    }
  }

  /**
   * Tries a model's candidate version (named export checkModel of the window worker) on a thread
   * of its own: loading a large model is synchronous, and on a window worker it would hold that
   * worker's tasks (past timeoutMs, even). No timeout: a slow load delays only the reload.
   */
  checkCandidate(c: CandidateCheck): Promise<CheckOutcome> {
    return this.startChecker().run(c, { name: 'checkModel' }) as Promise<CheckOutcome>;
  }

  /** Starts the checks' thread now (a job whose models reload): starting it when a check comes
   *  would cost the running job a thread's start (~300 ms of a core, measured) at that moment. */
  startChecker(): Piscina {
    return (this.checker ??= new Piscina({ filename: this.filename, minThreads: 1, maxThreads: 1, idleTimeout: Infinity, workerData: this.workerData }));
  }

  /** Called for each retried task (metrics). */
  onRetry?: () => void;

  async close(): Promise<void> {
    await this.checker?.destroy();
    await this.pool.destroy();
  }
}
