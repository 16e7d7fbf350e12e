// SPEC §14 `sluice serve` against a hand-written node:http scoring server (bench/peers/naive-serve.ts),
// both answering Open Inference Protocol v2 infer requests for the bench models:
//   1. requests/s under wrk (64 keep-alive connections), 100-row requests to depth 8 x 500 trees;
//   2. the same with 1-row requests to depth 6 x 100 trees;
//   3. p50/p99 latency of both at half of sluice's peak from case 1 and 2, from an open-loop
//      generator (fixed schedule, latency from the scheduled send, so a stall is not hidden);
//   4. case 1's rows/s over HTTP against predictSync's on 100-row batches in this process.
// Each server runs alone, in a fresh process per trial, the two alternating; each trial first
// checks every request body's scores against predictSync, so a wrong server cannot win.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { alternating, BENCH_FEATURES as F, BENCH_ROWS_FILE, ensureBenchModels, median, readRows } from '../common';
import type { BenchContext, Suite, SuiteResult } from '../harness';
import { freePort } from '../kafka-runs';
import { openLoop, openLoopTool, type OpenLoopResult } from '../serve-load';
import type { Model } from '../../src/scoring/model';

export const serveSuite: Suite = {
  name: 'serve',
  description: 'sluice serve (OIP v2 REST) vs a one-thread node:http + predictSync server: requests/s, p99 at half load',
  run,
};

const HOST = '127.0.0.1';
const CASES = [
  { model: 'd8x500', label: '100-row requests, depth 8 x 500 trees', batchRows: 100, goal: 2 },
  { model: 'd6x100', label: '1-row requests, depth 6 x 100 trees', batchRows: 1, goal: 1 },
];
/** wrk's load: 64 keep-alive connections on 2 threads (the machine has 2 cores). */
const WRK = { connections: 64, threads: 2 };
/** Distinct request bodies a case cycles through, so that no server can answer from a cache. */
const BODIES = 32;
/** Scores must equal predictSync's within this, relative (the same evaluator gives the same float32). */
const PARITY = 1e-6;
/** SPEC-less goal from the issue: p99 at half of sluice's peak rate. */
const P99_GOAL_MS = 10;
const FULL = { seconds: 10, trials: 3, inProcessMs: 2000 };
const QUICK = { seconds: 2, trials: 1, inProcessMs: 500 };
/** Warm-up before every timed load (JIT, sockets), not counted. */
const WARMUP_SECONDS = 1;
const READY_TIMEOUT_MS = 60_000;
const EXIT_TIMEOUT_MS = 15_000;

interface Server {
  name: string;
  argv(modelPath: string, port: number): string[];
}

interface WrkResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  non2xx: number;
  socketErrors: string | null;
}


async function run(ctx: BenchContext): Promise<SuiteResult> {
  const { seconds, trials } = ctx.quick ? QUICK : FULL;
  ensureBenchModels(ctx);
  const bin = path.join(ctx.rootDir, 'bin', 'sluice.js');
  checkTools(bin);
  const dir = path.join(ctx.cacheDir, 'serve');
  fs.mkdirSync(dir, { recursive: true });
  const sluice: Server = { name: 'sluice serve', argv: (m, p) => [bin, 'serve', '--model', m, '--host', HOST, '--port', String(p)] };
  // The same with every batch on a worker (batching.inlineMaxUs: 0, docs/serve.md): what scoring
  // cheap batches on the main thread gains or costs.
  const workersOnly = path.join(dir, 'workers-only.yaml');
  fs.writeFileSync(workersOnly, 'batching: { inlineMaxUs: 0 }\n');
  const sluiceWorkers: Server = { name: 'sluice serve, inlineMaxUs 0', argv: (m, p) => [bin, 'serve', workersOnly, '--model', m, '--host', HOST, '--port', String(p)] };
  const naive: Server = { name: 'naive', argv: (m, p) => [path.join(ctx.rootDir, 'dist', 'bench', 'peers', 'naive-serve.js'), '--model', m, '--host', HOST, '--port', String(p)] };
  const out: SuiteResult = { suite: 'serve', rows: [], notes: [] };
  const failures: string[] = [];
  try {
    for (const c of CASES) await runCase(ctx, c, { sluice, sluiceWorkers, naive }, dir, out, failures);
  } finally {
    killServers();
  }
  out.notes.push(
    `each trial a fresh server process (sluice: \`sluice serve --model <file> --host ${HOST} --port P\`, defaults otherwise (batching.maxDelayMs 2, inlineMaxUs 50), and once more with a serve.yaml of batching: { inlineMaxUs: 0 }; naive: bench/peers/naive-serve.ts), ` +
      `ready once GET /v2/health/ready answers 200, stopped with SIGTERM (exit 0 expected); the two alternate, never at once, median of ${trials} trial${trials > 1 ? 's' : ''} of ${seconds} s after a ${WARMUP_SECONDS} s warm-up`,
  );
  out.notes.push(
    `load: wrk -t ${WRK.threads} -c ${WRK.connections} --latency, POST of ${BODIES} distinct OIP bodies in turn (one FP32 input [N,${F}] of consecutive rows of ${BENCH_ROWS_FILE}, ~2% NaN sent as null, 9 significant digits); ` +
      `open loop: bench/peers/open-loop.c (C, epoll: a few µs of a core a request, where a Node generator took ~50), ${WRK.connections} keep-alive connections (a request each at a time, as http.Agent), requests on a fixed schedule, latency from the scheduled send to the end of the answer (coordinated-omission safe); ` +
      `server, load generator and bench share the machine's cores`,
  );
  out.notes.push(`correctness: before each trial every body's scores equal this process's predictSync within ${PARITY.toExponential()} relative (${CASES.length} models x 3 servers x ${trials * 2} trials x ${BODIES} bodies, all passed)`);
  out.notes.push(failures.length === 0 ? 'no non-2xx answers, socket errors or bad exits' : `FAILURES: ${failures.join('; ')}`);
  return out;
}

/** One model and request size: requests/s under wrk, then p50/p99 at half of sluice's peak, then
 *  (100-row requests) rows/s over HTTP against in-process. Rows and notes go to `out`. */
async function runCase(ctx: BenchContext, c: (typeof CASES)[number], servers: { sluice: Server; sluiceWorkers: Server; naive: Server }, dir: string, out: SuiteResult, failures: string[]): Promise<void> {
  const { seconds, trials, inProcessMs } = ctx.quick ? QUICK : FULL;
  const { sluice, sluiceWorkers, naive } = servers;
  const peerName = 'naive node:http + predictSync, 1 thread';
  const { loadModel } = await import('../../src/scoring/load-model');
  const modelPath = path.join(ctx.cacheDir, `${c.model}.json`);
  const model = await loadModel(modelPath);
  const all = readRows(path.join(ctx.cacheDir, BENCH_ROWS_FILE), 10_000);
  const bodies = makeBodies(all, c.batchRows, model);
  const script = path.join(dir, `${c.model}-${c.batchRows}.lua`);
  fs.writeFileSync(script, wrkScript(bodies.map((b) => b.json)));
  const infer = `/v2/models/${c.model}/infer`;
  const tag = `${c.label} (${c.model})`;
  // Each step: a fresh server, its answers checked, the load, SIGTERM.
  const step = (server: Server, load: (port: number) => Promise<void>) => () =>
    withServer(server, modelPath, failures, async (port) => {
      await checkAnswers(server, port, infer, bodies, tag);
      await load(port);
    });

  // Cases 1 and 2: requests/s under wrk.
  const tp = new Map<Server, WrkResult[]>([[sluice, []], [sluiceWorkers, []], [naive, []]]);
  const wrkStep = (server: Server) =>
    step(server, async (port) => {
      const url = `http://${HOST}:${port}${infer}`;
      await runWrk(script, url, WARMUP_SECONDS);
      const r = await runWrk(script, url, seconds);
      if (r.non2xx > 0) failures.push(`${tag}: ${server.name} answered ${r.non2xx} of ${r.requests} wrk requests with a non-2xx status`);
      if (r.socketErrors) failures.push(`${tag}: ${server.name} under wrk: socket errors ${r.socketErrors}`);
      tp.get(server)!.push(r);
    });
  await alternating(ctx, `${c.model} requests/s`, trials, [wrkStep(sluice), wrkStep(sluiceWorkers), wrkStep(naive)]);
  const wrkMedian = (s: Server, f: (r: WrkResult) => number) => median(tp.get(s)!.map(f));
  const rps = (s: Server) => wrkMedian(s, (r) => r.rps);
  const ratio = rps(sluice) / rps(naive);
  out.rows.push({ case: tag, metric: `requests/s (wrk -c ${WRK.connections})`, ours: rps(sluice), peer: rps(naive), peerName, higherIsBetter: true });
  const ratioWorkers = rps(sluiceWorkers) / rps(naive);
  out.rows.push({ case: `${tag}, sluice with inlineMaxUs 0`, metric: `requests/s (wrk -c ${WRK.connections})`, ours: rps(sluiceWorkers), peer: rps(naive), peerName, higherIsBetter: true });
  out.notes.push(`${tag}: requests/s per trial: sluice ${list(tp.get(sluice)!.map((r) => r.rps))}; sluice with inlineMaxUs 0 ${list(tp.get(sluiceWorkers)!.map((r) => r.rps))}; naive ${list(tp.get(naive)!.map((r) => r.rps))}; goal >= ${c.goal}x: ${ratio >= c.goal ? 'met' : 'NOT met'} (${ratio.toFixed(2)}x; ${ratioWorkers.toFixed(2)}x with inlineMaxUs 0)`);
  out.notes.push(`${tag}: wrk's own latency at saturation, median p50/p99 ms: sluice ${fmt(wrkMedian(sluice, (r) => r.p50Ms))}/${fmt(wrkMedian(sluice, (r) => r.p99Ms))}; naive ${fmt(wrkMedian(naive, (r) => r.p50Ms))}/${fmt(wrkMedian(naive, (r) => r.p99Ms))}`);

  // Case 3: both servers at half of sluice's peak, open loop.
  const rate = Math.max(1, Math.round(rps(sluice) / 2));
  const lat = new Map<Server, OpenLoopResult[]>([[sluice, []], [sluiceWorkers, []], [naive, []]]);
  const openStep = (server: Server) =>
    step(server, async (port) => {
      const r = await openLoop(openLoopTool(ctx), dir, { host: HOST, port, path: infer, bodies: bodies.map((b) => b.json), rate, seconds, warmupSeconds: WARMUP_SECONDS, connections: WRK.connections });
      if (r.non2xx > 0 || r.failed > 0) failures.push(`${tag} at ${rate} req/s: ${server.name}: ${r.non2xx} non-2xx, ${r.failed} failed or unanswered of ${r.sent}`);
      lat.get(server)!.push(r);
    });
  await alternating(ctx, `${c.model} p99 at ${rate} req/s`, trials, [openStep(sluice), openStep(sluiceWorkers), openStep(naive)]);
  const at = `${tag}, ${rate.toLocaleString('en-US')} req/s (half sluice's peak)`;
  const latMedian = (s: Server, f: (r: OpenLoopResult) => number) => median(lat.get(s)!.map(f));
  const each = (s: Server, f: (r: OpenLoopResult) => number) => list(lat.get(s)!.map(f), 2);
  out.rows.push({ case: at, metric: 'p50 ms (open loop)', ours: latMedian(sluice, (r) => r.p50Ms), peer: latMedian(naive, (r) => r.p50Ms), peerName, higherIsBetter: false });
  out.rows.push({ case: at, metric: 'p99 ms (open loop)', ours: latMedian(sluice, (r) => r.p99Ms), peer: latMedian(naive, (r) => r.p99Ms), peerName, higherIsBetter: false });
  out.rows.push({ case: `${at}, sluice with inlineMaxUs 0`, metric: 'p99 ms (open loop)', ours: latMedian(sluiceWorkers, (r) => r.p99Ms), peer: latMedian(naive, (r) => r.p99Ms), peerName, higherIsBetter: false });
  out.notes.push(`${at}: p50 / p99 ms of sluice with inlineMaxUs 0: ${fmt(latMedian(sluiceWorkers, (r) => r.p50Ms))} / ${fmt(latMedian(sluiceWorkers, (r) => r.p99Ms))}`);
  out.notes.push(`${at}: p99 ms per trial: sluice ${each(sluice, (r) => r.p99Ms)}, naive ${each(naive, (r) => r.p99Ms)}; max ms: sluice ${each(sluice, (r) => r.maxMs)}, naive ${each(naive, (r) => r.maxMs)}; sluice p99 goal <= ${P99_GOAL_MS} ms: ${latMedian(sluice, (r) => r.p99Ms) <= P99_GOAL_MS ? 'met' : 'NOT met'}`);
  out.notes.push(`${at}: the generator's own send lag p99 ms (late against its schedule, counted in the latency): sluice trials ${each(sluice, (r) => r.sendLagP99Ms)}, naive trials ${each(naive, (r) => r.sendLagP99Ms)}`);

  // Case 4: what HTTP costs, against the same model scoring the same batches in this process.
  if (c.batchRows === 100) {
    const inProc = inProcessRowsPerSecond(model, all, c.batchRows, inProcessMs, trials);
    const httpRows = (s: Server) => rps(s) * c.batchRows;
    const share = (s: Server) => `${Math.round(httpRows(s)).toLocaleString('en-US')} (${((httpRows(s) / inProc) * 100).toFixed(0)}% of in-process)`;
    out.rows.push({ case: tag, metric: 'rows/s over HTTP vs in-process', ours: httpRows(sluice), peer: inProc, peerName: `predictSync, ${c.batchRows}-row batches, this process, 1 thread`, higherIsBetter: true });
    out.notes.push(`${tag}: rows/s over HTTP: sluice ${share(sluice)}, naive ${share(naive)}; predictSync in-process ${Math.round(inProc).toLocaleString('en-US')} (median of ${trials} run${trials > 1 ? 's' : ''} of ${inProcessMs} ms)`);
  }
}

// ---- servers -----------------------------------------------------------------------------------

const running = new Set<ChildProcess>();

function killServers(): void {
  for (const child of running) child.kill('SIGKILL');
}

function checkTools(bin: string): void {
  const wrk = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
  if (wrk.error) throw new Error(`wrk is needed for the serve suite (Debian: apt-get install wrk): ${wrk.error.message}`);
  const help = spawnSync(process.execPath, [bin, 'serve', '--help'], { encoding: 'utf8' });
  if (help.status !== 0) throw new Error(`\`sluice serve --help\` exited ${help.status ?? help.signal}; is sluice serve built? ${(help.stderr ?? '').trim().split('\n')[0]}`);
}

/** Starts the server on a free port, waits until it is ready, runs `body`, SIGTERMs it and
 *  checks that it exits 0 (a failure otherwise). */
async function withServer(server: Server, modelPath: string, failures: string[], body: (port: number) => Promise<void>): Promise<void> {
  const port = await freePort();
  const child = spawn(process.execPath, server.argv(modelPath, port), { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  let stderrTail = '';
  child.stderr!.on('data', (d: Buffer) => void (stderrTail = (stderrTail + d.toString('utf8')).slice(-2000)));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  const describe = () => `${server.name} (${path.basename(modelPath)}): ${stderrTail.trim().split('\n').slice(-3).join(' / ')}`;
  try {
    await waitReady(port, exited, describe);
    await body(port);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_TIMEOUT_MS);
    const code = await exited;
    clearTimeout(timer);
    running.delete(child);
    if (code !== 0 && code !== 'SIGKILL') failures.push(`${server.name} exited ${code} on SIGTERM: ${describe()}`);
    if (code === 'SIGKILL') failures.push(`${server.name} was killed (did not exit within ${EXIT_TIMEOUT_MS} ms of SIGTERM, or a check failed)`);
  }
}

async function waitReady(port: number, exited: Promise<number | string>, describe: () => string): Promise<void> {
  const state: { exit: number | string | null } = { exit: null };
  void exited.then((c) => (state.exit = c));
  const deadline = performance.now() + READY_TIMEOUT_MS;
  while (performance.now() < deadline) {
    if (state.exit !== null) throw new Error(`${describe()}: exited ${state.exit} before it was ready`);
    const status = await get(port, '/v2/health/ready').catch(() => 0);
    if (status === 200) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${describe()}: not ready within ${READY_TIMEOUT_MS} ms`);
}

function get(port: number, urlPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: HOST, port, path: urlPath, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
}

// ---- request bodies and the correctness check --------------------------------------------------

interface Body {
  json: string;
  rows: number;
  expected: Float32Array;
}

/** BODIES requests of `batchRows` consecutive rows each, with predictSync's scores for them.
 *  9 significant digits give back the same float32, so the server sees exactly these rows. */
function makeBodies(all: Float32Array, batchRows: number, model: Model): Body[] {
  const out: Body[] = [];
  for (let b = 0; b < BODIES; b++) {
    const rows = all.subarray(b * batchRows * F, (b + 1) * batchRows * F);
    const data = Array.from(rows, (v) => (Number.isNaN(v) ? null : Number(v.toPrecision(9))));
    const json = JSON.stringify({ inputs: [{ name: 'input', shape: [batchRows, F], datatype: 'FP32', data }] });
    out.push({ json, rows: batchRows, expected: model.predictSync!(rows, batchRows) });
  }
  return out;
}

async function checkAnswers(server: Server, port: number, infer: string, bodies: Body[], tag: string): Promise<void> {
  for (const [i, b] of bodies.entries()) {
    const { status, text } = await post(port, infer, b.json);
    const where = `${tag}: ${server.name}, body ${i}`;
    if (status !== 200) throw new Error(`${where}: status ${status}: ${text.slice(0, 200)}`);
    const out = (JSON.parse(text) as { outputs?: Array<{ shape?: number[]; data?: Array<number | null> }> }).outputs?.[0];
    const data = out?.data ?? [];
    if (data.length !== b.expected.length || out?.shape?.[0] !== b.rows) {
      throw new Error(`${where}: expected ${b.expected.length} scores in shape [${b.rows},${b.expected.length / b.rows}], got ${data.length} in ${JSON.stringify(out?.shape)}`);
    }
    for (let j = 0; j < data.length; j++) {
      const got = data[j] ?? NaN; // null is how JSON says NaN
      const want = b.expected[j];
      const same = Number.isNaN(want) ? Number.isNaN(got) : Math.abs(got - want) <= PARITY * Math.abs(want);
      if (!same) {
        throw new Error(`${where}: score ${j} is ${data[j]}, predictSync gives ${want}; a server with wrong scores is not benchmarked`);
      }
    }
  }
}

function post(port: number, urlPath: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port, path: urlPath, method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

// ---- wrk ---------------------------------------------------------------------------------------

/** A wrk script that POSTs the bodies in turn, each request formatted once up front. */
function wrkScript(bodies: string[]): string {
  const literals = bodies.map((b) => `  [==[${b}]==],`).join('\n');
  return `-- written by bench/suites/serve.ts for each run
local bodies = {
${literals}
}
local requests = {}
local i = 0
function init(args)
  for k, b in ipairs(bodies) do
    requests[k] = wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, b)
  end
end
function request()
  i = i % #requests + 1
  return requests[i]
end
`;
}

function runWrk(script: string, url: string, seconds: number): Promise<WrkResult> {
  const args = ['-t', String(WRK.threads), '-c', String(WRK.connections), '-d', `${seconds}s`, '--latency', '-s', script, url];
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`wrk ${args.join(' ')} exited ${code}: ${out.trim()}`));
      try {
        resolve(parseWrk(out));
      } catch (e) {
        reject(e);
      }
    });
  });
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function parseWrk(out: string): WrkResult {
  const num = (re: RegExp) => {
    const m = re.exec(out);
    if (!m) throw new Error(`wrk's output has no ${re.source}:\n${out}`);
    return m;
  };
  const latency = (pct: string) => {
    const m = num(new RegExp(`^\\s+${pct}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm'));
    return Number(m[1]) * UNIT_MS[m[2]];
  };
  const errors = /Socket errors: (.*)/.exec(out);
  return {
    rps: Number(num(/Requests\/sec:\s+([\d.]+)/)[1]),
    p50Ms: latency('50'),
    p99Ms: latency('99'),
    requests: Number(num(/(\d+) requests in /)[1]),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    socketErrors: errors ? errors[1].trim() : null,
  };
}

function inProcessRowsPerSecond(model: Model, all: Float32Array, batchRows: number, runMs: number, runs: number): number {
  const batches = all.length / F / batchRows;
  const rates: number[] = [];
  for (let i = 0; i < batches; i++) model.predictSync!(all.subarray(i * batchRows * F, (i + 1) * batchRows * F), batchRows); // warm-up
  for (let r = 0; r < runs; r++) {
    let scored = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < runMs) {
      const i = (scored / batchRows) % batches;
      model.predictSync!(all.subarray(i * batchRows * F, (i + 1) * batchRows * F), batchRows);
      scored += batchRows;
    }
    rates.push(scored / ((performance.now() - t0) / 1000));
  }
  return median(rates);
}

function list(values: number[], digits = 0): string {
  return values.map((v) => v.toLocaleString('en-US', { maximumFractionDigits: digits })).join(', ');
}

function fmt(ms: number): string {
  return ms.toFixed(2);
}
