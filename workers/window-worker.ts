// Piscina entry for window tasks: the logic is in src/runtime/window-task.ts. The job spec came
// once, as workerData (src/runtime/pool.ts).
import { workerData } from 'piscina';
import type { PooledWindowTask, WindowTaskResult, WindowWorkerData } from '../src/runtime/protocol';
import { prepareStates, runWindowTask, type Preparation } from '../src/runtime/window-task';

const { job } = workerData as WindowWorkerData;

export default async (task: PooledWindowTask): Promise<WindowTaskResult> => {
  const preparations: Preparation[] = [];
  const result = await runWindowTask({ ...task, job }, preparations);
  // After the result is sent (the pool runs without Atomics waits, so the thread's event loop
  // turns between tasks): the next tasks' copies. A task that failed makes none.
  setImmediate(() => prepareStates(preparations));
  return result;
};

/** A reloaded model's candidate version, checked off the main thread (src/models/check.ts). */
export { checkCandidate as checkModel } from '../src/models/check';
