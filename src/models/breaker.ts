// A remote model's circuit breaker (SPEC §12), in a SharedArrayBuffer so that every worker thread
// sees one breaker: after `failures` failed calls in a row it opens, and calls fail at once for
// openMs; then one call (the probe) goes through, and its outcome closes or opens it again.
//
// A probe whose worker was stopped (a task past scoring.timeoutMs) never reports back: after
// probeTimeoutMs another call may probe.
//
// Layout: Int32 [0] failures in a row, [1] a probe is out (0/1); Float64 [1] openUntilMs,
// [2] the probe's start (Date.now()).

export const BREAKER_BYTES = 24;

export class Breaker {
  private readonly ints: Int32Array;
  private readonly times: Float64Array;

  constructor(
    state: SharedArrayBuffer,
    private readonly failures: number,
    private readonly openMs: number,
    /** A probe out longer than this is taken to have died with its worker. */
    private readonly probeTimeoutMs = Infinity,
  ) {
    this.ints = new Int32Array(state, 0, 2);
    this.times = new Float64Array(state, 8, 2);
  }

  static create(): SharedArrayBuffer {
    return new SharedArrayBuffer(BREAKER_BYTES);
  }

  /** Open: calls fail at once (while no probe may go). */
  get open(): boolean {
    return Atomics.load(this.ints, 0) >= this.failures;
  }

  /** May a call go now? Closed: yes. Open: only once openMs has passed, as the one probe. */
  admit(nowMs = Date.now()): 'call' | 'probe' | 'refused' {
    if (Atomics.load(this.ints, 0) < this.failures) return 'call';
    if (nowMs < this.times[0]) return 'refused';
    if (Atomics.compareExchange(this.ints, 1, 0, 1) !== 0 && nowMs - this.times[1] <= this.probeTimeoutMs) return 'refused';
    this.times[1] = nowMs;
    return 'probe';
  }

  succeeded(probe: boolean): void {
    Atomics.store(this.ints, 0, 0);
    if (probe) Atomics.store(this.ints, 1, 0);
  }

  failed(probe: boolean, nowMs = Date.now()): void {
    const n = Atomics.add(this.ints, 0, 1) + 1;
    if (n >= this.failures) this.times[0] = nowMs + this.openMs;
    if (probe) Atomics.store(this.ints, 1, 0);
  }

  /** Failed calls in a row. */
  get failuresInARow(): number {
    return Atomics.load(this.ints, 0);
  }
}
