import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { formatG } from '../../src/cli/format';

test("formatG matches C's %.9g (expectations printed by Python's '%.9g' % x)", () => {
  const cases: Array<[number, string]> = [
    [0.5, '0.5'], [1, '1'], [0, '0'], [1e-5, '1e-05'], [1.5e-5, '1.5e-05'], [0.0001, '0.0001'],
    [0.00012345678901, '0.000123456789'], [123456789, '123456789'], [1234567890, '1.23456789e+09'],
    [1e21, '1e+21'], [-2.5e-7, '-2.5e-07'], [3.14159265358979, '3.14159265'], [0.1, '0.1'],
    [1e-300, '1e-300'], [5e-324, '4.94065646e-324'], [NaN, 'nan'], [Infinity, 'inf'], [-Infinity, '-inf'],
    [999999999.5, '1e+09'], [0.000099999999995, '0.0001'], [100000000, '100000000'],
  ];
  for (const [x, want] of cases) assert.equal(formatG(x), want, `formatG(${x})`);
});
