// The job file's JSON Schema (src/config/job-schema.ts, published as schema/job.schema.json): the
// committed file is what `sluice schema` prints, every job file the project ships validates
// against it with a JSON Schema validator (ajv) as it does with the readers, and structural
// mistakes are refused by both.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv from 'ajv';
import { parse } from 'yaml';
import { schemaText } from '../../src/cli/check';
import { parseJob } from '../../src/config/job';
import { repoRoot } from '../helpers/paths';

const SCHEMA_FILE = path.join(repoRoot, 'schema', 'job.schema.json');
const validate = new Ajv({ allErrors: true, strict: false }).compile(JSON.parse(schemaText()));

/** Every job file in the repository: examples, goldens, fixtures. */
function jobFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory() && e.name !== 'node_modules' && e.name !== 'out') walk(p);
      else if (e.isFile() && /\.ya?ml$/.test(e.name)) {
        const doc = parse(fs.readFileSync(p, 'utf8')) as Record<string, unknown> | null;
        if (doc && typeof doc === 'object' && 'name' in doc && 'source' in doc) out.push(p);
      }
    }
  };
  for (const d of ['examples', 'test']) walk(path.join(repoRoot, d));
  return out;
}

test('schema/job.schema.json is what `sluice schema` prints (regenerate: node bin/sluice.js schema > schema/job.schema.json)', () => {
  assert.equal(fs.readFileSync(SCHEMA_FILE, 'utf8'), schemaText());
});

test('every job file the project ships is valid for the readers and for the schema', () => {
  const files = jobFiles();
  assert.ok(files.length >= 10, `${files.length} job files`);
  for (const file of files) {
    const text = fs.readFileSync(file, 'utf8');
    parseJob(text, file);
    assert.ok(validate(parse(text)), `${path.relative(repoRoot, file)}: ${JSON.stringify(validate.errors)}`);
  }
});

test('structural mistakes are refused by the readers and by the schema alike', () => {
  const base = {
    name: 'j',
    source: { type: 'generator' },
    window: { type: 'tumbling', sizeMs: 1000 },
    features: [{ name: 'n', agg: 'count' }],
    models: { a: { source: 'a.json', reload: { pollMs: 100 } }, far: { type: 'remote', url: 'http://x/v2/models/f' } },
    scoring: { model: 'a', shadow: ['far'], onError: { fallback: { value: 0 } }, cache: {} },
    sink: { type: 'stdout' },
  };
  assert.ok(validate(base), JSON.stringify(validate.errors));
  parseJob(JSON.stringify(base), 'j.yaml');
  const bad: Array<(j: Record<string, any>) => void> = [
    (j) => (j.extra = 1),
    (j) => delete j.name,
    (j) => (j.window.sizeMS = 1000),
    (j) => (j.window.type = 'hopping'),
    (j) => (j.window.sizeMs = 0),
    (j) => (j.features[0].agg = 'median'),
    (j) => (j.source.events = -1),
    (j) => (j.models.a.pollMs = 5),
    (j) => (j.models.far.breaker = { failures: 0 }),
    (j) => (j.scoring.variant = []),
    (j) => (j.scoring.cache = { maxEntries: 'many' }),
    (j) => (j.sink = { type: 'file' }),
    (j) => (j.metrics = { port: 70000 }),
    (j) => (j.workers = { threads: 0 }),
  ];
  for (const change of bad) {
    const j = structuredClone(base) as Record<string, any>;
    change(j);
    assert.ok(!validate(j), `the schema takes ${change.toString()}`);
    assert.throws(() => parseJob(JSON.stringify(j), 'j.yaml'), /j\.yaml: /, `the readers take ${change.toString()}`);
  }
});
