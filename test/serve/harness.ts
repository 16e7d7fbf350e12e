// What the serve tests share: a server in this process from a serve.yaml object, and requests.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readServeConfig, type ServeConfig } from '../../src/serve/config';
import { startServer, type Server } from '../../src/serve/server';

export interface Running {
  server: Server;
  url: string;
  config: ServeConfig;
  dir: string;
  close(): Promise<void>;
}

/** Starts `sluice serve` on a free port with this serve.yaml (relative paths: from `baseDir`). */
export async function serve(yaml: Record<string, unknown>, opts: { baseDir?: string; waitLoaded?: boolean } = {}): Promise<Running> {
  const dir = opts.baseDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-serve-test-'));
  const http = { port: 0, ...((yaml.http as object) ?? {}) };
  const config = readServeConfig({ workers: { threads: 1 }, ...yaml, http }, 'serve.yaml', { baseDir: dir });
  const server = await startServer(config);
  if (opts.waitLoaded !== false) {
    await server.loaded.catch(async (e) => {
      await server.close();
      throw e;
    });
  }
  return { server, url: `http://127.0.0.1:${server.port}`, config, dir, close: () => server.close() };
}

export interface Answer {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: Headers;
}

export async function get(url: string): Promise<Answer> {
  const res = await fetch(url);
  const text = await res.text();
  return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : text, headers: res.headers };
}

export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text), headers: res.headers };
}

/** One [N, F] input, nested. */
export const matrixBody = (rows: Array<Array<number | null>>, extra: object = {}) => ({ ...extra, inputs: [{ name: 'input', shape: [rows.length, rows[0]?.length ?? 0], datatype: 'FP32', data: rows }] });

/** Float32 equality of an answer's scores with expected ones (xgboost's own, as float32). */
export function sameScores(got: number[], expected: number[], what: string): void {
  if (got.length !== expected.length) throw new Error(`${what}: ${got.length} scores, expected ${expected.length}`);
  got.forEach((g, i) => {
    if (Math.fround(g) !== Math.fround(expected[i]) && Math.abs(g - expected[i]) > 1e-6 * Math.max(1, Math.abs(expected[i]))) throw new Error(`${what}: row ${i}: ${g}, expected ${expected[i]}`);
  });
}
