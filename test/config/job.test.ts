// The job file (SPEC §4): one test per kind of mistake, each pinning the one-line message, and the
// defaults a minimal job gets.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { isSluiceError } from '../../src/errors';
import { jobFromObject, loadJob, parseJob } from '../../src/config/job';
import type { JobConfig } from '../../src/config/types';
import { fixture } from '../helpers/paths';

/** Loosely typed on purpose: tests write wrong types into it. */
type Obj = Record<string, any>;

/** A valid job as a plain object; tests break one thing in it. */
function base(): Obj {
  return {
    name: 't',
    source: { type: 'file', path: 'events.jsonl', key: 'card_id', timestamp: 'ts' },
    window: { type: 'tumbling', sizeMs: 60000 },
    features: [
      { name: 'tx_count', agg: 'count' },
      { name: 'amount_sum', agg: 'sum', field: 'amount' },
      { name: 'amount_p95', agg: 'p95', field: 'amount' },
    ],
    model: { path: 'm.json' },
    sink: { type: 'file', path: 'out.jsonl' },
  };
}

const yamlOf = (edit: (j: Obj) => void) => {
  const j = base();
  edit(j);
  return stringify(j);
};

const threadsAuto = Math.max(1, os.availableParallelism() - 1);

/** Asserts that `run` throws one line, exactly `message`, with `code`. */
function throwsLine(run: () => unknown, message: string, code = 'SLUICE_CONFIG_INVALID') {
  assert.throws(run, (e: unknown) => {
    assert.ok(isSluiceError(e), `not a SluiceError: ${String(e)}`);
    assert.equal(e.message, message);
    assert.equal(e.code, code);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
}

const fails = (edit: (j: Obj) => void, message: string) => throwsLine(() => parseJob(yamlOf(edit), 'job.yaml'), message);

test('the base job is valid', () => {
  const job = parseJob(yamlOf(() => {}), 'job.yaml');
  assert.equal(job.name, 't');
});

test('YAML syntax error: one line with line and column', () => {
  const text = 'name: t\nwindow:\n  type: tumbling\n   sizeMs: 60000\n';
  throwsLine(() => parseJob(text, 'job.yaml'), 'job.yaml: line 3, column 9: invalid YAML: Nested mappings are not allowed in compact mappings');
  throwsLine(() => parseJob('name: t\nname: u\n', 'job.yaml'), 'job.yaml: line 2, column 1: invalid YAML: Map keys must be unique');
  throwsLine(() => parseJob('features: [a, b\nname: t\n', 'job.yaml'), 'job.yaml: line 2, column 1: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]');
  throwsLine(() => parseJob('name: *nope\n', 'job.yaml'), 'job.yaml: invalid YAML: Unresolved alias (the anchor must be set before the alias): nope');
});

test('empty file and a top level that is not a mapping', () => {
  throwsLine(() => parseJob('# nothing\n', 'job.yaml'), 'job.yaml: the job is empty; expected a mapping with name, source, window, features, model and sink');
  throwsLine(() => parseJob('- a\n- b\n', 'job.yaml'), 'job.yaml: expected a mapping, got ["a","b"]');
});

test('unknown top-level key, with a suggestion', () => {
  fails(
    (j) => (j.sinks = { type: 'stdout' }),
    'job.yaml: sinks: unknown key; expected one of name, mode, eventId, source, watermark, window, features, model, models, scoring, sink, late, deadLetter, shadow, state, workers, metrics (did you mean sink?)',
  );
  fails(
    (j) => (j.parallelism = 4),
    'job.yaml: parallelism: unknown key; expected one of name, mode, eventId, source, watermark, window, features, model, models, scoring, sink, late, deadLetter, shadow, state, workers, metrics',
  );
});

test('unknown nested key, with a suggestion', () => {
  fails(
    (j) => (j.window = { type: 'tumbling', sizeMS: 60000 }),
    'job.yaml: window.sizeMS: unknown key; expected one of type, sizeMs, slideMs, allowedLatenessMs, earlyEveryMs, gapMs (did you mean sizeMs?)',
  );
  fails((j) => (j.features[1].fild = 'amount'), 'job.yaml: features[1].fild: unknown key; expected one of name, agg, field, transform, compression (did you mean field?)');
  // The keys offered are those of the chosen source type.
  fails((j) => (j.source.topik = 'x'), 'job.yaml: source.topik: unknown key; expected one of type, format, key, timestamp, maxMessageBytes, path');
  fails((j) => (j.source = { type: 'kafka', brokers: ['h:1'], topik: 'x' }), 'job.yaml: source.topik: unknown key; expected one of type, format, key, timestamp, maxMessageBytes, brokers, topic, groupId, startFrom, bounded, kafka (did you mean topic?)');
});

test('kafka: blocks pass through unchecked; outputs on the source brokers inherit its settings under their own', () => {
  const job = parseJob(
    yamlOf((j) => {
      j.source = { type: 'kafka', brokers: ['b:9092'], topic: 't', groupId: 'g', key: 'k', timestamp: 'ts', kafka: { anything: { goes: [1] }, ssl: true } };
      j.sink = { type: 'kafka', topic: 'out', kafka: { acks: -1, ssl: false } };
    }),
    'job.yaml',
  );
  assert.deepEqual(job.source.type === 'kafka' && job.source.kafka, { anything: { goes: [1] }, ssl: true });
  assert.deepEqual(job.sink, { type: 'kafka', topic: 'out', keyFormat: 'key', compression: 'none', kafka: { anything: { goes: [1] }, acks: -1, ssl: false }, brokers: ['b:9092'] });
  fails((j) => (j.source = { type: 'kafka', brokers: ['b:1'], topic: 't', groupId: 'g', key: 'k', timestamp: 'ts', kafka: 'ssl' }), 'job.yaml: source.kafka: expected a mapping, got "ssl"');
});

test('wrong type: integer given a string', () => {
  fails((j) => (j.window.sizeMs = '60s'), 'job.yaml: window.sizeMs: expected a positive integer, got "60s"');
  fails((j) => (j.window.sizeMs = 1.5), 'job.yaml: window.sizeMs: expected a positive integer, got 1.5');
  fails((j) => (j.window.sizeMs = 2 ** 60), 'job.yaml: window.sizeMs: expected a positive integer, got 1152921504606847000');
  fails((j) => (j.window.sizeMs = 0), 'job.yaml: window.sizeMs: expected a positive integer, got 0');
});

test('wrong type: boolean', () => {
  fails(
    (j) => (j.source = { type: 'kafka', brokers: ['b:9092'], topic: 't', groupId: 'g', key: 'k', timestamp: 'ts', bounded: 'yes' }),
    'job.yaml: source.bounded: expected true or false, got "yes"',
  );
});

test('wrong type: list', () => {
  fails((j) => (j.features = 'tx_count'), 'job.yaml: features: expected a non-empty list of features ({ name, agg, field }), got "tx_count"');
  fails((j) => (j.model.inputs = 'tx_count'), 'job.yaml: model.inputs: expected a non-empty list of feature names, got "tx_count"');
  fails(
    (j) => (j.source = { type: 'kafka', brokers: '127.0.0.1:9092', topic: 't', groupId: 'g', key: 'k', timestamp: 'ts' }),
    'job.yaml: source.brokers: expected a non-empty list of "host:port" strings, got "127.0.0.1:9092"',
  );
  fails(
    (j) => (j.source = { type: 'kafka', brokers: ['127.0.0.1'], topic: 't', groupId: 'g', key: 'k', timestamp: 'ts' }),
    'job.yaml: source.brokers[0]: expected a "host:port" string, got "127.0.0.1"',
  );
  fails((j) => (j.features[0] = 'tx_count'), 'job.yaml: features[0]: expected a mapping, got "tx_count"');
});

test('wrong type: enum value', () => {
  fails((j) => (j.window.type = 'hopping'), 'job.yaml: window.type: expected one of tumbling, sliding, session, got "hopping"');
  fails((j) => (j.source.type = 'http'), 'job.yaml: source.type: expected one of kafka, file, generator, got "http"');
  fails((j) => (j.model.type = 'lightgbm'), 'job.yaml: model.type: expected one of xgboost, onnx, got "lightgbm"');
  fails((j) => (j.source.format = 'avro'), 'job.yaml: source.format: expected one of json, got "avro"');
  fails((j) => (j.sink = { type: 'kafka', topic: 'x', brokers: ['h:1'], keyFormat: 'both' }), 'job.yaml: sink.keyFormat: expected one of key, window, got "both"');
  fails((j) => (j.sink = { type: 'kafka', topic: 'x', brokers: ['h:1'], compression: 'zstd' }), 'job.yaml: sink.compression: expected one of none, gzip, snappy, lz4, got "zstd"');
  fails((j) => (j.sink.compression = 'lz4'), 'job.yaml: sink.compression: only for kafka outputs, but sink.type is file');
});

test('missing required fields', () => {
  fails((j) => delete j.name, 'job.yaml: name: missing; expected a name of letters, digits, ".", "_" and "-"');
  fails((j) => delete j.model.path, 'job.yaml: model.path: missing; expected a model file path');
  fails((j) => delete j.source.key, 'job.yaml: source.key: missing; expected a field path (names separated by dots)');
  fails((j) => delete j.sink, 'job.yaml: sink: missing; expected a mapping with a type (kafka, file or stdout)');
  fails((j) => delete j.window.type, 'job.yaml: window.type: missing; expected one of tumbling, sliding, session');
  fails((j) => delete j.window.sizeMs, 'job.yaml: window.sizeMs: missing; expected a positive integer');
  fails((j) => (j.window.sizeMs = null), 'job.yaml: window.sizeMs: expected a positive integer, got null');
  fails((j) => (j.source = { type: 'kafka', brokers: ['h:1'], key: 'k', timestamp: 'ts', groupId: 'g' }), 'job.yaml: source.topic: missing; expected a Kafka topic name (letters, digits, ".", "_", "-")');
});

test('name must be a safe file-name-like string', () => {
  fails((j) => (j.name = 'card fraud'), 'job.yaml: name: expected a name of letters, digits, ".", "_" and "-", got "card fraud"');
  fails((j) => (j.name = '..'), 'job.yaml: name: expected a name of letters, digits, ".", "_" and "-", got ".."');
});

test('sliding windows: sizeMs must be a multiple of slideMs', () => {
  fails((j) => (j.window = { type: 'sliding', sizeMs: 60000, slideMs: 7000 }), 'job.yaml: window.sizeMs: expected a multiple of window.slideMs (7000), got 60000');
  fails((j) => (j.window = { type: 'sliding', sizeMs: 60000 }), 'job.yaml: window.slideMs: missing; expected a positive integer');
  const job = parseJob(yamlOf((j) => (j.window = { type: 'sliding', sizeMs: 60000, slideMs: 10000 })), 'job.yaml');
  assert.deepEqual(job.window, { type: 'sliding', sizeMs: 60000, slideMs: 10000, allowedLatenessMs: 0 });
});

test('a window key that does not apply to the window type', () => {
  fails((j) => (j.window.slideMs = 10000), 'job.yaml: window.slideMs: only for sliding windows, but window.type is tumbling');
  fails((j) => (j.window.gapMs = 10000), 'job.yaml: window.gapMs: only for session windows, but window.type is tumbling');
  fails((j) => (j.window = { type: 'session', gapMs: 1000, earlyEveryMs: 100 }), 'job.yaml: window.earlyEveryMs: only for tumbling and sliding windows so far, but window.type is session');
  fails((j) => (j.window.earlyEveryMs = 60000), 'job.yaml: window.earlyEveryMs: expected less than window.sizeMs (60000): early results come before the window\'s end, got 60000');
  fails((j) => (j.window.earlyEveryMs = 0), 'job.yaml: window.earlyEveryMs: expected a positive integer, got 0');
  fails((j) => (j.window = { type: 'session', sizeMs: 1000, gapMs: 1000 }), 'job.yaml: window.sizeMs: only for tumbling and sliding windows, but window.type is session (it takes gapMs)');
});

test('session windows need gapMs', () => {
  fails((j) => (j.window = { type: 'session' }), 'job.yaml: window.gapMs: missing; expected a positive integer');
  const job = parseJob(yamlOf((j) => (j.window = { type: 'session', gapMs: 30000, allowedLatenessMs: 5000 })), 'job.yaml');
  assert.deepEqual(job.window, { type: 'session', gapMs: 30000, allowedLatenessMs: 5000 });
});

test('percentile names: pNN and pNN.N with 0 < q < 100', () => {
  const what = 'expected one of count, sum, mean, min, max, stddev or a percentile pNN / pNN.N with 0 < NN < 100 (p50, p95, p99.9)';
  for (const bad of ['p0', 'p100', 'p1.23', 'pxx', 'p', 'p0.0', 'p05', 'P95', 'median']) {
    fails((j) => (j.features[2].agg = bad), `job.yaml: features[2].agg: ${what}, got "${bad}"`);
  }
  fails((j) => (j.features[2].agg = 95), `job.yaml: features[2].agg: ${what}, got 95`);
  const cases: [string, number][] = [['p50', 0.5], ['p95', 0.95], ['p99.9', 0.999], ['p0.5', 0.005], ['p1', 0.01], ['p99', 0.99]];
  for (const [agg, q] of cases) {
    const job = parseJob(yamlOf((j) => (j.features[2].agg = agg)), 'job.yaml');
    assert.deepEqual(job.features[2], { name: 'amount_p95', agg: 'percentile', field: 'amount', q, compression: 100 });
  }
});

test('compression: only on percentiles, from 10 to 10000', () => {
  const job = parseJob(yamlOf((j) => (j.features[2].compression = 250)), 'job.yaml');
  assert.equal(job.features[2].agg === 'percentile' && job.features[2].compression, 250);
  fails((j) => (j.features[2].compression = 5), 'job.yaml: features[2].compression: expected a number from 10 to 10000, got 5');
  fails((j) => (j.features[1].compression = 100), 'job.yaml: features[1].compression: only for percentile features (pNN), but agg is sum');
});

test('duplicate feature names', () => {
  fails((j) => (j.features[2].name = 'tx_count'), 'job.yaml: features[2].name: "tx_count" is already the name of features[0]; names must be unique');
});

test('count takes no field; every other aggregation needs one', () => {
  fails((j) => (j.features[0].field = 'amount'), 'job.yaml: features[0].field: count takes no field (it counts the events in the window)');
  fails((j) => delete j.features[1].field, 'job.yaml: features[1].field: missing; expected a field path (names separated by dots); sum needs the numeric field it aggregates');
  fails((j) => (j.features[1].field = 'a..b'), 'job.yaml: features[1].field: expected a field path (names separated by dots); sum needs the numeric field it aggregates, got "a..b"');
  fails((j) => (j.features = []), 'job.yaml: features: expected a non-empty list of features ({ name, agg, field }), got []');
});

test('model.inputs must name features, once each; default is the features in order', () => {
  fails((j) => (j.model.inputs = ['tx_count', 'amount_p99']), 'job.yaml: model.inputs[1]: expected the name of a feature (tx_count, amount_sum, amount_p95), got "amount_p99"');
  fails((j) => (j.model.inputs = ['tx_count', 'tx_count']), 'job.yaml: model.inputs[1]: "tx_count" is already model.inputs[0]; each input is listed once');
  assert.deepEqual(parseJob(yamlOf(() => {}), 'job.yaml').scoring.inputs, ['tx_count', 'amount_sum', 'amount_p95']);
  assert.deepEqual(parseJob(yamlOf((j) => (j.model.inputs = ['amount_p95', 'tx_count'])), 'job.yaml').scoring.inputs, ['amount_p95', 'tx_count']);
});

test('model.output must not clash with a feature or a record field', () => {
  fails((j) => (j.model.output = 'amount_sum'), 'job.yaml: model.output: "amount_sum" is also a feature name; pick another name for the score');
  fails(
    (j) => (j.model.output = 'events'),
    'job.yaml: model.output: "events" is a field of result records (key, windowStart, windowEnd, events, features, model, modelVersion, revision, retracted, early, update, ts, eventId, late); pick another name for the score',
  );
});

test('model.type defaults from the file extension', () => {
  assert.equal(parseJob(yamlOf(() => {}), 'job.yaml').models.default.type, 'xgboost');
  assert.equal(parseJob(yamlOf((j) => (j.model.path = 'm.ONNX')), 'job.yaml').models.default.type, 'onnx');
});

test('kafka sink: topic required, brokers from a kafka source or given', () => {
  fails((j) => (j.sink = { type: 'kafka', brokers: ['h:1'] }), 'job.yaml: sink.topic: missing; expected a Kafka topic name (letters, digits, ".", "_", "-")');
  fails(
    (j) => (j.sink = { type: 'kafka', topic: 'scores' }),
    'job.yaml: sink.brokers: missing; expected a non-empty list of "host:port" strings (the source is not kafka, so there are no brokers to reuse)',
  );
  fails((j) => (j.sink.keyFormat = 'window'), 'job.yaml: sink.keyFormat: only for kafka outputs, but sink.type is file');
  fails((j) => (j.sink = { type: 'stdout', path: 'x' }), 'job.yaml: sink.path: only for file outputs, but sink.type is stdout');
  fails((j) => (j.late = { type: 'file' }), 'job.yaml: late.path: missing; expected a file path');
});

test('outputs must not share a file', () => {
  fails((j) => (j.late = { type: 'file', path: './out.jsonl' }), 'job.yaml: late.path: "./out.jsonl" is also sink\'s file; each output needs its own file');
  fails((j) => (j.deadLetter = { type: 'file', path: 'out.late.jsonl' }), 'job.yaml: deadLetter.path: "out.late.jsonl" is also late\'s file; each output needs its own file');
});

test('file source: path is a string or a non-empty list of strings', () => {
  fails((j) => (j.source.path = []), 'job.yaml: source.path: expected a file path or a non-empty list of file paths, got []');
  fails((j) => (j.source.path = ['a.jsonl', 3]), 'job.yaml: source.path[1]: expected a file path, got 3');
  fails((j) => delete j.source.path, 'job.yaml: source.path: missing; expected a file path or a non-empty list of file paths');
  const job = parseJob(yamlOf((j) => (j.source.path = ['a.jsonl', 'b.jsonl'])), 'job.yaml');
  assert.deepEqual(job.source.type === 'file' && job.source.paths, ['a.jsonl', 'b.jsonl']);
});

test('source keys of another source type are errors', () => {
  fails((j) => (j.source.events = 10), 'job.yaml: source.events: only for generator sources, but source.type is file');
  fails((j) => (j.source.bounded = true), 'job.yaml: source.bounded: only for kafka sources, but source.type is file');
  fails((j) => (j.source = { type: 'generator', path: 'x' }), 'job.yaml: source.path: only for file sources, but source.type is generator');
});

test('"$kafka" timestamps only on kafka sources', () => {
  fails((j) => (j.source.timestamp = '$kafka'), 'job.yaml: source.timestamp: "$kafka" (the record timestamp) is only for kafka sources, but source.type is file');
});

test('generator source: ranges', () => {
  fails((j) => (j.source = { type: 'generator', fraudShare: 1.5 }), 'job.yaml: source.fraudShare: expected a number from 0 to 1, got 1.5');
  fails((j) => (j.source = { type: 'generator', eventTimeStepMs: 0 }), 'job.yaml: source.eventTimeStepMs: expected a positive number, got 0');
  fails((j) => (j.source = { type: 'generator', keys: 4, partitions: 8 }), 'job.yaml: source.partitions: expected at most source.keys (4), got 8');
  fails((j) => (j.source = { type: 'generator', seed: 'abc' }), 'job.yaml: source.seed: expected an integer, got "abc"');
  const text = 'name: t\nsource: { type: generator, outOfOrderMs: .inf }\nwindow: { type: tumbling, sizeMs: 1 }\nfeatures: [{ name: n, agg: count }]\nmodel: { path: m.json }\nsink: { type: stdout }\n';
  throwsLine(() => parseJob(text, 'job.yaml'), 'job.yaml: source.outOfOrderMs: expected a non-negative number, got Infinity');
});

test('--set overrides apply before validation', () => {
  const text = yamlOf(() => {});
  const job = parseJob(text, 'job.yaml', ['window.sizeMs=30000', 'sink.path=other.jsonl', 'late.type=stdout', 'features.1.field=price', 'source.path=[a.jsonl, b.jsonl]', 'workers.threads=3']);
  assert.deepEqual(job.window, { type: 'tumbling', sizeMs: 30000, allowedLatenessMs: 0 });
  assert.deepEqual(job.sink, { type: 'file', path: 'other.jsonl' });
  assert.deepEqual(job.late, { type: 'stdout' });
  assert.deepEqual(job.deadLetter, { type: 'file', path: 'other.dead.jsonl' });
  assert.deepEqual(job.features[1], { name: 'amount_sum', agg: 'sum', field: 'price' });
  assert.deepEqual(job.source.type === 'file' && job.source.paths, ['a.jsonl', 'b.jsonl']);
  assert.equal(job.workers.threads, 3);
  // An overridden value is validated like any other, and the message says where it came from.
  throwsLine(() => parseJob(text, 'job.yaml', ['window.sizeMs=60s']), 'job.yaml: window.sizeMs: expected a positive integer, got "60s" (from --set)');
  throwsLine(() => parseJob(text, 'job.yaml', ['window.sizeMS=1']), 'job.yaml: window.sizeMS: unknown key; expected one of type, sizeMs, slideMs, allowedLatenessMs, earlyEveryMs, gapMs (did you mean sizeMs?) (from --set)');
});

test('malformed --set is a usage error', () => {
  const text = yamlOf(() => {});
  throwsLine(() => parseJob(text, 'job.yaml', ['window.sizeMs']), '--set window.sizeMs: expected path=value', 'SLUICE_USAGE');
  throwsLine(() => parseJob(text, 'job.yaml', ['=5']), '--set =5: expected path=value', 'SLUICE_USAGE');
  throwsLine(() => parseJob(text, 'job.yaml', ['window..sizeMs=5']), '--set window..sizeMs=5: expected path=value', 'SLUICE_USAGE');
  throwsLine(() => parseJob(text, 'job.yaml', ['window.sizeMs.x=5']), '--set window.sizeMs.x: window.sizeMs is not a mapping or a list', 'SLUICE_USAGE');
  throwsLine(() => parseJob(text, 'job.yaml', ['features.7.field=x']), '--set features.7.field: features is a list of 3; expected an index from 0 to 2, got "7"', 'SLUICE_USAGE');
  throwsLine(() => parseJob(text, 'job.yaml', ['name=[a']), '--set name: the value is not valid YAML (Flow sequence must end with a ])', 'SLUICE_USAGE');
});

test('watermark: non-negative integers', () => {
  fails((j) => (j.watermark = { idleTimeoutMs: -1 }), 'job.yaml: watermark.idleTimeoutMs: expected a non-negative integer, got -1');
  fails((j) => (j.watermark = { maxOutOfOrdernessMs: '5s' }), 'job.yaml: watermark.maxOutOfOrdernessMs: expected a non-negative integer, got "5s"');
  assert.deepEqual(parseJob(yamlOf((j) => (j.watermark = { idleTimeoutMs: 0 })), 'job.yaml').watermark, { maxOutOfOrdernessMs: 5000, idleTimeoutMs: 0 });
});

test('workers.threads: a positive integer or "auto"', () => {
  fails((j) => (j.workers = { threads: 'many' }), 'job.yaml: workers.threads: expected a positive integer or "auto", got "many"');
  fails((j) => (j.workers = { threads: 0 }), 'job.yaml: workers.threads: expected a positive integer or "auto", got 0');
  assert.equal(parseJob(yamlOf((j) => (j.workers = { threads: 'auto' })), 'job.yaml').workers.threads, threadsAuto);
});

test('metrics: port 0..65535, state: positive checkpoint interval', () => {
  fails((j) => (j.metrics = { port: 70000 }), 'job.yaml: metrics.port: expected an integer from 0 to 65535, got 70000');
  fails((j) => (j.state = { checkpointIntervalMs: 0 }), 'job.yaml: state.checkpointIntervalMs: expected a positive integer, got 0');
  fails((j) => (j.state = 'here'), 'job.yaml: state: expected a mapping, got "here"');
});

test('defaults: a minimal job gets every default of SPEC §4', () => {
  const text = 'name: m\nsource: { type: generator }\nwindow: { type: tumbling, sizeMs: 60000 }\nfeatures: [{ name: n, agg: count }]\nmodel: { path: m.json }\nsink: { type: stdout }\n';
  const want: JobConfig = {
    name: 'm',
    file: 'job.yaml',
    mode: 'windows',
    source: {
      type: 'generator',
      key: 'card',
      timestamp: 'ts',
      format: 'json',
      maxMessageBytes: 1 << 20,
      events: 1_000_000,
      keys: 10_000,
      seed: 42,
      eventTimeStepMs: 0.05,
      outOfOrderMs: 2000,
      partitions: 1,
      startTimeMs: 1_700_000_000_000,
      fraudShare: 0.01,
    },
    watermark: { maxOutOfOrdernessMs: 5000, idleTimeoutMs: 60000 },
    window: { type: 'tumbling', sizeMs: 60000, allowedLatenessMs: 0 },
    features: [{ name: 'n', agg: 'count' }],
    models: { default: { type: 'xgboost', source: 'm.json', maxBytes: 256 * 1024 * 1024 } },
    scoring: { inputs: ['n'], output: 'score', variants: [{ model: 'default', weight: 100 }], timeoutMs: 30_000, onTimeout: 'dead-letter', shadow: [], onError: null, cache: null, maxBatchRows: 4096, maxWaitMs: 5 },
    sink: { type: 'stdout' },
    late: { type: 'file', path: '.sluice/m/late.jsonl' },
    deadLetter: { type: 'file', path: '.sluice/m/dead.jsonl' },
    shadow: { type: 'file', path: '.sluice/m/shadow.jsonl' },
    state: { dir: '.sluice/m', checkpointIntervalMs: 5000 },
    workers: { threads: threadsAuto, inlineMaxUs: 5000 },
    metrics: { port: 9464, host: '127.0.0.1' },
  };
  assert.deepEqual(parseJob(text, 'job.yaml'), want);
});

test('defaults: kafka source and sinks', () => {
  const job = parseJob(
    yamlOf((j) => (j.source = { type: 'kafka', brokers: ['b:9092'], topic: 'tx', groupId: 'g', key: 'card', timestamp: '$kafka' })),
    'job.yaml',
  );
  assert.deepEqual(job.source, { type: 'kafka', key: 'card', timestamp: '$kafka', format: 'json', maxMessageBytes: 1 << 20, brokers: ['b:9092'], topic: 'tx', groupId: 'g', startFrom: 'committed', bounded: false, kafka: {} });
  assert.deepEqual(job.late, { type: 'file', path: 'out.late.jsonl' });
  assert.deepEqual(job.deadLetter, { type: 'file', path: 'out.dead.jsonl' });
});

test('loadJob resolves relative paths against the job file directory', async () => {
  const dir = fixture('jobs');
  const job = await loadJob(fixture('jobs', 'files.yaml'));
  assert.deepEqual(job.source.type === 'file' && job.source.paths, [path.join(dir, 'data/part-0.jsonl'), path.join(dir, 'data/part-1.jsonl')]);
  assert.deepEqual(job.models.default, { type: 'xgboost', source: fixture('xgboost', 'binary_logistic.json'), maxBytes: 256 * 1024 * 1024 });
  assert.deepEqual(job.sink, { type: 'file', path: path.join(dir, 'out/scores.jsonl') });
  assert.deepEqual(job.late, { type: 'file', path: path.join(dir, 'out/scores.late.jsonl') });
  assert.deepEqual(job.deadLetter, { type: 'file', path: path.join(dir, 'out/scores.dead.jsonl') });
  assert.deepEqual(job.state, { dir: path.join(dir, 'state'), checkpointIntervalMs: 1000 });
  assert.deepEqual(job.window, { type: 'sliding', sizeMs: 60000, slideMs: 10000, allowedLatenessMs: 2000 });
  assert.deepEqual(job.metrics, { port: 0, host: '127.0.0.1' });
  assert.equal(job.workers.threads, 2);

  const minimal = await loadJob(fixture('jobs', 'minimal.yaml'));
  assert.equal(minimal.state.dir, path.join(dir, '.sluice/minimal'));
  assert.deepEqual(minimal.late, { type: 'file', path: path.join(dir, '.sluice/minimal/late.jsonl') });

  const kafka = await loadJob(fixture('jobs', 'kafka.yaml'), ['source.bounded=false']);
  assert.equal(kafka.source.type === 'kafka' && kafka.source.bounded, false);
  assert.deepEqual(kafka.sink, { type: 'kafka', topic: 'scores', keyFormat: 'window', compression: 'none', kafka: { clientId: 'sluice-test', ssl: false, acks: -1 }, brokers: ['127.0.0.1:9092'] });
  assert.deepEqual(kafka.late, { type: 'kafka', topic: 'late', keyFormat: 'key', compression: 'none', kafka: {}, brokers: ['10.0.0.1:9093', '[::1]:9094'] });
  assert.deepEqual(kafka.deadLetter, { type: 'stdout' });
  assert.equal(kafka.watermark.idleTimeoutMs, 0);
});

test('loadJob: a missing file is one clear line', async () => {
  await assert.rejects(loadJob('/nonexistent/job.yaml'), (e: unknown) => {
    assert.ok(isSluiceError(e));
    assert.equal(e.message, '/nonexistent/job.yaml: cannot read the job file (no such file)');
    assert.equal(e.code, 'SLUICE_CONFIG_INVALID');
    return true;
  });
});

test('jobFromObject: validates like a file and takes a normalized JobConfig back', async () => {
  const loaded = await loadJob(fixture('jobs', 'files.yaml'));
  assert.deepEqual(jobFromObject(loaded), loaded);
  const kafka = await loadJob(fixture('jobs', 'kafka.yaml'));
  assert.deepEqual(jobFromObject(kafka), kafka);

  throwsLine(() => jobFromObject({ ...base(), window: { type: 'tumbling', sizeMs: '60s' } }), '<inline>: window.sizeMs: expected a positive integer, got "60s"');
  throwsLine(() => jobFromObject(base(), { file: 'app.ts' }) && jobFromObject({ ...base(), extra: 1 }, { file: 'app.ts' }), 'app.ts: extra: unknown key; expected one of name, mode, eventId, source, watermark, window, features, model, models, scoring, sink, late, deadLetter, shadow, state, workers, metrics, file');
  const resolved = jobFromObject(base(), { baseDir: '/jobs' });
  assert.equal('source' in resolved.models.default && resolved.models.default.source, '/jobs/m.json');
  assert.deepEqual(resolved.late, { type: 'file', path: '/jobs/out.late.jsonl' });
  // Normalized-only forms stay out of YAML files.
  fails((j) => (j.features[2] = { name: 'p', agg: 'percentile', field: 'amount', q: 0.9 }), 'job.yaml: features[2].q: unknown key; expected one of name, agg, field, transform, compression');
});

test('mode, eventId and transforms (SPEC §13): each kind of bad is an error naming the place', () => {
  const perEvent = (j: Obj) => (j.mode = 'per-event');
  fails((j) => delete j.features[1].agg, "job.yaml: features[1].agg: missing; expected one of count, sum, mean, min, max, stddev or a percentile pNN / pNN.N with 0 < NN < 100 (p50, p95, p99.9); a feature without agg (the event's own value) needs mode: per-event");
  fails((j) => (j.mode = 'streaming'), 'job.yaml: mode: expected one of windows, per-event, got "streaming"');
  fails((j) => (j.eventId = 'id'), "job.yaml: eventId: only with mode: per-event (a per-event result carries the event's id)");
  fails((j) => (perEvent(j), (j.window.earlyEveryMs = 1000)), 'job.yaml: window.earlyEveryMs: early results are for mode: windows; per-event mode already scores every event as it arrives');
  fails((j) => (perEvent(j), (j.sink = { type: 'kafka', topic: 'out', brokers: ['h:1'], keyFormat: 'window' })), "job.yaml: sink.keyFormat: window keys (<key>@<windowStart>) are for mode: windows; a per-event result is keyed by its event's key (keyFormat: key)");
  const t = (transform: unknown) => (j: Obj) => (j.features[1].transform = transform);
  fails(t('sqrt'), 'job.yaml: features[1].transform: expected one of log, log1p, hour, minute, weekday, day, month, length, words, got "sqrt"');
  fails(t({ log: true }), 'job.yaml: features[1].transform.log: unknown key; expected one of standardize, normalize, bucket, category, onehot, hash');
  fails(t({ hash: 4, bucket: [1] }), 'job.yaml: features[1].transform: expected one of log, log1p, hour, minute, weekday, day, month, length, words, or a mapping with one of standardize, normalize, bucket, category, onehot, hash, got {"hash":4,"bucket":[1]}');
  fails(t({ standardize: { mean: 1, std: 0 } }), 'job.yaml: features[1].transform.standardize.std: expected a positive number, got 0');
  fails(t({ normalize: { min: 5, max: 5 } }), 'job.yaml: features[1].transform.normalize.max: expected a finite number above min (5), got 5');
  fails(t({ bucket: [3, 1] }), 'job.yaml: features[1].transform.bucket[1]: expected a number above features[1].transform.bucket[0] (3): bounds ascend, got 1');
  fails(t({ bucket: [] }), 'job.yaml: features[1].transform.bucket: expected a non-empty list of ascending finite numbers, got []');
  fails(t({ category: ['a', 1] }), 'job.yaml: features[1].transform.category[1]: expected a string, got 1');
  fails(t({ onehot: ['a', 'a'] }), 'job.yaml: features[1].transform.onehot[1]: "a" is already features[1].transform.onehot[0]; values must be distinct');
  fails(t({ hash: 0 }), 'job.yaml: features[1].transform.hash: expected an integer from 1 to 2147483648, got 0');
  fails((j) => (j.features[0].transform = 'log'), 'job.yaml: features[0].transform: count takes no transform (it counts the events in the window)');
  // onehot expands into one feature per value; their names must not clash with another feature.
  fails((j) => (perEvent(j), j.features.push({ name: 'c', field: 'ch', transform: { onehot: ['x'] } }, { name: 'c=x', field: 'amount' })), 'job.yaml: features[4].name: "c=x" is already the name of features[3]; names must be unique');
  const job = parseJob(yamlOf((j) => (perEvent(j), j.features.push({ name: 'ch', field: 'channel', transform: { onehot: ['pos', 'atm'] } }), delete j.model.inputs)), 'job.yaml');
  assert.deepEqual(job.features.slice(-2).map((f) => f.name), ['ch=pos', 'ch=atm']);
  assert.equal(job.mode, 'per-event');
  // The JobConfig form comes back as it went (an expanded onehot keeps its index), checked as the
  // written form is; in a file it is not a transform.
  assert.deepEqual(jobFromObject(job), job);
  const normalized = (transform: object) => jobFromObject({ ...base(), features: [{ name: 'a', agg: 'sum', field: 'amount', transform }] });
  throwsLine(() => normalized({ type: 'bucket' }), '<inline>: features[0].transform.bounds: missing; expected the bounds of a bucket transform');
  throwsLine(() => normalized({ type: 'bucket', bounds: [2, 1] }), '<inline>: features[0].transform.bucket[1]: expected a number above features[0].transform.bucket[0] (2): bounds ascend, got 1');
  throwsLine(() => normalized({ type: 'onehot', values: ['x'], index: 1 }), '<inline>: features[0].transform.index: expected an integer from 0 to 0, got 1');
  throwsLine(() => normalized({ type: 'sqrt' }), '<inline>: features[0].transform.type: expected one of log, log1p, hour, minute, weekday, day, month, length, words, or a mapping with one of standardize, normalize, bucket, category, onehot, hash, got "sqrt"');
  fails(t({ type: 'log' }), 'job.yaml: features[1].transform.type: unknown key; expected one of standardize, normalize, bucket, category, onehot, hash');
});
