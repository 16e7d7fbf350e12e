// The run summary (SPEC §2): counts, throughput, latency percentiles, top-scored windows.
import type * as Hdr from 'hdr-histogram-js';
import type { CheckpointStats } from './checkpoints';

export interface TopWindow {
  key: string;
  windowStartMs: number;
  windowEndMs: number;
  score: number;
}

export interface Summary {
  events: number;
  deadLetters: number;
  lateEvents: number;
  /** Sliding windows: assignments dropped because the event was late for those windows only. */
  expiredAssignments: number;
  windowsFired: number;
  retractions: number;
  elapsedMs: number;
  eventsPerSecond: number;
  /** From the first record read to the last output written: elapsedMs without start-up (model
   *  load, group join) and shutdown (leaving the group, closing the pool). */
  readingMs: number;
  /** From the arrival of the event that made a window fire (the one that moved the watermark past
   *  its end, or a late event that re-fired it) to its record being written. Sources that do not
   *  say when records arrived: from the batch's start. */
  latencyMs: { p50: number; p99: number; max: number };
  /** The same, without the results of the first LATENCY_WARMUP_MS of reading. */
  latencyAfterWarmupMs: { p50: number; p99: number; max: number };
  /** Where latencyMs ends: the results written to their sink, or acknowledged by Kafka. */
  latencyUntil: 'written' | 'acknowledged';
  /** After the warm-up, to the results' write into their sink (for Kafka: queued for the
   *  producer). With latencyUntil 'acknowledged', what it lacks of latencyAfterWarmupMs is the
   *  wait for a send in flight, the results' own send and the broker's ack. */
  latencyToWriteAfterWarmupMs: { p50: number; p99: number; max: number };
  topWindows: TopWindow[];
  outputs: { results: string; late: string; deadLetters: string; shadow?: string };
  taskRetries: number;
  threads: number;
  /** per-event: windowsFired counts events scored, and topWindows are events (start = end = ts). */
  mode: 'windows' | 'per-event';
  /** Where the time went: the main thread's busy time (event-loop utilization) and the workers'. */
  mainThreadBusyMs: number;
  /** The window tasks' own time, wherever they ran. */
  workerBusyMs: number;
  /** Window tasks, and those of them run on the main thread (workers.inlineMaxUs, per-event
   *  mode): their time is in mainThreadBusyMs too. */
  tasks: number;
  inlineTasks: number;
  /** Largest number of open windows and bytes of window state seen after a batch. */
  peakOpenWindows: number;
  peakStateBytes: number;
  /** Peak resident memory of the whole process (all threads), from the OS. */
  maxRssBytes: number;
  /** Durable state: checkpoints taken, their pause, and the restore (null: a job without). */
  checkpoints: CheckpointStats | null;
  /** Start-up, from the run's start: the consumer group's join (its own clock), and the first
   *  record read (null: none). */
  startup: { groupJoinMs: number | null; firstRecordMs: number | null };
}

const TOP = 5;

/** Latencies in ms, kept in microseconds from 1 µs to 1 h with 3 significant digits. */
export class LatencyHistogram {
  // Required when the first is made: `sluice run` imports this module for its summary's format,
  // and hdr-histogram-js takes ~30 ms to load, before a Kafka job's group join has started.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  private readonly h = (require('hdr-histogram-js') as typeof Hdr).build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });

  /** `count` results with the same latency. */
  record(ms: number, count = 1): void {
    this.h.recordValueWithCount(Math.min(3_600_000_000, Math.max(1, Math.round(ms * 1000))), count);
  }

  get count(): number {
    return this.h.totalCount;
  }

  percentiles(): { p50: number; p99: number; max: number } {
    if (this.h.totalCount === 0) return { p50: 0, p99: 0, max: 0 };
    return { p50: this.h.getValueAtPercentile(50) / 1000, p99: this.h.getValueAtPercentile(99) / 1000, max: this.h.maxValue / 1000 };
  }
}

/** Results whose input arrived this soon after the first record are left out of the
 *  after-warm-up latency: the first firings also pay for JIT compiling and first connections. */
export const LATENCY_WARMUP_MS = 2000;

/** Result latencies over the whole run, and without its warm-up. */
export class ResultLatency {
  readonly all = new LatencyHistogram();
  readonly afterWarmup = new LatencyHistogram();

  record(ms: number, warmingUp: boolean, count = 1): void {
    this.all.record(ms, count);
    if (!warmingUp) this.afterWarmup.record(ms, count);
  }
}

export class SummaryBuilder {
  events = 0;
  deadLetters = 0;
  lateEvents = 0;
  expiredAssignments = 0;
  windowsFired = 0;
  retractions = 0;
  readonly top: TopWindow[] = [];
  private readonly latency = new ResultLatency();

  recordLatencyMs(ms: number, warmingUp: boolean, count = 1): void {
    this.latency.record(ms, warmingUp, count);
  }

  offerTop(w: TopWindow): void {
    if (!(w.score > (this.top.length < TOP ? -Infinity : this.top[TOP - 1].score))) return;
    this.top.push(w);
    this.top.sort((a, b) => b.score - a.score || a.key.localeCompare(b.key));
    if (this.top.length > TOP) this.top.pop();
  }

  workerBusyMs = 0;
  tasks = 0;
  inlineTasks = 0;
  /** performance.now() when the first record was read. */
  firstRecordAtMs: number | null = null;
  peakOpenWindows = 0;
  peakStateBytes = 0;
  checkpoints: CheckpointStats | null = null;
  groupJoinMs: number | null = null;
  /** performance.now() when the engine started (model load, pool, then reading). */
  startedAtMs = performance.now();

  /** `ackLatency`: the results sink's own, from the same start to the broker's ack (Kafka). */
  /** endedAtMs: performance.now() when the last output was written, before closing anything. */
  finish(elapsedMs: number, endedAtMs: number, outputs: Summary['outputs'], taskRetries: number, threads: number, mainThreadBusyMs: number, mode: Summary['mode'], ackLatency?: ResultLatency): Summary {
    return {
      events: this.events,
      deadLetters: this.deadLetters,
      lateEvents: this.lateEvents,
      expiredAssignments: this.expiredAssignments,
      windowsFired: this.windowsFired,
      retractions: this.retractions,
      elapsedMs,
      readingMs: this.firstRecordAtMs === null ? 0 : endedAtMs - this.firstRecordAtMs,
      eventsPerSecond: elapsedMs > 0 ? (this.events / elapsedMs) * 1000 : 0,
      latencyMs: (ackLatency ?? this.latency).all.percentiles(),
      latencyAfterWarmupMs: (ackLatency ?? this.latency).afterWarmup.percentiles(),
      latencyUntil: ackLatency ? 'acknowledged' : 'written',
      latencyToWriteAfterWarmupMs: this.latency.afterWarmup.percentiles(),
      topWindows: this.top.slice(),
      outputs,
      taskRetries,
      threads,
      mode,
      mainThreadBusyMs,
      workerBusyMs: this.workerBusyMs,
      tasks: this.tasks,
      inlineTasks: this.inlineTasks,
      peakOpenWindows: this.peakOpenWindows,
      peakStateBytes: this.peakStateBytes,
      maxRssBytes: process.resourceUsage().maxRSS * 1024,
      checkpoints: this.checkpoints,
      startup: { groupJoinMs: this.groupJoinMs, firstRecordMs: this.firstRecordAtMs === null ? null : this.firstRecordAtMs - this.startedAtMs },
    };
  }
}
