// The run summary's latencies (SPEC §2): where they end, and what the warm-up leaves out.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { ResultLatency, SummaryBuilder } from '../../src/runtime/summary';

const OUTPUTS = { results: 'r', late: 'l', deadLetters: 'd' };
/** Percentiles to whole ms (the histogram keeps 3 significant digits). */
const whole = (p: { p50: number; p99: number; max: number }) => ({ p50: Math.round(p.p50), p99: Math.round(p.p99), max: Math.round(p.max) });

function builder(): SummaryBuilder {
  const b = new SummaryBuilder();
  b.recordLatencyMs(500, true); // a warm-up result: in latencyMs only
  b.recordLatencyMs(10, false, 60);
  b.recordLatencyMs(20, false, 40);
  return b;
}

test('a file sink: the latency ends at the write, and both after-warm-up figures are that', () => {
  const s = builder().finish(1000, performance.now(), OUTPUTS, 0, 1, 0, 'windows');
  assert.equal(s.latencyUntil, 'written');
  assert.equal(s.latencyMs.max, 500);
  assert.deepEqual(whole(s.latencyAfterWarmupMs), { p50: 10, p99: 20, max: 20 });
  assert.deepEqual(s.latencyToWriteAfterWarmupMs, s.latencyAfterWarmupMs);
});

test("a Kafka sink: the latency ends at the broker's ack; the write's is given beside it", () => {
  const acks = new ResultLatency();
  acks.record(700, true);
  acks.record(35, false, 60);
  acks.record(90, false, 40);
  const s = builder().finish(1000, performance.now(), OUTPUTS, 0, 1, 0, 'windows', acks);
  assert.equal(s.latencyUntil, 'acknowledged');
  assert.equal(s.latencyMs.max, 700);
  assert.deepEqual(whole(s.latencyAfterWarmupMs), { p50: 35, p99: 90, max: 90 });
  assert.deepEqual(whole(s.latencyToWriteAfterWarmupMs), { p50: 10, p99: 20, max: 20 });
});
