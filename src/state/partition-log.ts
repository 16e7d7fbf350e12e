// One source partition's state as records of a compacted log (SPEC §15): the same records go to
// the changelog topic's partition and, under a prefix, to the local RocksDB. A compacted topic
// keeps the latest value per key, so every record is written once under a key of its own and
// deleted (a tombstone) once no manifest needs it:
//   r/<region>/<nnnnnnnn>/<vvvvvvvv>  page n of a region of the arena, as written by version v:
//                                      crc32 + up to 64 KiB
//   k/<vvvvvvvv>                       JSON [[keyId, name], ...]: keys new to the partition at v
//   manifest                           JSON PartitionManifest: the pages and key lists in force
// A write is [tombstones of what the manifest in force does not need, changed pages, new keys,
// the manifest]: the manifest last, so a write cut short leaves the previous one whole. Once the
// bytes written since the last whole write pass the state's size (at least 256 KiB, at most
// 1 MiB), the next write is whole again, so the partition stays restorable from its newest
// few MB (the mock broker keeps ~5 MB a partition and never compacts).
import { crc32 } from 'node:zlib';
import { SluiceError } from '../errors';
import { Arena, REGIONS, type PartitionState, type RegionName } from './arena';

export const PARTITION_FORMAT = 1;
const PAGE_BYTES = 64 << 10;
const MIN_REWRITE_BYTES = 256 << 10;
const MAX_REWRITE_BYTES = 1 << 20;

/** A record: key and value (null: a tombstone). */
export type PartitionRecord = [key: string, value: Buffer | null];

export interface PartitionIdentity {
  job: string;
  layout: string;
}

export interface PartitionManifest extends PartitionIdentity {
  format: number;
  partition: number;
  /** Bumped by every write, whichever process makes it. */
  version: number;
  /** The source offset of the next record to read (null: none known). */
  position: number | null;
  /** The partition's largest event time (null: none): its watermark. */
  maxEventTimeMs: number | null;
  /** Per region: its used bytes, and the version that wrote each of its pages. */
  regions: Record<RegionName, number>;
  pages: Record<RegionName, number[]>;
  /** The versions of the key lists in force. */
  keys: number[];
  /** Local copies only: the changelog's end offset right after this manifest. */
  changelogEnd?: number;
}

/** A partition read back from its records. */
export interface RestoredPartition {
  manifest: PartitionManifest;
  state: PartitionState;
  /** Key names by the ids the state uses (the writer's). */
  keys: Array<[number, string]>;
  /** Records the manifest does not need: tombstoned with the next write. */
  orphans: string[];
  /** Record bytes read. */
  bytes: number;
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');
const pageKey = (region: RegionName, n: number, version: number) => `r/${region}/${pad(n, 8)}/${pad(version, 8)}`;
const keysKey = (version: number) => `k/${pad(version, 8)}`;
const MANIFEST = 'manifest';

/** What a partition's next write is made against: the manifest in force and its bytes. */
export class PartitionWriter {
  /** Per region, the bytes as last written (pages compare against it). */
  private mirror: Partial<Record<RegionName, Buffer>> = {};
  private manifest: PartitionManifest | null = null;
  /** Records the manifest in force no longer needs, deleted by the next write. */
  private unneeded: string[] = [];
  private bytesSinceWhole = 0;
  private wholeBytes = 0;
  /** The next write rewrites everything (the state was restored under new key ids). */
  private whole = true;

  constructor(
    private readonly partition: number,
    private readonly identity: PartitionIdentity,
  ) {}

  /** Goes on from a restored partition (its key ids renumbered: the next write is whole). */
  static restored(partition: number, identity: PartitionIdentity, r: RestoredPartition): PartitionWriter {
    const w = new PartitionWriter(partition, identity);
    // Versions go on past any record of a write cut short (an orphan), so that no new record
    // takes the name of one that is about to be deleted.
    const orphanVersions = r.orphans.map((k) => Number(/\/(\d{8})$/.exec(k)?.[1] ?? 0));
    w.manifest = { ...r.manifest, version: Math.max(r.manifest.version, ...orphanVersions) };
    w.unneeded = r.orphans.slice();
    return w;
  }

  get version(): number {
    return this.manifest?.version ?? 0;
  }

  /**
   * The records of a write of `state` as of `point`: `newKeys` are keys new to the partition
   * since the last write, `allKeys` every key it holds (for a whole write). Null when nothing
   * changed since the last write.
   */
  stage(state: PartitionState, slotWords: number, point: { position: number | null; maxEventTimeMs: number | null }, newKeys: Array<[number, string]>, allKeys: () => Array<[number, string]>): { records: PartitionRecord[]; bytes: number; manifest: PartitionManifest } | null {
    const prev = this.manifest;
    const version = this.version + 1;
    const whole = this.whole || prev === null || this.bytesSinceWhole > Math.min(MAX_REWRITE_BYTES, Math.max(MIN_REWRITE_BYTES, this.wholeBytes));
    const used = Arena.usedRegions(state, slotWords);
    const records: PartitionRecord[] = [];
    const superseded: string[] = [];
    let bytes = 0;
    const regions = {} as Record<RegionName, number>;
    const pages = {} as Record<RegionName, number[]>;
    for (const r of REGIONS) {
      const now = used[r];
      const old = whole ? undefined : this.mirror[r];
      const before = prev?.pages[r] ?? [];
      const list: number[] = [];
      const mirror = Buffer.alloc(now.byteLength);
      mirror.set(now);
      for (let n = 0, from = 0; from < now.byteLength; n++, from += PAGE_BYTES) {
        const to = Math.min(now.byteLength, from + PAGE_BYTES);
        const page = mirror.subarray(from, to);
        if (old && n < before.length && Math.min(old.length, from + PAGE_BYTES) === to && page.equals(old.subarray(from, to))) {
          list.push(before[n]);
          continue;
        }
        const value = Buffer.allocUnsafe(4 + page.byteLength);
        page.copy(value, 4);
        value.writeUInt32LE(crc32(page), 0);
        records.push([pageKey(r, n, version), value]);
        bytes += value.length;
        list.push(version);
        if (n < before.length) superseded.push(pageKey(r, n, before[n]));
      }
      for (let n = list.length; n < before.length; n++) superseded.push(pageKey(r, n, before[n]));
      this.mirror[r] = mirror;
      regions[r] = now.byteLength;
      pages[r] = list;
    }
    const keyVersions = whole ? [] : (prev?.keys ?? []).slice();
    if (whole) for (const v of prev?.keys ?? []) superseded.push(keysKey(v));
    const keys = whole ? allKeys() : newKeys;
    if (keys.length > 0) {
      const value = Buffer.from(JSON.stringify(keys));
      records.push([keysKey(version), value]);
      bytes += value.length;
      keyVersions.push(version);
    }
    const moved = prev === null || prev.position !== point.position || prev.maxEventTimeMs !== point.maxEventTimeMs;
    if (records.length === 0 && !moved && this.unneeded.length === 0) return null;
    // Tombstones first: what they delete is not needed by the manifest in force, and a new record
    // of the same name (none, see restored) must win.
    records.unshift(...this.unneeded.map((key): PartitionRecord => [key, null]));
    const manifest: PartitionManifest = { format: PARTITION_FORMAT, ...this.identity, partition: this.partition, version, ...point, regions, pages, keys: keyVersions };
    const value = Buffer.from(JSON.stringify(manifest));
    records.push([MANIFEST, value]);
    bytes += value.length;
    return { records, bytes, manifest: this.commitAfter(manifest, superseded, whole, bytes) };
  }

  /** The staged write will be made (records are only staged once their write is certain to
   *  follow, or the job fails). */
  private commitAfter(manifest: PartitionManifest, superseded: string[], whole: boolean, bytes: number): PartitionManifest {
    this.manifest = manifest;
    this.unneeded = superseded;
    this.whole = false;
    if (whole) {
      this.wholeBytes = bytes;
      this.bytesSinceWhole = 0;
    } else {
      this.bytesSinceWhole += bytes;
    }
    return manifest;
  }
}

/**
 * Reads a partition back from its records (the latest value per key, as compaction keeps them):
 * null when it has no manifest (never written). A record the manifest needs that is missing or
 * fails its checksum, or a manifest of another job or layout, is an error naming it.
 */
export function restorePartition(records: ReadonlyMap<string, Buffer>, partition: number, identity: PartitionIdentity, slotWords: number, where: string): RestoredPartition | null {
  const raw = records.get(MANIFEST);
  if (!raw) return null;
  const m = parse(raw, where, MANIFEST) as PartitionManifest;
  if (m.format !== PARTITION_FORMAT || !Number.isInteger(m.version) || typeof m.regions !== 'object' || typeof m.pages !== 'object' || !Array.isArray(m.keys)) throw damaged(where, `its manifest is not one this sluice reads (format ${m.format}, expected ${PARTITION_FORMAT})`);
  if (m.job !== identity.job) throw stateError(`${where}: holds the state of job "${m.job}", not "${identity.job}": give this job a changelog topic of its own`);
  if (m.layout !== identity.layout) throw stateError(`${where}: was written with another window, features or source (${m.layout}; now ${identity.layout}): give the changed job a new changelog topic`);
  if (m.partition !== partition) throw damaged(where, `its manifest is for partition ${m.partition}`);
  const needed = new Set<string>([MANIFEST]);
  let bytes = raw.length;
  const used = {} as Record<RegionName, Buffer>;
  for (const r of REGIONS) {
    const parts: Buffer[] = [];
    (m.pages[r] ?? []).forEach((v, n) => {
      const key = pageKey(r, n, v);
      needed.add(key);
      const value = records.get(key);
      if (!value) throw damaged(where, `page ${key} of version ${m.version} is missing`);
      if (value.length < 4 || value.readUInt32LE(0) !== crc32(value.subarray(4))) throw damaged(where, `page ${key} fails its checksum`);
      bytes += value.length;
      parts.push(value.subarray(4));
    });
    used[r] = Buffer.concat(parts);
    if (used[r].byteLength !== m.regions[r]) throw damaged(where, `region ${r} has ${used[r].byteLength} bytes, the manifest says ${m.regions[r]}`);
  }
  const keys: Array<[number, string]> = [];
  for (const v of m.keys) {
    const key = keysKey(v);
    needed.add(key);
    const value = records.get(key);
    if (!value) throw damaged(where, `key list ${key} is missing`);
    bytes += value.length;
    const list = parse(value, where, key);
    if (!Array.isArray(list) || !list.every((e) => Array.isArray(e) && Number.isInteger(e[0]) && typeof e[1] === 'string')) throw damaged(where, `key list ${key} is not a list of [id, name]`);
    keys.push(...(list as Array<[number, string]>));
  }
  let state: PartitionState;
  try {
    state = Arena.fromRegions(used, slotWords);
  } catch (e) {
    throw damaged(where, (e as Error).message, e);
  }
  const orphans = [...records.keys()].filter((k) => !needed.has(k));
  return { manifest: m, state, keys, orphans, bytes };
}

const stateError = (message: string, cause?: unknown) => new SluiceError('SLUICE_STATE', message, { cause });
const damaged = (where: string, why: string, cause?: unknown) => stateError(`${where}: the state is damaged: ${why}. Nothing was read from it`, cause);

function parse(raw: Buffer, where: string, key: string): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw damaged(where, `its record ${key} is not valid JSON`, e);
  }
}
