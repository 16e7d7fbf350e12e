// sluice runs with NODE_FLAGS (src/cli/node-flags.ts) however it starts: as the `sluice` command
// (bin/sluice.js's first line), from the npm scripts, and in the bench's runs (which import them).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NODE_FLAGS } from '../../src/cli/node-flags';
import { repoRoot, sluiceBin } from '../helpers/paths';

test('bin/sluice.js and the npm scripts that run it pass every flag in NODE_FLAGS', () => {
  const shebang = fs.readFileSync(sluiceBin, 'utf8').split('\n')[0];
  assert.equal(shebang, `#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}`);
  const { scripts } = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  for (const name of ['start', 'bench']) assert.ok(scripts[name].startsWith(`node ${NODE_FLAGS.join(' ')} bin/sluice.js `), `npm run ${name}: ${scripts[name]}`);
});

test('run as a command, bin/sluice.js starts through its first line', () => {
  // env -S splits the flags off the interpreter's name (GNU coreutils 8.30+, BSD and macOS env).
  const r = spawnSync(sluiceBin, ['schema'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).type, 'object');
});
