// The processes of the kafka suite: `sluice run` (bounded, or live until it has read everything)
// and the bare-consumer peer, each a child process, with what they report.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { BenchContext } from './harness';
import type { Summary } from '../src/runtime/summary';

/** A live job that reads nothing more for this long, after the producer stopped, has stalled. */
const STALL_MS = 5_000;

/** An unbounded job reading while `produce` runs; once the job has read everything (its /metrics
 *  say so) and written what that fired, SIGTERM. catchUpMs: NaN when it never caught up. */
export async function liveRun<T extends { events: number }>(ctx: BenchContext, job: string, sets: string[], produce: () => Promise<T>) {
  const port = await freePort();
  const sluice = runSluice(ctx, job, [...sets, `metrics.port=${port}`]);
  await sluice.joined();
  const live = await produce();
  const t0 = performance.now();
  let catchUpMs = NaN;
  let read = 0;
  let movedAtMs = t0;
  // Until all is read, or nothing more is for a while (records the mock dropped never come).
  while (Number.isNaN(catchUpMs) && performance.now() - movedAtMs < STALL_MS) {
    await sleep(200);
    const now = await eventsRead(port);
    if (now > read) [read, movedAtMs] = [now, performance.now()];
    if (read >= live.events) catchUpMs = performance.now() - t0;
  }
  // Results of the last batches are written once two more (empty, every 200 ms) were read.
  await sleep(1000);
  sluice.child.kill('SIGTERM');
  return { r: await sluice.done, live, catchUpMs };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** sluice_events_in_total, summed over its partitions: events whose batch was written. */
export async function eventsRead(port: number): Promise<number> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const counts = [...text.matchAll(/^sluice_events_in_total(?:\{[^}]*\})? (\S+)$/gm)].map((m) => Number(m[1]));
    return counts.length ? counts.reduce((a, b) => a + b, 0) : NaN;
  } catch {
    return NaN;
  }
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface SluiceRun {
  summary: Summary;
  /** Spawn to exit, measured here. */
  wallMs: number;
  /** The msg of each warning or error it logged. */
  logged: string[];
  /** Model versions it accepted (hot reload): when the log line came here, the version and T. */
  accepted: Array<{ atMs: number; version: string; T: number; readMs: number; checkMs: number }>;
}

/** A note's tail on what a run logged, if anything. */
export function loggedNote(runs: SluiceRun[]): string {
  const all = runs.flatMap((r) => r.logged);
  return all.length ? `; sluice logged ${all.length} warning(s)/error(s), e.g. ${[...new Set(all)].slice(0, 3).map((m) => `"${m}"`).join(', ')}` : '';
}

/** What the runs with checkpointing on paused for and wrote, next to the runs with it off. */
export function checkpointNote({ on, off }: { on: SluiceRun[]; off: SluiceRun[] }, onMs: number, offMs: number): string {
  const describe = ({ summary: s }: SluiceRun) => {
    const c = s.checkpoints;
    const eps = Math.round((s.events / s.readingMs) * 1000).toLocaleString('en-US');
    if (!c) return `${eps} events/s, !!! no checkpoint stats`;
    return `${eps} events/s, ${c.count} checkpoint(s), pause p50 ${c.pauseMs.p50.toFixed(1)} ms max ${c.pauseMs.max.toFixed(1)} ms, write p50 ${c.writeMs.p50.toFixed(0)} ms max ${c.writeMs.max.toFixed(0)} ms, ${(c.totalBytes / 2 ** 20).toFixed(1)} MiB written`;
  };
  return (
    `checkpointing on (state.checkpointIntervalMs ${onMs}) vs off (${offMs.toLocaleString('en-US')}: only the final checkpoint at the end of input, which the runs with it on take too), same topic, job and Kafka sink, median of ${on.length} each, alternating; ` +
    `on: ${on.map(describe).join('; ')}; off: ${off.map(describe).join('; ')}${loggedNote([...on, ...off])}`
  );
}

/** sluice processes not yet exited: killed when the suite fails half-way. */
const running = new Set<ChildProcess>();
let runs = 0;

export function killRunning(): void {
  for (const child of running) child.kill('SIGKILL');
}

/** Starts `sluice run` in a fresh process. joined() resolves once its consumer joined the group
 *  (its info log says so); done, with its summary, once it exits 0. onLine: each log line. */
export function runSluice(ctx: BenchContext, job: string, sets: string[], onLine?: (line: string) => void) {
  const summaryFile = path.join(path.dirname(job), `summary-${++runs}.json`);
  const args = [path.join(ctx.rootDir, 'bin', 'sluice.js'), 'run', job, '--quiet', '--summary', summaryFile, ...sets.flatMap((s) => ['--set', s])];
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SLUICE_LOG_LEVEL: 'info' } });
  running.add(child);
  let stderr = '';
  let partial = '';
  const logged: string[] = [];
  /** Model versions accepted (hot reload), with the wall clock when the log line came. */
  const accepted: SluiceRun['accepted'] = [];
  let onJoin = () => {};
  const joined = new Promise<void>((resolve) => (onJoin = resolve));
  // SLUICE_BENCH_LOGS=<dir>: every run's whole log, for looking into a figure.
  const logFile = process.env.SLUICE_BENCH_LOGS ? path.join(process.env.SLUICE_BENCH_LOGS, `${path.basename(summaryFile, '.json')}.log`) : null;
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (logFile) fs.appendFileSync(logFile, d);
    stderr = (stderr + d).slice(-8000);
    const lines = (partial + d).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      if (line.includes('"joined the consumer group"')) onJoin();
      onLine?.(line);
      const a = /"component":"models".*"version":"(\w+)","T":(\d+),"readMs":(\d+),"checkMs":(\d+)/.exec(line);
      if (a) accepted.push({ atMs: Date.now(), version: a[1], T: Number(a[2]), readMs: Number(a[3]), checkMs: Number(a[4]) });
      // Warnings and errors (kafkajs's too: rebalances, offsets out of range) explain odd figures.
      // (Not kafkajs's notice that its v2 default partitioner changed: every producer logs it.)
      const m = /"level":"(?:warn|error)".*?"msg":"([^"]*)"/.exec(line);
      if (m && !m[1].includes('switched default partitioner')) logged.push(m[1]);
    }
  });
  const done = new Promise<SluiceRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      running.delete(child);
      if (code !== 0) return reject(new Error(`sluice run exited with ${code ?? signal}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
      resolve({ summary: JSON.parse(fs.readFileSync(summaryFile, 'utf8')) as Summary, wallMs: performance.now() - t0, logged, accepted });
    });
  });
  done.catch(() => {}); // awaited later; failing meanwhile must not be an unhandled rejection
  // An exit before the join fails the wait for it.
  const joinedOrExited = () => Promise.race([joined, done.then(() => Promise.reject(new Error('sluice run ended before it joined its group')))]);
  return { child, done, joined: joinedOrExited };
}

export interface PeerResult {
  events: number;
  readingMs: number;
  eventsPerSecond: number;
  joinMs: number;
  /** Spawn to exit, measured here. */
  wallMs: number;
}

export function runPeer(ctx: BenchContext, brokers: string[], topic: string, groupId: string): Promise<PeerResult> {
  const script = path.join(ctx.rootDir, 'dist', 'bench', 'peers', 'kafka-consumer.js');
  const t0 = performance.now();
  const child = spawn(process.execPath, [script, brokers.join(','), topic, groupId], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`kafka-consumer peer exited with ${code}: ${stderr.trim()}`));
      resolve({ ...(JSON.parse(stdout) as Omit<PeerResult, 'wallMs'>), wallMs: performance.now() - t0 });
    });
  });
}
