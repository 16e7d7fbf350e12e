// Shortest round-trip digits come from std::to_chars (Ryu in libstdc++), which picks, as V8 does,
// the shortest digits that read back as the same double and, among those, the closest. The layout
// then follows ECMAScript's Number::toString: plain digits for exponents -7 < n <= 21, else
// d.ddde±n.
#include "records/json_number.h"

#include <charconv>
#include <cmath>
#include <algorithm>
#include <cstdint>
#include <cstring>

namespace sluice {
namespace records {
namespace {

// Digits and exponent of a to_chars scientific string "[-]d[.ddd]e±xx": digits without the point
// and without trailing zeros; returns the decimal exponent of the first digit.
int SplitScientific(const char* s, const char* end, bool* negative, char* digits, int* k) {
  *negative = *s == '-';
  if (*negative) s++;
  int n = 0;
  for (; s < end && *s != 'e'; s++)
    if (*s != '.') digits[n++] = *s;
  while (n > 1 && digits[n - 1] == '0') n--;
  *k = n;
  int exp = 0;
  std::from_chars(s + 1 + (s[1] == '+'), end, exp);
  return exp;
}

// ECMAScript Number::toString's layout of digits d (k of them) times 10^(n - k).
char* Layout(bool negative, const char* d, int k, int n, char* out) {
  if (negative) *out++ = '-';
  if (k <= n && n <= 21) {
    std::memcpy(out, d, k);
    out += k;
    for (int i = k; i < n; i++) *out++ = '0';
  } else if (0 < n && n <= 21) {
    std::memcpy(out, d, n);
    out += n;
    *out++ = '.';
    std::memcpy(out, d + n, k - n);
    out += k - n;
  } else if (-6 < n && n <= 0) {
    *out++ = '0';
    *out++ = '.';
    for (int i = n; i < 0; i++) *out++ = '0';
    std::memcpy(out, d, k);
    out += k;
  } else {
    *out++ = d[0];
    if (k > 1) {
      *out++ = '.';
      std::memcpy(out, d + 1, k - 1);
      out += k - 1;
    }
    *out++ = 'e';
    *out++ = n - 1 < 0 ? '-' : '+';
    out = std::to_chars(out, out + 8, n - 1 < 0 ? 1 - n : n - 1).ptr;
  }
  return out;
}

char* LayoutScientific(const char* s, const char* end, char* out) {
  bool negative;
  char digits[kMaxNumberChars];
  int k;
  const int exp = SplitScientific(s, end, &negative, digits, &k);
  return Layout(negative, digits, k, exp + 1, out);
}

constexpr char kNull[] = "null";
// Room for a float32's exact digits in scientific form: 112 significant digits, sign, point, exponent.
constexpr int kExactChars = 136;

}  // namespace

char* WriteFloat64Json(double x, char* out) {
  if (!std::isfinite(x)) {
    std::memcpy(out, kNull, 4);
    return out + 4;
  }
  if (x == 0) {  // and -0, which String() writes as "0" too
    *out++ = '0';
    return out;
  }
  // Whole numbers below 2^53 (times, counts) as integers: the same digits, a quarter of the time.
  if (std::fabs(x) < 0x1p53 && x == std::trunc(x)) return std::to_chars(out, out + kMaxNumberChars, static_cast<int64_t>(x)).ptr;
  // Plain to_chars picks fixed notation when it is no longer than scientific: below 2^53, where
  // its integer digits (written exactly) are all significant, with String()'s digits and layout
  // (below 1e-6 fixed is always the longer, so never chosen). Otherwise lay the digits out.
  const double magnitude = std::fabs(x);
  if (magnitude < 0x1p53) {
    auto plain = std::to_chars(out, out + kMaxNumberChars, x);
    // From 0.001 up (not a whole number) fixed is never the longer: no need to look.
    if (magnitude >= 1e-3 || !std::memchr(out, 'e', plain.ptr - out)) return plain.ptr;
  }
  char buf[kMaxNumberChars];
  auto r = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
  return LayoutScientific(buf, r.ptr, out);
}

namespace {

// Powers of ten that doubles hold exactly.
constexpr double kPow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                             1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

// The double nearest m * 10^q (what Number() reads from those digits): one correctly rounded
// operation on exact operands while 10^|q| is exact, else the parser.
double NearestDouble(uint64_t m, int q) {
  if (q >= 0 && q <= 22) return static_cast<double>(m) * kPow10[q];
  if (q < 0 && q >= -22) return static_cast<double>(m) / kPow10[-q];
  char text[kMaxNumberChars];
  char* t = std::to_chars(text, text + 20, m).ptr;
  *t++ = 'e';
  t = std::to_chars(t, t + 8, q).ptr;
  double back = 0;
  std::from_chars(text, t, back);
  return back;
}

// x's first digits, exactly (truncated, not rounded), and the exponent of the first one. Eleven
// digits rounded half to even are exact in their first ten unless rounding carried into them
// (then the 11th is 0); only then are all of x's digits written (a float32 has at most 112).
int ExactDigits(double d, bool* negative, char* digits, int* k) {
  char buf[kExactChars];
  auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific, 10);
  const int exp = SplitScientific(buf, r.ptr, negative, digits, k);
  if (*k == 11) return exp;  // the 11th digit is not 0: no carry reached the first ten
  r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific, kExactChars - 16);
  return SplitScientific(buf, r.ptr, negative, digits, k);
}

}  // namespace

char* WriteFloat32Json(float x, char* out) {
  if (!std::isfinite(x)) {
    std::memcpy(out, kNull, 4);
    return out + 4;
  }
  if (x == 0) {
    *out++ = '0';
    return out;
  }
  const double d = x;
  bool negative;
  char all[kExactChars];
  int k;
  const int exp = ExactDigits(d, &negative, all, &k);
  // As float32ToJson: 6 digits and up (below 6, a normal float32 that reads back does so only as
  // its shortest digits padded with zeros), from 1 for subnormals; each rounded as toPrecision
  // rounds, half up (to_chars alone would round half to even).
  for (int digits = std::fabs(d) < 0x1p-126 ? 1 : 6; digits <= 9; digits++) {
    char rounded[12];
    int e = exp;
    std::memcpy(rounded, all, std::min(digits, k));
    for (int i = k; i < digits; i++) rounded[i] = '0';
    if (digits < k && all[digits] >= '5') {
      int i = digits - 1;
      while (i >= 0 && rounded[i] == '9') rounded[i--] = '0';
      if (i >= 0) rounded[i]++;
      else {  // 9.99 -> 10.0: one more power of ten
        rounded[0] = '1';
        e++;
      }
    }
    uint64_t m = 0;
    for (int i = 0; i < digits; i++) m = 10 * m + (rounded[i] - '0');
    // Number(s) is the double nearest s; Math.fround rounds that to float32.
    const double back = NearestDouble(m, e - digits + 1);
    if (static_cast<float>(negative ? -back : back) == x) {
      int n = digits;
      while (n > 1 && rounded[n - 1] == '0') n--;
      return Layout(negative, rounded, n, e + 1, out);
    }
  }
  return WriteFloat64Json(d, out);
}

}  // namespace records
}  // namespace sluice
