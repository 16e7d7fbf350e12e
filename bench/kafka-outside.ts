// The kafka suite's latency from outside the process (SPEC §9, goals added with §12-§15): a
// producer and a consumer of their own (bench/outside.ts) around an unbounded sluice job, at a
// fixed 30k events/s; sluice's own figure (from its read of the event to the produce ack) beside.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import type { BenchContext, BenchRow } from './harness';
import { liveRun, loggedNote, type SluiceRun } from './kafka-runs';
import { EVENT_WORDS, OUTSIDE_FETCH_WAIT_MS, outsideLatency, outsideTool, perEventLatency, readAcks, readFloat64s, TICK_MS, writeOutsideEvents, type OutsideEvents, type OutsideLatency } from './outside';
import { LATENCY_WARMUP_MS } from '../src/runtime/summary';

export const OUTSIDE_RATE = 30_000;
/** Input partitions of the outside-in cases (see TICK_MS in bench/outside.ts). */
export const OUTSIDE_PARTITIONS = 4;
/** 1,000 windows per firing every 100 ms, and 10,000 every second (goals: p99 50 and 100 ms). */
export const OUTSIDE_CASES = [
  { keys: 1_000, windowMs: 100, goalP99Ms: 50 },
  { keys: 10_000, windowMs: 1000, goalP99Ms: 100 },
] as const;
const JITTER_MS = 20;
const OUT_OF_ORDERNESS_MS = 50;
/** Results of windows whose trigger came this soon after the first event are left out: the first
 *  seconds catch up after the group join and pay for JIT compiling the firing path (measured:
 *  the first firings took 3-4x the later ones' time). */
const WARMUP_MS = 5000;

export interface OutsideCase {
  keys: number;
  windowMs: number;
  goalP99Ms: number;
  /** Topics: the input (`partitions` of them) and the results. */
  inTopic: string;
  outTopic: string;
  partitions: number;
}

const percentile = (sorted: number[], q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN);

/**
 * One live run: an outside consumer on the results topic, sluice reading the input topic, and an
 * outside producer at OUTSIDE_RATE for durationMs. Returns sluice's run, the producer's events
 * ([ts, partition, ack, card] each) and what the consumer saw. `during`: called `atFraction` of the
 * way through the producing (the reload bench changes the model file then).
 */
async function liveOutside(ctx: BenchContext, brokers: string[], job: string, liveSets: string[], c: Omit<OutsideCase, 'windowMs' | 'goalP99Ms'>, durationMs: number, consumerMode: 'windows' | 'per-event', during?: { atFraction: number; action: () => void }) {
  const dir = path.dirname(job);
  const tool = outsideTool(ctx);
  const file = (name: string) => path.join(dir, `outside-${name}-${c.keys}.bin`);
  const consumer = child(tool, ['consume', brokers.join(','), c.outTopic, file('seen'), consumerMode, String(OUTSIDE_FETCH_WAIT_MS)]);
  await consumer.line('joined');
  let events: OutsideEvents | undefined;
  const produce = async () => {
    // Generated first: the clock starts when the producer starts sending.
    events = writeOutsideEvents(file('messages'), c.partitions, c.keys, OUTSIDE_RATE, durationMs, JITTER_MS);
    const producer = child(tool, ['produce', brokers.join(','), c.inTopic, file('messages'), String(events.startMs), String(events.stepMs), String(TICK_MS), file('acks')]);
    let timer: NodeJS.Timeout | undefined;
    if (during) void producer.line('producing').then(() => (timer = setTimeout(during.action, durationMs * during.atFraction)), () => undefined);
    await producer.exited;
    clearTimeout(timer);
    readAcks(events, file('acks'));
    return { events: events.record.length / EVENT_WORDS };
  };
  const { r, catchUpMs } = await liveRun(ctx, job, [...liveSets, `source.topic=${c.inTopic}`, `source.kafka.maxWaitTimeInMs=${OUTSIDE_FETCH_WAIT_MS}`], produce);
  // The last results are already acknowledged (sluice exited); give the consumer a last fetch.
  await new Promise((resolve) => setTimeout(resolve, 500));
  consumer.proc.kill('SIGTERM');
  await consumer.exited;
  const seen = readFloat64s(file('seen'));
  const caughtUp = Number.isNaN(catchUpMs) ? '!!! NOT ALL READ' : `all read ${(catchUpMs / 1000).toFixed(1)} s after the producer stopped`;
  return { r, caughtUp, events: events!.record, seen, warmUpMs: Math.min(WARMUP_MS, durationMs / 3) };
}

export async function outsideRun(ctx: BenchContext, brokers: string[], job: string, sets: string[], c: OutsideCase, durationMs: number, during?: { atFraction: number; action: () => void }): Promise<{ rows: BenchRow[]; note: string; run: SluiceRun; latency: OutsideLatency }> {
  const liveSets = [...sets, `window.sizeMs=${c.windowMs}`, `watermark.maxOutOfOrdernessMs=${OUT_OF_ORDERNESS_MS}`];
  const { r, caughtUp, events, seen, warmUpMs } = await liveOutside(ctx, brokers, job, liveSets, c, durationMs, 'windows', during);
  const m = outsideLatency(events, seen, c.partitions, OUT_OF_ORDERNESS_MS, warmUpMs);
  const sorted = m.latencyMs.slice().sort((a, b) => a - b);
  const label = `${c.keys.toLocaleString('en-US')} windows per firing, ${OUTSIDE_RATE.toLocaleString('en-US')} events/s`;
  const inside = r.summary.latencyAfterWarmupMs;
  const toWrite = r.summary.latencyToWriteAfterWarmupMs;
  const rows: BenchRow[] = [
    { case: label, metric: 'outside-in latency p50 ms', ours: percentile(sorted, 0.5), peer: null, peerName: '', higherIsBetter: false },
    { case: label, metric: 'outside-in latency p99 ms', ours: percentile(sorted, 0.99), peer: c.goalP99Ms, peerName: 'SPEC §9 goal', higherIsBetter: false },
    { case: label, metric: 'outside-in latency max ms', ours: sorted[sorted.length - 1] ?? NaN, peer: null, peerName: '', higherIsBetter: false },
    { case: label, metric: 'from the read, p50 ms', ours: inside.p50, peer: null, peerName: '', higherIsBetter: false },
    { case: label, metric: 'from the read, p99 ms', ours: inside.p99, peer: null, peerName: '', higherIsBetter: false },
    { case: label, metric: 'from the read, max ms', ours: inside.max, peer: null, peerName: '', higherIsBetter: false },
    { case: label, metric: 'from the read to the sink write, p99 ms', ours: toWrite.p99, peer: null, peerName: '', higherIsBetter: false },
  ];
  const note =
    `outside-in, ${label} (${c.windowMs} ms windows, ${c.partitions} input partitions): ${m.results.toLocaleString('en-US')} revision-0 results measured after the first ${warmUpMs / 1000} s` +
    `${m.unmatched ? `, ${m.unmatched} whose window end the replayed watermark never passed (left out)` : ''}; ${r.summary.events.toLocaleString('en-US')} events read (${caughtUp}); ` +
    `p50 ${percentile(sorted, 0.5).toFixed(1)} / p99 ${percentile(sorted, 0.99).toFixed(1)} / max ${(sorted[sorted.length - 1] ?? NaN).toFixed(1)} ms from the broker's ack of the event that moved the watermark past the window's end (replayed over the events in ack order) to the outside consumer's receipt; ` +
    `sluice's own figure, from its read of that event to the produce ack (after its own ${LATENCY_WARMUP_MS / 1000} s warm-up): p50 ${inside.p50.toFixed(1)} / p99 ${inside.p99.toFixed(1)} / max ${inside.max.toFixed(1)} ms, of which until the records were written to the Kafka sink (the rest: a send in flight before them, their send and the broker's ack): p50 ${toWrite.p50.toFixed(1)} / p99 ${toWrite.p99.toFixed(1)} / max ${toWrite.max.toFixed(1)} ms; main thread busy ${((100 * r.summary.mainThreadBusyMs) / r.summary.readingMs).toFixed(0)}%${loggedNote([r])}`;
  return { rows, note, run: r, latency: m };
}

/**
 * Per-event mode (SPEC §9: p99 <= 30 ms at 30k events/s): every event's result, from the broker's
 * ack of the event to the outside consumer's receipt of its result.
 */
export async function perEventOutsideRun(ctx: BenchContext, brokers: string[], job: string, sets: string[], c: Omit<OutsideCase, 'windowMs' | 'goalP99Ms'>, durationMs: number): Promise<{ rows: BenchRow[]; note: string; run: SluiceRun }> {
  const { r, caughtUp, events, seen, warmUpMs } = await liveOutside(ctx, brokers, job, sets, c, durationMs, 'per-event');
  const m = perEventLatency(events, seen, warmUpMs);
  const sorted = m.latencyMs.slice().sort((a, b) => a - b);
  const label = `per-event, ${c.keys.toLocaleString('en-US')} keys, ${OUTSIDE_RATE.toLocaleString('en-US')} events/s`;
  const rows: BenchRow[] = [
    { case: label, metric: 'outside-in latency p50 ms', ours: percentile(sorted, 0.5), peer: null, peerName: '', higherIsBetter: false },
    { case: label, metric: 'outside-in latency p99 ms', ours: percentile(sorted, 0.99), peer: 30, peerName: 'SPEC §9 goal', higherIsBetter: false },
    { case: label, metric: 'outside-in latency max ms', ours: sorted[sorted.length - 1] ?? NaN, peer: null, peerName: '', higherIsBetter: false },
  ];
    const note =
    `outside-in, ${label} (${c.partitions} input partitions): ${m.results.toLocaleString('en-US')} results measured after the first ${(warmUpMs / 1000).toFixed(1)} s${m.unmatched ? `, ${m.unmatched} not matched to an event` : ''}; ` +
    `${r.summary.events.toLocaleString('en-US')} events read (${caughtUp}); p50 ${percentile(sorted, 0.5).toFixed(1)} / p99 ${percentile(sorted, 0.99).toFixed(1)} / max ${(sorted[sorted.length - 1] ?? NaN).toFixed(1)} ms from the broker's ack of the event to the outside consumer's receipt of its result; ` +
    `main thread busy ${((100 * r.summary.mainThreadBusyMs) / r.summary.readingMs).toFixed(0)}%${loggedNote([r])}`;
  return { rows, note, run: r };
}

/** A child process (the outside producer or consumer), with its stdout lines awaitable and its
 *  exit checked. */
function child(exe: string, args: string[]) {
  const proc = spawn(exe, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  const waiting: Array<{ line: string; resolve: () => void }> = [];
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  proc.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    for (const w of waiting.splice(0)) (stdout.split('\n').includes(w.line) ? w.resolve : () => waiting.push(w))();
  });
  const exited = new Promise<void>((resolve, reject) => {
    proc.on('error', reject);
    proc.on('exit', (code, signal) => (code === 0 || signal === 'SIGTERM' ? resolve() : reject(new Error(`outside ${args[0]} exited with ${code ?? signal}: ${stderr.trim()}`))));
  });
  exited.catch(() => {});
  const line = (l: string) => Promise.race([new Promise<void>((resolve) => (stdout.split('\n').includes(l) ? resolve() : waiting.push({ line: l, resolve }))), exited.then(() => Promise.reject(new Error(`outside ${args[0]} ended before "${l}": ${stderr.trim()}`)))]);
  return { proc, exited, line };
}
