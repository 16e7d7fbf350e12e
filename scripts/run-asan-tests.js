#!/usr/bin/env node
// Runs the tests that drive the addon hardest (bad and fuzzed models, parity, t-digest) against the
// AddressSanitizer + UBSan build from `npm run build:debug-asan`. Node itself is not instrumented,
// so libasan is preloaded and leak checks (node's own exit-time allocations) are off.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const addon = path.join(root, 'build', 'asan', 'Debug', 'sluice.node');
if (!fs.existsSync(addon)) {
  console.error(`${addon} is missing: run \`npm run build:debug-asan\` first.`);
  process.exit(1);
}
const libasan = execFileSync('gcc', ['-print-file-name=libasan.so']).toString().trim();
const tests = ['scoring/xgboost', 'sketch', 'native'];
const files = fs
  .readdirSync(path.join(root, 'dist', 'test'), { recursive: true })
  .filter((f) => f.endsWith('.test.js') && tests.some((t) => f.startsWith(t)))
  .map((f) => path.join(root, 'dist', 'test', f));
const res = spawnSync(process.execPath, ['--test', ...files], {
  stdio: 'inherit',
  env: {
    ...process.env,
    SLUICE_ADDON_PATH: addon,
    LD_PRELOAD: libasan,
    ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1',
    UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
  },
});
process.exit(res.status ?? 1);
