#!/usr/bin/env node
// Embedding sluice in an app: an HTTP endpoint that scores posted feature rows with a ScoringPool,
// and (optionally) a streaming job running beside it with runJob.
//
//   node examples/embed/server.js <model.json> [port] [job.yaml]
//   curl -s localhost:8080/score -d '{"rows": [[1, 2, 3, ...], [...]]}'
//
// Many concurrent requests are coalesced into larger model calls on worker threads; when the
// pool's queue is full, requests wait (back-pressure) instead of piling up.
'use strict';
const http = require('node:http');
// In an app: require('sluice'). Here, the repository's build.
const { ScoringPool, runJob } = require('../../dist/src/index.js');

async function main() {
  const [modelPath, port = '8080', jobFile] = process.argv.slice(2);
  if (!modelPath) {
    console.error('usage: node examples/embed/server.js <model.json> [port] [job.yaml]');
    process.exit(2);
  }
  const pool = new ScoringPool({ model: modelPath, threads: 1 });
  const { numFeatures, numOutputs } = await pool.model();
  const job = jobFile ? runJob(jobFile) : null;

  const server = http.createServer(async (req, res) => {
    if (req.method !== 'POST' || req.url !== '/score') return res.writeHead(404).end();
    let body = '';
    for await (const chunk of req) body += chunk;
    try {
      const { rows } = JSON.parse(body);
      if (!Array.isArray(rows) || rows.some((r) => !Array.isArray(r) || r.length !== numFeatures)) {
        return res.writeHead(400).end(JSON.stringify({ error: `expected {"rows": [[${numFeatures} numbers], ...]}` }));
      }
      const flat = new Float32Array(rows.length * numFeatures);
      rows.forEach((r, i) => r.forEach((v, j) => (flat[i * numFeatures + j] = v === null ? NaN : v)));
      const scores = await pool.score(flat, rows.length);
      const out = rows.map((_, i) => (numOutputs === 1 ? scores[i] : Array.from(scores.subarray(i * numOutputs, (i + 1) * numOutputs))));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ scores: out }));
    } catch (e) {
      res.writeHead(400).end(JSON.stringify({ error: e.message }));
    }
  });
  server.listen(Number(port), '127.0.0.1', () => console.log(`listening on 127.0.0.1:${server.address().port}`));

  const shutdown = async () => {
    server.close();
    if (job) await job.stop();
    await pool.close();
    process.exit(0);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main().catch((e) => {
  console.error(`embed: ${e.message}`);
  process.exit(1);
});
