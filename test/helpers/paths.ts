// Paths tests use. Compiled tests run from dist/test/..., sources and fixtures live under the repo root.
import * as path from 'node:path';

export const repoRoot = path.join(__dirname, '..', '..', '..');
export const fixture = (...parts: string[]) => path.join(repoRoot, 'test', 'fixtures', ...parts);
export const sluiceBin = path.join(repoRoot, 'bin', 'sluice.js');
