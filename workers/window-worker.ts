// Piscina entry for window tasks: the logic is in src/runtime/window-task.ts. The job spec came
// once, as workerData (src/runtime/pool.ts); a task's partitions are done one after another.
import { workerData } from 'piscina';
import type { PooledTaskResult, PooledWindowTask, WindowWorkerData } from '../src/runtime/protocol';
import { runPooledTask } from '../src/runtime/window-task';

const { job } = workerData as WindowWorkerData;

export default (task: PooledWindowTask): Promise<PooledTaskResult> => runPooledTask(task, job);
