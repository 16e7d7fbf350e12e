// SPEC §9 Kafka goals, on librdkafka's mock cluster (test/kafka/broker.ts) or KAFKA_BROKERS.
// Throughput: 1 M JSON events over 32 partitions, Kafka -> Kafka with the example job (bounded,
// each trial a fresh `sluice run` and consumer group), against a bare kafkajs consumer doing
// JSON.parse on one thread (bench/peers/kafka-consumer.ts); both timed from the first record read
// to the end; the same with output-heavy input (a result per three events), whole process. Latency
// from outside at 30k events/s (bench/kafka-outside.ts); and events produced at half of sluice's
// rate while an unbounded job reads them, 1,000 and 10,000 windows per firing, measured by sluice
// from the arrival of the event that fired them (moved the watermark past their end) to the ack.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { alternating, ensureBenchModels, median } from '../common';
import type { BenchContext, BenchRow, Suite, SuiteResult } from '../harness';
import { fillTopic, kcatMissing, produceLive, TICK_MS } from '../kafka-load';
import { OUTSIDE_CASES, OUTSIDE_PARTITIONS, OUTSIDE_RATE, outsideRun } from '../kafka-outside';
import { checkpointNote, killRunning, liveRun, loggedNote, runPeer, runSluice, type PeerResult, type SluiceRun } from '../kafka-runs';
import { benchJobYaml } from './pipeline';
import { LATENCY_WARMUP_MS, type Summary } from '../../src/runtime/summary';
import { startBroker } from '../../test/kafka/broker';

export const kafkaSuite: Suite = {
  name: 'kafka',
  description: 'Kafka -> Kafka events/s vs a bare kafkajs consumer; result latency at half that rate',
  run,
};

const PARTITIONS = 32;
const KEYS = 10_000;
/** Output-heavy input: an event every 2 ms of event time, so a 60 s window of a card holds ~3
 *  events and results are a third of the events (SPEC §9); they go to a topic of 4 partitions. */
const HEAVY_STEP_MS = 2;
const HEAVY_OUT_PARTITIONS = 4;
const LATENCY_GOAL_P99_MS = 50;
/** A bounded run reads for ~1.5 s: checkpoints every 300 ms make several (one at a time: the next
 *  waits for the last one's write); 3,600,000 leaves only the final one, which both runs take. */
const CHECKPOINT_ON_MS = 300;
const CHECKPOINT_OFF_MS = 3_600_000;
/** Live events: event time = wall clock jittered back by up to JITTER_MS; watermarks follow closely. */
const JITTER_MS = 20;
const LIVE_OUT_OF_ORDERNESS_MS = 50;
/** Both cases fire 10,000 windows a second: 1,000 keys every 100 ms (so the p99 is not just the
 *  worst firing of a few), 10,000 keys every second. The last runs with a file sink, for the notes.
 *  The goal's case runs `trials` times (one in a quick run): its rows are the median trial's. */
const LIVE_CASES = [
  { keys: 1_000, windowMs: 100, sink: 'kafka', trials: 3 },
  { keys: 10_000, windowMs: 1000, sink: 'kafka', trials: 1 },
  { keys: 1_000, windowMs: 100, sink: 'file', trials: 1 },
] as const;

async function run(ctx: BenchContext): Promise<SuiteResult> {
  const events = ctx.quick ? 200_000 : 1_000_000;
  const trials = ctx.quick ? 1 : 3;
  const liveMs = ctx.quick ? 6_000 : 20_000;
  const id = `${process.pid}-${Date.now()}`;
  const topic = (name: string) => `bench-${name}-${id}`;
  const liveTrials = (c: (typeof LIVE_CASES)[number]) => (ctx.quick ? 1 : c.trials);
  const liveIn = (i: number, t: number) => `live-in-${i}-${t}`;
  const names = [
    'in',
    'in-heavy',
    'out-ckpt',
    ...LIVE_CASES.flatMap((c, i) => [`live-out-${i}`, ...Array.from({ length: liveTrials(c) }, (_, t) => liveIn(i, t))]),
    ...Array.from({ length: trials }, (_, t) => `out-${t}`),
  ];
  const heavyOut = Array.from({ length: trials }, (_, t) => `out-heavy-${t}`);
  const outside = OUTSIDE_CASES.flatMap((_, i) => [`outside-in-${i}`, `outside-out-${i}`]);
  const broker = await startBroker({
    ...Object.fromEntries(names.map((n) => [topic(n), PARTITIONS])),
    ...Object.fromEntries(outside.map((n) => [topic(n), n.startsWith('outside-out') ? HEAVY_OUT_PARTITIONS : OUTSIDE_PARTITIONS])),
    ...Object.fromEntries(heavyOut.map((n) => [topic(n), HEAVY_OUT_PARTITIONS])),
  });
  if (!broker) {
    return { suite: 'kafka', rows: [], notes: ['!!! KAFKA SUITE SKIPPED !!! no Kafka broker: the mock cluster needs cc and librdkafka-dev (apt-get install gcc librdkafka-dev), or set KAFKA_BROKERS=host:port'] };
  }
  const dir = path.join(ctx.cacheDir, 'kafka');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const rows: BenchRow[] = [];
  const notes: string[] = [];
  try {
    ensureBenchModels(ctx);
    ctx.progress('filling the input topic', 0, 1);
    const fill = await fillTopic(broker.brokers, topic('in'), events, KEYS, PARTITIONS);
    ctx.progress('filling the output-heavy input topic', 0, 1);
    const heavyFill = await fillTopic(broker.brokers, topic('in-heavy'), events, KEYS, PARTITIONS, HEAVY_STEP_MS);
    const source = (bounded: boolean) => `{ type: kafka, brokers: ${JSON.stringify(broker.brokers)}, topic: ${topic('in')}, groupId: unset, startFrom: earliest, bounded: ${bounded}, key: card, timestamp: ts }`;
    const job = path.join(dir, 'job.yaml');
    fs.writeFileSync(job, benchJobYaml('kafka-bench', source(true)));
    const kafkaSink = (name: string) => `{type: kafka, topic: ${topic(name)}}`;
    const sets = (run: string, sink: string) => [`source.groupId=sluice-${run}-${id}`, `state.dir=state-${run}`, `sink=${sink}`];

    const ours: Array<SluiceRun & { eps: number; s: Summary }> = [];
    const peers: PeerResult[] = [];
    const eps = (s: Summary) => (s.events / s.readingMs) * 1000;
    await alternating(ctx, 'throughput trial', trials, [
      async (t) => void peers.push(await runPeer(ctx, broker.brokers, topic('in'), `peer-${t}-${id}`)),
      async (t) => {
        const r = await runSluice(ctx, job, sets(`t${t}`, kafkaSink(`out-${t}`))).done;
        ours.push({ ...r, eps: eps(r.summary), s: r.summary });
      },
    ]);
    const ckpt = { on: [] as SluiceRun[], off: [] as SluiceRun[] };
    await alternating(ctx, 'checkpointing on/off', trials, (['on', 'off'] as const).map((k) => async (t: number) => {
      const interval = `state.checkpointIntervalMs=${k === 'on' ? CHECKPOINT_ON_MS : CHECKPOINT_OFF_MS}`;
      ckpt[k].push(await runSluice(ctx, job, [...sets(`ckpt-${k}-${t}`, kafkaSink('out-ckpt')), interval]).done);
    }));
    for (const n of [...ours.map((r) => r.s.events), ...[...ckpt.on, ...ckpt.off].map((r) => r.summary.events), ...peers.map((p) => p.events)]) if (n !== events) throw new Error(`a run read ${n} events, not ${events}`);
    ctx.progress('throughput, file sink', 0, 1);
    const fileDone = await runSluice(ctx, job, sets('file', '{type: file, path: out/scores.jsonl}')).done;
    const fileRun = fileDone.summary;

    const oursEps = median(ours.map((r) => r.eps));
    const mid = ours.find((r) => r.eps === oursEps) ?? ours[0];
    const rate = Math.round(oursEps / 2);
    const perSecond = (n: number, ms: number) => Math.round((n / ms) * 1000).toLocaleString('en-US');
    rows.push({ case: `${events / 1e6} M events, ${PARTITIONS} partitions, Kafka -> Kafka`, metric: 'events/s, first record to end', ours: oursEps, peer: median(peers.map((p) => p.eventsPerSecond)), peerName: 'kafkajs + JSON.parse, 1 thread', higherIsBetter: true });
    notes.push(
      `input: ${events.toLocaleString('en-US')} events, ${KEYS.toLocaleString('en-US')} cards, keyed by card, partition = card % ${PARTITIONS}; ${fill.valueBytes.toFixed(1)} bytes a value on average, largest partition ${(fill.maxPartitionBytes / 2 ** 20).toFixed(2)} MiB of values (the mock keeps ~5 MiB, all kept: checked); filled before the clock (${(fill.ms / 1000).toFixed(1)} s)`,
      `throughput: median of ${trials} trial(s); per trial sluice vs peer events/s: ${ours.map((r, t) => `${perSecond(r.s.events, r.s.readingMs)} vs ${Math.round(peers[t].eventsPerSecond).toLocaleString('en-US')}`).join('; ')}. The peer's clock stops at its last JSON.parse; sluice's readingMs also holds the end of input: ${mid.s.windowsFired.toLocaleString('en-US')} windows fired, the last ones at the end of input, the slowest firing ${mid.s.latencyMs.max.toFixed(0)} ms from its batch to Kafka's ack, then the offset commit and leaving the group; readingMs less that firing gives ${perSecond(events, mid.s.readingMs - mid.s.latencyMs.max)} events/s`,
      `where sluice's time goes (median trial): main thread busy ${(mid.s.mainThreadBusyMs / 1000).toFixed(2)} s of ${(mid.s.readingMs / 1000).toFixed(2)} s reading (kafkajs fetch decoding, GC, copying values into batches, decoding, producing results), window worker(s) ${(mid.s.workerBusyMs / 1000).toFixed(2)} s (${mid.s.threads} thread(s)); the same job with a file sink: ${perSecond(fileRun.events, fileRun.readingMs)} events/s`,
      `whole process (spawn to exit, incl. start-up and the group join, ${Math.round(median(peers.map((p) => p.joinMs)))} ms for the peer): sluice ${perSecond(events, median(ours.map((r) => r.wallMs)))} events/s, peer ${perSecond(events, median(peers.map((p) => p.wallMs)))} events/s; sluice's own elapsedMs gives ${Math.round(median(ours.map((r) => r.s.eventsPerSecond))).toLocaleString('en-US')} events/s${loggedNote([...ours, fileDone])}`,
    );
    const heavy: Array<SluiceRun & { eps: number; s: Summary }> = [];
    const heavyPeers: PeerResult[] = [];
    await alternating(ctx, 'output-heavy trial', trials, [
      async (t) => void heavyPeers.push(await runPeer(ctx, broker.brokers, topic('in-heavy'), `peer-heavy-${t}-${id}`)),
      async (t) => {
        const r = await runSluice(ctx, job, [...sets(`heavy-${t}`, kafkaSink(`out-heavy-${t}`)), `source.topic=${topic('in-heavy')}`]).done;
        heavy.push({ ...r, eps: eps(r.summary), s: r.summary });
      },
    ]);
    for (const n of [...heavy.map((r) => r.s.events), ...heavyPeers.map((p) => p.events)]) if (n !== events) throw new Error(`an output-heavy run read ${n} events, not ${events}`);
    const wholeEps = (wallMs: number) => (events / wallMs) * 1000;
    const heavyMid = heavy.find((r) => r.wallMs === median(heavy.map((h) => h.wallMs))) ?? heavy[0];
    const heavyCase = `${events / 1e6} M events, output-heavy (${heavyMid.s.windowsFired.toLocaleString('en-US')} results to ${HEAVY_OUT_PARTITIONS} partitions)`;
    rows.push(
      { case: heavyCase, metric: 'events/s, whole process', ours: median(heavy.map((r) => wholeEps(r.wallMs))), peer: median(heavyPeers.map((p) => wholeEps(p.wallMs))), peerName: 'kafkajs + JSON.parse, 1 thread', higherIsBetter: true },
      { case: heavyCase, metric: 'events/s, first record to end', ours: median(heavy.map((r) => r.eps)), peer: median(heavyPeers.map((p) => p.eventsPerSecond)), peerName: 'kafkajs + JSON.parse, 1 thread', higherIsBetter: true },
    );
    notes.push(
      `output-heavy: an event every ${HEAVY_STEP_MS} ms of event time (${heavyFill.valueBytes.toFixed(1)} bytes a value), ${KEYS.toLocaleString('en-US')} cards, 60 s windows: ${heavyMid.s.windowsFired.toLocaleString('en-US')} results; median of ${trials} alternating trials, whole process = spawn to exit, group join included (sluice's join ${Math.round(heavyMid.s.startup.groupJoinMs ?? NaN)} ms, the peer's ${Math.round(median(heavyPeers.map((p) => p.joinMs)))} ms); ` +
        `per trial sluice vs peer, whole process: ${heavy.map((r, t) => `${Math.round(wholeEps(r.wallMs)).toLocaleString('en-US')} vs ${Math.round(wholeEps(heavyPeers[t].wallMs)).toLocaleString('en-US')}`).join('; ')}; ` +
        `median trial: reading ${(heavyMid.s.readingMs / 1000).toFixed(2)} s, main thread busy ${(heavyMid.s.mainThreadBusyMs / 1000).toFixed(2)} s (${((1000 * heavyMid.s.mainThreadBusyMs) / heavyMid.s.windowsFired).toFixed(1)} µs per result, all its work included), window worker(s) ${(heavyMid.s.workerBusyMs / 1000).toFixed(2)} s${loggedNote(heavy)}`,
    );
    rows.push({ case: `${events / 1e6} M events, checkpointing on / off`, metric: 'events/s, first record to end', ours: median(ckpt.on.map((r) => eps(r.summary))), peer: median(ckpt.off.map((r) => eps(r.summary))), peerName: 'checkpointing off', higherIsBetter: true });
    notes.push(checkpointNote(ckpt, CHECKPOINT_ON_MS, CHECKPOINT_OFF_MS));

    for (const [i, c] of OUTSIDE_CASES.entries()) {
      ctx.progress(`outside-in latency, ${c.keys} keys`, i, OUTSIDE_CASES.length);
      const liveJob = path.join(dir, 'outside.yaml');
      fs.writeFileSync(liveJob, benchJobYaml('kafka-outside', source(false)));
      const o = await outsideRun(ctx, broker.brokers, liveJob, sets(`outside-${i}`, kafkaSink(`outside-out-${i}`)), { ...c, inTopic: topic(`outside-in-${i}`), outTopic: topic(`outside-out-${i}`), partitions: OUTSIDE_PARTITIONS }, liveMs);
      rows.push(...o.rows);
      notes.push(o.note);
    }
    notes.push(`outside-in setup: a producer and a consumer process on librdkafka (bench/peers/outside-kafka.c: a few % of a core each, where kafkajs clients took ~35%). The producer sends what is due every 20 ms (one request in flight per broker, acks from all replicas; card % ${OUTSIDE_PARTITIONS} partitions: the mock answers a fetch with one record batch per partition, so smaller batches could not be read as fast as they came) at ${OUTSIDE_RATE.toLocaleString('en-US')} events/s for ${(liveMs / 1000).toFixed(0)} s and records each event's delivery report; the consumer reads the ${HEAVY_OUT_PARTITIONS}-partition results topic (5 ms fetch wait); the job reads with kafka.maxWaitTimeInMs 5 (the mock broker holds an empty fetch for its whole wait, a real broker answers when data comes: docs/kafka.md); event time = wall clock jittered back by up to 20 ms, maxOutOfOrdernessMs 50`);

    const missing = kcatMissing();
    if (missing) {
      notes.push(`!!! LATENCY NOT MEASURED !!! the live producer needs kcat: ${missing} (apt-get install kcat)`);
      return { suite: 'kafka', rows, notes };
    }
    const liveJob = path.join(dir, 'live.yaml');
    fs.writeFileSync(liveJob, benchJobYaml('kafka-live', source(false)));
    for (const [i, c] of LIVE_CASES.entries()) {
      ctx.progress(`latency, ${c.keys} keys, ${c.sink} sink`, i, LIVE_CASES.length);
      const sink = c.sink === 'kafka' ? kafkaSink(`live-out-${i}`) : '{type: file, path: out/live.jsonl}';
      const runs = [];
      for (let t = 0; t < liveTrials(c); t++) {
        const liveSets = [...sets(`live-${i}-${t}`, sink), `source.topic=${topic(liveIn(i, t))}`, `window.sizeMs=${c.windowMs}`, `watermark.maxOutOfOrdernessMs=${LIVE_OUT_OF_ORDERNESS_MS}`];
        runs.push(await liveRun(ctx, liveJob, liveSets, () => produceLive(broker.brokers, topic(liveIn(i, t)), c.keys, rate, liveMs, JITTER_MS)));
      }
      const p99s = runs.map((x) => x.r.summary.latencyAfterWarmupMs.p99);
      const { r, live, catchUpMs } = runs.find((x) => x.r.summary.latencyAfterWarmupMs.p99 === median(p99s))!;
      const s = r.summary;
      const label = `${c.keys.toLocaleString('en-US')} keys, ${c.windowMs >= 1000 ? `${c.windowMs / 1000} s` : `${c.windowMs} ms`} windows, ${perSecond(live.events, live.elapsedMs)} events/s`;
      const caughtUp = Number.isNaN(catchUpMs) ? `!!! NOT ALL READ: it stalled; the mock drops a partition's oldest records past ~5 MiB, so a job that lags that far loses them` : `all read ${(catchUpMs / 1000).toFixed(1)} s after the producer stopped`;
      const summary = `${live.events.toLocaleString('en-US')} events produced in ${(live.elapsedMs / 1000).toFixed(1)} s, ${s.events.toLocaleString('en-US')} read (${caughtUp}); ${s.windowsFired.toLocaleString('en-US')} windows in ~${Math.round(s.windowsFired / c.keys)} firings, ${s.lateEvents} late; main thread busy ${((100 * s.mainThreadBusyMs) / s.readingMs).toFixed(0)}% from the first record on${loggedNote(runs.map((x) => x.r))}`;
      if (c.sink === 'file') {
        const w = s.latencyAfterWarmupMs;
        notes.push(`latency to the file write instead of Kafka's ack (${label}), after the warm-up: p50 ${w.p50.toFixed(1)} ms, p99 ${w.p99.toFixed(1)} ms, max ${w.max.toFixed(1)} ms; ${summary}`);
        continue;
      }
      const goal = c.keys === 1_000 ? LATENCY_GOAL_P99_MS : null;
      const steady = s.latencyAfterWarmupMs;
      rows.push(
        { case: label, metric: 'latency p50 ms', ours: steady.p50, peer: null, peerName: '', higherIsBetter: false },
        { case: label, metric: 'latency p99 ms', ours: steady.p99, peer: goal, peerName: goal ? 'SPEC §9 goal' : '', higherIsBetter: false },
        { case: label, metric: 'latency max ms', ours: steady.max, peer: null, peerName: '', higherIsBetter: false },
      );
      const trialsNote = runs.length > 1 ? `; the rows are the median of ${runs.length} trials by p99, each a fresh topic and job; every trial's p50/p99/max: ${runs.map((x) => { const w = x.r.summary.latencyAfterWarmupMs; return `${w.p50.toFixed(1)}/${w.p99.toFixed(1)}/${w.max.toFixed(1)} ms`; }).join(', ')}` : '';
      notes.push(`latency, ${label}: ${summary}; latency ${s.latencyUntil}; rows leave out the first ${LATENCY_WARMUP_MS / 1000} s of reading (JIT, first connections); with it: p50 ${s.latencyMs.p50.toFixed(1)} ms, p99 ${s.latencyMs.p99.toFixed(1)} ms, max ${s.latencyMs.max.toFixed(1)} ms${trialsNote}`);
    }
    notes.push(
      `latency setup: ${(liveMs / 1000).toFixed(0)} s of events at half of sluice's median events/s above, produced by kcat (librdkafka, keyed by card) fed every ${TICK_MS} ms from the bench process; event time = wall clock jittered back by up to ${JITTER_MS} ms, maxOutOfOrdernessMs ${LIVE_OUT_OF_ORDERNESS_MS}; latency runs from the arrival at sluice (kafkajs handing over its fetched batch) of the event that moved the watermark past a window's end to the produce ack of its result, so time spent waiting in Kafka (lag) is not in it; unbounded job (startFrom earliest on a fresh topic), stopped by SIGTERM once its /metrics count all events read (open windows stay unfired); producer, broker and sluice share ${os.availableParallelism()} cores`,
      `goals (SPEC §9): events/s >= 1.0x the bare consumer; result latency p99 <= ${LATENCY_GOAL_P99_MS} ms with 1,000 windows per firing`,
      `broker: ${broker.mock ? "librdkafka's mock cluster (3 brokers in one process, test/kafka/mock-broker.c)" : `KAFKA_BROKERS=${broker.brokers.join(',')}`}; job: the example job's 7 features (one p95) and 100-tree model, 60 s windows for throughput, workers.threads auto`,
    );
    return { suite: 'kafka', rows, notes };
  } finally {
    killRunning();
    await broker.stop();
  }
}
