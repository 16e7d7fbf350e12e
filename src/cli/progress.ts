// The live progress line of `sluice run` on a terminal (SPEC §11): events/s, watermark, open
// windows, consumer lag, late events and dead letters, redrawn in place at most every
// PROGRESS_MS. Off a terminal, or with --quiet, there is none (logs and the summary remain).
import type { Progress } from '../runtime/engine';

const PROGRESS_MS = 250;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

export function renderProgress(p: Progress, eventsPerSecond: number): string {
  const watermark = Number.isFinite(p.watermarkMs) ? new Date(p.watermarkMs).toISOString().replace(/\.\d+Z$/, 'Z') : p.watermarkMs > 0 ? 'end' : '-';
  const parts = [`${fmt(p.events)} events`, `${fmt(eventsPerSecond)}/s`, `watermark ${watermark}`, `${fmt(p.openWindows)} open windows`];
  if (p.lagRecords !== null) parts.push(`lag ${fmt(p.lagRecords)}`);
  parts.push(`late ${fmt(p.lateEvents)}`, `dead letters ${fmt(p.deadLetters)}`);
  return parts.join(' | ');
}

export interface ProgressLine {
  update(p: Progress): void;
  /** Erases the line (before the summary is printed). */
  clear(): void;
}

/** A progress line on `out` if it is a terminal; null otherwise. */
export function progressLine(out: { isTTY?: boolean; write(s: string): unknown }, nowMs: () => number = () => performance.now()): ProgressLine | null {
  if (out.isTTY !== true) return null;
  let lastAt = nowMs();
  let lastEvents = 0;
  let shown = false;
  return {
    update(p) {
      const now = nowMs();
      if (now - lastAt < PROGRESS_MS) return;
      const rate = ((p.events - lastEvents) / (now - lastAt)) * 1000;
      [lastAt, lastEvents] = [now, p.events];
      shown = true;
      out.write(`\r\x1b[K${renderProgress(p, rate)}`);
    },
    clear() {
      if (shown) out.write('\r\x1b[K');
    },
  };
}
