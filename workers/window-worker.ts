// Piscina entry for window tasks: the logic is in src/runtime/window-task.ts. The job spec came
// once, as workerData (src/runtime/pool.ts); a task's partitions are done one after another.
import { workerData } from 'piscina';
import type { PooledWindowTask, WindowTaskResult, WindowWorkerData } from '../src/runtime/protocol';
import { prepareStates, runWindowTask, type Preparation } from '../src/runtime/window-task';

const { job } = workerData as WindowWorkerData;

export default async (task: PooledWindowTask): Promise<WindowTaskResult[]> => {
  const results: WindowTaskResult[] = [];
  const preparations: Preparation[] = [];
  for (const part of task.parts) results.push(await runWindowTask({ ...part, batch: task.batch, keys: task.keys, versions: task.versions, job }, preparations));
  // After the results are sent (the pool runs without Atomics waits, so the thread's event loop
  // turns between tasks): the next tasks' copies. A task that failed makes none.
  setImmediate(() => prepareStates(preparations));
  return results;
};

/** A reloaded model's candidate version, checked off the main thread (src/models/check.ts). */
export { checkCandidate as checkModel } from '../src/models/check';
