// A UBJSON (draft 12) decoder for XGBoost's binary model format (`.ubj`). XGBoost writes its node
// arrays as strongly typed containers (`[$d#L<n>` ...), which decode straight into typed arrays.
// The decoder is iterative, so deeply nested input cannot overflow the stack, and it checks every
// length against the bytes left before it allocates.

export class UbjsonError extends Error {}

type Container = { kind: 'array'; items: unknown[]; left: number; type: number } | {
  kind: 'object';
  obj: Record<string, unknown>;
  left: number; // -1 = until '}'
  type: number; // 0 = each value has its own marker
  key: string | null;
};

/** Nesting limit: XGBoost models nest about 8 levels; this only stops hostile input. */
export const MAX_DEPTH = 256;

const M = (c: string) => c.charCodeAt(0);

export function decodeUbjson(bytes: Uint8Array): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  const fail = (what: string): never => {
    throw new UbjsonError(`UBJSON at byte ${pos}: ${what}`);
  };
  const need = (n: number) => {
    if (pos + n > bytes.length) fail(`needs ${n} more bytes, the file ends`);
  };
  const u8 = () => {
    need(1);
    return bytes[pos++];
  };

  const readInt = (marker: number): number => {
    switch (marker) {
      case M('i'): need(1); pos += 1; return view.getInt8(pos - 1);
      case M('U'): need(1); pos += 1; return view.getUint8(pos - 1);
      case M('I'): need(2); pos += 2; return view.getInt16(pos - 2);
      case M('l'): need(4); pos += 4; return view.getInt32(pos - 4);
      case M('L'): {
        need(8);
        pos += 8;
        const v = view.getBigInt64(pos - 8);
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) fail('64-bit integer too large');
        return Number(v);
      }
      default:
        return fail(`expected an integer marker, got ${JSON.stringify(String.fromCharCode(marker))}`);
    }
  };
  const readLength = (): number => {
    const n = readInt(u8());
    if (n < 0) fail(`negative length ${n}`);
    return n;
  };
  const readString = (): string => {
    const n = readLength();
    need(n);
    const s = Buffer.from(bytes.buffer, bytes.byteOffset + pos, n).toString('utf8');
    pos += n;
    return s;
  };
  const elemSize: Record<number, number> = {
    [M('i')]: 1, [M('U')]: 1, [M('I')]: 2, [M('l')]: 4, [M('L')]: 8, [M('d')]: 4, [M('D')]: 8,
    [M('T')]: 0, [M('F')]: 0, [M('Z')]: 0, [M('C')]: 1,
  };

  // A strongly typed array of fixed-size numbers becomes a typed array in one pass.
  const readTypedArray = (type: number, n: number): unknown => {
    const size = elemSize[type];
    if (size === undefined) return null; // strings or containers: decoded one by one
    if (size === 0) {
      if (n > bytes.length) fail(`count ${n} is larger than the file`);
      return new Array(n).fill(type === M('T') ? true : type === M('F') ? false : null);
    }
    if (n > (bytes.length - pos) / size) fail(`array of ${n} elements does not fit in the ${bytes.length - pos} bytes left`);
    let out: Float32Array | Float64Array | Int32Array | Int16Array | Int8Array | Uint8Array;
    switch (type) {
      case M('d'): out = new Float32Array(n); for (let i = 0; i < n; i++) out[i] = view.getFloat32(pos + 4 * i); break;
      case M('D'): out = new Float64Array(n); for (let i = 0; i < n; i++) out[i] = view.getFloat64(pos + 8 * i); break;
      case M('l'): out = new Int32Array(n); for (let i = 0; i < n; i++) out[i] = view.getInt32(pos + 4 * i); break;
      case M('I'): out = new Int16Array(n); for (let i = 0; i < n; i++) out[i] = view.getInt16(pos + 2 * i); break;
      case M('i'): out = new Int8Array(n); for (let i = 0; i < n; i++) out[i] = view.getInt8(pos + i); break;
      case M('L'): {
        const f = new Float64Array(n);
        for (let i = 0; i < n; i++) f[i] = Number(view.getBigInt64(pos + 8 * i));
        out = f;
        break;
      }
      default: out = bytes.slice(pos, pos + n); break; // U and C
    }
    pos += n * size;
    return out;
  };

  // Reads a scalar for `marker`, or opens a container (returned as a Container to push).
  const readValue = (marker: number): { value: unknown } | { open: Container } => {
    switch (marker) {
      case M('Z'): return { value: null };
      case M('T'): return { value: true };
      case M('F'): return { value: false };
      case M('i'): case M('U'): case M('I'): case M('l'): case M('L'): return { value: readInt(marker) };
      case M('d'): need(4); pos += 4; return { value: view.getFloat32(pos - 4) };
      case M('D'): need(8); pos += 8; return { value: view.getFloat64(pos - 8) };
      case M('C'): return { value: String.fromCharCode(u8()) };
      case M('S'): return { value: readString() };
      case M('H'): {
        const s = readString();
        const v = Number(s);
        if (Number.isNaN(v)) fail(`high-precision number ${JSON.stringify(s)} is not a number`);
        return { value: v };
      }
      case M('['): case M('{'): {
        let type = 0;
        let count = -1;
        if (pos < bytes.length && bytes[pos] === M('$')) {
          pos++;
          type = u8();
          if (bytes[pos] !== M('#')) fail('a typed container must give its count');
        }
        if (pos < bytes.length && bytes[pos] === M('#')) {
          pos++;
          count = readLength();
        }
        if (marker === M('[')) {
          if (type !== 0 && count >= 0) {
            const typed = readTypedArray(type, count);
            if (typed !== null) return { value: typed };
          }
          if (count > bytes.length - pos) fail(`array count ${count} is larger than the bytes left`);
          return { open: { kind: 'array', items: [], left: count, type } };
        }
        if (count > bytes.length - pos) fail(`object count ${count} is larger than the bytes left`);
        return { open: { kind: 'object', obj: Object.create(null), left: count, type, key: null } };
      }
      default:
        return fail(`unknown marker ${JSON.stringify(String.fromCharCode(marker))}`);
    }
  };

  const stack: Container[] = [];
  let root: unknown = undefined;
  let haveRoot = false;
  const deliver = (value: unknown) => {
    const top = stack[stack.length - 1];
    if (!top) {
      root = value;
      haveRoot = true;
    } else if (top.kind === 'array') {
      top.items.push(value);
      if (top.left > 0) top.left--;
    } else {
      top.obj[top.key as string] = value;
      top.key = null;
      if (top.left > 0) top.left--;
    }
  };

  const first = readValue(u8());
  if ('value' in first) deliver(first.value);
  else stack.push(first.open);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.left === 0) {
      stack.pop();
      deliver(top.kind === 'array' ? top.items : top.obj);
      continue;
    }
    if (top.kind === 'object' && top.key === null) {
      while (top.left < 0 && bytes[pos] === M('N')) pos++;
      if (top.left < 0 && bytes[pos] === M('}')) {
        pos++;
        top.left = 0;
        continue;
      }
      top.key = readString();
      continue;
    }
    let marker = top.type;
    if (marker === 0) {
      marker = u8();
      while (marker === M('N')) marker = u8();
      if (top.left < 0 && top.kind === 'array' && marker === M(']')) {
        top.left = 0;
        continue;
      }
    }
    const v = readValue(marker);
    if ('value' in v) deliver(v.value);
    else {
      if (stack.length >= MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH} levels`);
      stack.push(v.open);
    }
  }
  if (!haveRoot) fail('no value');
  if (pos !== bytes.length) fail(`${bytes.length - pos} bytes of trailing data after the value`);
  return root;
}
