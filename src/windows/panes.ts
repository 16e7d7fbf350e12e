// Sliding windows in per-event mode (SPEC §13), kept as panes: one slot per key and slide
// ([p, p + slideMs)), not one per window, so a 1 h window sliding every minute holds each event
// once instead of 60 times. An event's aggregates read the window that starts first among those
// holding it; that window is built when an event first reads it, by merging its panes, and kept
// as a cache (updated by later events inside it) until the watermark passes its end. A key's
// caches are a list (key-list.ts); panes are indexed by (keyId, paneStart) like any fixed window.
import { addEvent, mergeInto } from '../features/aggregate';
import { alignDown } from './assign';
import { Slot, TimerKind } from '../state/arena';
import { HEAD, nextOf, setHead, setNext, unlink } from './key-list';
import type { WindowOperator } from './operator';

export class Panes {
  private readonly panesPerWindow: number;

  constructor(
    private readonly sizeMs: number,
    private readonly slideMs: number,
    private readonly op: WindowOperator,
  ) {
    this.panesPerWindow = sizeMs / slideMs;
  }

  /**
   * Applies the event: to its pane, and to the cached windows that hold it. Returns the slot of
   * the window its aggregates read (built now if needed), or -1 when that window is gone.
   */
  process(keyId: number, tsMs: number, fields: Float64Array, fieldBase: number, ref: number, w: number): number {
    const { op, sizeMs, slideMs } = this;
    const a = op.arena;
    const latenessMs = op.allowedLatenessMs;
    const paneStart = alignDown(tsMs, slideMs);
    const firstStart = paneStart - sizeMs + slideMs; // the window its aggregates read
    // Windows holding the event that are gone: those starting at or before w - size - lateness.
    const gone = Math.max(0, Math.min(this.panesPerWindow, Math.floor((w - sizeMs - latenessMs - firstStart) / slideMs) + 1));
    if (gone === this.panesPerWindow) {
      op.lateEvent(ref, w, paneStart + sizeMs);
      return -1;
    }
    op.counters.expiredAssignments += gone;
    // The pane lives as long as the youngest window holding it.
    let pane = a.find(keyId, paneStart);
    if (pane < 0) {
      pane = op.newSlot(keyId, paneStart, paneStart + slideMs);
      a.insert(keyId, paneStart, pane);
      a.pushTimer(paneStart + sizeMs + latenessMs, pane, TimerKind.Purge);
    }
    addEvent(a.slotsF64, pane * a.slotWords, op.featurePlan, fields, fieldBase, op.digestStore);
    let read = -1; // the cached window its aggregates read, if built already
    for (let c = a.find(keyId, HEAD); c >= 0; c = nextOf(a, c)) {
      const start = this.start(c);
      if (start <= tsMs && tsMs < start + sizeMs) addEvent(a.slotsF64, c * a.slotWords, op.featurePlan, fields, fieldBase, op.digestStore);
      if (start === firstStart) read = c;
    }
    if (gone > 0) return -1;
    return read >= 0 ? read : this.build(keyId, firstStart);
  }

  /** Builds the window [startMs, startMs + size) from its panes and caches it. */
  private build(keyId: number, startMs: number): number {
    const { op } = this;
    const a = op.arena;
    const slot = op.newSlot(keyId, startMs, startMs + this.sizeMs);
    const base = slot * a.slotWords;
    for (let p = startMs; p < startMs + this.sizeMs; p += this.slideMs) {
      const pane = a.find(keyId, p);
      if (pane >= 0) mergeInto(a.slotsF64, base, pane * a.slotWords, op.featurePlan, op.digestStore);
    }
    const head = a.find(keyId, HEAD);
    setNext(a, slot, head);
    setHead(a, keyId, head, slot);
    a.pushTimer(startMs + this.sizeMs + op.allowedLatenessMs, slot, TimerKind.Purge);
    return slot;
  }

  /** True when the slot is a cached window (not a pane): panes are slideMs wide, windows sizeMs. */
  isWindow(slot: number): boolean {
    const a = this.op.arena;
    const base = slot * a.slotWords;
    return a.slotsF64[base + Slot.WindowEndMs] - a.slotsF64[base + Slot.WindowStartMs] === this.sizeMs;
  }

  /** When the slot's state goes: a window's end + lateness; a pane's, its youngest window's. */
  purgeAtMs(slot: number): number {
    const a = this.op.arena;
    const base = slot * a.slotWords;
    const end = this.isWindow(slot) ? a.slotsF64[base + Slot.WindowEndMs] : a.slotsF64[base + Slot.WindowStartMs] + this.sizeMs;
    return end + this.op.allowedLatenessMs;
  }

  /** Removes a purged cached window from its key's list. */
  unlink(slot: number): void {
    unlink(this.op.arena, slot);
  }

  private start(slot: number): number {
    const a = this.op.arena;
    return a.slotsF64[slot * a.slotWords + Slot.WindowStartMs];
  }
}
