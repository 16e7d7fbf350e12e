// The live progress line (SPEC §11): only on a terminal, redrawn in place, with events/s,
// watermark, open windows, lag, late events and dead letters.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { progressLine, renderProgress } from '../../src/cli/progress';
import type { Progress } from '../../src/runtime/engine';

const at = (events: number, extra: Partial<Progress> = {}): Progress => ({ events, watermarkMs: Date.UTC(2023, 10, 14, 22, 13, 5, 250), openWindows: 19571, lagRecords: null, lateEvents: 3, deadLetters: 12, ...extra });

test('no progress line off a terminal', () => {
  assert.equal(progressLine({ isTTY: false, write: () => assert.fail('wrote') }), null);
  assert.equal(progressLine({ write: () => assert.fail('wrote') }), null);
});

test('on a terminal: one line, redrawn in place at most every 250 ms, erased at the end', () => {
  const written: string[] = [];
  let now = 1000;
  const line = progressLine({ isTTY: true, write: (s: string) => written.push(s) }, () => now)!;
  now += 100;
  line.update(at(1000));
  assert.deepEqual(written, [], 'too soon');
  now += 400; // 500 ms after the start: 5,000 events in it
  line.update(at(5000, { lagRecords: 1234 }));
  assert.deepEqual(written, ['\r\x1b[K5,000 events | 10,000/s | watermark 2023-11-14T22:13:05Z | 19,571 open windows | lag 1,234 | late 3 | dead letters 12']);
  now += 250; // the rate is the last interval's
  line.update(at(6000, { lagRecords: 0 }));
  assert.match(written[1], /^\r\x1b\[K6,000 events \| 4,000\/s \|/);
  line.clear();
  assert.equal(written[2], '\r\x1b[K');
});

test('the watermark before any event, and at the end of input', () => {
  assert.match(renderProgress(at(0, { watermarkMs: -Infinity }), 0), /\| watermark - \|/);
  assert.match(renderProgress(at(10, { watermarkMs: Infinity }), 0), /\| watermark end \|/);
  assert.doesNotMatch(renderProgress(at(10), 0), /lag/, 'no lag for sources without one');
});
