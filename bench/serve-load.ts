// The serve suite's open-loop load (bench/suites/serve.ts): requests on a fixed schedule over
// raw keep-alive HTTP/1.1 connections, latency from each request's scheduled send, so a stalled
// server cannot hide its stall by slowing the sender down (coordinated omission).
import * as net from 'node:net';
import * as hdr from 'hdr-histogram-js';

export interface OpenLoopResult {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  sent: number;
  non2xx: number;
  failed: number;
  /** p99 of how late this process sent a request against its schedule. */
  sendLagP99Ms: number;
}

/** An open-loop request still unanswered this long after the schedule ended is given up on. */
const DRAIN_MS = 10_000;

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

/** Sends `rate` requests a second on a fixed schedule for a warm-up then `seconds`, whatever the
 *  answers do, each on the first idle one of `connections` keep-alive connections (or queued
 *  for one, as http.Agent would); records each answer's latency from its scheduled send, for the
 *  timed part only. */
export async function openLoop(load: OpenLoad): Promise<OpenLoopResult> {
  const { host, port, rate, seconds } = load;
  const requests = load.bodies.map((json) => Buffer.from(`POST ${load.path} HTTP/1.1\r\nHost: ${host}:${port}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`));
  const latency = hdr.build();
  const sendLag = hdr.build();
  const intervalMs = 1000 / rate;
  const warmup = Math.round(rate * load.warmupSeconds);
  const total = warmup + Math.round(rate * seconds);
  let done = 0;
  let non2xx = 0;
  let failed = 0;
  let allDone: () => void = () => {};
  const finished = new Promise<void>((r) => (allDone = r));
  const record = (i: number, scheduledMs: number, status: number) => {
    if (i >= warmup) {
      latency.recordValue(Math.max(1, Math.round((performance.now() - scheduledMs) * 1000)));
      if (status === 0) failed++;
      else if (status < 200 || status > 299) non2xx++;
    }
    if (++done === total) allDone();
  };
  const waiting: Array<{ i: number; scheduledMs: number }> = [];
  let nextWaiting = 0;
  const idle: RawConnection[] = [];
  let stopping = false;
  const dispatch = (conn: RawConnection, i: number, scheduledMs: number) => {
    if (!conn.open) conn = connect(); // the server closed it while it was idle
    if (i >= warmup) sendLag.recordValue(Math.max(1, Math.round((performance.now() - scheduledMs) * 1000)));
    conn.send(requests[i % requests.length], (status) => {
      record(i, scheduledMs, status);
      if (stopping) return;
      if (nextWaiting < waiting.length) {
        const w = waiting[nextWaiting++];
        dispatch(conn, w.i, w.scheduledMs);
      } else idle.push(conn);
    });
  };
  const conns = new Set<RawConnection>();
  const connect = () => {
    const conn = new RawConnection(host, port);
    conns.add(conn);
    return conn;
  };
  for (let c = 0; c < load.connections; c++) idle.push(connect());
  await Promise.all(idle.map((c) => c.connected));

  const t0 = performance.now();
  let sent = 0;
  // Timers fire about every millisecond; each tick sends everything that is due by then.
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      for (; sent < total && t0 + sent * intervalMs <= now; sent++) {
        // Round robin over the idle ones, so that none sits idle long enough to be closed.
        const conn = idle.shift();
        if (conn) dispatch(conn, sent, t0 + sent * intervalMs);
        else waiting.push({ i: sent, scheduledMs: t0 + sent * intervalMs });
      }
      if (sent < total) setTimeout(tick, Math.min(1, Math.max(0, t0 + sent * intervalMs - now)));
      else resolve();
    };
    tick();
  });
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([finished, new Promise<void>((r) => (timer = setTimeout(r, DRAIN_MS)))]);
  clearTimeout(timer);
  // Whatever is still out is unanswered: it fails, and counts at its wait so far.
  stopping = true;
  for (const conn of conns) conn.close();
  for (; nextWaiting < waiting.length; nextWaiting++) record(waiting[nextWaiting].i, waiting[nextWaiting].scheduledMs, 0);
  if (done < total) await finished; // the ones in flight fail as their sockets close
  const ms = (h: hdr.Histogram, p: number) => h.getValueAtPercentile(p) / 1000;
  const result = { p50Ms: ms(latency, 50), p99Ms: ms(latency, 99), maxMs: latency.maxValue / 1000, sent: total - warmup, non2xx, failed, sendLagP99Ms: ms(sendLag, 99) };
  latency.destroy();
  sendLag.destroy();
  return result;
}

/** One keep-alive HTTP/1.1 connection that sends a pre-formatted request, one at a time, and finds
 *  where its answer ends (Content-Length or chunked). Much cheaper per request than http.Agent
 *  (about 50 against 170 µs of CPU on the bench machine), which matters when the generator
 *  shares two cores with the server it loads. */
class RawConnection {
  readonly connected: Promise<void>;
  open = true;
  private readonly socket: net.Socket;
  private buf: Buffer = Buffer.alloc(0);
  private answered: ((status: number) => void) | null = null;

  constructor(host: string, port: number) {
    this.socket = net.connect(port, host);
    this.socket.setNoDelay(true);
    this.connected = new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', reject);
    });
    this.connected.catch(() => {}); // a refused connection fails its request below
    this.socket.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.parse();
    });
    this.socket.on('error', () => {}); // 'close' follows
    this.socket.on('close', () => {
      this.open = false;
      this.finish(0);
    });
  }

  /** `answered` gets the status, or 0 when the connection closed first. */
  send(request: Buffer, answered: (status: number) => void): void {
    this.answered = answered;
    if (!this.open) return this.finish(0);
    this.socket.write(request);
  }

  close(): void {
    this.open = false;
    this.socket.destroy();
  }

  private finish(status: number): void {
    const answered = this.answered;
    this.answered = null;
    answered?.(status);
  }

  private parse(): void {
    const headEnd = this.buf.indexOf('\r\n\r\n');
    if (headEnd < 0 || this.answered === null) return;
    const head = this.buf.toString('latin1', 0, headEnd);
    const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
    let end = headEnd + 4;
    if (length) end += Number(length[1]);
    else if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(head)) end = chunkedEnd(this.buf, end);
    if (end < 0 || end > this.buf.length) return; // not all of it yet
    this.buf = this.buf.subarray(end);
    if (/\r\nconnection:[ \t]*close/i.test(head)) this.close();
    this.finish(Number(head.slice(9, 12)));
  }
}

/** Where a chunked body that starts at `pos` ends, or -1 when it has not all arrived. */
function chunkedEnd(buf: Buffer, pos: number): number {
  for (;;) {
    const eol = buf.indexOf('\r\n', pos);
    if (eol < 0) return -1;
    const size = parseInt(buf.toString('latin1', pos, eol), 16);
    if (size === 0) {
      const end = buf.indexOf('\r\n\r\n', eol); // "0\r\n", any trailers, "\r\n"
      return end < 0 ? -1 : end + 4;
    }
    pos = eol + 2 + size + 2;
    if (pos > buf.length) return -1;
  }
}

// ---- in-process rows/s and formatting ----------------------------------------------------------
