// Watermarks per source partition (SPEC §15, a changelog job): events routed by their source
// partition, each judged against its own partition's watermark, and windows firing on their own
// partition's event time, whatever the other partitions do. Golden cases, written from the rules.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { jobFromObject } from '../../src/config/job';
import { DecodedEvents } from '../../src/decode/decoder';
import { SharedKeyNames } from '../../src/decode/key-names';
import { newRawBatch } from '../../src/decode/raw-batch';
import { planFeatures } from '../../src/features/plan';
import { ModelRegistry } from '../../src/models/registry';
import { workerJobSpec } from '../../src/runtime/engine';
import { Router } from '../../src/runtime/route';
import { runWindowTask } from '../../src/runtime/window-task';
import { Arena, type PartitionState } from '../../src/state/arena';
import { TaskOutput } from '../../src/state/output';
import { WatermarkTracker } from '../../src/time/watermark';
import { repoRoot } from '../helpers/paths';

const KEYS = ['A', 'B'];

/** [source partition, key, event time] in arrival order. */
type Event = [number, number, number];

async function setUp() {
  const job = jobFromObject({
    name: 'partition-clocks',
    source: { type: 'file', path: '/dev/null', key: 'key', timestamp: 'ts' },
    window: { type: 'tumbling', sizeMs: 1000 },
    // The golden model takes four features; the cases read the count.
    features: ['n', 'n2', 'n3', 'n4'].map((name) => ({ name, agg: 'count' })),
    model: { path: path.join(repoRoot, 'test', 'golden', 'const-model.json') },
    sink: { type: 'file', path: '/tmp/partition-clocks.jsonl' },
  });
  const spec = workerJobSpec(job, (await ModelRegistry.open(job)).plan, `clocks-${Math.random()}`);
  let names = SharedKeyNames.create(KEYS.length);
  for (const k of KEYS) names = names.append(k);
  const { slotWords } = planFeatures(job.features, false);
  const tracker = new WatermarkTracker(2, 0, 0, 0);
  const seen: Array<[number, number]> = [];
  const router = new Router(tracker, { by: 'source', keyIn: (k, p) => seen.push([k, p]) }, 2, () => 0);
  const states: PartitionState[] = [Arena.create(slotWords), Arena.create(slotWords)];
  /** Routes and runs a batch of events over both partitions; returns what fired and what was late. */
  const run = async (events: Event[], finalStep = false) => {
    const raw = newRawBatch(events.length, () => 't');
    const decoded = new DecodedEvents(events.length, 0);
    events.forEach(([p, key, ts], i) => {
      raw.partition[i] = p;
      decoded.rawIndex[i] = i;
      decoded.keyId[i] = key;
      decoded.timestampMs[i] = ts;
    });
    raw.count = decoded.count = events.length;
    const { batch } = router.route(raw, decoded, finalStep);
    const r = await runWindowTask({ job: spec, batch: batch.buffer, keys: names.buffers, parts: [0, 1].map((p) => ({ partition: p, state: states[p] })) });
    r.parts.forEach((part, p) => (states[p] = part.state));
    const out = new TaskOutput(r.output);
    const fired = Array.from({ length: out.numResults }, (_, i) => `${KEYS[out.keyId[i]]}@${out.windowStartMs[i]} n=${out.events[i]} step=${out.step[i]}`);
    const late = Array.from(out.lateRef, (ref) => `${KEYS[events[ref][1]]}@${events[ref][2]}`);
    return { fired, late };
  };
  return { run, tracker, seen };
}

test("a partition's windows fire on its own watermark while another partition lags", async () => {
  const { run, tracker } = await setUp();
  // Partition 0 (key A) moves to 1200; partition 1 (key B) stays at 200. The job watermark (the
  // minimum) would be 200 and fire nothing; A's window [0, 1000) fires at A's event at 1200.
  const first = await run([
    [0, 0, 100],
    [1, 1, 100],
    [0, 0, 500],
    [1, 1, 200],
    [0, 0, 1200],
  ]);
  assert.deepEqual(first.fired, ['A@0 n=2 step=4']);
  assert.deepEqual(first.late, []);
  assert.equal(tracker.partitionWatermark(0), 1200);
  assert.equal(tracker.partitionWatermark(1), 200);

  // Partition 0's event at 900 is late (its own watermark is past 1000); partition 1's at 50 is
  // not (its watermark is 200), and joins B's open window.
  const second = await run([
    [0, 0, 900],
    [1, 1, 50],
  ]);
  assert.deepEqual(second.fired, []);
  assert.deepEqual(second.late, ['A@900']);

  // Partition 1 reaches 1000: B's window fires with its three events, at B's step.
  const third = await run([[1, 1, 1000]]);
  assert.deepEqual(third.fired, ['B@0 n=3 step=7']);

  // The end of input: every partition's watermark goes to +Infinity, at one step.
  const last = await run([], true);
  assert.deepEqual(last.fired, ['A@1000 n=1 step=8', 'B@1000 n=1 step=8']);
});

test('the router tells the owner of every key and partition (co-partitioning check, new keys)', async () => {
  const { run, seen } = await setUp();
  await run([
    [0, 0, 100],
    [1, 0, 150],
    [1, 1, 160],
  ]);
  assert.deepEqual(seen, [
    [0, 0],
    [0, 1],
    [1, 1],
  ]);
});
