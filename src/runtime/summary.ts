// The run summary (SPEC §2): counts, throughput, latency percentiles, top-scored windows.
import * as hdr from 'hdr-histogram-js';

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
  /** From the batch that made a window fire to its record being written. */
  latencyMs: { p50: number; p99: number; max: number };
  topWindows: TopWindow[];
  outputs: { results: string; late: string; deadLetters: string };
  taskRetries: number;
  threads: number;
  /** Where the time went: the main thread's busy time (event-loop utilization) and the workers'. */
  mainThreadBusyMs: number;
  workerBusyMs: number;
  /** Largest number of open windows and bytes of window state seen after a batch. */
  peakOpenWindows: number;
  peakStateBytes: number;
  /** Peak resident memory of the whole process (all threads), from the OS. */
  maxRssBytes: number;
}

const TOP = 5;

export class SummaryBuilder {
  events = 0;
  deadLetters = 0;
  lateEvents = 0;
  expiredAssignments = 0;
  windowsFired = 0;
  retractions = 0;
  readonly top: TopWindow[] = [];
  // Microseconds, 1 µs to 1 h, 3 significant digits.
  private readonly latency = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });

  recordLatencyMs(ms: number): void {
    this.latency.recordValue(Math.max(1, Math.round(ms * 1000)));
  }

  offerTop(w: TopWindow): void {
    if (!(w.score > (this.top.length < TOP ? -Infinity : this.top[TOP - 1].score))) return;
    this.top.push(w);
    this.top.sort((a, b) => b.score - a.score || a.key.localeCompare(b.key));
    if (this.top.length > TOP) this.top.pop();
  }

  workerBusyMs = 0;
  peakOpenWindows = 0;
  peakStateBytes = 0;

  finish(elapsedMs: number, outputs: Summary['outputs'], taskRetries: number, threads: number, mainThreadBusyMs: number): Summary {
    const empty = this.latency.totalCount === 0;
    return {
      events: this.events,
      deadLetters: this.deadLetters,
      lateEvents: this.lateEvents,
      expiredAssignments: this.expiredAssignments,
      windowsFired: this.windowsFired,
      retractions: this.retractions,
      elapsedMs,
      eventsPerSecond: elapsedMs > 0 ? (this.events / elapsedMs) * 1000 : 0,
      latencyMs: {
        p50: empty ? 0 : this.latency.getValueAtPercentile(50) / 1000,
        p99: empty ? 0 : this.latency.getValueAtPercentile(99) / 1000,
        max: empty ? 0 : this.latency.maxValue / 1000,
      },
      topWindows: this.top.slice(),
      outputs,
      taskRetries,
      threads,
      mainThreadBusyMs,
      workerBusyMs: this.workerBusyMs,
      peakOpenWindows: this.peakOpenWindows,
      peakStateBytes: this.peakStateBytes,
      maxRssBytes: process.resourceUsage().maxRSS * 1024,
    };
  }
}
