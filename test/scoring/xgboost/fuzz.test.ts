// Random byte and field mutations of valid models: every outcome is a model that scores without
// crashing, or a SLUICE_MODEL_INVALID error. Anything else (a crash, a TypeError) is a bug.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { replaceNonFiniteWords, XGBoostModel } from '../../../src/scoring/xgboost/xgboost-model';
import { fixture } from '../../helpers/paths';
import { rng, pick } from '../../helpers/random';
import { STUMP, tinyModel } from '../../helpers/tiny-model';
import { encodeUbjson } from '../../helpers/ubjson-encode';

const CASES = Number(process.env.SLUICE_FUZZ_CASES ?? 10_000);

function baseDocs(): unknown[] {
  const deeper = { left: [1, 3, 5, -1, -1, -1, -1], right: [2, 4, 6, -1, -1, -1, -1], split: [0, 1, 2, 0, 0, 0, 0], cond: [0.5, 1.5, -2, 0.1, 0.2, 0.3, 0.4], defaultLeft: [1, 0, 1, 0, 0, 0, 0] };
  const docs: unknown[] = [tinyModel([STUMP, deeper], { objective: 'binary:logistic' }), tinyModel([deeper, STUMP, deeper], { objective: 'multi:softprob', numClass: 3, treeInfo: [0, 1, 2] })];
  const cat = tinyModel([deeper]) as any;
  Object.assign(cat.learner.gradient_booster.model.trees[0], { split_type: [1, 0, 0, 0, 0, 0, 0], categories: [1, 3, 40], categories_nodes: [0], categories_segments: [0], categories_sizes: [3] });
  docs.push(cat);
  // Real models from the parity fixtures, when present: small ones only, to keep the loop fast.
  const index = fixture('xgboost', 'index.json');
  if (fs.existsSync(index)) {
    for (const name of (JSON.parse(fs.readFileSync(index, 'utf8')) as string[]).slice(0, 40)) {
      const exp = JSON.parse(fs.readFileSync(fixture('xgboost', `${name}.expected.json`), 'utf8'));
      if (!String(exp.model).endsWith('.json')) continue;
      const text = fs.readFileSync(fixture('xgboost', exp.model), 'utf8');
      if (text.length < 60_000) docs.push(JSON.parse(replaceNonFiniteWords(text)));
    }
  }
  return docs;
}

const WEIRD: unknown[] = [-1, 0, 1, 2 ** 31, -(2 ** 31), 2 ** 53, 1e308, -1e-308, 0.5, NaN, Infinity, -Infinity, '', 'x', '1e9', '[1,2]', null, true, [], [[]], {}, { a: 1 }, [1e9, -5, NaN]];

/** Every (container, key) in the document, so a mutation can hit any field at any depth. */
function slots(doc: unknown): Array<[Record<string | number, unknown>, string | number]> {
  const out: Array<[Record<string | number, unknown>, string | number]> = [];
  const stack: unknown[] = [doc];
  while (stack.length) {
    const v = stack.pop();
    if (v && typeof v === 'object') {
      for (const k of Object.keys(v)) {
        out.push([v as Record<string, unknown>, Array.isArray(v) ? Number(k) : k]);
        stack.push((v as Record<string, unknown>)[k]);
      }
    }
  }
  return out;
}

function mutateField(doc: unknown, r: () => number): unknown {
  const copy = structuredClone(doc);
  const n = 1 + Math.floor(r() * 3);
  for (let i = 0; i < n; i++) {
    const all = slots(copy);
    const [container, key] = pick(r, all);
    const roll = r();
    if (roll < 0.1 && !Array.isArray(container)) delete container[key];
    else if (roll < 0.2 && Array.isArray(container[key])) (container[key] as unknown[]).pop();
    else if (roll < 0.3 && Array.isArray(container[key])) (container[key] as unknown[]).push(pick(r, WEIRD));
    else if (roll < 0.5 && typeof container[key] === 'number') container[key] = Math.floor((r() - 0.3) * 40);
    else container[key] = structuredClone(pick(r, WEIRD));
  }
  return copy;
}

function mutateBytes(bytes: Uint8Array, r: () => number): Uint8Array {
  const b = Array.from(bytes);
  const n = 1 + Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(r() * b.length);
    const roll = r();
    if (roll < 0.4) b[at] = Math.floor(r() * 256);
    else if (roll < 0.6) b.splice(at, 1 + Math.floor(r() * 8));
    else if (roll < 0.8) b.splice(at, 0, Math.floor(r() * 256));
    else b.length = at;
  }
  return new Uint8Array(b);
}

test(`fuzz: ${CASES} mutated models never crash`, () => {
  const r = rng(20261123);
  const docs = baseDocs();
  const rows = new Float32Array(64 * 64);
  for (let i = 0; i < rows.length; i++) rows[i] = pick(r, [NaN, -1e30, 1e30, 0, 0.5, 1, 3, 40, -0.5, 2.5, Infinity, -Infinity]);
  const outcomes = { loaded: 0, rejected: 0 };
  for (let i = 0; i < CASES; i++) {
    const doc = pick(r, docs);
    const asUbjson = r() < 0.5;
    let bytes: Uint8Array;
    if (r() < 0.5) {
      const mutated = mutateField(doc, r);
      bytes = asUbjson ? encodeUbjson(mutated) : new Uint8Array(Buffer.from(JSON.stringify(mutated)));
    } else {
      bytes = mutateBytes(asUbjson ? encodeUbjson(doc) : new Uint8Array(Buffer.from(JSON.stringify(doc))), r);
    }
    let model: XGBoostModel;
    try {
      model = XGBoostModel.fromBytes('fuzz.json', bytes);
    } catch (e) {
      const err = e as Error & { code?: string };
      if (err.code !== 'SLUICE_MODEL_INVALID' || !err.message.startsWith('fuzz.json: ')) {
        assert.fail(`case ${i}: unexpected error ${err.name} ${err.code}: ${err.message}`);
      }
      outcomes.rejected++;
      continue;
    }
    const nRows = Math.floor(rows.length / Math.max(1, model.numFeatures));
    const out = model.predictSync(rows, Math.min(64, nRows));
    assert.equal(out.length, Math.min(64, nRows) * model.numOutputs);
    outcomes.loaded++;
  }
  assert.ok(outcomes.loaded > CASES / 50, `some mutants still load (${outcomes.loaded})`);
  assert.ok(outcomes.rejected > CASES / 10, `most mutants are rejected (${outcomes.rejected})`);
});
