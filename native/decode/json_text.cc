#include "decode/json_text.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>

namespace sluice {
namespace decode {

namespace {

inline bool IsCont(uint8_t c) { return (c & 0xC0) == 0x80; }

// Length of the valid UTF-8 sequence at s (Unicode Table 3-7), or 0 when it is not one.
size_t Utf8SequenceLength(const uint8_t* s, const uint8_t* e) {
  const uint8_t c = s[0];
  const size_t avail = static_cast<size_t>(e - s);
  if (c < 0x80) return 1;
  if (c < 0xC2) return 0;  // continuation byte, or an overlong 2-byte lead
  if (c < 0xE0) return avail >= 2 && IsCont(s[1]) ? 2 : 0;
  if (c < 0xF0) {
    const uint8_t lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;  // no overlongs, no surrogates
    return avail >= 3 && s[1] >= lo && s[1] <= hi && IsCont(s[2]) ? 3 : 0;
  }
  if (c < 0xF5) {
    const uint8_t lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;  // U+10000..U+10FFFF
    return avail >= 4 && s[1] >= lo && s[1] <= hi && IsCont(s[2]) && IsCont(s[3]) ? 4 : 0;
  }
  return 0;
}

int Hex4(const uint8_t* s) {
  int v = 0;
  for (int i = 0; i < 4; ++i) {
    const uint8_t c = s[i];
    const int d = detail::IsDigit(c) ? c - '0' : detail::IsHex(c) ? (c | 0x20) - 'a' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

// Code point (a lone surrogate included) -> WTF-8.
void AppendCodePoint(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 63)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 63)));
    out->push_back(static_cast<char>(0x80 | (cp & 63)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 63)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 63)));
    out->push_back(static_cast<char>(0x80 | (cp & 63)));
  }
}

// Clinger's fast path: with at most 15 significant digits m and a decimal exponent e, |e| <= 22,
// both m and 10^|e| are exact doubles, so the one multiplication or division that combines them is
// correctly rounded, as JSON.parse's result is. Covers "12.34"-style amounts without from_chars.
bool ClingerFastPath(const char* p, const char* end, bool negative, double* out) {
  static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                      1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  uint64_t m = 0;
  int digits = 0, exponent = 0;
  for (; p < end && detail::IsDigit(static_cast<uint8_t>(*p)); ++p, ++digits) m = m * 10 + static_cast<uint64_t>(*p - '0');
  if (p < end && *p == '.') {
    for (++p; p < end && detail::IsDigit(static_cast<uint8_t>(*p)); ++p, ++digits, --exponent) {
      m = m * 10 + static_cast<uint64_t>(*p - '0');
    }
  }
  if (p != end || digits > 15 || exponent < -22) return false;  // an exponent part, or too many digits
  const double v = static_cast<double>(m) / kPow10[-exponent];
  *out = negative ? -v : v;
  return true;
}

}  // namespace

void AppendWtf8(const char16_t* units, size_t n, std::string* out) {
  for (size_t i = 0; i < n; ++i) {
    uint32_t c = units[i];
    if (c >= 0xD800 && c <= 0xDBFF && i + 1 < n && units[i + 1] >= 0xDC00 && units[i + 1] <= 0xDFFF) {
      c = 0x10000 + ((c - 0xD800) << 10) + (units[i + 1] - 0xDC00u);
      ++i;
    }
    AppendCodePoint(c, out);
  }
}

std::u16string Wtf8ToUtf16(std::string_view bytes) {
  std::u16string out;
  out.reserve(bytes.size());
  const uint8_t* s = reinterpret_cast<const uint8_t*>(bytes.data());
  const uint8_t* e = s + bytes.size();
  while (s < e) {
    // Our own encoding, but decoded defensively: a truncated sequence ends the string.
    const uint8_t c = *s;
    const size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (static_cast<size_t>(e - s) < len) break;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1Fu) : len == 3 ? (c & 0x0Fu) : (c & 0x07u);
    for (size_t j = 1; j < len; ++j) cp = (cp << 6) | (s[j] & 0x3Fu);
    s += len;
    if (cp >= 0x10000) {
      out.push_back(static_cast<char16_t>(0xD800 + ((cp - 0x10000) >> 10)));
      out.push_back(static_cast<char16_t>(0xDC00 + ((cp - 0x10000) & 0x3FF)));
    } else {
      out.push_back(static_cast<char16_t>(cp));
    }
  }
  return out;
}

Text Unescape(const uint8_t* s, const uint8_t* e, std::string* out) {
  out->clear();
  while (s < e) {
    const uint8_t c = *s;
    if (c == '\\') {
      if (e - s < 2) return Text::kMalformed;
      const uint8_t x = s[1];
      if (x != 'u') {
        const char* from = "\"\\/bfnrt";
        const char* to = "\"\\/\b\f\n\r\t";
        const char* at = x != 0 ? std::strchr(from, x) : nullptr;
        if (at == nullptr) return Text::kMalformed;
        out->push_back(to[at - from]);
        s += 2;
        continue;
      }
      if (e - s < 6) return Text::kMalformed;
      int u = Hex4(s + 2);
      if (u < 0) return Text::kMalformed;
      s += 6;
      // An escaped high surrogate right before an escaped low one is one code point: the JS string
      // is the same as if the character had been written raw.
      if (u >= 0xD800 && u <= 0xDBFF && e - s >= 6 && s[0] == '\\' && s[1] == 'u') {
        const int low = Hex4(s + 2);
        if (low >= 0xDC00 && low <= 0xDFFF) {
          u = 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00);
          s += 6;
        }
      }
      AppendCodePoint(static_cast<uint32_t>(u), out);
    } else if (c < 0x80) {
      out->push_back(static_cast<char>(c));
      ++s;
    } else {
      const size_t len = Utf8SequenceLength(s, e);
      if (len == 0) return Text::kInvalidUtf8;
      out->append(reinterpret_cast<const char*>(s), len);
      s += len;
    }
  }
  return Text::kOk;
}

double ParseNumber(const uint8_t* s, const uint8_t* e) {
  const char* b = reinterpret_cast<const char*>(s);
  const char* end = reinterpret_cast<const char*>(e);
  const bool negative = b < end && *b == '-';
  const char* digits = negative ? b + 1 : b;
  // Fast path: up to 15 digits, no fraction or exponent, is an exact integer in a double.
  if (end - digits <= 15 && digits < end) {
    uint64_t v = 0;
    const char* q = digits;
    while (q < end && detail::IsDigit(static_cast<uint8_t>(*q))) v = v * 10 + static_cast<uint64_t>(*q++ - '0');
    if (q == end) return negative ? -static_cast<double>(v) : static_cast<double>(v);
  }
  if (double v; ClingerFastPath(digits, end, negative, &v)) return v;
  double v = 0;
  const auto r = std::from_chars(b, end, v);  // libstdc++ >= 12: correctly rounded, locale-free
  if (r.ptr != end) return std::numeric_limits<double>::quiet_NaN();
  if (r.ec == std::errc()) return v;
  if (r.ec != std::errc::result_out_of_range) return std::numeric_limits<double>::quiet_NaN();
  // Out of range: JSON.parse gives +-Infinity for overflow and +-0 for underflow. Which one follows
  // from the decimal magnitude: value = 0.d... x 10^magnitude, d the first non-zero digit.
  long magnitude = 0, position = 0;
  bool seenNonZero = false, inFraction = false;
  const char* q = digits;
  for (; q < end && (detail::IsDigit(static_cast<uint8_t>(*q)) || *q == '.'); ++q) {
    if (*q == '.') {
      inFraction = true;
      continue;
    }
    if (!seenNonZero && *q != '0') {
      seenNonZero = true;
      magnitude = inFraction ? -position : 0;
    }
    if (!inFraction) {
      if (seenNonZero) ++magnitude;
    } else if (!seenNonZero) {
      ++position;
    }
  }
  long exponent = 0;
  if (q < end && (*q == 'e' || *q == 'E')) {
    ++q;
    const bool expNegative = q < end && *q == '-';
    if (q < end && (*q == '-' || *q == '+')) ++q;
    for (; q < end; ++q) exponent = std::min(exponent * 10 + (*q - '0'), 1000000000L);  // saturate
    if (expNegative) exponent = -exponent;
  }
  const bool overflow = magnitude + exponent > 0;
  const double inf = std::numeric_limits<double>::infinity();
  return overflow ? (negative ? -inf : inf) : (negative ? -0.0 : 0.0);
}

size_t FormatJsNumber(double v, char* out) {
  if (v == 0) {  // both zeros print "0"
    out[0] = '0';
    return 1;
  }
  // to_chars gives the shortest digits that round-trip, nearest to v, as "-d.ddde+XX"; Number's
  // toString (ECMA-262 6.1.6.1.20) picks the same digits and only lays them out differently.
  char sci[40];
  const auto r = std::to_chars(sci, sci + sizeof sci, v, std::chars_format::scientific);
  const char* p = sci;
  size_t o = 0;
  if (*p == '-') out[o++] = *p++;
  char digits[24];
  int k = 0;
  for (; p < r.ptr && *p != 'e'; ++p) {
    if (*p != '.') digits[k++] = *p;
  }
  int e = 0;
  if (p < r.ptr) std::from_chars(p + (p[1] == '+' ? 2 : 1), r.ptr, e);
  const int n = e + 1;  // v = 0.digits x 10^n
  if (k <= n && n <= 21) {
    for (int i = 0; i < k; ++i) out[o++] = digits[i];
    for (int i = k; i < n; ++i) out[o++] = '0';
  } else if (0 < n && n <= 21) {
    for (int i = 0; i < n; ++i) out[o++] = digits[i];
    out[o++] = '.';
    for (int i = n; i < k; ++i) out[o++] = digits[i];
  } else if (-6 < n && n <= 0) {
    out[o++] = '0';
    out[o++] = '.';
    for (int i = 0; i < -n; ++i) out[o++] = '0';
    for (int i = 0; i < k; ++i) out[o++] = digits[i];
  } else {
    out[o++] = digits[0];
    if (k > 1) {
      out[o++] = '.';
      for (int i = 1; i < k; ++i) out[o++] = digits[i];
    }
    out[o++] = 'e';
    out[o++] = n - 1 < 0 ? '-' : '+';
    const int a = n - 1 < 0 ? 1 - n : n - 1;
    o = static_cast<size_t>(std::to_chars(out + o, out + 32, a).ptr - out);
  }
  return o;
}

// ---- ISO-8601 timestamps -----------------------------------------------------------------------

namespace {

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Howard Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

}  // namespace

Iso ParseIsoTimestamp(std::string_view text, double* ms) {
  const uint8_t* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  // Reads `count` digits at i as a number, or -1.
  auto num = [&](size_t count) -> int {
    if (n - i < count) return -1;
    int v = 0;
    for (size_t j = 0; j < count; ++j) {
      if (!detail::IsDigit(s[i + j])) return -1;
      v = v * 10 + (s[i + j] - '0');
    }
    i += count;
    return v;
  };
  auto lit = [&](char c) { return i < n && s[i] == c ? (++i, true) : false; };
  const int year = num(4);
  if (year < 0 || !lit('-')) return Iso::kNoMatch;
  const int month = num(2);
  if (month < 0 || !lit('-')) return Iso::kNoMatch;
  const int day = num(2);
  if (day < 0) return Iso::kNoMatch;
  // V8 checks month 1..12 and day 1..31 and lets a day past the month's end roll over (Feb 30 is
  // March 2); that is what DaysFromCivil(y, m, 1) + day - 1 does. Out-of-range fields go to JS.
  const bool dateInRange = month >= 1 && month <= 12 && day >= 1 && day <= 31;
  const double date = static_cast<double>(DaysFromCivil(year, month, 1) + day - 1) * 86400000.0;
  if (i == n) {
    if (!dateInRange) return Iso::kNeedsJs;
    *ms = date;  // a date alone is UTC midnight
    return Iso::kValue;
  }
  const bool spaced = i < n && s[i] == ' ';
  if (!(lit('T') || lit('t') || lit(' '))) return Iso::kNoMatch;
  const int hour = num(2);
  if (hour < 0 || !lit(':')) return Iso::kNoMatch;
  const int minute = num(2);
  if (minute < 0) return Iso::kNoMatch;
  int second = 0, millis = 0;
  if (lit(':')) {
    if ((second = num(2)) < 0) return Iso::kNoMatch;
    if (lit('.')) {
      // 1..9 digits; Date.parse keeps milliseconds and drops the rest (truncates).
      int digits = 0;
      for (; i < n && detail::IsDigit(s[i]) && digits < 9; ++i, ++digits) {
        if (digits < 3) millis = millis * 10 + (s[i] - '0');
      }
      if (digits == 0) return Iso::kNoMatch;
      for (int d = digits; d < 3; ++d) millis *= 10;
    }
  }
  if (i == n) return Iso::kNeedsJs;  // no zone: local time, which depends on the machine
  int offsetMinutes = 0;
  if (lit('Z') || lit('z')) {
  } else if (i < n && (s[i] == '+' || s[i] == '-')) {
    const int sign = s[i++] == '+' ? 1 : -1;
    const int zh = num(2);
    if (zh < 0) return Iso::kNoMatch;
    lit(':');
    const int zm = num(2);
    if (zm < 0) return Iso::kNoMatch;
    if (zh > 23 || zm > 59) return i == n ? Iso::kNeedsJs : Iso::kNoMatch;
    offsetMinutes = sign * (zh * 60 + zm);
  } else {
    return Iso::kNoMatch;
  }
  if (i != n) return Iso::kNoMatch;
  // With a space V8 takes its legacy parser, which reads years 0-99 as 1950-2049.
  if (!dateInRange || hour > 23 || minute > 59 || second > 59 || (spaced && year < 100)) return Iso::kNeedsJs;
  *ms = date + ((hour * 60.0 + minute) * 60.0 + second) * 1000.0 + millis - offsetMinutes * 60000.0;
  return Iso::kValue;
}

}  // namespace decode
}  // namespace sluice
