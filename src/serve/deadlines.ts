// Requests' time limits (http.timeoutMs), checked by one interval timer rather than a timer per
// request (a measurable share of a small request's cost).
//
// The entries live in slots of one array, and a finished request's slot is set to null. A Set
// did the same job and cost far more: its hash table, rehashed as requests came and went, left
// old copies in the old generation still pointing at young entries, so every scavenge kept them
// (and each request's closures) alive. One in five young bytes was promoted, scavenges took
// 12-15 ms instead of ~1, and at half load p99 rose from ~4 to ~25 ms (1-row requests).

/** A time limit, as readBody takes it: when it passes, `expire` runs (once). */
export interface Within {
  timeoutMs: number;
  start(expire: () => void): () => void;
}

interface Entry {
  atMs: number;
  expire: () => void;
}

export class Deadlines {
  private slots: Array<Entry | null> = new Array(64).fill(null);
  private readonly free: number[] = Array.from({ length: 64 }, (_, i) => 63 - i);
  private live = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly everyMs: number) {}

  /** Runs `expire` once performance.now() passes atMs; the function returned cancels it. */
  add(atMs: number, expire: () => void): () => void {
    if (this.free.length === 0) this.grow();
    const i = this.free.pop()!;
    const entry: Entry = { atMs, expire };
    this.slots[i] = entry;
    this.live++;
    if (this.timer === null) {
      this.timer = setInterval(() => this.sweep(), this.everyMs);
      this.timer.unref();
    }
    return () => this.clear(i, entry);
  }

  within(atMs: number, timeoutMs: number): Within {
    return { timeoutMs, start: (expire) => this.add(atMs, expire) };
  }

  /** `work`'s outcome, or the error `expire` makes if atMs passes first. */
  race<T>(work: Promise<T>, atMs: number, expire: () => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const cancel = this.add(atMs, () => reject(expire()));
      work.then(
        (v) => (cancel(), resolve(v)),
        (e) => (cancel(), reject(e)),
      );
    });
  }

  /** Entries waiting (tests). */
  get size(): number {
    return this.live;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private clear(i: number, entry: Entry): void {
    if (this.slots[i] !== entry) return; // expired already, or cancelled twice
    this.slots[i] = null;
    this.free.push(i);
    this.live--;
  }

  private grow(): void {
    const n = this.slots.length;
    const bigger = this.slots.concat(new Array(n).fill(null));
    this.slots.fill(null); // the old array may be old-generation garbage: it must point at nothing
    this.slots = bigger;
    for (let i = 2 * n - 1; i >= n; i--) this.free.push(i);
  }

  private sweep(): void {
    if (this.live === 0) return;
    const now = performance.now();
    for (let i = 0; i < this.slots.length; i++) {
      const e = this.slots[i];
      if (e === null || e.atMs > now) continue;
      this.clear(i, e);
      e.expire();
    }
  }
}
