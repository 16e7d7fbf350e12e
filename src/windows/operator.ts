// The window operator of one key partition (SPEC §6): applies a batch's events in arrival order,
// judging each against the watermark before it, firing windows as the watermark passes their end,
// re-firing fired windows for events within the allowed lateness, and purging windows once the
// watermark passes end + allowedLatenessMs. All state is in the Arena; outputs go to an
// OutputBuilder tagged with the step that caused them, so the main thread can put the partitions'
// outputs back into the order a one-event-at-a-time run would have produced.
import type { WindowConfig } from '../config/types';
import { addEvent, initAggregates, readFeatures, type DigestStore } from '../features/aggregate';
import type { FeaturePlan } from '../features/plan';
import { Arena, Slot, SlotFlag, TimerKind } from '../state/arena';
import type { EventBatch } from '../state/batch';
import { Phase, type OutputBuilder } from '../state/output';
import { assignFixed } from './assign';
import { Panes } from './panes';
import { Sessions } from './session';
import { lowerBound } from '../util/sorted';

export interface OperatorCounters {
  lateEvents: number;
  /** Sliding windows: assignments of events that were late for some of their windows only. */
  expiredAssignments: number;
  windowsFired: number;
}

export class WindowOperator {
  readonly counters: OperatorCounters = { lateEvents: 0, expiredAssignments: 0, windowsFired: 0 };
  private readonly starts: Float64Array;
  private readonly latenessMs: number;
  /** window.earlyEveryMs, or 0: no early results. */
  private readonly earlyEveryMs: number;
  private readonly sessions: Sessions | null;
  /** Per-event mode over sliding windows: panes, and the windows events read (panes.ts). */
  private readonly panes: Panes | null;
  /** Per-event mode (SPEC §13): a result per event, as of the event; windows never fire results. */
  readonly perEvent: boolean;
  private batch!: EventBatch;
  /** The partition being applied, and its events' range in the batch (partition clocks). */
  private partition = 0;
  private begin = 0;
  private end = 0;
  /** The watermark at the step stepReaching last returned. */
  private reachedMs = -Infinity;

  constructor(
    private readonly window: WindowConfig,
    private readonly plan: FeaturePlan,
    readonly arena: Arena,
    private readonly digests: DigestStore,
    private readonly out: OutputBuilder,
    mode: 'windows' | 'per-event' = 'windows',
  ) {
    this.perEvent = mode === 'per-event';
    this.latenessMs = window.allowedLatenessMs;
    this.earlyEveryMs = window.type === 'session' ? 0 : (window.earlyEveryMs ?? 0);
    this.starts = new Float64Array(window.type === 'sliding' ? window.sizeMs / window.slideMs : 1);
    this.sessions = window.type === 'session' ? new Sessions(window.gapMs, this) : null;
    this.panes = this.perEvent && window.type === 'sliding' && window.sizeMs > window.slideMs ? new Panes(window.sizeMs, window.slideMs, this) : null;
  }

  /** Processes partition `partition`'s events of the batch, then fires up to the batch's final watermark. */
  apply(batch: EventBatch, partition: number): void {
    this.batch = batch;
    const begin = (this.begin = batch.partitionStart[partition]);
    const end = (this.end = batch.partitionStart[partition + 1]);
    this.partition = partition;
    const clocks = batch.partitionClocks;
    const F = batch.numFields;
    for (let i = begin; i < end; i++) {
      const seq = batch.seq[i];
      // The watermark the event is judged against: the job's before its step, or with partition
      // clocks (SPEC §15) its own partition's after the partition's previous event.
      const w = clocks
        ? i === begin ? batch.partitionClock[3 * partition] : batch.eventWatermark[i - 1]
        : seq === batch.firstSeq ? batch.watermarkBeforeMs : batch.watermark[seq - batch.firstSeq - 1];
      this.fireDue(w);
      const keyId = batch.keyId[i];
      const tsMs = batch.timestampMs[i];
      const slot = this.sessions
        ? this.sessions.process(seq, keyId, tsMs, batch.fields, i * F, batch.ref[i], w)
        : this.panes
          ? this.panes.process(keyId, tsMs, batch.fields, i * F, batch.ref[i], w)
          : this.processFixed(seq, keyId, tsMs, batch.fields, i * F, batch.ref[i], w);
      if (this.perEvent) this.eventResult(seq, keyId, tsMs, slot, batch.fields, i * F, batch.ref[i]);
    }
    this.fireDue(clocks ? batch.partitionClock[3 * partition + 1] : batch.watermarkAfterMs);
    this.digests.flush();
  }

  /** Applies the event to its windows; returns the slot of the one its aggregates read (the one
   *  starting first), or -1 when that one is gone (the event is late for it). */
  private processFixed(seq: number, keyId: number, tsMs: number, fields: Float64Array, fieldBase: number, ref: number, w: number): number {
    const window = this.window as Extract<WindowConfig, { sizeMs: number }>;
    const n = assignFixed(window, tsMs, this.starts);
    const a = this.arena;
    let late = 0;
    let first = -1;
    for (let k = 0; k < n; k++) {
      const start = this.starts[k];
      const end = start + window.sizeMs;
      if (w >= end + this.latenessMs) {
        late++;
        continue;
      }
      let slot = a.find(keyId, start);
      if (slot < 0) {
        slot = this.newSlot(keyId, start, end);
        a.insert(keyId, start, slot);
        // Without lateness a window is purged as it fires: one timer, not two (half the heap).
        // Per-event mode fires no windows: only the purge.
        if (this.latenessMs > 0 || this.perEvent) a.pushTimer(end + this.latenessMs, slot, TimerKind.Purge);
        if (w < end && !this.perEvent) a.pushTimer(end, slot, TimerKind.Fire);
        this.scheduleEarly(slot, start, end, w);
      }
      if (k === 0) first = slot;
      const base = slot * a.slotWords;
      addEvent(a.slotsF64, base, this.plan, fields, fieldBase, this.digests);
      // Past its end already: a first event fires revision 0 at once, a later one a revision.
      if (w >= end) this.emit(slot, Phase.Event, seq);
      else this.markChanged(base);
    }
    if (late === n) {
      const lastEnd = this.starts[n - 1] + window.sizeMs;
      this.lateEvent(ref, w, lastEnd);
    } else this.counters.expiredAssignments += late;
    return first;
  }

  /** An event late for every window it belongs to: to the late output (per-event mode scores it instead). */
  lateEvent(ref: number, w: number, windowEndMs: number): void {
    this.counters.lateEvents++;
    if (!this.perEvent) this.out.addLate(ref, w - (windowEndMs + this.latenessMs), windowEndMs);
  }

  /**
   * Per-event mode: the event's result, its features as of the event (SPEC §13): its own values,
   * and the aggregates of the window in `slot`, the event included; none (missing, and "late")
   * when slot is -1. It comes out at the event's step, so results keep arrival order.
   */
  private eventResult(seq: number, keyId: number, tsMs: number, slot: number, fields: Float64Array, fieldBase: number, ref: number): void {
    const a = this.arena;
    const base = slot < 0 ? -1 : slot * a.slotWords;
    const row = this.out.addResult(seq, Phase.Event, 0, 0, keyId, tsMs, tsMs, slot < 0 ? 0 : a.slotsF64[base + Slot.Count], 0, false, slot < 0, ref);
    readFeatures(a.slotsF64, base, this.plan, this.digests, this.out.features, row * this.plan.features.length, fields, fieldBase);
  }

  /** A zeroed live slot for [start, end) of the key, with empty aggregates. */
  newSlot(keyId: number, startMs: number, endMs: number): number {
    const a = this.arena;
    const slot = a.allocSlot();
    const base = slot * a.slotWords;
    a.slotsF64[base + Slot.WindowStartMs] = startMs;
    a.slotsF64[base + Slot.WindowEndMs] = endMs;
    a.slotsI32[(base + Slot.KeyIdRevision) * 2] = keyId;
    initAggregates(a.slotsF64, base, this.plan);
    for (let d = 0; d < this.plan.digests.length; d++) a.slotsI32[(base + this.plan.digestBase + d) * 2] = -1;
    return slot;
  }

  /** Flags the window changed since its last firing (and its last early result). */
  markChanged(base: number): void {
    this.arena.slotsI32[(base + Slot.FlagsNext) * 2] |= SlotFlag.Changed | SlotFlag.ChangedEarly;
  }

  /** Sets the timer of the window's next early threshold after watermark w, if one is before its end. */
  private scheduleEarly(slot: number, startMs: number, endMs: number, w: number): void {
    const e = this.earlyEveryMs;
    if (e === 0) return;
    const k = Math.max(1, Math.floor((w - startMs) / e) + 1);
    const at = startMs + k * e;
    if (at < endMs) this.arena.pushTimer(at, slot, TimerKind.Early);
  }

  /**
   * The watermark reached an early threshold of the window (the timer's time): at the step that
   * first reached it, an early result with the highest k that step passed, if the window took
   * events since its last result, unless that step also reached its end (the final firing takes
   * over). Then the next threshold's timer. The step's own watermark decides, not the one the
   * timer popped at, so batches of any size give the same results.
   */
  private earlyResult(slot: number, timerMs: number): void {
    const a = this.arena;
    const base = slot * a.slotWords;
    const startMs = a.slotsF64[base + Slot.WindowStartMs];
    const endMs = a.slotsF64[base + Slot.WindowEndMs];
    const step = this.stepReaching(timerMs);
    const w = this.reachedMs;
    if (w >= endMs) return;
    const flags = a.slotsI32[(base + Slot.FlagsNext) * 2];
    const k = Math.floor((w - startMs) / this.earlyEveryMs);
    const thresholdMs = startMs + k * this.earlyEveryMs;
    if (flags & SlotFlag.ChangedEarly) {
      const keyId = a.slotsI32[(base + Slot.KeyIdRevision) * 2];
      // Sliding windows of a key may share a threshold: `sub` orders them by start, whatever the
      // order their timers came off the heap.
      const sub = this.window.type === 'sliding' ? Math.floor(startMs / this.window.slideMs) % 1_000_000_000 : 0;
      const row = this.out.addResult(step, Phase.Watermark, thresholdMs, sub, keyId, startMs, endMs, a.slotsF64[base + Slot.Count], k, false, true);
      readFeatures(a.slotsF64, base, this.plan, this.digests, this.out.features, row * this.plan.features.length);
      a.slotsI32[(base + Slot.FlagsNext) * 2] = flags & ~SlotFlag.ChangedEarly;
      this.counters.windowsFired++;
    }
    this.scheduleEarly(slot, startMs, endMs, w);
  }

  /** Pops due timers: fires windows whose end the watermark reached, purges expired ones. */
  private fireDue(w: number): void {
    const a = this.arena;
    for (let slot = a.popDueTimer(w); slot >= 0; slot = a.popDueTimer(w)) {
      const base = slot * a.slotWords;
      const endMs = a.slotsF64[base + Slot.WindowEndMs];
      const flags = a.slotsI32[(base + Slot.FlagsNext) * 2];
      if (a.poppedKind === TimerKind.Early) {
        this.earlyResult(slot, a.poppedTimeMs);
      } else if (a.poppedKind === TimerKind.Fire) {
        // A session's end may have moved since this timer was set; only its latest timer counts.
        if (a.poppedTimeMs === endMs && flags & SlotFlag.Changed) {
          this.emit(slot, Phase.Watermark, this.stepReaching(endMs));
          if (this.latenessMs === 0 && !this.sessions) this.purge(slot); // its purge timer was never set
        }
      } else if (a.poppedTimeMs === (this.panes ? this.panes.purgeAtMs(slot) : endMs + this.latenessMs)) {
        this.purge(slot);
      }
    }
  }

  /** The step at which the watermark first reached timeMs (it may be in this batch only); the
   *  watermark at that step goes to reachedMs. */
  private stepReaching(timeMs: number): number {
    const b = this.batch;
    if (!b.partitionClocks) {
      const step = b.stepReaching(timeMs);
      this.reachedMs = b.watermark[step - b.firstSeq];
      return step;
    }
    // The partition's own steps: its events, then the step that ended it, if any.
    const k = lowerBound(b.eventWatermark, timeMs, this.begin, this.end);
    if (k < this.end) {
      this.reachedMs = b.eventWatermark[k];
      return b.seq[k];
    }
    this.reachedMs = b.partitionClock[3 * this.partition + 1];
    return b.partitionClock[3 * this.partition + 2];
  }

  /** Fires the window: pending retractions (sessions) first, then the window at its next revision. */
  emit(slot: number, phase: Phase, step: number): void {
    if (this.perEvent) return; // windows only hold state for the events' results
    const a = this.arena;
    const base = slot * a.slotWords;
    const startMs = a.slotsF64[base + Slot.WindowStartMs];
    const endMs = a.slotsF64[base + Slot.WindowEndMs];
    const keyId = a.slotsI32[(base + Slot.KeyIdRevision) * 2];
    let sub = 0;
    if (this.sessions) sub = this.sessions.emitRetractions(slot, phase, step, endMs, keyId);
    const flags = a.slotsI32[(base + Slot.FlagsNext) * 2];
    const revision = flags & SlotFlag.Fired ? a.slotsI32[(base + Slot.KeyIdRevision) * 2 + 1] + 1 : 0;
    const row = this.out.addResult(step, phase, endMs, sub, keyId, startMs, endMs, a.slotsF64[base + Slot.Count], revision, false);
    readFeatures(a.slotsF64, base, this.plan, this.digests, this.out.features, row * this.plan.features.length);
    a.slotsI32[(base + Slot.KeyIdRevision) * 2 + 1] = revision;
    a.slotsI32[(base + Slot.FlagsNext) * 2] = (flags | SlotFlag.Fired) & ~(SlotFlag.Changed | SlotFlag.ChangedEarly);
    if (this.sessions) {
      a.slotsF64[base + Slot.FiredStartMs] = startMs;
      a.slotsF64[base + Slot.FiredEndMs] = endMs;
    }
    this.counters.windowsFired++;
  }

  addRetraction(step: number, phase: Phase, sortEndMs: number, sub: number, keyId: number, startMs: number, endMs: number, revision: number): void {
    this.out.addResult(step, phase, sortEndMs, sub, keyId, startMs, endMs, 0, revision, true);
  }

  /** Frees the window's slot, digests and index entry: later events can neither join nor merge with it. */
  purge(slot: number): void {
    const a = this.arena;
    const base = slot * a.slotWords;
    for (let d = 0; d < this.plan.digests.length; d++) this.digests.free(base, d);
    if (this.sessions) this.sessions.unlink(slot);
    else if (this.panes?.isWindow(slot)) this.panes.unlink(slot);
    else a.remove(a.slotsI32[(base + Slot.KeyIdRevision) * 2], a.slotsF64[base + Slot.WindowStartMs]);
    a.freeSlot(slot);
  }

  /** Earliest pending timer (for the main thread: whether the partition needs a task to fire). */
  nextTimerMs(): number {
    return this.arena.nextTimerMs();
  }

  get featurePlan(): FeaturePlan {
    return this.plan;
  }

  get digestStore(): DigestStore {
    return this.digests;
  }

  get allowedLatenessMs(): number {
    return this.latenessMs;
  }
}
