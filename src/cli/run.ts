// `sluice run <job.yaml> [--set path=value ...] [--quiet]` (SPEC §3): run a job, print a summary.
import { writeFile } from 'node:fs/promises';
import { runJob } from '../app/run-job';
import { exitCodeFor } from '../errors';
import { progressLine } from './progress';
import { LATENCY_WARMUP_MS, type Summary } from '../runtime/summary';

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
/** How long a finished job's process may linger on handles a client library still holds. */
const EXIT_GRACE_MS = 2000;

export function formatSummary(s: Summary): string {
  const lines = [
    `events        ${fmt(s.events)} in ${(s.elapsedMs / 1000).toFixed(2)} s (${fmt(s.eventsPerSecond)} events/s, ${s.threads} worker thread${s.threads === 1 ? '' : 's'})`,
    s.mode === 'per-event' ? `scored        ${fmt(s.windowsFired)} events, one result each` : `windows       ${fmt(s.windowsFired)} results${s.retractions ? `, ${fmt(s.retractions)} retractions` : ''}`,
    `late          ${fmt(s.lateEvents)} events${s.expiredAssignments ? `, ${fmt(s.expiredAssignments)} expired sliding-window assignments` : ''}`,
    `dead letters  ${fmt(s.deadLetters)}`,
    `latency       p50 ${s.latencyMs.p50.toFixed(1)} ms, p99 ${s.latencyMs.p99.toFixed(1)} ms (${s.mode === 'per-event' ? 'event' : 'firing event'} read to result ${s.latencyUntil === 'acknowledged' ? 'acknowledged by Kafka' : 'written'})`,
    // Only when results came after the warm-up: a run shorter than it has none (all zeros).
    ...(s.latencyAfterWarmupMs.max > 0 ? [`              after the first ${LATENCY_WARMUP_MS / 1000} s: p50 ${s.latencyAfterWarmupMs.p50.toFixed(1)} ms, p99 ${s.latencyAfterWarmupMs.p99.toFixed(1)} ms`] : []),
    `busy          main thread ${(s.mainThreadBusyMs / 1000).toFixed(2)} s, window tasks ${(s.workerBusyMs / 1000).toFixed(2)} s${s.inlineTasks ? ` (${fmt(s.inlineTasks)} of ${fmt(s.tasks)} tasks on the main thread)` : ''}; peak ${fmt(s.peakOpenWindows)} open windows, ${(s.peakStateBytes / 2 ** 20).toFixed(1)} MiB of state`,
  ];
  const c = s.checkpoints;
  if (c) {
    const p = c.partitions;
    const from = p
      ? `partitions taken on: ${p.changelog} from the changelog, ${p.local} local, ${p.none} new; ${p.rebalances} rebalance${p.rebalances === 1 ? '' : 's'}`
      : c.restoredFrom === null
        ? 'started fresh'
        : `restored checkpoint ${c.restoredFrom} in ${c.restoreMs.toFixed(0)} ms`;
    lines.push(`state         ${from}; ${c.count} checkpoint${c.count === 1 ? '' : 's'} written, longest pause ${c.pauseMs.max.toFixed(1)} ms`);
  }
  if (s.topWindows.length > 0) {
    lines.push(s.mode === 'per-event' ? 'top events' : 'top windows');
    for (const w of s.topWindows) {
      const when = s.mode === 'per-event' ? new Date(w.windowStartMs).toISOString() : `${new Date(w.windowStartMs).toISOString()} .. ${new Date(w.windowEndMs).toISOString()}`;
      lines.push(`  ${w.score.toFixed(4)}  ${w.key}  ${when}`);
    }
  }
  lines.push(`output        results -> ${s.outputs.results}`, `              late -> ${s.outputs.late}`, `              dead letters -> ${s.outputs.deadLetters}`);
  if (s.outputs.shadow) lines.push(`              shadow -> ${s.outputs.shadow}`);
  if (s.taskRetries) lines.push(`retried tasks ${s.taskRetries}`);
  return lines.join('\n') + '\n';
}

export interface RunOptions {
  quiet?: boolean;
  summaryFile?: string;
  resetState?: boolean;
}

export async function run(file: string, overrides: string[], { quiet = false, summaryFile, resetState }: RunOptions = {}): Promise<number> {
  const progress = quiet ? null : progressLine(process.stderr);
  const job = runJob(file, { overrides, resetState, onProgress: progress ? (p) => progress.update(p) : undefined });
  let signals = 0;
  const onSignal = () => {
    // First signal: drain and exit 0 (SPEC §11); a second one exits at once.
    if (++signals > 1) process.exit(130);
    void job.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const summary = await job.done;
    progress?.clear();
    if (!quiet) process.stderr.write(formatSummary(summary));
    if (summaryFile) await writeFile(summaryFile, JSON.stringify(summary, null, 2) + '\n');
    // The job is done: its outputs are written and checkpointed. A connection a client library
    // still holds (kafkajs reconnecting mid-rebalance) must not keep the process alive.
    exitSoon(() => process.exitCode ?? 0);
    return 0;
  } catch (e) {
    // The same after a failure, once its message is out (seen: a changelog restore that failed
    // mid-rebalance left the process running for over a minute after it).
    exitSoon(() => exitCodeFor(e));
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Exits after EXIT_GRACE_MS if something still holds the event loop; nothing waits for it. */
function exitSoon(code: () => number | string): void {
  setTimeout(() => process.exit(code()), EXIT_GRACE_MS).unref();
}
