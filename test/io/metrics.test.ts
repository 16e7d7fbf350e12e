// The metrics endpoint: Prometheus text with sluice_ names, health and readiness.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { startMetricsServer } from '../../src/io/http/metrics-server';

test('metrics, healthz and readyz are served on loopback', async () => {
  const server = await startMetricsServer('127.0.0.1', 0, 'metrics-test');
  try {
    server.metrics.eventsIn(0, 40);
    server.metrics.eventsIn(3, 2);
    server.metrics.deadLetters('decode', 2);
    server.metrics.watermark(Date.now() - 5000);
    const base = `http://127.0.0.1:${server.port}`;
    const text = await (await fetch(`${base}/metrics`)).text();
    assert.match(text, /^sluice_events_in_total\{partition="0",job="metrics-test"\} 40$/m);
    assert.match(text, /^sluice_events_in_total\{partition="3",job="metrics-test"\} 2$/m);
    assert.match(text, /^sluice_dead_letters_total\{reason="decode",job="metrics-test"\} 2$/m);
    const lag = Number(/^sluice_watermark_lag_seconds\{job="metrics-test"\} ([\d.]+)$/m.exec(text)?.[1]);
    assert.ok(lag >= 5 && lag < 60, `lag ${lag}`);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/nope`)).status, 404);
    assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);
  } finally {
    await server.close();
  }
});

test('a port in use is a clear error', async () => {
  const first = await startMetricsServer('127.0.0.1', 0, 'a');
  try {
    await assert.rejects(startMetricsServer('127.0.0.1', first.port, 'b'), /metrics endpoint: cannot listen on 127\.0\.0\.1:\d+ \(EADDRINUSE\); set metrics\.port/);
  } finally {
    await first.close();
  }
});

test('/readyz is not ready until the job is reading, and not after it stops', async () => {
  const server = await startMetricsServer('127.0.0.1', 0, 'ready-test');
  try {
    const ready = async () => (await fetch(`http://127.0.0.1:${server.port}/readyz`)).status;
    assert.equal(await ready(), 503);
    server.metrics.ready(true);
    assert.equal(await ready(), 200);
    server.metrics.ready(false);
    assert.equal(await ready(), 503);
  } finally {
    await server.close();
  }
});

test('revisions, retractions and open windows are exported', async () => {
  const server = await startMetricsServer('127.0.0.1', 0, 'm');
  try {
    server.metrics.revisions(3);
    server.metrics.retractions(2);
    server.metrics.openWindows(1234);
    const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    assert.match(text, /^sluice_window_revisions_total\{job="m"\} 3$/m);
    assert.match(text, /^sluice_window_retractions_total\{job="m"\} 2$/m);
    assert.match(text, /^sluice_open_windows\{job="m"\} 1234$/m);
  } finally {
    await server.close();
  }
});

test('/healthz answers 503 after the event loop was blocked for 5 s, and 200 again after', async () => {
  const server = await startMetricsServer('127.0.0.1', 0, 'health-test');
  try {
    const health = async () => {
      const r = await fetch(`http://127.0.0.1:${server.port}/healthz`);
      return `${r.status} ${(await r.text()).trim()}`;
    };
    assert.equal(await health(), '200 ok');
    const until = Date.now() + 5200;
    while (Date.now() < until); // a hung main thread
    assert.match(await health(), /^503 event loop blocked for \d{4} ms$/);
    assert.equal(await health(), '200 ok', 'each probe covers the time since the last one');
  } finally {
    await server.close();
  }
});
