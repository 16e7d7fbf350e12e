// The Piscina pool of window workers. A task that fails (a worker that throws, exits or is
// killed) is run again: it worked on a copy of the partition's state, so nothing of it remains.
import * as path from 'node:path';
import { Piscina } from 'piscina';
import { SluiceError } from '../errors';
import type { CandidateCheck, CheckOutcome } from '../models/check';
import type { PooledWindowTask, WindowTaskResult, WindowWorkerData, WorkerJobSpec } from './protocol';

/** Tries per task before the job fails: a bug that fails every time should stop the job, not loop. */
export const TASK_ATTEMPTS = 3;

/** A task that ran past its time (a hung or slow model call); its worker was stopped. Not retried:
 *  it would hang again. */
export class TaskTimeout extends Error {
  constructor(readonly partitions: number[], readonly timeoutMs: number) {
    super(`the window task of key partition(s) ${partitions.join(', ')} did not finish within ${timeoutMs} ms`);
  }
}

export class WindowPool {
  private readonly pool: Piscina;
  retries = 0;
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

  async run(task: PooledWindowTask, attempt = 1): Promise<WindowTaskResult> {
    try {
      return await this.once(task);
    } catch (e) {
      if ((e as Error).name === 'AbortError') throw new TaskTimeout(task.parts.map((p) => p.partition), this.timeoutMs);
      // A bad model or config fails the same way every time: no retry. (Errors from a worker lose
      // their class on the way back, so the code is what tells.)
      const code = (e as { code?: string }).code;
      if (code?.startsWith('SLUICE_') && code !== 'SLUICE_RUNTIME') throw e;
      if (attempt >= TASK_ATTEMPTS) {
        const partitions = task.parts.map((p) => p.partition).join(', ');
        throw new SluiceError('SLUICE_RUNTIME', `window task for partition(s) ${partitions} failed ${attempt} times: ${(e as Error).message}`, { cause: e });
      }
      this.retries++;
      this.onRetry?.();
      // Without the spare: the failed try may still be writing into it (a copy made ahead).
      return this.run({ ...task, parts: task.parts.map((p) => ({ ...p, spare: undefined, failMidTask: undefined })) }, attempt + 1);
    }
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
