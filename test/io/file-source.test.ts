// The file source: round-robin one record per file, blank lines skipped, CRLF and a last line
// without a newline handled, lines split across read chunks joined, offsets = line numbers.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { messageText, type RawBatch } from '../../src/decode/raw-batch';
import { FileSource } from '../../src/io/sources/file';

async function readAll(paths: string[], batchSize: number) {
  const src = new FileSource({ type: 'file', key: 'k', timestamp: 't', format: 'json', maxMessageBytes: 1 << 20, paths }, path.dirname(paths[0]));
  const records: Array<[number, number, string, string]> = [];
  const finished: Array<[number, number]> = [];
  let seen = 0;
  for await (const b of src.batches(batchSize) as AsyncIterable<RawBatch>) {
    for (const f of b.finished) finished.push([f.partition, seen + f.before]);
    for (let i = 0; i < b.count; i++) records.push([b.partition[i], b.offset[i], messageText(b, i), b.topicOf(b.partition[i])]);
    seen += b.count;
  }
  await src.close();
  return { records, finished };
}

test('files interleave one record at a time; blank lines, CRLF and a missing last newline', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-file-'));
  fs.writeFileSync(path.join(dir, 'a.jsonl'), 'a0\r\n\n  \r\na3\na4');
  fs.writeFileSync(path.join(dir, 'b.jsonl'), 'b0\nb1\nb2\nb3\n');
  for (const batchSize of [1, 2, 100]) {
    const { records, finished } = await readAll([path.join(dir, 'a.jsonl'), path.join(dir, 'b.jsonl')], batchSize);
    assert.deepEqual(records, [
      [0, 0, 'a0', 'a.jsonl'], [1, 0, 'b0', 'b.jsonl'],
      [0, 3, 'a3', 'a.jsonl'], [1, 1, 'b1', 'b.jsonl'],
      [0, 4, 'a4', 'a.jsonl'], [1, 2, 'b2', 'b.jsonl'],
      [1, 3, 'b3', 'b.jsonl'],
    ]);
    assert.deepEqual(finished, [[0, 6], [1, 7]], `batch size ${batchSize}`);
  }
});

test('lines longer than a read chunk, and many of them, come through whole', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-file-'));
  const lines = Array.from({ length: 3000 }, (_, i) => `{"i":${i},"pad":"${'x'.repeat((i * 7919) % 700)}"}`);
  lines[1234] = `{"long":"${'y'.repeat(600_000)}"}`;
  fs.writeFileSync(path.join(dir, 'big.jsonl'), lines.join('\n') + '\n');
  const { records } = await readAll([path.join(dir, 'big.jsonl')], 500);
  assert.equal(records.length, lines.length);
  records.forEach(([, offset, text], i) => {
    assert.equal(offset, i);
    assert.equal(text, lines[i]);
  });
});
