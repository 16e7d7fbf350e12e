// Logs (SPEC §11): JSON lines off a terminal, readable lines on one, the level from
// SLUICE_LOG_LEVEL or --verbose, errors as their message (with --verbose, their stack too).
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createRootLogger, logger } from '../../src/log';
import { repoRoot } from '../helpers/paths';

/** Runs a few log calls in a child whose stderr is a pipe (not a terminal); returns its lines. */
function childLines(env: Record<string, string>, verbose = false): string[] {
  const log = path.join(repoRoot, 'dist', 'src', 'log.js');
  const script = `const l = require(${JSON.stringify(log)}); l.setVerbose(${verbose});
    const log = l.logger('kafka-source');
    log.debug('fetching', { partition: 3 });
    log.info('joined the consumer group', { partitions: [0, 1], offset: 12n });
    log.warn('offset commit failed', { error: new Error('no answer in 10000 ms') });`;
  const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, SLUICE_LOG_LEVEL: '', ...env }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stderr.split('\n').filter((l) => l !== '');
}

test('off a terminal, log lines are JSON with level, time, component and msg', () => {
  const lines = childLines({});
  assert.equal(lines.length, 2, 'info and warn; debug is below the default level');
  const [info, warn] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual({ ...info, time: undefined }, { level: 'info', time: undefined, component: 'kafka-source', partitions: [0, 1], offset: '12', msg: 'joined the consumer group' });
  assert.ok(!Number.isNaN(Date.parse(String(info.time))), 'time is an ISO date');
  assert.equal(warn.level, 'warn');
  assert.equal(warn.error, 'no answer in 10000 ms', 'an error is its message');
});

test('SLUICE_LOG_LEVEL and --verbose set the level; --verbose adds stacks', () => {
  assert.deepEqual(childLines({ SLUICE_LOG_LEVEL: 'warn' }).map((l) => JSON.parse(l).level), ['warn']);
  assert.deepEqual(childLines({ SLUICE_LOG_LEVEL: 'silent' }), []);
  const verbose = childLines({}, true).map((l) => JSON.parse(l));
  assert.deepEqual(verbose.map((l) => l.level), ['debug', 'info', 'warn']);
  assert.equal(verbose[2].error.message, 'no answer in 10000 ms');
  assert.match(verbose[2].error.stack, /^Error: no answer in 10000 ms\n\s+at /);
});

test('on a terminal, log lines are readable, not JSON', () => {
  let text = '';
  const tty = Object.assign(new Writable({ write: (chunk, _enc, done) => ((text += String(chunk)), done()) }), { isTTY: true });
  const log = logger('engine', () => createRootLogger(tty, true));
  const before = process.env.SLUICE_LOG_LEVEL;
  process.env.SLUICE_LOG_LEVEL = 'info';
  try {
    log.info('checkpoint written', { bytes: 1024 });
  } finally {
    process.env.SLUICE_LOG_LEVEL = before;
  }
  const plainText = text.replace(/\x1b\[[0-9;]*m/g, '');
  assert.match(plainText, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: engine: checkpoint written\n\s+bytes: 1024\n$/);
  assert.throws(() => JSON.parse(plainText));
});
