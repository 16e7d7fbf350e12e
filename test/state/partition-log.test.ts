// A source partition's state as records of a compacted log (src/state/partition-log.ts): written
// whole or as changed pages, read back from the latest value per key (what compaction keeps),
// and refused with the damage named when a record it needs is missing or wrong. Also the key
// renumbering a partition read into another process goes through (Arena.rekey).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Arena, Slot, type PartitionState } from '../../src/state/arena';
import { PartitionWriter, restorePartition, type PartitionRecord } from '../../src/state/partition-log';

const SLOT_WORDS = 8;
const ID = { job: 'j', layout: 'L' };

/** A state with a window per (key, start): its count set to `count`. */
function stateWith(windows: Array<[key: number, startMs: number]>, count = 1, into?: PartitionState): PartitionState {
  const a = Arena.over(into ?? Arena.create(SLOT_WORDS), SLOT_WORDS);
  for (const [key, start] of windows) {
    let slot = a.find(key, start);
    if (slot < 0) {
      slot = a.allocSlot();
      a.slotsI32[(slot * SLOT_WORDS + Slot.KeyIdRevision) * 2] = key;
      a.slotsF64[slot * SLOT_WORDS + Slot.WindowStartMs] = start;
      a.insert(key, start, slot);
      a.pushTimer(start + 1000, slot, 0);
    }
    a.slotsF64[slot * SLOT_WORDS + Slot.Count] = count;
  }
  return a.partitionState;
}

/** What a compacted topic keeps of the records written so far: the latest value per key. */
class Compacted {
  readonly latest = new Map<string, Buffer>();
  written = 0;
  apply(records: PartitionRecord[]): void {
    for (const [key, value] of records) {
      this.written++;
      if (value === null) this.latest.delete(key);
      else this.latest.set(key, value);
    }
  }
}

const bytesOf = (s: PartitionState) => Object.values(Arena.usedRegions(s, SLOT_WORDS)).map((r) => Buffer.from(r).toString('hex'));
const names = (ids: number[]) => ids.map((id): [number, string] => [id, `key-${id}`]);

test('written whole, then page by page; read back from the latest value per key: the same state and keys', () => {
  const log = new Compacted();
  const w = new PartitionWriter(3, ID);
  const s1 = stateWith([[0, 0], [1, 0]]);
  const first = w.stage(s1, SLOT_WORDS, { position: 10, maxEventTimeMs: 500 }, names([0, 1]), () => names([0, 1]))!;
  log.apply(first.records);
  assert.equal(first.manifest.version, 1);
  // Nothing changed: nothing to write.
  assert.equal(w.stage(s1, SLOT_WORDS, { position: 10, maxEventTimeMs: 500 }, [], () => names([0, 1])), null);
  // Key 2 and more windows: the changed pages, key 2's name, the manifest.
  const s2 = stateWith([[0, 0], [1, 0], [2, 1000]], 5);
  const second = w.stage(s2, SLOT_WORDS, { position: 20, maxEventTimeMs: 1500 }, names([2]), () => names([0, 1, 2]))!;
  log.apply(second.records);
  assert.ok(second.records.some(([k]) => k === 'k/00000002'));
  assert.equal(second.records[second.records.length - 1][0], 'manifest', 'the manifest comes last');

  const back = restorePartition(log.latest, 3, ID, SLOT_WORDS, 'the log')!;
  assert.deepEqual(bytesOf(back.state), bytesOf(s2));
  assert.deepEqual(back.keys.sort(), names([0, 1, 2]));
  assert.equal(back.manifest.position, 20);
  assert.equal(back.manifest.maxEventTimeMs, 1500);
  // The pages version 2 replaced are not needed: the next write deletes them.
  assert.ok(back.orphans.length === 0 || back.orphans.every((k) => k.endsWith('/00000001')));
  const third = w.stage(s2, SLOT_WORDS, { position: 21, maxEventTimeMs: 1500 }, [], () => names([0, 1, 2]))!;
  const tombstones = third.records.filter(([, v]) => v === null).map(([k]) => k);
  assert.ok(tombstones.length > 0 && tombstones.every((k) => k.endsWith('/00000001')), tombstones.join(' '));
  log.apply(third.records);
  assert.deepEqual(bytesOf(restorePartition(log.latest, 3, ID, SLOT_WORDS, 'the log')!.state), bytesOf(s2));
});

test('a partition written often is rewritten whole now and then: what compaction keeps stays small and restorable', () => {
  const log = new Compacted();
  const w = new PartitionWriter(0, ID);
  const windows: Array<[number, number]> = [];
  for (let k = 0; k < 2000; k++) windows.push([k, 0]);
  let state = stateWith(windows, 0);
  log.apply(w.stage(state, SLOT_WORDS, { position: 0, maxEventTimeMs: 0 }, names(windows.map(([k]) => k)), () => names(windows.map(([k]) => k)))!.records);
  let wholes = 0;
  for (let i = 1; i <= 200; i++) {
    state = stateWith(windows, i, state); // every page changes
    const s = w.stage(state, SLOT_WORDS, { position: i, maxEventTimeMs: i }, [], () => names(windows.map(([k]) => k)))!;
    if (s.records.some(([k]) => k.startsWith('k/'))) wholes++;
    log.apply(s.records);
  }
  assert.ok(wholes >= 10, `whole writes: ${wholes}`);
  const back = restorePartition(log.latest, 0, ID, SLOT_WORDS, 'the log')!;
  assert.deepEqual(bytesOf(back.state), bytesOf(state));
  assert.equal(back.keys.length, 2000);
  // Superseded versions were deleted: the latest values are about one state's worth of pages.
  const liveBytes = [...log.latest.values()].reduce((n, v) => n + v.length, 0);
  const stateBytes = bytesOf(state).reduce((n, hex) => n + hex.length / 2, 0);
  assert.ok(liveBytes < 3 * stateBytes + 64 * 1024, `${liveBytes} bytes kept for a state of ${stateBytes}`);
});

test('a write cut short (its manifest never came): the next owner writes past its records, and the partition restores', () => {
  const log = new Compacted();
  const w = new PartitionWriter(1, ID);
  log.apply(w.stage(stateWith([[0, 0]]), SLOT_WORDS, { position: 1, maxEventTimeMs: 1 }, names([0]), () => names([0]))!.records);
  const cut = w.stage(stateWith([[0, 0], [1, 0]], 2), SLOT_WORDS, { position: 2, maxEventTimeMs: 2 }, names([1]), () => names([0, 1]))!;
  log.apply(cut.records.filter(([k]) => k.startsWith('r/')).slice(0, 1)); // a page of version 2 only
  const back = restorePartition(log.latest, 1, ID, SLOT_WORDS, 'the log')!;
  assert.equal(back.manifest.version, 1);
  assert.equal(back.orphans.length, 1);
  // The next owner: a whole write, past version 2, deleting the orphan without touching its own.
  const next = PartitionWriter.restored(1, ID, back);
  const state = stateWith([[0, 0], [1, 0], [2, 0]], 3);
  const staged = next.stage(state, SLOT_WORDS, { position: 3, maxEventTimeMs: 3 }, [], () => names([0, 1, 2]))!;
  assert.equal(staged.manifest.version, 3);
  log.apply(staged.records);
  assert.deepEqual(bytesOf(restorePartition(log.latest, 1, ID, SLOT_WORDS, 'the log')!.state), bytesOf(state));
  assert.ok(![...log.latest.keys()].some((k) => k.endsWith('/00000002')), 'the orphan is deleted');
});

test('damage is refused with what is wrong named: a missing page, a bad checksum, a missing key list, another job or layout', () => {
  const log = new Compacted();
  const w = new PartitionWriter(5, ID);
  log.apply(w.stage(stateWith([[0, 0], [1, 0]]), SLOT_WORDS, { position: 1, maxEventTimeMs: 1 }, names([0, 1]), () => names([0, 1]))!.records);
  const read = (records: Map<string, Buffer>, id = ID) => () => restorePartition(records, 5, id, SLOT_WORDS, 'changelog topic "c" partition 5');
  const page = [...log.latest.keys()].find((k) => k.startsWith('r/slots/'))!;

  const missing = new Map(log.latest);
  missing.delete(page);
  assert.throws(read(missing), new RegExp(`changelog topic "c" partition 5: the state is damaged: page ${page} of version 1 is missing`));

  const flipped = new Map(log.latest);
  const bad = Buffer.from(flipped.get(page)!);
  bad[bad.length - 1] ^= 1;
  flipped.set(page, bad);
  assert.throws(read(flipped), new RegExp(`page ${page} fails its checksum`));

  const noKeys = new Map(log.latest);
  noKeys.delete('k/00000001');
  assert.throws(read(noKeys), /key list k\/00000001 is missing/);

  const notJson = new Map(log.latest);
  notJson.set('manifest', Buffer.from('{"format":'));
  assert.throws(read(notJson), /its record manifest is not valid JSON/);

  assert.throws(read(log.latest, { job: 'other', layout: 'L' }), /holds the state of job "j", not "other"/);
  assert.throws(read(log.latest, { job: 'j', layout: 'M' }), /was written with another window, features or source/);
  assert.equal(restorePartition(new Map(), 5, ID, SLOT_WORDS, 'x'), null, 'never written: nothing to restore');
});

test('Arena.rekey renumbers keys: windows are found under their new ids only, nothing else moves', () => {
  const state = stateWith([[0, 0], [1, 0], [1, 1000], [7, 2000]], 3);
  const a = Arena.over(state, SLOT_WORDS);
  const slots = [a.find(0, 0), a.find(1, 0), a.find(1, 1000), a.find(7, 2000)];
  const before = Buffer.from(Arena.usedRegions(state, SLOT_WORDS).timers).toString('hex');
  a.rekey((id) => id + 100);
  assert.deepEqual([a.find(100, 0), a.find(101, 0), a.find(101, 1000), a.find(107, 2000)], slots);
  assert.deepEqual([a.find(0, 0), a.find(1, 0), a.find(7, 2000)], [-1, -1, -1]);
  assert.deepEqual([...a.liveKeyIds()].sort(), [100, 101, 107]);
  assert.equal(Buffer.from(Arena.usedRegions(state, SLOT_WORDS).timers).toString('hex'), before, 'timers point at slots, not keys');
});
