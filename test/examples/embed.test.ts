// examples/embed/server.js as a user would run it: POST rows, get xgboost's scores back.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixture, repoRoot } from '../helpers/paths';

test('the embed example scores posted rows like xgboost does', async () => {
  const exp = JSON.parse(fs.readFileSync(fixture('xgboost', 'binary_logistic.expected.json'), 'utf8'));
  const child = spawn(process.execPath, [path.join(repoRoot, 'examples', 'embed', 'server.js'), fixture('xgboost', exp.model), '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        const m = /listening on 127\.0\.0\.1:(\d+)/.exec(d.toString());
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    });
    const res = await fetch(`http://127.0.0.1:${port}/score`, { method: 'POST', body: JSON.stringify({ rows: exp.rows }) });
    assert.equal(res.status, 200);
    const { scores } = (await res.json()) as { scores: number[] };
    scores.forEach((s, i) => assert.ok(Math.abs(s - exp.predictions[i][0]) <= 1e-6, `row ${i}`));
    const bad = await fetch(`http://127.0.0.1:${port}/score`, { method: 'POST', body: '{"rows": [[1]]}' });
    assert.equal(bad.status, 400);
  } finally {
    child.kill('SIGTERM');
  }
});
