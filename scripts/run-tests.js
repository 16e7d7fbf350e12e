#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with node's own test runner, so CI can read
// its summary line. Arguments narrow the run: `npm test -- xgboost` runs files whose path has "xgboost".
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', 'dist', 'test');
if (!fs.existsSync(root)) {
  console.error('dist/test is missing: run `npm run build` first.');
  process.exit(1);
}
const filters = process.argv.slice(2);
const files = fs
  .readdirSync(root, { recursive: true })
  .filter((f) => f.endsWith('.test.js'))
  .map((f) => path.join(root, f))
  .filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)))
  .sort();
// Jobs log in JSON to stderr; tests provoke retries and rebalances on purpose, so only errors
// are worth the noise (SLUICE_LOG_LEVEL=info shows the rest).
const env = { ...process.env, SLUICE_LOG_LEVEL: process.env.SLUICE_LOG_LEVEL ?? 'error' };
const res = spawnSync(process.execPath, ['--test', '--test-force-exit', '--test-reporter=spec', ...files], { stdio: 'inherit', env });
process.exit(res.status ?? 1);
