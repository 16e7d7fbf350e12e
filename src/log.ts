// Structured logs (SPEC §11): one JSON object per line on stderr, so that log shippers can parse
// them. SLUICE_LOG_LEVEL (debug, info, warn, error, silent) sets the threshold; default info.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<LogLevel | 'silent', number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

function threshold(): number {
  const v = process.env.SLUICE_LOG_LEVEL?.toLowerCase();
  return v && v in RANK ? RANK[v as LogLevel] : RANK.info;
}

/** A logger whose lines carry `component`; the level is read per call, so tests can change it. */
export function logger(component: string): Logger {
  const at = (level: LogLevel) => (msg: string, fields?: Record<string, unknown>) => {
    if (RANK[level] < threshold()) return;
    const line = { time: new Date().toISOString(), level, component, msg, ...fields };
    process.stderr.write(JSON.stringify(line, (_k, v) => (v instanceof Error ? v.message : typeof v === 'bigint' ? String(v) : v)) + '\n');
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
