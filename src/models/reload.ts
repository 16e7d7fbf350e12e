// Hot reload's polling (SPEC §12): every model with `reload` is polled every pollMs; a changed
// source is read and its candidate checked (src/models/versions.ts), off the main thread's hot
// path; the registry switches to an accepted one (src/models/registry.ts). A restart's models are
// checked once its replay is over.
import { logger } from '../log';
import type { CandidateCheck, CheckOutcome } from './check';
import type { ModelVersions, SourceBytes } from './versions';

const log = logger('models');
/** How often a restart looks whether its replay is over. */
const RESTART_CHECK_EVERY_MS = 200;
/** A replay whose end cannot be seen (the end offsets at start are never reached: a topic that
 *  ends in a transaction marker, or partitions that other processes read) stops holding switches
 *  back after this, with a warning. */
const REPLAY_WAIT_MAX_MS = 60_000;

export interface ReloadTarget {
  /** Readies an accepted version before the switch (serve loads it on every worker). */
  prepare?(mv: ModelVersions, read: SourceBytes): Promise<void>;
  /** Switches to an accepted version (synchronously: no batch is routed meanwhile). */
  accept(mv: ModelVersions, read: SourceBytes, took: { readMs: number; checkMs: number }): void;
  refused(mv: ModelVersions): void;
}

export class Reloader {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly polls = new Set<Promise<void>>();
  private stopped = false;
  /** Models with a check running: a poll meanwhile does nothing. */
  private readonly busy = new Set<ModelVersions>();
  /** Per model, the last refusal logged, and the candidate waiting for rows (logged once). */
  private readonly lastRefusal = new Map<ModelVersions, string>();
  private readonly waiting = new Map<ModelVersions, string>();

  constructor(
    private readonly target: ReloadTarget,
    private readonly check: (c: CandidateCheck) => Promise<CheckOutcome>,
  ) {}

  /**
   * Polls `models` that have `reload`. A restart's models (`restarted`: versions recorded by an
   * earlier life) first wait for `replayed()`: until the replay of what that life may have read
   * and emitted is over, no version may switch, since T would fall among windows it scored. Then
   * each is checked once, as a reload would (SPEC §12).
   */
  start(models: Iterable<ModelVersions>, restarted: ModelVersions[], replayed: () => boolean): void {
    let due = restarted;
    const startedAt = Date.now();
    let warned = false;
    const replayOver = () => {
      if (replayed()) return true;
      if (Date.now() - startedAt < REPLAY_WAIT_MAX_MS) return false;
      if (!warned) log.warn(`the restart's replay has not reached the input's end offsets at start after ${REPLAY_WAIT_MAX_MS / 1000} s (a topic ending in a transaction marker?); model sources are checked now, and a new version's T may fall among windows an earlier life wrote`);
      warned = true;
      return true;
    };
    const every = (ms: number, tick: () => Promise<void>) => {
      const timer = setInterval(() => {
        if (this.stopped || (due.length > 0 && !replayOver())) return;
        const poll = tick().finally(() => this.polls.delete(poll));
        this.polls.add(poll);
      }, ms);
      timer.unref();
      this.timers.push(timer);
    };
    if (due.length > 0) {
      every(RESTART_CHECK_EVERY_MS, async () => {
        const now = due;
        due = [];
        for (const mv of now) await this.poll(mv); // never read yet: it counts as changed
      });
    }
    for (const mv of models) {
      const pollMs = mv.spec.reload?.pollMs;
      if (pollMs) every(pollMs, () => this.poll(mv));
    }
  }

  /** Stops polling; a check still running is waited for, and its version not taken. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    await Promise.allSettled([...this.polls]);
  }

  private async poll(mv: ModelVersions): Promise<void> {
    if (this.busy.has(mv)) return;
    this.busy.add(mv);
    try {
      if (await mv.sourceChanged()) await this.tryReload(mv);
    } catch (e) {
      log.error(`model ${mv.name}: the reload check failed: ${(e as Error).message}`, { model: mv.name });
    } finally {
      this.busy.delete(mv);
    }
  }

  private async tryReload(mv: ModelVersions): Promise<void> {
    const candidate = await mv.tryCandidate(this.check);
    if (candidate === null || this.stopped) return;
    if ('waiting' in candidate) {
      if (this.waiting.get(mv) !== candidate.waiting) log.info(`model ${mv.name}: ${candidate.waiting}`, { model: mv.name });
      this.waiting.set(mv, candidate.waiting);
      return;
    }
    this.waiting.delete(mv);
    if ('refused' in candidate) {
      // A source that keeps failing (a URL down) is counted at every poll, logged once.
      if (this.lastRefusal.get(mv) !== candidate.refused) log.warn(`model ${mv.name}: new version refused, the version in force (${mv.inForce.version}) keeps scoring: ${candidate.refused}`, { model: mv.name });
      this.lastRefusal.set(mv, candidate.refused);
      this.target.refused(mv);
      return;
    }
    this.lastRefusal.delete(mv);
    await this.target.prepare?.(mv, candidate.accepted);
    if (this.stopped) return;
    this.target.accept(mv, candidate.accepted, { readMs: Math.round(candidate.readMs), checkMs: Math.round(candidate.checkMs) });
  }
}
