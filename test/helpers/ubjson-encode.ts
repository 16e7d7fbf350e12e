// A small UBJSON encoder for tests: writes numbers as float64 ('D') or int32 ('l'), arrays of
// numbers as typed float32 ('[$d#') containers like XGBoost does, so NaN and odd shapes can be made.

export function encodeUbjson(value: unknown): Uint8Array {
  const parts: Buffer[] = [];
  const str = (s: string) => {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(5);
    len.write('l', 0);
    len.writeInt32BE(b.length, 1);
    parts.push(len, b);
  };
  const walk = (v: unknown) => {
    if (v === null || v === undefined) parts.push(Buffer.from('Z'));
    else if (v === true) parts.push(Buffer.from('T'));
    else if (v === false) parts.push(Buffer.from('F'));
    else if (typeof v === 'number') {
      if (Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31) {
        const b = Buffer.alloc(5);
        b.write('l', 0);
        b.writeInt32BE(v, 1);
        parts.push(b);
      } else {
        const b = Buffer.alloc(9);
        b.write('D', 0);
        b.writeDoubleBE(v, 1);
        parts.push(b);
      }
    } else if (typeof v === 'string') {
      parts.push(Buffer.from('S'));
      str(v);
    } else if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number')) {
      const b = Buffer.alloc(9 + 4 * v.length);
      b.write('[$d#l', 0);
      b.writeInt32BE(v.length, 5);
      v.forEach((x, i) => b.writeFloatBE(x, 9 + 4 * i));
      parts.push(b);
    } else if (Array.isArray(v)) {
      parts.push(Buffer.from('['));
      v.forEach(walk);
      parts.push(Buffer.from(']'));
    } else if (typeof v === 'object') {
      parts.push(Buffer.from('{'));
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        str(k);
        walk(x);
      }
      parts.push(Buffer.from('}'));
    }
  };
  walk(value);
  return new Uint8Array(Buffer.concat(parts));
}
