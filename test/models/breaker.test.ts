// The remote models' circuit breaker (src/models/breaker.ts), with a clock of the test's own.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Breaker } from '../../src/models/breaker';

test('the breaker opens after `failures` failed calls, refuses for openMs, then lets one probe decide', () => {
  const state = Breaker.create();
  const b = new Breaker(state, 2, 300, 1000);
  assert.equal(b.admit(0), 'call');
  b.failed(false, 0);
  assert.equal(b.admit(0), 'call', 'one failure: still closed');
  b.failed(false, 0);
  assert.equal(b.open, true);
  assert.equal(b.admit(299), 'refused');
  assert.equal(b.admit(300), 'probe');
  assert.equal(b.admit(301), 'refused', 'one probe at a time');
  b.failed(true, 400);
  assert.equal(b.admit(699), 'refused', 'a failed probe opens it again for openMs');
  assert.equal(b.admit(700), 'probe');
  b.succeeded(true);
  assert.equal(b.open, false);
  assert.equal(b.admit(701), 'call');
  // Another thread's view of the same memory sees the same breaker.
  assert.equal(new Breaker(state, 2, 300, 1000).open, false);
});

test('a probe that never reports back (its worker stopped) lets another probe after probeTimeoutMs', () => {
  const b = new Breaker(Breaker.create(), 1, 100, 1000);
  b.failed(false, 0);
  assert.equal(b.admit(100), 'probe');
  assert.equal(b.admit(1100), 'refused');
  assert.equal(b.admit(1101), 'probe');
});
