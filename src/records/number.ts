/** The shortest decimal that reads back as the same float32: 0.0132 rather than 0.013199999928474426. */
export function float32ToJson(x: number): string {
  if (!Number.isFinite(x)) return 'null'; // JSON has no NaN or Infinity
  for (let digits = 1; digits <= 9; digits++) {
    const s = x.toPrecision(digits);
    if (Math.fround(Number(s)) === x) return String(Number(s));
  }
  return String(x);
}

/** A float64 feature value as JSON; NaN and ±Infinity (e.g. an overflowed sum) become null. */
export const float64ToJson = (x: number): string => (Number.isFinite(x) ? String(x) : 'null');
