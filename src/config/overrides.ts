// `--set path=value` (SPEC §3): edits the parsed job file before validation, so an overridden value
// is checked exactly like one written in the file.
import { parseDocument } from 'yaml';
import { usageError } from '../errors';
import { isMapping, joinPath } from './schema';

export interface Overridden {
  value: unknown;
  /** The overridden paths in message form (`features[1].field`), so errors can say "(from --set)". */
  paths: string[];
}

/** Applies each `a.b.c=value` in order to a copy of `raw`; the value is read as YAML. */
export function applyOverrides(raw: unknown, overrides: readonly string[]): Overridden {
  if (overrides.length === 0) return { value: raw, paths: [] };
  const root: unknown = raw === null || raw === undefined ? {} : structuredClone(raw);
  const paths: string[] = [];
  for (const arg of overrides) paths.push(applyOne(root, arg));
  return { value: root, paths };
}

function applyOne(root: unknown, arg: string): string {
  const eq = arg.indexOf('=');
  const pathText = eq < 0 ? arg : arg.slice(0, eq).trim();
  const segments = pathText.split('.');
  if (eq <= 0 || segments.some((s) => s.trim() === '')) throw usageError(`--set ${arg}: expected path=value`);
  const doc = parseDocument(arg.slice(eq + 1), { prettyErrors: false });
  const err = doc.errors[0];
  if (err) throw usageError(`--set ${pathText}: the value is not valid YAML (${err.message.split('\n')[0]})`);
  let value: unknown;
  try {
    value = doc.toJS();
  } catch (e) {
    throw usageError(`--set ${pathText}: the value is not valid YAML (${String((e as Error).message).split('\n')[0]})`);
  }

  let cur = root;
  let at = '';
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i].trim();
    const last = i === segments.length - 1;
    if (Array.isArray(cur)) {
      const index = /^\d+$/.test(seg) ? Number(seg) : -1;
      if (index < 0 || index >= cur.length) {
        throw usageError(`--set ${pathText}: ${at} is a list of ${cur.length}; expected an index from 0 to ${cur.length - 1}, got ${JSON.stringify(seg)}`);
      }
      at = joinPath(at, index);
      if (last) cur[index] = value;
      else cur = cur[index] = descend(cur[index], pathText, at);
    } else if (isMapping(cur)) {
      at = joinPath(at, seg);
      if (last) cur[seg] = value;
      else cur = cur[seg] = descend(cur[seg], pathText, at);
    } else {
      throw usageError(`--set ${pathText}: ${at} is not a mapping or a list`);
    }
  }
  return at;
}

/** The container at `at`, created when absent so `--set late.type=stdout` works without a `late:`. */
function descend(next: unknown, pathText: string, at: string): unknown {
  if (next === undefined || next === null) return {};
  if (isMapping(next) || Array.isArray(next)) return next;
  throw usageError(`--set ${pathText}: ${at} is not a mapping or a list`);
}
