// Thread entry for the state store (src/state/kv-thread.ts): opens the key-value store here, so
// that its synchronous writes and fsyncs hold this thread, not the main one.
import { parentPort, workerData } from 'node:worker_threads';
import { openKv } from '../src/state/kv';
import { serveKv, type KvThreadData } from '../src/state/kv-thread';

const { dir, backend } = workerData as KvThreadData;
serveKv(parentPort!, openKv(dir, backend));
