// SPEC §9 recovery goal, end to end: a Kafka job holding ~100,000 open windows is killed with
// SIGKILL after a checkpoint, and restarted in the same consumer group. Its summary gives the
// restore (open the store, load the checkpoint), the group's rejoin (which waits for the killed
// member's session to time out: kafkajs has no static membership) and the first record read.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BenchContext, BenchRow } from './harness';
import { fillTopic } from './kafka-load';
import { eventsRead, freePort, runSluice } from './kafka-runs';
import { benchJobYaml } from './suites/pipeline';
import { startBroker } from '../test/kafka/broker';
import { produceLines } from '../test/kafka/kafka-io';

const PARTITIONS = 16;
const RESTORE_GOAL_MS = 5000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function measureRestart(ctx: BenchContext): Promise<{ rows: BenchRow[]; notes: string[] }> {
  // Every key's events fall in one 60 s window (25 s of event time): they all stay open.
  const keys = ctx.quick ? 20_000 : 100_000;
  const events = keys * 5; // e^-5 of the keys (0.7%) get no event
  const topic = `restart-${process.pid}-${Date.now()}`;
  const broker = await startBroker({ [topic]: PARTITIONS });
  if (!broker) return { rows: [], notes: ['restart after kill -9: skipped, no Kafka broker (see the kafka suite)'] };
  const dir = path.join(ctx.cacheDir, 'restart');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  try {
    ctx.progress('restart: filling the topic', 0, 3);
    await fillTopic(broker.brokers, topic, events, keys, PARTITIONS);
    const job = path.join(dir, 'job.yaml');
    fs.writeFileSync(job, benchJobYaml('restart-bench', `{ type: kafka, brokers: ${JSON.stringify(broker.brokers)}, topic: ${topic}, groupId: restart-bench, startFrom: earliest, key: card, timestamp: ts }`));
    const sets = (port: number) => ['state.dir=state', 'state.checkpointIntervalMs=1000', `metrics.port=${port}`];

    ctx.progress('restart: reading, then kill -9', 1, 3);
    const port1 = await freePort();
    const first = runSluice(ctx, job, sets(port1));
    await first.joined();
    while (!((await eventsRead(port1)) >= events)) await sleep(200);
    await sleep(2500); // a checkpoint after the last event
    first.child.kill('SIGKILL');
    await first.done.catch(() => undefined);

    // New input while it is down: the restarted job's first record is one of these.
    await produceLines(broker.brokers, topic, Object.fromEntries(Array.from({ length: PARTITIONS }, (_, p) => [p, [JSON.stringify({ card: `card-new-${p}`, ts: 1_700_000_010_000, amount: 1, merchant: 'm' })]])));
    ctx.progress('restart: restarting', 2, 3);
    const port2 = await freePort();
    const second = runSluice(ctx, job, sets(port2));
    await second.joined();
    while (!((await eventsRead(port2)) >= PARTITIONS)) await sleep(100);
    second.child.kill('SIGTERM');
    const { summary: s, wallMs } = await second.done;
    const c = s.checkpoints!;
    const what = `restart after kill -9, ${s.peakOpenWindows.toLocaleString('en-US')} open windows`;
    const rows: BenchRow[] = [
      { case: what, metric: 'restore ms (open + load)', ours: c.restoreMs, peer: RESTORE_GOAL_MS, peerName: 'SPEC §9 goal (5 s)', higherIsBetter: false },
      { case: what, metric: 'group rejoin ms', ours: s.startup.groupJoinMs ?? NaN, peer: null, peerName: '', higherIsBetter: false },
      { case: what, metric: 'first new record ms', ours: s.startup.firstRecordMs ?? NaN, peer: null, peerName: '', higherIsBetter: false },
    ];
    const notes = [
      `restart: ${events.toLocaleString('en-US')} events of ${keys.toLocaleString('en-US')} keys over ${PARTITIONS} partitions, all in one 60 s window per key; checkpoint every 1 s, SIGKILL 2.5 s after the last event was read; restart in the same group, restored checkpoint ${c.restoredFrom}`,
      'restore = open RocksDB and load the checkpoint, before the engine starts; group rejoin and first new record are from the engine start (after the restore): the rejoin waits for the killed member to be dropped when its session times out (sessionTimeout, 10 s by default), as kafkajs has no static membership; the seek to the checkpointed offsets happens at the assignment',
      `restart process: ${(wallMs / 1000).toFixed(1)} s from spawn to exit after SIGTERM`,
    ];
    return { rows, notes };
  } finally {
    await broker.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
