// A window task's state copy made ahead (src/runtime/window-task.ts): the next task of the
// partition starts on it instead of copying, and gives the same results and state as a copy; a
// copy of another state (a task run again) is not used.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { jobFromObject } from '../../src/config/job';
import { SharedKeyNames } from '../../src/decode/key-names';
import { planFeatures } from '../../src/features/plan';
import { ModelRegistry } from '../../src/models/registry';
import { workerJobSpec } from '../../src/runtime/engine';
import type { WorkerJobSpec } from '../../src/runtime/protocol';
import { prepareStates, runWindowTask, type Preparation } from '../../src/runtime/window-task';
import { Arena, type PartitionState } from '../../src/state/arena';
import { BatchHeader, EventBatch } from '../../src/state/batch';
import { repoRoot } from '../helpers/paths';

const KEYS = 8;
const EVENTS = 200;

/** Events of keys 0..KEYS-1 at 100 ms steps from tsStartMs; the watermark ends at `endWatermarkMs`. */
function batchOf(firstSeq: number, tsStartMs: number, endWatermarkMs: number): SharedArrayBuffer {
  const batch = EventBatch.allocate(EVENTS, 1, 1, EVENTS + 1);
  batch.partitionStart.set([0, EVENTS]);
  for (let i = 0; i < EVENTS; i++) {
    batch.seq[i] = firstSeq + i;
    batch.timestampMs[i] = tsStartMs + 100 * i;
    batch.keyId[i] = (i * 5) % KEYS;
    batch.ref[i] = i;
    batch.fields[i] = 1 + (i % 13);
  }
  batch.watermark.fill(tsStartMs - 1, 0, EVENTS);
  batch.watermark[EVENTS] = endWatermarkMs;
  batch.header[BatchHeader.FirstSeq] = firstSeq;
  batch.header[BatchHeader.WatermarkBeforeMs] = tsStartMs - 1;
  batch.header[BatchHeader.WatermarkAfterMs] = endWatermarkMs;
  return batch.buffer;
}

async function jobSpec(jobId: string): Promise<WorkerJobSpec> {
  const job = jobFromObject({
    name: 'window-task-test',
    source: { type: 'file', path: '/dev/null', key: 'key', timestamp: 'ts' },
    window: { type: 'tumbling', sizeMs: 5000 },
    features: [
      { name: 'n', agg: 'count' },
      { name: 's', agg: 'sum', field: 'amount' },
      { name: 'mx', agg: 'max', field: 'amount' },
      { name: 'p50', agg: 'p50', field: 'amount' },
    ],
    model: { path: path.join(repoRoot, 'test', 'golden', 'const-model.json') },
    sink: { type: 'file', path: '/tmp/window-task-test.jsonl' },
  });
  return workerJobSpec(job, (await ModelRegistry.open(job)).plan, jobId);
}

/** A state's bytes as a checkpoint holds them (the stamp is not among them). */
const bytes = (s: PartitionState, slotWords: number) => Object.values(Arena.usedRegions(s, slotWords)).map((r) => Buffer.from(r).toString('hex'));
const resultBytes = (r: { records: { results: SharedArrayBuffer } }) => Buffer.from(new Uint8Array(r.records.results)).toString('hex');

test('a copy made ahead starts the next task, with the results and state of a copy made by it', async () => {
  let keys = SharedKeyNames.create(KEYS);
  for (let k = 0; k < KEYS; k++) keys = keys.append(`card-${k}`);
  // Two batches: the first fires nothing; the second fires the first one's windows and more.
  const first = batchOf(0, 0, -1);
  const second = batchOf(EVENTS, EVENTS * 100, 15_000);
  const task = (job: WorkerJobSpec, batch: SharedArrayBuffer, state: PartitionState, spare?: PartitionState) => ({ job, batch, keys: keys.buffers, parts: [{ partition: 0, state, spare }] });
  const stateOf = (r: { parts: Array<{ state: PartitionState }> }) => r.parts[0].state;

  // Copied by each task.
  const plain = await jobSpec('plain');
  const { slotWords } = planFeatures(plain.features, false);
  const a1 = await runWindowTask(task(plain, first, Arena.create(slotWords)));
  const a2 = await runWindowTask(task(plain, second, stateOf(a1), Arena.create(slotWords)));

  // Copied ahead, as a worker does after sending a task's results.
  const ahead = await jobSpec('ahead');
  const prepared: Preparation[] = [];
  const b1 = await runWindowTask(task(ahead, first, Arena.create(slotWords)), prepared);
  prepareStates(prepared.splice(0));
  const spare = Arena.create(slotWords);
  const b2 = await runWindowTask(task(ahead, second, stateOf(b1), spare), prepared);
  assert.notEqual(stateOf(b2).meta, spare.meta, 'the task ran on the copy made ahead, not on a copy into its spare');
  assert.notEqual(stateOf(b2).meta, stateOf(b1).meta);
  assert.ok(a2.records.results.byteLength > 200, 'the second batch fires windows');
  assert.equal(resultBytes(b2), resultBytes(a2));
  assert.deepEqual(bytes(stateOf(b2), slotWords), bytes(stateOf(a2), slotWords));
  assert.notEqual(Arena.stampOf(stateOf(b2)), Arena.stampOf(stateOf(b1)), 'a task stamps the state it returns');

  // The copy ahead is now of b2's state. The same task run again (its result lost) starts from
  // b1's state: the copy does not match it and is not used.
  prepareStates(prepared.splice(0));
  const again = await runWindowTask(task(ahead, second, stateOf(b1), spare));
  assert.equal(stateOf(again).meta, spare.meta, 'copied into its spare: the copy ahead was of another state');
  assert.equal(resultBytes(again), resultBytes(a2));
  assert.deepEqual(bytes(stateOf(again), slotWords), bytes(stateOf(a2), slotWords));
});
