// State per source partition, with a changelog (SPEC §15): the partitions this process holds,
// taking one on (from the state kept in memory, the local copy, or the changelog), its
// checkpoint records (changelog first, then the local copy), and the co-partitioning check.
// Key ids are this process's own (the decoder interns names as they come): a partition read back
// has its keys renumbered by name, and its next write is whole.
import { logger } from '../log';
import { Arena, type PartitionState } from '../state/arena';
import { PartitionWriter, restorePartition, type PartitionIdentity, type PartitionManifest, type PartitionRecord, type RestoredPartition } from '../state/partition-log';
import type { StagedCheckpoint, StateStore } from '../state/store';
import { SluiceError } from '../errors';
import type { Changelog, EngineMetrics } from './ports';

const log = logger('partitions');

/** The decoder's key table, as this module uses it. */
export interface KeyTable {
  intern(name: string): number;
  name(id: number): string;
}

/** A partition taken on. */
export interface TakenPartition {
  partition: number;
  /** Null: kept as it was in memory. */
  state: PartitionState | null;
  position: number | null;
  maxEventTimeMs: number | null;
  from: 'changelog' | 'local' | 'none';
  windows: number;
  ms: number;
}

/** A checkpoint's records, per partition (StagedCheckpoint's `puts` stay empty). */
export interface StagedPartitions extends StagedCheckpoint {
  parts: Array<{ partition: number; records: PartitionRecord[]; manifest: PartitionManifest }>;
}

export class PartitionOwner {
  private readonly writers = new Map<number, PartitionWriter>();
  /** Per held partition: the changelog's end offset after this process's last write to it. */
  private readonly ends = new Map<number, number>();
  /** Per held partition: the ids of keys whose names its changelog holds, and keys new since. */
  private readonly written = new Map<number, Set<number>>();
  private readonly fresh = new Map<number, number[]>();
  /** Local records of a partition that its next write replaces (it was read from elsewhere). */
  private readonly staleLocal = new Map<number, string[]>();
  /** Per key id: the source partition it was first seen in (-1: none yet). */
  private homes = new Int32Array(1024).fill(-1);
  private readonly conflicting = new Set<string>();
  private warned = false;
  private lastId = 0;
  private suspended = false;

  constructor(
    private readonly changelog: Changelog,
    private readonly store: StateStore,
    private readonly identity: PartitionIdentity,
    private readonly slotWords: number,
    private readonly keys: KeyTable,
    private readonly metrics: EngineMetrics,
  ) {}

  /** Partitions held now. */
  get held(): number[] {
    return [...this.writers.keys()].sort((a, b) => a - b);
  }

  private where(p: number): string {
    return `changelog topic "${this.changelog.topic}" partition ${p}`;
  }

  /** An event of key `keyId` in source partition p (the router calls this for every event). */
  keyIn(keyId: number, p: number): void {
    if (keyId >= this.homes.length) {
      const grown = new Int32Array(Math.max(keyId + 1, this.homes.length * 2)).fill(-1);
      grown.set(this.homes);
      this.homes = grown;
    }
    const home = this.homes[keyId];
    if (home < 0) this.homes[keyId] = p;
    else if (home !== p) {
      this.metrics.keyPartitionConflicts(1);
      const pair = `${keyId}/${p}`;
      if (!this.conflicting.has(pair) && !this.warned) {
        this.warned = true;
        log.warn('a key came in a second source partition: its state there is kept apart, so its windows there are not those of one key (SPEC §15). Produce keyed records (the key in the record key) so that each key stays in one partition; sluice_key_partition_conflicts_total counts these events', { key: this.keys.name(keyId), partitions: [home, p] });
      }
      this.conflicting.add(pair);
    }
    const written = this.written.get(p);
    if (written && !written.has(keyId)) {
      written.add(keyId);
      this.fresh.get(p)!.push(keyId);
    }
  }

  /**
   * Takes partitions on: a partition in `kept` (held before the rebalance) stays as it is if
   * nothing was written to its changelog since this process last did; otherwise its state comes
   * from the local copy if that matches the changelog's end, else from the changelog, else none.
   * Partitions held and not in the list are dropped.
   */
  async take(partitions: number[]): Promise<TakenPartition[]> {
    const { low, high } = await this.changelog.offsets();
    this.suspended = false;
    for (const p of this.held) if (!partitions.includes(p)) this.drop(p);
    return Promise.all(
      partitions.map(async (p): Promise<TakenPartition> => {
        const startedAt = performance.now();
        if (this.writers.has(p) && this.ends.get(p) === high[p]) return { partition: p, state: null, position: null, maxEventTimeMs: null, from: 'local', windows: -1, ms: 0 };
        const local = await this.store.partitionRecords(p);
        const localEnd = localManifestEnd(local);
        let restored: RestoredPartition | null = null;
        let from: TakenPartition['from'] = 'none';
        if (localEnd !== null && localEnd === high[p]) {
          restored = restorePartition(local, p, this.identity, this.slotWords, `${this.store.dir} (the local copy of partition ${p})`);
          from = 'local';
        } else {
          this.staleLocal.set(p, [...local.keys()]);
          if (high[p] > low[p]) {
            const records = new Map<string, Buffer>();
            await this.changelog.read(p, low[p], high[p], (_, key, value) => (value === null ? records.delete(key) : records.set(key, value)));
            restored = restorePartition(records, p, this.identity, this.slotWords, this.where(p));
            if (restored) from = 'changelog';
          }
        }
        const writer = restored ? PartitionWriter.restored(p, this.identity, restored) : new PartitionWriter(p, this.identity);
        this.writers.set(p, writer);
        this.written.set(p, new Set());
        this.ends.set(p, high[p]);
        this.fresh.set(p, []);
        const state = restored ? this.renumber(restored, p) : Arena.create(this.slotWords);
        const windows = Arena.peek(state).liveSlots;
        const ms = performance.now() - startedAt;
        this.metrics.partitionRestored(from, ms / 1000);
        return { partition: p, state, position: restored?.manifest.position ?? null, maxEventTimeMs: restored?.manifest.maxEventTimeMs ?? null, from, windows, ms };
      }),
    );
  }

  /** The restored state under this process's key ids. */
  private renumber(r: RestoredPartition, p: number): PartitionState {
    const ids = new Map<number, number>();
    for (const [id, name] of r.keys) {
      const mine = this.keys.intern(name);
      ids.set(id, mine);
      this.keyIn(mine, p);
    }
    this.written.set(p, new Set(ids.values()));
    this.fresh.set(p, []);
    const arena = Arena.over(r.state, this.slotWords);
    arena.rekey((id) => {
      const mine = ids.get(id);
      if (mine === undefined) throw new SluiceError('SLUICE_STATE', `${this.where(p)}: the state is damaged: key id ${id} has open windows but no name in its key lists. Nothing was read from it`);
      return mine;
    });
    return arena.partitionState;
  }

  /** Forgets a partition given up (its state goes with it). */
  drop(p: number): void {
    this.writers.delete(p);
    this.ends.delete(p);
    this.written.delete(p);
    this.fresh.delete(p);
    this.staleLocal.delete(p);
  }

  /** The partitions were given up (a rebalance's revoke, or the group lost this member): no
   *  checkpoint writes them until they are taken on again. */
  suspend(): void {
    this.suspended = true;
  }

  /** A checkpoint of the held partitions: `states` as of its boundary. */
  stage(states: readonly PartitionState[], positions: ReadonlyArray<number | null>, maxEventTimeMs: ReadonlyArray<number | null>): StagedPartitions {
    const startedAt = performance.now();
    const parts: StagedPartitions['parts'] = [];
    let bytes = 0;
    for (const [p, writer] of this.suspended ? [] : this.writers) {
      // Both set for every writer by take().
      const written = this.written.get(p)!;
      const fresh = this.fresh.get(p)!;
      this.fresh.set(p, []);
      const named = (ids: Iterable<number>) => [...ids].map((id): [number, string] => [id, this.keys.name(id)]);
      const all = () => {
        // A whole write names the keys with open windows, any routed since the boundary
        // (and every key ever named: a key routed after the boundary may have no window in the
        // boundary's state and still need its name later).
        const ids = Arena.over(states[p], this.slotWords).liveKeyIds();
        for (const id of fresh) ids.add(id);
        for (const id of written) ids.add(id);
        this.written.set(p, ids);
        return named(ids);
      };
      const staged = writer.stage(states[p], this.slotWords, { position: positions[p] ?? null, maxEventTimeMs: maxEventTimeMs[p] ?? null }, named(fresh), all);
      if (!staged) continue;
      parts.push({ partition: p, records: staged.records, manifest: staged.manifest });
      bytes += staged.bytes;
    }
    const stageMs = performance.now() - startedAt;
    return { id: ++this.lastId, puts: [], dels: [], bytes, stageMs, longestSliceMs: stageMs, parts };
  }

  /** Writes a staged checkpoint: each partition's records to the changelog (acked), then all of
   *  them to the local copy in one synced batch, each manifest with the changelog's end. */
  async write(staged: StagedCheckpoint): Promise<void> {
    const { parts } = staged as StagedPartitions;
    const ends = await Promise.all(parts.map((part) => this.changelog.append(part.partition, part.records)));
    const local = parts.map((part, i) => {
      const records = part.records.slice(0, -1);
      const now = new Set(records.map(([key]) => key));
      for (const key of this.staleLocal.get(part.partition) ?? []) if (key !== 'manifest' && !now.has(key)) records.unshift([key, null]);
      this.staleLocal.delete(part.partition);
      records.push(['manifest', Buffer.from(JSON.stringify({ ...part.manifest, changelogEnd: ends[i] }))]);
      return { partition: part.partition, records };
    });
    await this.store.writePartitions(local);
    parts.forEach((part, i) => {
      if (this.writers.has(part.partition)) this.ends.set(part.partition, ends[i]);
    });
  }
}

/** The changelog end a local copy's manifest was written at (null: none). */
function localManifestEnd(records: ReadonlyMap<string, Buffer>): number | null {
  const raw = records.get('manifest');
  if (!raw) return null;
  try {
    const end = (JSON.parse(raw.toString('utf8')) as { changelogEnd?: unknown }).changelogEnd;
    return typeof end === 'number' ? end : null;
  } catch {
    return null;
  }
}
