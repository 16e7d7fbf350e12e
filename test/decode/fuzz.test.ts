// Fuzzed decode inputs: no crash, and the native decoder's verdicts are JsonDecoder's. The same fuzz
// runs against the ASan build from test/native/decode-fuzz.test.ts.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { runDecodeFuzz } from './fuzz-runner';

test('24,000 random and mutated messages decode like JsonDecoder', (t) => {
  const { cases, jsFallbacks } = runDecodeFuzz(2024, 24_000);
  t.diagnostic(`${cases} cases, ${jsFallbacks} through the JS fallback`);
  assert.ok(cases >= 24_000);
});
