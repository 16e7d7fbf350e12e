const FLOAT32_MIN_NORMAL = 2 ** -126;

/** The shortest decimal that reads back as the same float32: 0.0132 rather than 0.013199999928474426. */
export function float32ToJson(x: number): string {
  if (!Number.isFinite(x)) return 'null'; // JSON has no NaN or Infinity
  // A float32 needs at most 9 significant digits, and a precision that reads back keeps doing so
  // at higher ones. 6 digits are below a normal float32's resolution: when they read back, they are
  // the shortest digits padded with zeros, which Number() drops. So 6 to 9 (1 to 9 for subnormals).
  for (let digits = Math.abs(x) < FLOAT32_MIN_NORMAL ? 1 : 6; digits <= 9; digits++) {
    const n = Number(x.toPrecision(digits));
    if (Math.fround(n) === x) return String(n);
  }
  return String(x);
}

/** A float64 feature value as JSON; NaN and ±Infinity (e.g. an overflowed sum) become null. */
export const float64ToJson = (x: number): string => (Number.isFinite(x) ? String(x) : 'null');
