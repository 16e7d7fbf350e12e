// Checkpoints on disk (SPEC §10): the window state of every key partition, the key names, the
// watermarks, the source positions and the file sinks' lengths, in one RocksDB database under
// `<state.dir>/checkpoints`, each checkpoint written as one atomic, synced write batch.
//
// Layout (keys are ASCII; one key partition's state and keys sit under their own prefix, so a
// partition can be read and restored on its own when jobs scale out by partition):
//   meta                          JSON {format, job, layout}: whose state this is
//   ckpt                          JSON manifest of the latest checkpoint (Manifest)
//   p/<pppp>/r/<region>/<nnnnnnnn> page n of a region of partition p's arena: crc32 + 64 KiB
//   p/<pppp>/k/<cccccccccc>       JSON [[keyId, name], ...]: the partition's keys first seen
//                                  before checkpoint c
//   m/<model>/<nnnnnn>            JSON RecordedVersion: the model's n-th version and its switch
//                                  time, written on its own when the version is accepted (SPEC §12)
//   r/<model>                     the rows its version in force scored last (ModelRows), with
//                                  each checkpoint
//   c/<pppp>/<record>              with a changelog (SPEC §15): source partition p's records, as
//                                  its changelog partition has them (src/state/partition-log.ts)
//
// Incremental: the store keeps a copy of the bytes it last wrote, and stages only the pages that
// differ from it (a memcmp per page), plus the keys new since.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import { SluiceError } from '../errors';
import { Arena, REGIONS, type PartitionState, type RegionName } from './arena';
import { openKv, type KvBackend, type KvStore } from './kv';
import { openKvOnThread } from './kv-thread';

/** Bumped whenever the layout above or the arena's changes: older state dirs are refused. */
export const STATE_FORMAT = 3;
const PAGE_BYTES = 64 << 10;
/** Staging holds the event loop at most about this long at a time. */
const SLICE_MS = 10;

export interface StoreIdentity {
  job: string;
  /** What the state's meaning depends on (window, features, key partitions, topic, ...), as text. */
  layout: string;
}

/** What a checkpoint holds besides the arenas and keys. */
export interface CheckpointPoint {
  /** Per source partition, the offset of the next record to read (null: none known). */
  positions: Array<number | null>;
  /** Per source partition, the largest event time seen (null: none). */
  maxEventTimeMs: Array<number | null>;
  /** The job watermark (null: -Infinity). */
  watermarkMs: number | null;
  /** Per file sink (results, late, deadLetters): its length in bytes. */
  sinkBytes: Record<string, number>;
}

interface Manifest extends CheckpointPoint {
  id: number;
  numKeys: number;
  keyPartitions: number;
  /** Per key partition, the used bytes of each region. */
  regions: Array<Record<RegionName, number>>;
}

export interface Checkpoint extends CheckpointPoint {
  id: number;
  /** Key names by key id. */
  keys: string[];
  states: PartitionState[];
}

/** A checkpoint staged in memory: write it with StateStore.write. */
export interface StagedCheckpoint {
  id: number;
  puts: Array<[string, Uint8Array]>;
  dels: string[];
  bytes: number;
  /** Staging's wall time, and the longest stretch it held the event loop (the pipeline's pause). */
  stageMs: number;
  longestSliceMs: number;
}

/** A model version as the store keeps it; its bytes are in `<state.dir>/models/<file>`. */
export interface RecordedVersion {
  model: string;
  version: string;
  /** The switch time T; null for -Infinity (the version loaded at the job's first start). */
  fromMs: number | null;
  file: string;
}

/** Rows a model's version scored (the check rows of its next reload). */
export interface ModelRows {
  version: string;
  width: number;
  rows: Float32Array;
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');
const regionKey = (p: number, region: RegionName, page: number) => `p/${pad(p, 4)}/r/${region}/${pad(page, 8)}`;
const keysKey = (p: number, id: number) => `p/${pad(p, 4)}/k/${pad(id, 10)}`;

export class StateStore {
  private lastId = 0;
  /** Per key partition and region: the bytes as last staged. */
  private written: Array<Partial<Record<RegionName, Buffer>>> = [];
  private keysWritten = 0;
  private identityWritten = false;

  private versionsWritten = new Map<string, number>();

  private constructor(
    readonly dir: string,
    private readonly kv: KvStore,
    private readonly identity: StoreIdentity,
  ) {}

  get backend(): KvBackend {
    return this.kv.backend;
  }

  /** Where model versions' bytes go: beside the checkpoints, under state.dir. */
  get modelsDir(): string {
    return path.join(path.dirname(this.dir), 'models');
  }

  /** Opens (or creates) the store under stateDir; `reset` deletes what is there first. A store of
   *  another job or format, or a damaged one, is an error that says so. `thread` (the default for
   *  @nxtedition/rocksdb): RocksDB works on a thread of its own (src/state/kv-thread.ts); the
   *  deprecated `rocksdb` binding (bench only) cannot load in a second thread, so it never does. */
  static async open(stateDir: string, identity: StoreIdentity, opts: { reset?: boolean; backend?: KvBackend; thread?: boolean } = {}): Promise<StateStore> {
    const dir = path.join(stateDir, 'checkpoints');
    if (opts.reset) for (const d of [dir, path.join(stateDir, 'models')]) fs.rmSync(d, { recursive: true, force: true });
    const files = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
    // RocksDB would create a fresh database over files it cannot use: refuse instead.
    if (files.some((f) => f !== 'LOCK' && !f.startsWith('LOG')) && !files.includes('CURRENT')) throw damaged(dir, 'its CURRENT file is missing');
    let kv: KvStore;
    try {
      const thread = opts.thread ?? opts.backend !== 'level';
      kv = await (thread ? openKvOnThread(dir, opts.backend) : openKv(dir, opts.backend));
    } catch (e) {
      // RocksDB's LOCK: another process has this state.dir open (SPEC §15: refused at start).
      if (/lock/i.test(firstLine(e))) throw stateError(`${stateDir}: is in use by another running sluice process; give each process a state.dir of its own (--set state.dir=...)`, e);
      throw damaged(dir, `RocksDB cannot open it (${firstLine(e)})`, e);
    }
    const store = new StateStore(dir, kv, identity);
    try {
      await store.checkIdentity();
    } catch (e) {
      await kv.close().catch(() => undefined);
      throw e;
    }
    return store;
  }

  private async checkIdentity(): Promise<void> {
    const raw = await this.kv.get('meta');
    if (!raw) return;
    const meta = parseJson(this.dir, 'meta', raw) as { format?: number; job?: string; layout?: string };
    const hint = 'use another state.dir, or start over with `sluice run --reset-state`';
    if (meta.format !== STATE_FORMAT) throw stateError(`${this.dir}: holds state in format ${meta.format}; this sluice reads format ${STATE_FORMAT}: ${hint}`);
    if (meta.job !== this.identity.job) throw stateError(`${this.dir}: holds the state of job "${meta.job}", not "${this.identity.job}": ${hint}`);
    if (meta.layout !== this.identity.layout) {
      throw stateError(`${this.dir}: was written by job "${meta.job}" with another window, features, key partitions or source (${meta.layout}; now ${this.identity.layout}): ${hint}`);
    }
    this.identityWritten = true;
  }

  /** The latest checkpoint, or null when none was ever written. */
  async load(slotWords: number): Promise<Checkpoint | null> {
    const m = await this.manifest();
    if (!m) return null;
    const { used, keys } = await this.readPartitions(m, 'p/');
    if (keys.length !== m.numKeys) throw damaged(this.dir, `it has ${keys.length} of its ${m.numKeys} key names`);
    const names: string[] = new Array(m.numKeys);
    for (const [id, name] of keys) names[id] = name;
    const states = m.regions.map((_, p) => {
      // The concatenated pages are fresh buffers of their own: they serve as the copy of what was
      // written as they are.
      this.written[p] = { ...used[p] };
      return this.arena(used[p], p, slotWords);
    });
    this.lastId = m.id;
    this.keysWritten = m.numKeys;
    return { id: m.id, positions: m.positions, maxEventTimeMs: m.maxEventTimeMs, watermarkMs: m.watermarkMs, sinkBytes: m.sinkBytes, keys: names, states };
  }

  /** One key partition of the latest checkpoint, read on its own (the layout allows a process to
   *  take over single partitions): its state and its keys as [id, name]. */
  async loadPartition(partition: number, slotWords: number): Promise<{ state: PartitionState; keys: Array<[number, string]> } | null> {
    const m = await this.manifest();
    if (!m) return null;
    if (!(partition >= 0 && partition < m.keyPartitions)) throw stateError(`${this.dir}: has no key partition ${partition} (it has ${m.keyPartitions})`);
    const { used, keys } = await this.readPartitions(m, `p/${pad(partition, 4)}/`);
    return { state: this.arena(used[partition], partition, slotWords), keys };
  }

  private async manifest(): Promise<Manifest | null> {
    const raw = await this.kv.get('ckpt');
    if (!raw) {
      if (this.identityWritten) throw damaged(this.dir, 'it has no checkpoint manifest');
      for await (const _ of this.kv.entries('p/')) throw damaged(this.dir, 'it holds partition pages but no checkpoint manifest');
      return null;
    }
    const m = parseJson(this.dir, 'ckpt', raw) as Manifest;
    if (!Number.isInteger(m.id) || !Array.isArray(m.regions) || m.regions.length !== m.keyPartitions || !Array.isArray(m.positions)) {
      throw damaged(this.dir, 'its checkpoint manifest is malformed');
    }
    return m;
  }

  /** The pages (checksums checked, lengths matched against the manifest) and keys under prefix. */
  private async readPartitions(m: Manifest, prefix: string): Promise<{ used: Array<Record<RegionName, Buffer>>; keys: Array<[number, string]> }> {
    const pages: Array<Record<RegionName, Buffer[]>> = m.regions.map(() => ({ meta: [], slots: [], index: [], timers: [], digests: [] }));
    const keys: Array<[number, string]> = [];
    const seen = new Set<number>();
    for await (const [key, value] of this.kv.entries(prefix)) {
      const [, pp, kind, a, b] = key.split('/');
      const p = Number(pp);
      if (!(p >= 0 && p < m.keyPartitions)) throw damaged(this.dir, `it has an entry for key partition ${pp}, beyond ${m.keyPartitions}`);
      if (kind === 'k') {
        for (const [id, name] of parseJson(this.dir, key, value) as Array<[number, string]>) {
          if (!(Number.isInteger(id) && id >= 0 && id < m.numKeys) || seen.has(id) || typeof name !== 'string') throw damaged(this.dir, `${key} has key id ${id} (expected a new id below ${m.numKeys})`);
          seen.add(id);
          keys.push([id, name]);
        }
        continue;
      }
      const list = pages[p][a as RegionName];
      if (!list || Number(b) !== list.length) throw damaged(this.dir, `${key} is out of place (a page before it is missing)`);
      if (value.length < 4 || value.readUInt32LE(0) !== crc32(value.subarray(4))) throw damaged(this.dir, `${key} fails its checksum`);
      list.push(value.subarray(4));
    }
    const used = pages.map((regions, p) => {
      const out = {} as Record<RegionName, Buffer>;
      for (const r of REGIONS) out[r] = Buffer.concat(regions[r]);
      return out;
    });
    const check = (p: number) => {
      for (const r of REGIONS) {
        if (used[p][r].byteLength !== m.regions[p][r]) throw damaged(this.dir, `partition ${p} region ${r} has ${used[p][r].byteLength} bytes, the manifest says ${m.regions[p][r]}`);
      }
    };
    for (let p = 0; p < m.keyPartitions; p++) if (prefix === 'p/' || prefix === `p/${pad(p, 4)}/`) check(p);
    return { used, keys };
  }

  private arena(used: Record<RegionName, Uint8Array>, partition: number, slotWords: number): PartitionState {
    try {
      return Arena.fromRegions(used, slotWords);
    } catch (e) {
      throw damaged(this.dir, `partition ${partition}: ${(e as Error).message}`, e);
    }
  }

  /** Source partition p's records (a changelog job's local copy), latest value per key. */
  async partitionRecords(p: number): Promise<Map<string, Buffer>> {
    const prefix = `c/${pad(p, 4)}/`;
    const out = new Map<string, Buffer>();
    for await (const [key, value] of this.kv.entries(prefix)) out.set(key.slice(prefix.length), value);
    return out;
  }

  /** Writes partitions' records (null: delete) in one atomic, synced batch. */
  async writePartitions(records: ReadonlyArray<{ partition: number; records: ReadonlyArray<readonly [string, Buffer | null]> }>): Promise<void> {
    const puts: Array<[string, Uint8Array]> = [];
    const dels: string[] = [];
    if (!this.identityWritten) puts.push(['meta', Buffer.from(JSON.stringify({ format: STATE_FORMAT, ...this.identity }))]);
    this.identityWritten = true;
    for (const { partition, records: list } of records) {
      const prefix = `c/${pad(partition, 4)}/`;
      for (const [key, value] of list) {
        if (value === null) dels.push(prefix + key);
        else puts.push([prefix + key, value]);
      }
    }
    try {
      await this.kv.write(puts, dels);
    } catch (e) {
      throw stateError(`${this.dir}: writing a checkpoint failed: ${firstLine(e)}`, e);
    }
  }

  /** Every model version recorded, per model in the order accepted. */
  async modelVersions(): Promise<RecordedVersion[]> {
    const out: RecordedVersion[] = [];
    for await (const [key, value] of this.kv.entries('m/')) {
      const v = parseJson(this.dir, key, value) as RecordedVersion;
      if (typeof v.model !== 'string' || typeof v.version !== 'string' || typeof v.file !== 'string' || !(v.fromMs === null || Number.isFinite(v.fromMs))) throw damaged(this.dir, `its entry ${key} is not a model version`);
      out.push(v);
      this.versionsWritten.set(v.model, (this.versionsWritten.get(v.model) ?? 0) + 1);
    }
    return out;
  }

  /** Records an accepted version: one synced write of its own (its bytes are on disk already). */
  async recordModelVersion(v: RecordedVersion): Promise<void> {
    const n = this.versionsWritten.get(v.model) ?? 0;
    this.versionsWritten.set(v.model, n + 1);
    try {
      await this.kv.write([[`m/${v.model}/${pad(n, 6)}`, Buffer.from(JSON.stringify(v))]], []);
    } catch (e) {
      throw stateError(`${this.dir}: recording version ${v.version} of model ${v.model} failed: ${firstLine(e)}`, e);
    }
  }

  /** The rows each model's version scored last, as the latest checkpoint holds them. */
  async modelRows(): Promise<Map<string, ModelRows>> {
    const out = new Map<string, ModelRows>();
    for await (const [key, value] of this.kv.entries('r/')) {
      const versionBytes = value.length >= 8 ? value.readUInt32LE(4) : -1;
      const at = 8 + versionBytes;
      const width = value.length >= 8 ? value.readUInt32LE(0) : 0;
      if (versionBytes < 0 || at > value.length || (value.length - at) % 4 !== 0 || width === 0) throw damaged(this.dir, `its entry ${key} is not a list of model rows`);
      const rows = new Float32Array(value.buffer.slice(value.byteOffset + at, value.byteOffset + value.length));
      out.set(key.slice(2), { version: value.toString('utf8', 8, at), width, rows });
    }
    return out;
  }

  /** A checkpoint's entries for the models' rows (StateStore.stage's `extra`). */
  static modelRowsEntries(rows: ReadonlyMap<string, ModelRows>): Array<[string, Uint8Array]> {
    return [...rows].map(([model, r]) => {
      const version = Buffer.from(r.version, 'utf8');
      const value = Buffer.alloc(8 + version.length + r.rows.byteLength);
      value.writeUInt32LE(r.width, 0);
      value.writeUInt32LE(version.length, 4);
      version.copy(value, 8);
      Buffer.from(r.rows.buffer, r.rows.byteOffset, r.rows.byteLength).copy(value, 8 + version.length);
      return [`r/${model}`, value];
    });
  }

  /**
   * Stages a checkpoint of these partition states (which must not change meanwhile) and the keys
   * from `keysWritten` on: the pages that differ from the last checkpoint, ready to write. It
   * yields to the event loop every SLICE_MS, so the pipeline is never held longer than that.
   */
  async stage(states: readonly PartitionState[], slotWords: number, keyNames: (from: number) => Array<{ id: number; name: string; partition: number }>, point: CheckpointPoint, extra: Array<[string, Uint8Array]> = []): Promise<StagedCheckpoint> {
    const startedAt = performance.now();
    let sliceAt = startedAt;
    let longestSliceMs = 0;
    const id = this.lastId + 1;
    const puts: Array<[string, Uint8Array]> = [];
    const dels: string[] = [];
    let bytes = 0;
    const regions: Array<Record<RegionName, number>> = [];
    for (let p = 0; p < states.length; p++) {
      const used = Arena.usedRegions(states[p], slotWords);
      const before = (this.written[p] ??= {});
      const lengths = {} as Record<RegionName, number>;
      for (const r of REGIONS) {
        const now = used[r];
        const old = before[r];
        const oldPages = old ? Math.ceil(old.length / PAGE_BYTES) : 0;
        const nowPages = Math.ceil(now.byteLength / PAGE_BYTES);
        // The copy of what was written, grown to the region's new length (pages past the old
        // length all count as changed).
        const mirror = old && old.length === now.byteLength ? old : Buffer.alloc(now.byteLength);
        if (old && mirror !== old) old.copy(mirror, 0, 0, Math.min(old.length, mirror.length));
        for (let n = 0; n < nowPages; n++) {
          if ((n & 7) === 7 && performance.now() - sliceAt > SLICE_MS) {
            longestSliceMs = Math.max(longestSliceMs, performance.now() - sliceAt);
            await new Promise((resolve) => setImmediate(resolve));
            sliceAt = performance.now();
          }
          const from = n * PAGE_BYTES;
          const to = Math.min(now.byteLength, from + PAGE_BYTES);
          const page = now.subarray(from, to);
          if (n < oldPages && to <= (old?.length ?? 0) && Buffer.compare(page, mirror.subarray(from, to)) === 0) continue;
          mirror.set(page, from);
          const value = Buffer.allocUnsafe(4 + page.byteLength);
          value.set(page, 4);
          value.writeUInt32LE(crc32(value.subarray(4)), 0);
          puts.push([regionKey(p, r, n), value]);
          bytes += value.length;
        }
        for (let n = nowPages; n < oldPages; n++) dels.push(regionKey(p, r, n));
        before[r] = mirror;
        lengths[r] = now.byteLength;
      }
      regions.push(lengths);
    }
    const fresh = keyNames(this.keysWritten);
    const byPartition = new Map<number, Array<[number, string]>>();
    for (const k of fresh) {
      let list = byPartition.get(k.partition);
      if (!list) byPartition.set(k.partition, (list = []));
      list.push([k.id, k.name]);
    }
    for (const [p, list] of byPartition) {
      const value = Buffer.from(JSON.stringify(list));
      puts.push([keysKey(p, id), value]);
      bytes += value.length;
    }
    this.keysWritten += fresh.length;
    for (const e of extra) {
      puts.push(e);
      bytes += e[1].byteLength;
    }
    const manifest: Manifest = { id, numKeys: this.keysWritten, keyPartitions: states.length, regions, ...point };
    if (!this.identityWritten) puts.push(['meta', Buffer.from(JSON.stringify({ format: STATE_FORMAT, ...this.identity }))]);
    this.identityWritten = true;
    puts.push(['ckpt', Buffer.from(JSON.stringify(manifest))]);
    this.lastId = id;
    longestSliceMs = Math.max(longestSliceMs, performance.now() - sliceAt);
    return { id, puts, dels, bytes, stageMs: performance.now() - startedAt, longestSliceMs };
  }

  /** Writes a staged checkpoint: one atomic write batch, synced before it resolves. */
  async write(staged: StagedCheckpoint): Promise<void> {
    try {
      await this.kv.write(staged.puts, staged.dels);
    } catch (e) {
      throw stateError(`${this.dir}: writing checkpoint ${staged.id} failed: ${firstLine(e)}`, e);
    }
  }

  async close(): Promise<void> {
    await this.kv.close();
  }
}

const stateError = (message: string, cause?: unknown) => new SluiceError('SLUICE_STATE', message, { cause });
const damaged = (dir: string, why: string, cause?: unknown) =>
  stateError(`${dir}: the state is damaged or half-written: ${why}. Nothing was read from it; move it away or start over with \`sluice run --reset-state\``, cause);
const firstLine = (e: unknown) => String((e as Error)?.message ?? e).split('\n')[0];

function parseJson(dir: string, key: string, raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw damaged(dir, `its entry ${key} is not valid JSON`, e);
  }
}
