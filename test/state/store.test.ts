// The checkpoint store (src/state/store.ts) on a real RocksDB on disk, with both bindings: what is
// written is what is read back, checkpoints write only what changed, one key partition reads on
// its own, and a state dir that is another job's or damaged is refused with a clear error.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { Arena, Slot, TimerKind, type PartitionState } from '../../src/state/arena';
import { openKv, type KvBackend } from '../../src/state/kv';
import { StateStore, type CheckpointPoint } from '../../src/state/store';

const SLOT_WORDS = 12;
const identity = { job: 'fraud', layout: '{"window":60000}' };
const point: CheckpointPoint = { positions: [10, null, 7], maxEventTimeMs: [1000, null, 2000], watermarkMs: 500, sinkBytes: { results: 123 } };

/** A partition state with `windows` windows, each with a timer and a digest block. */
function filled(windows: number, seed: number): PartitionState {
  const a = Arena.copyForTask(Arena.create(SLOT_WORDS), SLOT_WORDS);
  for (let i = 0; i < windows; i++) {
    const slot = a.allocSlot();
    a.slotsF64[slot * SLOT_WORDS + Slot.WindowStartMs] = i * 1000;
    a.slotsF64[slot * SLOT_WORDS + Slot.Count] = seed + i;
    a.insert(i, i * 1000, slot);
    a.pushTimer(i * 1000 + 1000, slot, TimerKind.Fire);
    a.digestsF64[a.allocDigest(16)] = seed * i;
  }
  return a.partitionState;
}

const usedBytes = (s: PartitionState) => Object.values(Arena.usedRegions(s, SLOT_WORDS)).map((r) => Buffer.from(r).toString('hex'));
const keyNames = (names: string[], partitions: number) => (from: number) => names.slice(from).map((name, i) => ({ id: from + i, name, partition: (from + i) % partitions }));
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-store-'));

for (const backend of ['nxtedition', 'level'] as KvBackend[]) {
  test(`${backend}: a checkpoint reads back as written; the next writes only what changed`, async () => {
    const dir = tmp();
    const states = [filled(3000, 1), filled(10, 2), filled(0, 3)];
    const keys = ['card-0', 'card-1', 'café ☕', 'card-3'];
    let store = await StateStore.open(dir, identity, { backend });
    assert.equal(await store.load(SLOT_WORDS), null);
    const first = await store.stage(states, SLOT_WORDS, keyNames(keys, 3), point);
    await store.write(first);
    await store.close();

    store = await StateStore.open(dir, identity, { backend });
    const c = (await store.load(SLOT_WORDS))!;
    assert.equal(c.id, 1);
    assert.deepEqual(c.keys, keys);
    assert.deepEqual(c.positions, point.positions);
    assert.deepEqual(c.maxEventTimeMs, point.maxEventTimeMs);
    assert.equal(c.watermarkMs, 500);
    assert.deepEqual(c.sinkBytes, { results: 123 });
    c.states.forEach((s, p) => assert.deepEqual(usedBytes(s), usedBytes(states[p])));
    // A restored arena works on: its capacities came back too.
    const a = Arena.copyForTask(c.states[0], SLOT_WORDS);
    assert.equal(a.find(2999, 2999_000), 2999);
    assert.equal(a.popDueTimer(1000), 0);

    // Nothing changed: only the manifest. One window changed and one timer popped (meta counts
    // timers): a page of each, and the new key (id 4, key partition 1).
    const same = await store.stage(c.states, SLOT_WORDS, keyNames(keys, 3), point);
    assert.deepEqual(same.puts.map(([k]) => k), ['ckpt']);
    a.slotsF64[2000 * SLOT_WORDS + Slot.Count] = -1;
    const changed = await store.stage([a.partitionState, c.states[1], c.states[2]], SLOT_WORDS, keyNames([...keys, 'new'], 3), point);
    assert.deepEqual(changed.puts.map(([k]) => k).sort(), ['ckpt', 'p/0000/r/meta/00000000', 'p/0000/r/slots/00000002', 'p/0000/r/timers/00000000', 'p/0001/k/0000000003']);
    assert.ok(first.bytes > 5 * changed.bytes, `${first.bytes} then ${changed.bytes} bytes`);
    await store.write(same);
    await store.write(changed);
    await store.close();

    store = await StateStore.open(dir, identity, { backend });
    const again = (await store.load(SLOT_WORDS))!;
    assert.equal(again.id, 3);
    assert.deepEqual(again.keys, [...keys, 'new']);
    assert.deepEqual(usedBytes(again.states[0]), usedBytes(a.partitionState));
    // One key partition, read on its own.
    const one = (await store.loadPartition(1, SLOT_WORDS))!;
    assert.deepEqual(usedBytes(one.state), usedBytes(states[1]));
    assert.deepEqual(one.keys, [[1, 'card-1'], [4, 'new']]);
    await store.close();
  });
}

test("another job's state dir, or another layout, is refused with what to do", async () => {
  const dir = tmp();
  const store = await StateStore.open(dir, identity);
  await store.write(await store.stage([filled(5, 1)], SLOT_WORDS, keyNames([], 1), point));
  await store.close();
  await assert.rejects(StateStore.open(dir, { ...identity, job: 'other' }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'SLUICE_STATE');
    assert.match(e.message, /holds the state of job "fraud", not "other".*--reset-state/);
    return true;
  });
  await assert.rejects(StateStore.open(dir, { ...identity, layout: '{"window":10000}' }), /another window, features, key partitions or source/);
  // --reset-state starts over.
  const reset = await StateStore.open(dir, { ...identity, job: 'other' }, { reset: true });
  assert.equal(await reset.load(SLOT_WORDS), null);
  await reset.close();
});

/** A store with one checkpoint of two partitions, closed; returns its RocksDB directory. */
async function written(): Promise<string> {
  const dir = tmp();
  const store = await StateStore.open(dir, identity);
  await store.write(await store.stage([filled(2000, 1), filled(10, 2)], SLOT_WORDS, keyNames(['a', 'b'], 2), point));
  await store.close();
  return dir;
}

/** Changes the store's RocksDB directly, as damage would. */
async function tamper(dir: string, puts: Array<[string, Buffer]>, dels: string[] = []): Promise<void> {
  const kv = await openKv(path.join(dir, 'checkpoints'));
  await kv.write(puts, dels);
  await kv.close();
}

async function loadFails(dir: string, why: RegExp): Promise<void> {
  const err = await (async () => {
    const store = await StateStore.open(dir, identity);
    try {
      await store.load(SLOT_WORDS);
    } finally {
      await store.close();
    }
  })().then(
    () => null,
    (e: Error & { code?: string }) => e,
  );
  assert.ok(err, 'expected the load to fail');
  assert.equal(err.code, 'SLUICE_STATE');
  assert.match(err.message, /the state is damaged or half-written/);
  assert.match(err.message, why);
}

test('a damaged state dir is an error naming the damage, never an empty start', async (t) => {
  await t.test('a page whose bytes changed', async () => {
    const dir = await written();
    const kv = await openKv(path.join(dir, 'checkpoints'));
    const page = (await kv.get('p/0000/r/slots/00000001'))!;
    await kv.close();
    page[100] ^= 0xff;
    await tamper(dir, [['p/0000/r/slots/00000001', page]]);
    await loadFails(dir, /p\/0000\/r\/slots\/00000001 fails its checksum/);
  });
  await t.test('a missing page', async () => {
    const dir = await written();
    await tamper(dir, [], ['p/0000/r/slots/00000001']);
    await loadFails(dir, /out of place/);
  });
  await t.test('a missing last page', async () => {
    const dir = await written();
    await tamper(dir, [], ['p/0000/r/slots/00000002']);
    await loadFails(dir, /partition 0 region slots has \d+ bytes, the manifest says/);
  });
  await t.test('missing key names', async () => {
    const dir = await written();
    await tamper(dir, [], ['p/0001/k/0000000001']);
    await loadFails(dir, /1 of its 2 key names/);
  });
  await t.test('a manifest that is not JSON', async () => {
    const dir = await written();
    await tamper(dir, [['ckpt', Buffer.from('{"id": 1, "regi')]]);
    await loadFails(dir, /entry ckpt is not valid JSON/);
  });
  await t.test('pages without a manifest (a first checkpoint never finished)', async () => {
    const dir = await written();
    await tamper(dir, [], ['ckpt', 'meta']);
    await loadFails(dir, /partition pages but no checkpoint manifest/);
  });
  await t.test("RocksDB's CURRENT file gone", async () => {
    const dir = await written();
    fs.rmSync(path.join(dir, 'checkpoints', 'CURRENT'));
    await assert.rejects(StateStore.open(dir, identity), /damaged or half-written: its CURRENT file is missing/);
  });
  await t.test('a RocksDB file cut short', async () => {
    const dir = await written();
    const manifest = fs.readdirSync(path.join(dir, 'checkpoints')).find((f) => f.startsWith('MANIFEST-'))!;
    fs.truncateSync(path.join(dir, 'checkpoints', manifest), 10);
    await assert.rejects(StateStore.open(dir, identity), /damaged or half-written: RocksDB cannot open it/);
  });
});

test('the store writes on a thread of its own: the main thread goes on while a write is synced', async () => {
  const dir = tmp();
  const store = await StateStore.open(dir, identity);
  try {
    // Tens of MB of pages, synced: long enough that a write on the main thread would let no turn
    // of its event loop run until it is done (with { thread: false } this counts 0 turns).
    const states = [filled(200_000, 7)];
    const staged = await store.stage(states, SLOT_WORDS, keyNames([], 1), point);
    assert.ok(staged.bytes > 8 << 20, `staged ${staged.bytes} bytes`);
    let turns = 0;
    let writing = true;
    const spin = () => {
      if (!writing) return;
      turns++;
      setImmediate(spin);
    };
    setImmediate(spin);
    await store.write(staged);
    writing = false;
    assert.ok(turns >= 3, `the main thread ran ${turns} turns of its event loop during the write`);
    // And what was written reads back, through the thread.
    const loaded = await store.load(SLOT_WORDS);
    assert.deepEqual(usedBytes(loaded!.states[0]), usedBytes(states[0]));
  } finally {
    await store.close();
  }
});
