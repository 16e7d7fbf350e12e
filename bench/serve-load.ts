// The serve suite's open-loop load (bench/suites/serve.ts): requests on a fixed schedule over
// keep-alive HTTP/1.1 connections, latency from each request's scheduled send, so a stalled
// server cannot hide its stall by slowing the sender down (coordinated omission). The sending is
// bench/peers/open-loop.c: it shares the machine's two cores with the server it measures, where a
// Node generator took ~50 µs of a core a request (a third of a core at 1-row requests' half load).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compileC } from './common';
import type { BenchContext } from './harness';

export interface OpenLoopResult {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  sent: number;
  non2xx: number;
  failed: number;
  /** p99 of how late the generator sent a request against its schedule. */
  sendLagP99Ms: number;
}

export interface OpenLoad {
  host: string;
  port: number;
  /** The POST path (/v2/models/m/infer). */
  path: string;
  /** JSON bodies, sent in turn. */
  bodies: string[];
  rate: number;
  seconds: number;
  warmupSeconds: number;
  connections: number;
}

/** The generator, compiled into the bench cache (needs cc). */
export function openLoopTool(ctx: BenchContext): string {
  const built = compileC(ctx, path.join(ctx.rootDir, 'bench', 'peers', 'open-loop.c'), [], 'a C compiler');
  if ('skipped' in built) throw new Error(`the serve suite's open-loop load generator: ${built.skipped}`);
  return built.exe;
}

/** Sends `rate` requests a second on a fixed schedule for a warm-up then `seconds`, whatever the
 *  answers do, each on the first idle one of `connections` keep-alive connections (or queued for
 *  one, as http.Agent would); latency from its scheduled send, for the timed part only. */
export async function openLoop(tool: string, dir: string, load: OpenLoad): Promise<OpenLoopResult> {
  const { host, port } = load;
  const requests = path.join(dir, 'open-loop-requests.bin');
  const parts: Buffer[] = [];
  for (const json of load.bodies) {
    const request = Buffer.from(`POST ${load.path} HTTP/1.1\r\nHost: ${host}:${port}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`);
    const length = Buffer.alloc(4);
    length.writeUInt32LE(request.length, 0);
    parts.push(length, request);
  }
  fs.writeFileSync(requests, Buffer.concat(parts));
  const args = [host, String(port), requests, String(load.rate), String(load.seconds), String(load.warmupSeconds), String(load.connections)];
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`${path.basename(tool)} ${args.join(' ')} exited ${code}: ${err.trim()}`));
      try {
        resolve(JSON.parse(out) as OpenLoopResult);
      } catch (e) {
        reject(new Error(`${path.basename(tool)} printed no result: ${out.trim()} ${err.trim()} (${(e as Error).message})`));
      }
    });
  });
}
