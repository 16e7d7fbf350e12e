/** printf's `%.<precision>g` for a number, as C prints it (nan, inf, e+XX exponents). */
export function formatG(x: number, precision = 9): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const exp = x.toExponential(precision - 1); // rounding first, as C does, decides the exponent
  const e = Number(exp.slice(exp.indexOf('e') + 1));
  if (e < -4 || e >= precision) {
    const [mantissa, power] = exp.split('e');
    const sign = power.startsWith('-') ? '-' : '+';
    const digits = power.replace(/^[-+]/, '').padStart(2, '0');
    return `${stripZeros(mantissa)}e${sign}${digits}`;
  }
  return stripZeros(x.toFixed(precision - 1 - e));
}

function stripZeros(s: string): string {
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}
