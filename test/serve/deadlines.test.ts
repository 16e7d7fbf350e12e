// Deadlines: requests' time limits on one interval timer, kept in slots that a finished request
// clears (src/serve/deadlines.ts says why not a Set).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Deadlines } from '../../src/serve/deadlines';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('an entry expires once, after its time; a cancelled one never does; slots are reused past 64', async () => {
  const d = new Deadlines(5);
  try {
    const expired: number[] = [];
    const now = performance.now();
    const cancels = Array.from({ length: 200 }, (_, i) => d.add(i % 2 === 0 ? now - 1 : now + 60_000, () => expired.push(i)));
    assert.equal(d.size, 200);
    for (let i = 1; i < 200; i += 4) cancels[i]();
    await sleep(30);
    assert.deepEqual(expired, Array.from({ length: 100 }, (_, k) => 2 * k));
    assert.equal(d.size, 50); // the odd ones not cancelled are still waiting
    for (const c of cancels) c(); // cancelling an expired or cancelled entry is a no-op
    assert.equal(d.size, 0);
    d.add(now - 1, () => expired.push(-1));
    await sleep(30);
    assert.equal(expired.at(-1), -1);
    assert.equal(expired.length, 101);
  } finally {
    d.stop();
  }
});

test('race: the work wins if it is in first, else the expiry error', async () => {
  const d = new Deadlines(5);
  const alive = setTimeout(() => {}, 10_000); // the sweep timer is unref'd, as a server's is
  try {
    assert.equal(await d.race(Promise.resolve(7), performance.now() + 60_000, () => new Error('late')), 7);
    await assert.rejects(d.race(new Promise<number>(() => {}), performance.now() + 10, () => new Error('late')), /late/);
    await assert.rejects(d.race(Promise.reject(new Error('failed')), performance.now() + 60_000, () => new Error('late')), /failed/);
    assert.equal(d.size, 0);
  } finally {
    clearTimeout(alive);
    d.stop();
  }
});
