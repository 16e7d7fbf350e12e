#!/usr/bin/env node
// Writes the example job's generator events as JSON Lines, with a second file of fraud labels
// (1 = part of a burst), for train.py. Needs `npm run build` first.
//   node examples/card-fraud/dump-events.js <events> <out.jsonl> <labels.txt>
'use strict';
const fs = require('node:fs');
const { GeneratorSource } = require('../../dist/src/io/sources/generator.js');

async function main() {
  const [events, out, labelsOut] = process.argv.slice(2);
  const source = new GeneratorSource(
    { type: 'generator', key: 'card', timestamp: 'ts', format: 'json', events: Number(events), keys: 10000, seed: 7, eventTimeStepMs: 0.05, outOfOrderMs: 2000, partitions: 1, startTimeMs: 1700000000000, fraudShare: 0.01 },
    { labels: true },
  );
  const lines = fs.createWriteStream(out);
  const labels = fs.createWriteStream(labelsOut);
  for await (const b of source.batches(65536)) {
    for (let i = 0; i < b.count; i++) lines.write(Buffer.from(b.data.subarray(b.starts[i], b.ends[i])).toString() + '\n');
    labels.write(Array.from(b.fraud).join('\n') + '\n');
  }
  await Promise.all([new Promise((r) => lines.end(r)), new Promise((r) => labels.end(r))]);
}
main();
