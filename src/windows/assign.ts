// Which windows an event time belongs to (SPEC §6). Windows are [start, end), aligned to the epoch.
import type { WindowConfig } from '../config/types';

/** Start of the tumbling window of size `sizeMs` holding `tsMs` (floor also for negative times). */
export const alignDown = (tsMs: number, sizeMs: number): number => Math.floor(tsMs / sizeMs) * sizeMs;

/**
 * Writes the starts of the fixed windows holding tsMs into `starts`, oldest first, and returns how
 * many: 1 for tumbling, size/slide for sliding. Session windows are not fixed: see session.ts.
 */
export function assignFixed(window: WindowConfig, tsMs: number, starts: Float64Array): number {
  if (window.type === 'tumbling') {
    starts[0] = alignDown(tsMs, window.sizeMs);
    return 1;
  }
  if (window.type !== 'sliding') throw new Error('assignFixed: session windows are assigned by merging');
  const n = window.sizeMs / window.slideMs;
  const last = alignDown(tsMs, window.slideMs); // the youngest window holding tsMs starts here
  for (let i = 0; i < n; i++) starts[i] = last - (n - 1 - i) * window.slideMs;
  return n;
}
