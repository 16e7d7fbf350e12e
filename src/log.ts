// Logs (SPEC §11), through pino: JSON lines on stderr (level, time, component, msg, fields) when
// stderr is not a terminal, so that log shippers can parse them; readable lines (pino-pretty) on a
// terminal. SLUICE_LOG_LEVEL (debug, info, warn, error, silent) sets the threshold, default info;
// `--verbose` lowers it to debug and adds stack traces to logged errors.
import { pino, stdTimeFunctions, type DestinationStream, type Logger as PinoLogger } from 'pino';
import type PinoPretty from 'pino-pretty';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<LogLevel | 'silent', number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

let verbose = false;

/** `--verbose`: debug lines, and logged errors with their stack. */
export function setVerbose(on: boolean): void {
  verbose = on;
}

function threshold(): number {
  const v = process.env.SLUICE_LOG_LEVEL?.toLowerCase();
  if (v && v in RANK) return RANK[v as LogLevel];
  return verbose ? RANK.debug : RANK.info;
}

/** Errors in fields become their message (with --verbose, message and stack); bigints text. */
function plain(value: unknown): unknown {
  if (value instanceof Error) return verbose ? { message: value.message, stack: value.stack } : value.message;
  if (typeof value === 'bigint') return String(value);
  return value;
}

/** The root pino logger writing to `stream`: JSON lines, or readable ones for a terminal. */
export function createRootLogger(stream: DestinationStream | NodeJS.WritableStream, readable: boolean): PinoLogger {
  const options = { level: 'debug', base: null, timestamp: stdTimeFunctions.isoTime, formatters: { level: (label: string) => ({ level: label }) } };
  // Synchronous writes: a line logged just before the process exits is not lost. pino-pretty is
  // loaded only for a terminal (~10 ms of every start otherwise).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pretty = readable ? (require('pino-pretty') as typeof PinoPretty) : null;
  const dest = pretty ? pretty({ destination: stream as NodeJS.WritableStream, sync: true, colorize: (stream as { isTTY?: boolean }).isTTY === true, ignore: 'component', messageFormat: '{component}: {msg}', translateTime: 'SYS:HH:MM:ss.l' }) : stream;
  return pino(options, dest as DestinationStream);
}

let root: PinoLogger | null = null;
const stderrRoot = () => (root ??= createRootLogger(pino.destination({ fd: 2, sync: true }), process.stderr.isTTY === true));

/** A logger whose lines carry `component`; the level is read per call, so tests can change it. */
export function logger(component: string, base: () => PinoLogger = stderrRoot): Logger {
  let child: PinoLogger | null = null;
  const at = (level: LogLevel) => (msg: string, fields?: Record<string, unknown>) => {
    if (RANK[level] < threshold()) return;
    child ??= base().child({ component });
    const clean: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(fields ?? {})) clean[k] = plain(v);
    child[level](clean, msg);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
