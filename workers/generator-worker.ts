// Thread entry for the generator source: the logic is in src/io/sources/generator-ring.ts.
import { parentPort, workerData } from 'node:worker_threads';
import { fillRing, type RingWorkerData } from '../src/io/sources/generator-ring';

fillRing(workerData as RingWorkerData, (m) => parentPort!.postMessage(m));
