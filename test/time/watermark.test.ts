// The watermark tracker's rules (SPEC §6), step by step: the minimum over active partitions,
// never moving back, idle partitions left out, and partitions coming back from idle.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { WatermarkTracker } from '../../src/time/watermark';

test('the watermark is the minimum over partitions, less the out-of-orderness, and never moves back', () => {
  const w = new WatermarkTracker(2, 100, 0, 0);
  assert.equal(w.observe(0, 1000, 0), -Infinity, 'partition 1 has sent nothing');
  assert.equal(w.observe(1, 500, 0), 400);
  assert.equal(w.observe(1, 2000, 0), 900);
  assert.equal(w.observe(0, 700, 0), 900, 'an older event moves nothing');
  assert.equal(w.observe(0, 3000, 0), 1900);
});

test('a silent partition goes idle after idleTimeoutMs and stops holding the watermark', () => {
  const w = new WatermarkTracker(2, 0, 1500, 0);
  w.observe(0, 1000, 0);
  w.observe(1, 5000, 0);
  assert.equal(w.current, 1000);
  assert.equal(w.checkIdle(1499), 1000);
  w.observe(1, 5000, 1400);
  assert.equal(w.checkIdle(1500), 5000, 'partition 0 idle, partition 1 not (it sent at 1400)');
  assert.equal(w.isIdle(0), true);
  // Back with an older time: active again, but the watermark does not move back.
  assert.equal(w.observe(0, 1200, 1600), 5000);
  assert.equal(w.isIdle(0), false);
});

test('when every partition idles the watermark holds; one coming back lets it go on, even at its old time', () => {
  const w = new WatermarkTracker(2, 0, 1000, 0);
  w.observe(0, 1000, 0);
  w.observe(1, 9000, 0);
  assert.equal(w.checkIdle(1000), 1000, 'both idle: nothing to go by, the watermark holds');
  assert.equal(w.isIdle(1), true);
  // Partition 1 sends again, an event no later than its latest: the watermark is its own now.
  assert.equal(w.observe(1, 9000, 1100), 9000);
});

test('finished partitions leave the minimum; all finished is +Infinity', () => {
  const w = new WatermarkTracker(2, 0, 0, 0);
  w.observe(0, 100, 0);
  w.observe(1, 50, 0);
  assert.equal(w.finish(1), 100);
  assert.equal(w.finish(0), Infinity);
});

test('touch restarts a partition idle clock (a late assignment)', () => {
  const w = new WatermarkTracker(2, 0, 1000, 0);
  w.observe(0, 500, 0);
  w.touch(1, 900);
  w.observe(0, 600, 1000);
  assert.equal(w.checkIdle(1000), -Infinity, 'partition 1 was touched at 900: not idle yet');
  w.observe(0, 700, 1800);
  assert.equal(w.checkIdle(1900), 700, 'partition 1 idle from 1900');
});
