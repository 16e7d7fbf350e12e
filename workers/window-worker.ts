// Piscina entry for window tasks: the logic is in src/runtime/window-task.ts.
import { runWindowTask } from '../src/runtime/window-task';

export default runWindowTask;
