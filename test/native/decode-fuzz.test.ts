// The decode fuzz (test/decode/fuzz-runner.ts) with its own seed, here so that `npm run test:asan`
// runs it against the AddressSanitizer + UBSan build of the addon.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { runDecodeFuzz } from '../decode/fuzz-runner';

test('decode fuzz: 20,000 random and mutated messages, no crash, verdicts match JsonDecoder', (t) => {
  const { cases, jsFallbacks } = runDecodeFuzz(77, 20_000);
  t.diagnostic(`${cases} cases, ${jsFallbacks} through the JS fallback`);
  assert.ok(cases >= 20_000);
});
