// Window state of one key partition, in SharedArrayBuffers (SPEC §1): any worker can take the
// partition's next task, and a worker that dies loses nothing. A task works on a copy (copyForTask)
// and hands the copy back; the main thread keeps the last committed state, so a task that dies
// half-way leaves no trace and is simply run again. This module is the only place that knows the
// layout; workers and the main thread both import it.
//
// Regions (each its own SharedArrayBuffer, grown by copying into a bigger one):
//   meta     Float64 x Meta.Words: counters and capacities; a stamp
//   slots    fixed-size window records, `slotWords` 8-byte words each (see Slot)
//   index    open-addressing hash (keyId, windowStart) -> slot, 16 bytes an entry
//   timers   binary min-heap of (timeMs, slot, kind, generation), 16 bytes an entry
//   digests  t-digest blocks, allocated in 8-byte words by size class

export const enum Meta {
  SlotCount = 0, // slots ever handed out (high-water mark)
  SlotCapacity = 1,
  FreeSlotHead = 2, // -1 = none
  LiveSlots = 3,
  IndexCapacity = 4, // power of two
  IndexUsed = 5,
  TimerCount = 6,
  TimerCapacity = 7,
  DigestWordsUsed = 8,
  DigestWordCapacity = 9,
  FreeDigestHeads = 10, // .. + kDigestClasses: one free list per size class
  /** Words a checkpoint holds; the stamp after them is the run's own. */
  PersistedWords = 10 + 24,
  /** A random tag of this state, set by the task that made it (0: none): a copy of it made
   *  earlier is known by the same stamp (src/runtime/window-task.ts). */
  Stamp = 10 + 24,
  /** An i32 (Atomics), 1 while the worker that returned this state has yet to copy it ahead:
   *  until then its buffers are not to be reused (src/runtime/window-task.ts). */
  CopyPending = 10 + 24 + 1,
  Words = 10 + 24 + 2,
}

/** Digest blocks come in power-of-two sizes from 2^kMinDigestClassLog2 words. */
export const kDigestClasses = 24;
export const kMinDigestClassLog2 = 3;

/** The size class of a request of `words` words: its block holds 2^(class + kMinDigestClassLog2). */
const digestClass = (words: number): number => Math.max(0, Math.ceil(Math.log2(Math.max(words, 1))) - kMinDigestClassLog2);

/** Word offsets inside a slot. Int32 pairs share a word: [lo, hi] in the Int32 view. */
export const enum Slot {
  WindowStartMs = 0,
  WindowEndMs = 1,
  Count = 2,
  KeyIdRevision = 3, // i32 keyId, i32 revision (-1: never fired)
  FlagsNext = 4, // i32 flags, i32 next slot of the same key (sessions), -1 = none
  Generation = 5, // i32 generation (stale timers are told apart), i32 unused
  Fixed = 6, // tumbling and sliding windows: aggregates and digest references follow
  // Session windows only, after Fixed: the identity the session last fired with (retracted when
  // it changes) and a pending-retraction block in the digest region (-1: none), i32 its words.
  FiredStartMs = 6,
  FiredEndMs = 7,
  Retractions = 8,
  SessionFixed = 9,
}

export const enum SlotFlag {
  Live = 1,
  Fired = 2, // fired at least once
  Changed = 4, // an event or merge since the last firing
  ChangedEarly = 8, // an event since the last result, early or final (window.earlyEveryMs)
}

export const enum TimerKind {
  Fire = 0, // ordered before Purge at the same time: a window fires before it is purged
  Purge = 1,
  Early = 2, // an early result's threshold (always before the window's end)
}

/** A timer's tag: its kind in the low 2 bits, its slot's generation (mod 2^29) above. */
const GENERATION_MASK = 0x1fffffff;

export const REGIONS = ['meta', 'slots', 'index', 'timers', 'digests'] as const;
export type RegionName = (typeof REGIONS)[number];

export interface PartitionState {
  meta: SharedArrayBuffer;
  slots: SharedArrayBuffer;
  index: SharedArrayBuffer;
  timers: SharedArrayBuffer;
  digests: SharedArrayBuffer;
}

const INITIAL = { slots: 64, index: 128, timers: 64, digestWords: 4096 };
// Index load factor: at most 0.7 full; linear probing stays short (about 2 probes for a hit)
// and a million windows need 24 MB of index, not 32.
const INDEX_MAX_LOAD = 0.7;

function copyGrown(src: SharedArrayBuffer, bytes: number): SharedArrayBuffer {
  const dst = new SharedArrayBuffer(Math.max(bytes, src.byteLength));
  new Uint8Array(dst).set(new Uint8Array(src));
  return dst;
}

export class Arena {
  private meta!: Float64Array;
  slotsF64!: Float64Array;
  slotsI32!: Int32Array;
  private indexF64!: Float64Array;
  private indexI32!: Int32Array;
  private timersF64!: Float64Array;
  private timersI32!: Int32Array;
  digestsF64!: Float64Array;
  private state: PartitionState;

  private constructor(
    state: PartitionState,
    readonly slotWords: number,
  ) {
    this.state = state;
    this.bind();
  }

  /** A new, empty partition state for slots of `slotWords` words. */
  static create(slotWords: number): PartitionState {
    const meta = new SharedArrayBuffer(Meta.Words * 8);
    const m = new Float64Array(meta);
    m[Meta.SlotCapacity] = INITIAL.slots;
    m[Meta.FreeSlotHead] = -1;
    m[Meta.IndexCapacity] = INITIAL.index;
    m[Meta.TimerCapacity] = INITIAL.timers;
    m[Meta.DigestWordCapacity] = INITIAL.digestWords;
    for (let c = 0; c < kDigestClasses; c++) m[Meta.FreeDigestHeads + c] = -1;
    const index = new SharedArrayBuffer(INITIAL.index * 16);
    new Int32Array(index).fill(-1);
    return {
      meta,
      slots: new SharedArrayBuffer(INITIAL.slots * slotWords * 8),
      index,
      timers: new SharedArrayBuffer(INITIAL.timers * 16),
      digests: new SharedArrayBuffer(INITIAL.digestWords * 8),
    };
  }

  /**
   * A private copy to work on; the original stays as it was until the task's result is committed.
   * The copy goes into `spare` (the partition's previous state, which nothing reads any more)
   * where its regions are big enough: copying into memory already mapped is far cheaper than
   * mapping fresh memory for every task.
   */
  static copyForTask(state: PartitionState, slotWords: number, spare?: PartitionState): Arena {
    // Only the bytes that hold state (usedRegions), into a buffer of the same capacity: past them,
    // a region holds nothing the arena reads before writing it.
    const used = Arena.usedRegions(state, slotWords);
    const copy = (src: SharedArrayBuffer, dst: SharedArrayBuffer | undefined, bytes: Uint8Array) => {
      if (!dst || dst.byteLength < src.byteLength || dst === src) dst = new SharedArrayBuffer(src.byteLength);
      new Uint8Array(dst).set(bytes);
      return dst;
    };
    const arena = new Arena(
      {
        meta: copy(state.meta, spare?.meta, used.meta),
        slots: copy(state.slots, spare?.slots, used.slots),
        index: copy(state.index, spare?.index, used.index),
        timers: copy(state.timers, spare?.timers, used.timers),
        digests: copy(state.digests, spare?.digests, used.digests),
      },
      slotWords,
    );
    arena.meta[Meta.Stamp] = 0; // a new state, until its task stamps it
    return arena;
  }

  /** A copy of the state that keeps its stamp, into `into` where it fits: a task's copy made
   *  ahead of the task (src/runtime/window-task.ts). */
  static copyStamped(state: PartitionState, slotWords: number, into?: PartitionState): PartitionState {
    const arena = Arena.copyForTask(state, slotWords, into);
    arena.meta[Meta.Stamp] = Arena.stampOf(state);
    return arena.partitionState;
  }

  /** An arena over the state itself: for a copy made ahead, which nothing else holds. */
  static over(state: PartitionState, slotWords: number): Arena {
    return new Arena(state, slotWords);
  }

  /** The state's buffers' bytes, capacity included. */
  static bytesOf(state: PartitionState): number {
    let bytes = 0;
    for (const r of REGIONS) bytes += state[r].byteLength;
    return bytes;
  }

  /** Whether every region of `state` fits in the same region of `into`. */
  static fits(into: PartitionState, state: PartitionState): boolean {
    return REGIONS.every((r) => into[r].byteLength >= state[r].byteLength);
  }

  static stampOf(state: PartitionState): number {
    return new Float64Array(state.meta)[Meta.Stamp];
  }

  /** Whether a copy of the state is still to be made ahead (Meta.CopyPending). */
  static copyPending(state: PartitionState): boolean {
    return Atomics.load(new Int32Array(state.meta), Meta.CopyPending * 2) !== 0;
  }

  static setCopyPending(state: PartitionState, pending: boolean): void {
    Atomics.store(new Int32Array(state.meta), Meta.CopyPending * 2, pending ? 1 : 0);
  }

  /** Tags the state as a new one: a task changed it. */
  restamp(): void {
    this.meta[Meta.Stamp] = 1 + Math.floor(Math.random() * 2 ** 52);
  }

  /**
   * The bytes of each region that hold state, for checkpoints: spare capacity (and whatever a
   * reused spare buffer left past it) is not state. Views, not copies.
   */
  static usedRegions(state: PartitionState, slotWords: number): Record<RegionName, Uint8Array> {
    const m = new Float64Array(state.meta);
    return {
      meta: new Uint8Array(state.meta, 0, Meta.PersistedWords * 8),
      slots: new Uint8Array(state.slots, 0, m[Meta.SlotCount] * slotWords * 8),
      index: new Uint8Array(state.index, 0, m[Meta.IndexCapacity] * 16),
      timers: new Uint8Array(state.timers, 0, m[Meta.TimerCount] * 16),
      digests: new Uint8Array(state.digests, 0, m[Meta.DigestWordsUsed] * 8),
    };
  }

  /** A partition state from usedRegions' bytes. Throws when they do not fit together (a damaged
   *  checkpoint), naming what is wrong. */
  static fromRegions(used: Record<RegionName, Uint8Array>, slotWords: number): PartitionState {
    if (used.meta.byteLength !== Meta.PersistedWords * 8) throw new Error(`meta is ${used.meta.byteLength} bytes, expected ${Meta.PersistedWords * 8}`);
    const meta = new SharedArrayBuffer(Meta.Words * 8);
    new Uint8Array(meta).set(used.meta);
    const m = new Float64Array(meta);
    const count = (word: Meta, name: string, max = 2 ** 40) => {
      const v = m[word];
      if (!Number.isInteger(v) || v < 0 || v > max) throw new Error(`meta ${name} is ${v}`);
      return v;
    };
    const slotCapacity = count(Meta.SlotCapacity, 'slot capacity');
    const indexCapacity = count(Meta.IndexCapacity, 'index capacity');
    const timerCapacity = count(Meta.TimerCapacity, 'timer capacity');
    const digestCapacity = count(Meta.DigestWordCapacity, 'digest capacity');
    const sizes: Record<RegionName, [number, number]> = {
      meta: [Meta.PersistedWords * 8, Meta.PersistedWords * 8],
      slots: [count(Meta.SlotCount, 'slot count', slotCapacity) * slotWords * 8, slotCapacity * slotWords * 8],
      index: [indexCapacity * 16, indexCapacity * 16],
      timers: [count(Meta.TimerCount, 'timer count', timerCapacity) * 16, timerCapacity * 16],
      digests: [count(Meta.DigestWordsUsed, 'digest words', digestCapacity) * 8, digestCapacity * 8],
    };
    if ((indexCapacity & (indexCapacity - 1)) !== 0 || count(Meta.IndexUsed, 'index entries', indexCapacity) > indexCapacity * INDEX_MAX_LOAD) throw new Error('meta index is inconsistent');
    const region = (name: RegionName) => {
      const [used_, capacity] = sizes[name];
      if (used[name].byteLength !== used_) throw new Error(`${name} is ${used[name].byteLength} bytes, meta says ${used_}`);
      const buffer = new SharedArrayBuffer(capacity);
      new Uint8Array(buffer).set(used[name]);
      return buffer;
    };
    return { meta, slots: region('slots'), index: region('index'), timers: region('timers'), digests: region('digests') };
  }

  /** A partition state's open windows and earliest timer (+Infinity: none), without a copy. */
  static peek(state: PartitionState): { liveSlots: number; nextTimerMs: number } {
    const m = new Float64Array(state.meta);
    return { liveSlots: m[Meta.LiveSlots], nextTimerMs: m[Meta.TimerCount] > 0 ? new Float64Array(state.timers, 0, 1)[0] : Infinity };
  }

  /** The buffers as they are now (after any growth). */
  get partitionState(): PartitionState {
    return this.state;
  }

  get liveSlots(): number {
    return this.meta[Meta.LiveSlots];
  }

  private bind(): void {
    const s = this.state;
    this.meta = new Float64Array(s.meta);
    this.slotsF64 = new Float64Array(s.slots);
    this.slotsI32 = new Int32Array(s.slots);
    this.indexF64 = new Float64Array(s.index);
    this.indexI32 = new Int32Array(s.index);
    this.timersF64 = new Float64Array(s.timers);
    this.timersI32 = new Int32Array(s.timers);
    this.digestsF64 = new Float64Array(s.digests);
  }

  // ---- slots -------------------------------------------------------------------------------

  /** A zeroed slot, marked live, with a fresh generation. */
  allocSlot(): number {
    const m = this.meta;
    let slot = m[Meta.FreeSlotHead];
    // A freed slot's next generation; a new one starts at 1 (past the slots in use, a reused
    // buffer holds whatever it held before: it is never read).
    let generation = 1;
    if (slot >= 0) {
      m[Meta.FreeSlotHead] = this.slotsI32[(slot * this.slotWords + Slot.FlagsNext) * 2 + 1];
      generation = (this.slotsI32[(slot * this.slotWords + Slot.Generation) * 2] + 1) & 0x1fffffff; // fits a timer tag
    } else {
      slot = m[Meta.SlotCount];
      if (slot >= m[Meta.SlotCapacity]) {
        const capacity = m[Meta.SlotCapacity] * 2;
        this.state.slots = copyGrown(this.state.slots, capacity * this.slotWords * 8);
        m[Meta.SlotCapacity] = capacity;
        this.bind();
      }
      m[Meta.SlotCount] = slot + 1;
    }
    const base = slot * this.slotWords;
    this.slotsF64.fill(0, base, base + this.slotWords);
    this.slotsI32[(base + Slot.Generation) * 2] = generation;
    this.slotsI32[(base + Slot.KeyIdRevision) * 2 + 1] = -1;
    this.slotsI32[(base + Slot.FlagsNext) * 2] = SlotFlag.Live;
    this.slotsI32[(base + Slot.FlagsNext) * 2 + 1] = -1;
    m[Meta.LiveSlots]++;
    return slot;
  }

  freeSlot(slot: number): void {
    const base = slot * this.slotWords;
    this.slotsI32[(base + Slot.FlagsNext) * 2] = 0;
    this.slotsI32[(base + Slot.FlagsNext) * 2 + 1] = this.meta[Meta.FreeSlotHead];
    this.meta[Meta.FreeSlotHead] = slot;
    this.meta[Meta.LiveSlots]--;
  }

  // ---- index: (keyId, windowStart) -> slot --------------------------------------------------

  private hash(keyId: number, windowStartMs: number): number {
    // Window starts are integers (ms); mix both into 32 bits, then spread with murmur's finalizer.
    let h = Math.imul(keyId ^ 0x9e3779b9, 0x85ebca6b) ^ (windowStartMs | 0) ^ Math.floor(windowStartMs / 4294967296);
    h ^= h >>> 15;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 13;
    return h >>> 0;
  }

  find(keyId: number, windowStartMs: number): number {
    const mask = this.meta[Meta.IndexCapacity] - 1;
    for (let i = this.hash(keyId, windowStartMs) & mask; ; i = (i + 1) & mask) {
      const slot = this.indexI32[i * 4 + 1];
      if (slot === -1) return -1;
      if (this.indexI32[i * 4] === keyId && this.indexF64[i * 2 + 1] === windowStartMs) return slot;
    }
  }

  insert(keyId: number, windowStartMs: number, slot: number): void {
    if (this.meta[Meta.IndexUsed] + 1 > this.meta[Meta.IndexCapacity] * INDEX_MAX_LOAD) this.rehash(this.meta[Meta.IndexCapacity] * 2);
    const mask = this.meta[Meta.IndexCapacity] - 1;
    let i = this.hash(keyId, windowStartMs) & mask;
    while (this.indexI32[i * 4 + 1] !== -1) i = (i + 1) & mask;
    this.indexI32[i * 4] = keyId;
    this.indexI32[i * 4 + 1] = slot;
    this.indexF64[i * 2 + 1] = windowStartMs;
    this.meta[Meta.IndexUsed]++;
  }

  /** Repoints an existing entry (a session list whose head changed). */
  update(keyId: number, windowStartMs: number, slot: number): void {
    const mask = this.meta[Meta.IndexCapacity] - 1;
    for (let i = this.hash(keyId, windowStartMs) & mask; ; i = (i + 1) & mask) {
      if (this.indexI32[i * 4 + 1] === -1) throw new Error('arena index: update of a missing entry');
      if (this.indexI32[i * 4] === keyId && this.indexF64[i * 2 + 1] === windowStartMs) {
        this.indexI32[i * 4 + 1] = slot;
        return;
      }
    }
  }

  remove(keyId: number, windowStartMs: number): void {
    const mask = this.meta[Meta.IndexCapacity] - 1;
    let i = this.hash(keyId, windowStartMs) & mask;
    while (true) {
      if (this.indexI32[i * 4 + 1] === -1) return;
      if (this.indexI32[i * 4] === keyId && this.indexF64[i * 2 + 1] === windowStartMs) break;
      i = (i + 1) & mask;
    }
    // Backward-shift deletion: keeps probe chains whole without tombstones.
    let hole = i;
    for (let j = (i + 1) & mask; this.indexI32[j * 4 + 1] !== -1; j = (j + 1) & mask) {
      const home = this.hash(this.indexI32[j * 4], this.indexF64[j * 2 + 1]) & mask;
      const between = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (between) continue;
      this.indexF64[hole * 2] = this.indexF64[j * 2];
      this.indexF64[hole * 2 + 1] = this.indexF64[j * 2 + 1];
      hole = j;
    }
    this.indexI32[hole * 4] = -1;
    this.indexI32[hole * 4 + 1] = -1;
    this.meta[Meta.IndexUsed]--;
  }

  private rehash(capacity: number): void {
    const oldI32 = this.indexI32;
    const oldF64 = this.indexF64;
    const oldCapacity = this.meta[Meta.IndexCapacity];
    this.state.index = new SharedArrayBuffer(capacity * 16);
    this.bind();
    this.indexI32.fill(-1);
    this.meta[Meta.IndexCapacity] = capacity;
    this.meta[Meta.IndexUsed] = 0;
    for (let i = 0; i < oldCapacity; i++) {
      const slot = oldI32[i * 4 + 1];
      if (slot !== -1) this.insert(oldI32[i * 4], oldF64[i * 2 + 1], slot);
    }
  }

  /**
   * Gives the keys new ids (`idOf(old)`): a partition restored into a process whose key table
   * numbers keys its own way (SPEC §15). Slots keep their places; the index is rebuilt.
   */
  rekey(idOf: (oldId: number) => number): void {
    const m = this.meta;
    for (let slot = 0; slot < m[Meta.SlotCount]; slot++) {
      const base = slot * this.slotWords;
      if (!(this.slotsI32[(base + Slot.FlagsNext) * 2] & SlotFlag.Live)) continue;
      const at = (base + Slot.KeyIdRevision) * 2;
      this.slotsI32[at] = idOf(this.slotsI32[at]);
    }
    const entries: number[] = [];
    for (let i = 0; i < m[Meta.IndexCapacity]; i++) {
      const slot = this.indexI32[i * 4 + 1];
      if (slot !== -1) entries.push(idOf(this.indexI32[i * 4]), this.indexF64[i * 2 + 1], slot);
    }
    this.indexI32.fill(-1);
    m[Meta.IndexUsed] = 0;
    for (let e = 0; e < entries.length; e += 3) this.insert(entries[e], entries[e + 1], entries[e + 2]);
  }

  /** The ids of the keys with open windows. */
  liveKeyIds(): Set<number> {
    const out = new Set<number>();
    for (let slot = 0; slot < this.meta[Meta.SlotCount]; slot++) {
      const base = slot * this.slotWords;
      if (this.slotsI32[(base + Slot.FlagsNext) * 2] & SlotFlag.Live) out.add(this.slotsI32[(base + Slot.KeyIdRevision) * 2]);
    }
    return out;
  }

  // ---- timers: min-heap by (timeMs, kind) ---------------------------------------------------

  pushTimer(timeMs: number, slot: number, kind: TimerKind): void {
    const m = this.meta;
    let n = m[Meta.TimerCount];
    if (n >= m[Meta.TimerCapacity]) {
      m[Meta.TimerCapacity] *= 2;
      this.state.timers = copyGrown(this.state.timers, m[Meta.TimerCapacity] * 16);
      this.bind();
    }
    const generation = this.slotsI32[(slot * this.slotWords + Slot.Generation) * 2];
    // Sift up.
    while (n > 0) {
      const parent = (n - 1) >> 1;
      if (!this.before(timeMs, kind, parent)) break;
      this.moveTimer(parent, n);
      n = parent;
    }
    this.timersF64[n * 2] = timeMs;
    this.timersI32[n * 4 + 2] = slot;
    this.timersI32[n * 4 + 3] = kind | ((generation & GENERATION_MASK) << 2);
    m[Meta.TimerCount]++;
  }

  /** Time of the earliest timer, +Infinity when none. */
  nextTimerMs(): number {
    return this.meta[Meta.TimerCount] > 0 ? this.timersF64[0] : Infinity;
  }

  /**
   * Pops the earliest timer if it is due (timeMs <= watermarkMs). Returns its slot, or -1 when
   * nothing is due; the kind is in `poppedKind`. Timers of freed or reused slots are skipped.
   */
  popDueTimer(watermarkMs: number): number {
    while (this.meta[Meta.TimerCount] > 0 && this.timersF64[0] <= watermarkMs) {
      const slot = this.timersI32[2];
      const tag = this.timersI32[3];
      this.poppedTimeMs = this.timersF64[0];
      this.removeTop();
      const base = slot * this.slotWords;
      const live = this.slotsI32[(base + Slot.FlagsNext) * 2] & SlotFlag.Live;
      if (!live || (this.slotsI32[(base + Slot.Generation) * 2] & GENERATION_MASK) !== tag >>> 2) continue;
      this.poppedKind = (tag & 3) as TimerKind;
      return slot;
    }
    return -1;
  }
  poppedKind: TimerKind = TimerKind.Fire;
  poppedTimeMs = 0;

  /** (timeMs, kind) sorts before entry i. */
  private before(timeMs: number, kind: number, i: number): boolean {
    const t = this.timersF64[i * 2];
    return timeMs < t || (timeMs === t && kind < (this.timersI32[i * 4 + 3] & 3));
  }

  /** Entry i sorts before (timeMs, kind). */
  private entryBefore(i: number, timeMs: number, kind: number): boolean {
    const t = this.timersF64[i * 2];
    return t < timeMs || (t === timeMs && (this.timersI32[i * 4 + 3] & 3) < kind);
  }

  private moveTimer(from: number, to: number): void {
    this.timersF64[to * 2] = this.timersF64[from * 2];
    this.timersF64[to * 2 + 1] = this.timersF64[from * 2 + 1];
  }

  private removeTop(): void {
    const n = --this.meta[Meta.TimerCount];
    if (n === 0) return;
    // Move the last entry to the root and sift it down.
    const timeMs = this.timersF64[n * 2];
    const tail = this.timersF64[n * 2 + 1];
    const kind = this.timersI32[n * 4 + 3] & 3;
    let i = 0;
    while (true) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.entryBefore(r, this.timersF64[l * 2], this.timersI32[l * 4 + 3] & 3) ? r : l;
      if (!this.entryBefore(c, timeMs, kind)) break;
      this.moveTimer(c, i);
      i = c;
    }
    this.timersF64[i * 2] = timeMs;
    this.timersF64[i * 2 + 1] = tail;
  }

  // ---- digest blocks ------------------------------------------------------------------------

  /** A block of at least `words` 8-byte words; returns its word offset. Blocks are powers of two. */
  allocDigest(words: number): number {
    const cls = digestClass(words);
    if (cls >= kDigestClasses) throw new RangeError(`digest block of ${words} words is too large`);
    const size = 1 << (cls + kMinDigestClassLog2);
    const m = this.meta;
    const head = m[Meta.FreeDigestHeads + cls];
    if (head >= 0) {
      m[Meta.FreeDigestHeads + cls] = this.digestsF64[head];
      return head;
    }
    const at = m[Meta.DigestWordsUsed];
    if (at + size > m[Meta.DigestWordCapacity]) {
      let capacity = m[Meta.DigestWordCapacity];
      while (at + size > capacity) capacity *= 2;
      this.state.digests = copyGrown(this.state.digests, capacity * 8);
      m[Meta.DigestWordCapacity] = capacity;
      this.bind();
    }
    m[Meta.DigestWordsUsed] = at + size;
    return at;
  }

  /** Words in the block allocDigest gave for a request of `words`. */
  static digestBlockWords(words: number): number {
    return 1 << (digestClass(words) + kMinDigestClassLog2);
  }

  freeDigest(offsetWords: number, words: number): void {
    const cls = digestClass(words);
    this.digestsF64[offsetWords] = this.meta[Meta.FreeDigestHeads + cls];
    this.meta[Meta.FreeDigestHeads + cls] = offsetWords;
  }
}
