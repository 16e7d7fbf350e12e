// The generator source: deterministic, JSON exactly as JavaScript would print it, event times
// and keys as SPEC §4 says, partitions by key.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { GeneratorSourceConfig } from '../../src/config/types';
import { messageText } from '../../src/decode/raw-batch';
import { GeneratorSource } from '../../src/io/sources/generator';

const CONFIG: GeneratorSourceConfig = { type: 'generator', key: 'card', timestamp: 'ts', format: 'json', maxMessageBytes: 1 << 20, events: 50_000, keys: 500, seed: 3, eventTimeStepMs: 0.37, outOfOrderMs: 250, partitions: 3, startTimeMs: 1_700_000_000_000, fraudShare: 0.02 };

async function collect(config: GeneratorSourceConfig, batchSize: number) {
  const events: Array<{ text: string; partition: number; offset: number }> = [];
  let fraud = 0;
  for await (const b of new GeneratorSource(config, { labels: true }).batches(batchSize)) {
    for (let i = 0; i < b.count; i++) events.push({ text: messageText(b, i), partition: b.partition[i], offset: b.offset[i] });
    fraud += b.fraud!.reduce((a, x) => a + x, 0);
  }
  return { events, fraud };
}

test('the same seed gives the same events whatever the batch size', async () => {
  const hash = (xs: Array<{ text: string }>) => createHash('sha256').update(xs.map((x) => x.text).join('\n')).digest('hex');
  const a = await collect(CONFIG, 50_000);
  const b = await collect(CONFIG, 777);
  assert.equal(a.events.length, CONFIG.events);
  assert.equal(hash(b.events), hash(a.events));
  const other = await collect({ ...CONFIG, seed: 4 }, 50_000);
  assert.notEqual(hash(other.events), hash(a.events));
});

test('events are JSON as JavaScript prints it, with times, keys and partitions as configured', async () => {
  const { events, fraud } = await collect(CONFIG, 4096);
  const offsets = new Map<number, number>();
  events.forEach(({ text, partition, offset }, i) => {
    const e = JSON.parse(text) as { card: string; ts: number; amount: number; merchant: string };
    assert.equal(JSON.stringify({ card: e.card, ts: e.ts, amount: e.amount, merchant: e.merchant }), text);
    const k = Number(e.card.slice(5));
    assert.ok(e.card === `card-${k}` && k >= 0 && k < CONFIG.keys);
    const t = CONFIG.startTimeMs + i * CONFIG.eventTimeStepMs;
    assert.ok(e.ts <= t && e.ts >= Math.floor(t - CONFIG.outOfOrderMs), `event ${i}: ts ${e.ts} vs ${t}`);
    assert.ok(e.amount > 0 && Math.round(e.amount * 100) / 100 === e.amount);
    assert.equal(partition, k % CONFIG.partitions);
    assert.equal(offset, offsets.get(partition) ?? 0);
    offsets.set(partition, offset + 1);
  });
  assert.ok(fraud > 0 && fraud < CONFIG.events / 20, `${fraud} burst events`);
});

test('on its own thread, the generator hands over the same events through its ring', async () => {
  const texts = async (thread: boolean) => {
    const src = new GeneratorSource({ ...CONFIG, events: 20_000 }, { thread });
    const out: string[] = [];
    const finished: number[] = [];
    for await (const b of src.batches(1500)) {
      for (let i = 0; i < b.count; i++) out.push(`${b.partition[i]}:${b.offset[i]}:${messageText(b, i)}`);
      for (const f of b.finished) finished.push(f.partition);
      src.release(b); // the engine frees each batch once written; without it the ring would fill up
    }
    await src.close();
    return { out, finished };
  };
  const mine = await texts(false);
  const ring = await texts(true);
  assert.equal(ring.out.length, 20_000);
  assert.deepEqual(ring, mine);
});
