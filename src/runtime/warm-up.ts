// Before the first record: one made-up task per worker thread, and one on the main thread if
// small tasks run there, so that loading the model and compiling the window, digest, scoring and
// record-writing code happen before there is a result to wait for (measured: the first firings
// of a live Kafka job took 100-150 ms in their tasks, later ones 15).
import { SharedKeyNames } from '../decode/key-names';
import { Arena } from '../state/arena';
import { BatchHeader, EventBatch } from '../state/batch';
import type { WindowPool } from './pool';

const KEYS = 64;
const EVENTS = 1024;

export async function warmUp(pool: WindowPool, slotWords: number, numFields: number): Promise<void> {
  const batch = EventBatch.allocate(EVENTS, numFields, 1, EVENTS + 1);
  batch.partitionStart.set([0, EVENTS]);
  for (let i = 0; i < EVENTS; i++) {
    batch.seq[i] = i;
    batch.timestampMs[i] = i * 10;
    batch.keyId[i] = i % KEYS;
    batch.ref[i] = i;
    for (let f = 0; f < numFields; f++) batch.fields[i * numFields + f] = 1 + ((i * 7 + f) % 13);
  }
  // Every event at watermark -Infinity, then +Infinity: every window fires and is scored.
  batch.watermark.fill(-Infinity, 0, EVENTS);
  batch.watermark[EVENTS] = Infinity;
  batch.header[BatchHeader.FirstSeq] = 0;
  batch.header[BatchHeader.WatermarkBeforeMs] = -Infinity;
  batch.header[BatchHeader.WatermarkAfterMs] = Infinity;
  let keys = SharedKeyNames.create(KEYS);
  for (let k = 0; k < KEYS; k++) keys = keys.append(`warm-up-${k}`);
  const task = () => ({ batch: batch.buffer, keys: keys.buffers, parts: [{ partition: 0, state: Arena.create(slotWords) }], warmUp: true });
  await Promise.all([...Array.from({ length: pool.threads }, () => pool.run(task())), pool.warmHere(task())]);
}
