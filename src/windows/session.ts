// Session windows (SPEC §5, §6): per key, an event at ts makes [ts, ts + gapMs); windows of a key
// that overlap or touch merge, so events at most gapMs apart share a session. The event's window
// is merged with the key's live sessions first, then judged against the watermark. A fired
// session whose identity changes (extended, or merged) retracts each old identity when it fires
// again, then comes out with revision = highest old revision + 1. Purged sessions are gone: they
// are unlinked here, so nothing can merge with them.
//
// A key's live sessions are a list sorted by start (key-list.ts). Pending retractions live in a
// block of the digest region: [count, (startMs, endMs, revision) x count].
import { addEvent, mergeInto } from '../features/aggregate';
import { Arena, Slot, SlotFlag, TimerKind } from '../state/arena';
import { Phase } from '../state/output';
import { HEAD, nextOf, setHead, setNext, unlink } from './key-list';
import type { WindowOperator } from './operator';

export class Sessions {
  private readonly arena: Arena;

  constructor(
    private readonly gapMs: number,
    private readonly op: WindowOperator,
  ) {
    this.arena = op.arena;
  }

  private next(slot: number): number {
    return nextOf(this.arena, slot);
  }
  private setNext(slot: number, next: number): void {
    setNext(this.arena, slot, next);
  }
  private start(slot: number): number {
    return this.arena.slotsF64[slot * this.arena.slotWords + Slot.WindowStartMs];
  }
  private end(slot: number): number {
    return this.arena.slotsF64[slot * this.arena.slotWords + Slot.WindowEndMs];
  }

  /** Applies the event; returns the slot of the session it made or joined (after merging), or -1
   *  when it is late (SPEC §13 reads that session's aggregates). */
  process(seq: number, keyId: number, tsMs: number, fields: Float64Array, fieldBase: number, ref: number, w: number): number {
    const a = this.arena;
    const op = this.op;
    const latenessMs = op.allowedLatenessMs;
    let newStart = tsMs;
    let newEnd = tsMs + this.gapMs;
    // Live sessions of the key that overlap or touch [ts, ts + gap): a contiguous run of the list.
    let prev = -1;
    let first = -1;
    let count = 0;
    const head = a.find(keyId, HEAD);
    for (let s = head; s >= 0; s = this.next(s)) {
      if (this.end(s) < tsMs) {
        prev = s;
        continue;
      }
      if (this.start(s) > tsMs + this.gapMs) break;
      if (first < 0) first = s;
      count++;
      newStart = Math.min(newStart, this.start(s));
      newEnd = Math.max(newEnd, this.end(s));
    }
    if (count === 0) {
      // Live sessions end after w - lateness, so only a brand-new session can be late.
      if (w >= newEnd + latenessMs) {
        op.lateEvent(ref, w, newEnd);
        return -1;
      }
      const slot = op.newSlot(keyId, newStart, newEnd);
      a.slotsI32[(slot * a.slotWords + Slot.Retractions) * 2] = -1;
      const after = prev >= 0 ? this.next(prev) : head;
      this.setNext(slot, after);
      if (prev >= 0) this.setNext(prev, slot);
      else setHead(a, keyId, head, slot);
      a.pushTimer(newEnd + latenessMs, slot, TimerKind.Purge);
      addEvent(a.slotsF64, slot * a.slotWords, op.featurePlan, fields, fieldBase, op.digestStore);
      if (w >= newEnd) op.emit(slot, Phase.Event, seq);
      else {
        op.markChanged(slot * a.slotWords);
        if (!op.perEvent) a.pushTimer(newEnd, slot, TimerKind.Fire);
      }
      return slot;
    }
    // Merge the run into its first session, in start order.
    const survivor = first;
    const sBase = survivor * a.slotWords;
    const sFlags = a.slotsI32[(sBase + Slot.FlagsNext) * 2];
    const oldStart = this.start(survivor);
    const oldEnd = this.end(survivor);
    if (sFlags & SlotFlag.Fired && (newStart !== a.slotsF64[sBase + Slot.FiredStartMs] || newEnd !== a.slotsF64[sBase + Slot.FiredEndMs])) {
      this.pendRetraction(survivor, a.slotsF64[sBase + Slot.FiredStartMs], a.slotsF64[sBase + Slot.FiredEndMs], a.slotsI32[(sBase + Slot.KeyIdRevision) * 2 + 1]);
    }
    for (let k = 1, o = this.next(survivor); k < count; k++) {
      const after = this.next(o);
      this.absorb(survivor, o);
      o = after;
      this.setNext(survivor, after);
    }
    a.slotsF64[sBase + Slot.WindowStartMs] = newStart;
    a.slotsF64[sBase + Slot.WindowEndMs] = newEnd;
    addEvent(a.slotsF64, sBase, op.featurePlan, fields, fieldBase, op.digestStore);
    if (newEnd !== oldEnd) a.pushTimer(newEnd + latenessMs, survivor, TimerKind.Purge);
    const identityChanged = newStart !== oldStart || newEnd !== oldEnd || count > 1;
    if (w >= newEnd) op.emit(survivor, Phase.Event, seq);
    else {
      op.markChanged(sBase);
      if (identityChanged && !op.perEvent) a.pushTimer(newEnd, survivor, TimerKind.Fire);
    }
    return survivor;
  }

  /** Folds session o into survivor: aggregates, digests, pending retractions and fired identity. */
  private absorb(survivor: number, o: number): void {
    const a = this.arena;
    const sBase = survivor * a.slotWords;
    const oBase = o * a.slotWords;
    const oFlags = a.slotsI32[(oBase + Slot.FlagsNext) * 2];
    const oRevision = a.slotsI32[(oBase + Slot.KeyIdRevision) * 2 + 1];
    // o's own pending retractions carry over; o itself is retracted if it ever fired.
    this.forEachPending(o, (startMs, endMs, revision) => this.pendRetraction(survivor, startMs, endMs, revision));
    if (oFlags & SlotFlag.Fired) {
      this.pendRetraction(survivor, a.slotsF64[oBase + Slot.FiredStartMs], a.slotsF64[oBase + Slot.FiredEndMs], oRevision);
      const sFlags = a.slotsI32[(sBase + Slot.FlagsNext) * 2];
      const sRevision = a.slotsI32[(sBase + Slot.KeyIdRevision) * 2 + 1];
      a.slotsI32[(sBase + Slot.KeyIdRevision) * 2 + 1] = sFlags & SlotFlag.Fired ? Math.max(sRevision, oRevision) : oRevision;
      a.slotsI32[(sBase + Slot.FlagsNext) * 2] = sFlags | SlotFlag.Fired;
    }
    mergeInto(a.slotsF64, sBase, oBase, this.op.featurePlan, this.op.digestStore);
    const plan = this.op.featurePlan;
    for (let d = 0; d < plan.digests.length; d++) this.op.digestStore.free(oBase, d);
    this.freePending(o);
    a.freeSlot(o);
  }

  /** Emits the slot's pending retractions in windowStart order; returns how many (the next sub). */
  emitRetractions(slot: number, phase: Phase, step: number, sortEndMs: number, keyId: number): number {
    const pending: Array<[number, number, number]> = [];
    this.forEachPending(slot, (s, e, r) => pending.push([s, e, r]));
    pending.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    pending.forEach(([s, e, r], i) => this.op.addRetraction(step, phase, sortEndMs, i, keyId, s, e, r));
    this.freePending(slot);
    return pending.length;
  }

  /** Removes a purged slot from its key's list. */
  unlink(slot: number): void {
    this.freePending(slot);
    unlink(this.arena, slot);
  }

  private pendRetraction(slot: number, startMs: number, endMs: number, revision: number): void {
    const a = this.arena;
    const ref = (slot * a.slotWords + Slot.Retractions) * 2;
    const at = a.slotsI32[ref];
    const count = at >= 0 ? a.digestsF64[at] : 0;
    const words = 1 + 3 * (count + 1);
    let block = at;
    if (at < 0 || Arena.digestBlockWords(a.slotsI32[ref + 1]) < words) {
      block = a.allocDigest(words);
      if (at >= 0) {
        a.digestsF64.copyWithin(block, at, at + 1 + 3 * count);
        a.freeDigest(at, a.slotsI32[ref + 1]);
      }
      a.slotsI32[ref] = block;
      a.slotsI32[ref + 1] = Arena.digestBlockWords(words);
    }
    const f = a.digestsF64;
    f[block] = count + 1;
    f[block + 1 + 3 * count] = startMs;
    f[block + 2 + 3 * count] = endMs;
    f[block + 3 + 3 * count] = revision;
  }

  private forEachPending(slot: number, fn: (startMs: number, endMs: number, revision: number) => void): void {
    const a = this.arena;
    const at = a.slotsI32[(slot * a.slotWords + Slot.Retractions) * 2];
    if (at < 0) return;
    const f = a.digestsF64;
    // Read all first: fn may grow the digest region (and so replace the array).
    const items: number[] = Array.from(f.subarray(at + 1, at + 1 + 3 * f[at]));
    for (let i = 0; i < items.length; i += 3) fn(items[i], items[i + 1], items[i + 2]);
  }

  private freePending(slot: number): void {
    const a = this.arena;
    const ref = (slot * a.slotWords + Slot.Retractions) * 2;
    if (a.slotsI32[ref] >= 0) {
      a.freeDigest(a.slotsI32[ref], a.slotsI32[ref + 1]);
      a.slotsI32[ref] = -1;
    }
  }
}
