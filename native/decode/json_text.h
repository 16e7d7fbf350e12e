// JSON lexing for the decode scanner (json_scan.cc): strings, numbers, and the JS conversions the
// reference decoder applies to them (String(n) for numeric keys, Date.parse for ISO timestamps).
// Every function takes [begin, end) and never reads outside it, whatever the bytes are.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace sluice {
namespace decode {

// ScanString flags: what a string body holds besides plain ASCII.
constexpr uint8_t kHasHighByte = 1;  // equal to its byte class below, so the scan loop ORs it in
constexpr uint8_t kHasEscape = 2;

namespace detail {
// Byte classes inside a JSON string: 0 plain ASCII, 1 byte >= 0x80 (UTF-8, checked only when the
// value is used: JSON.parse reads invalid UTF-8 as U+FFFD and accepts it), 2 '"', 3 '\\', 4 control
// character (JSON forbids U+0000..U+001F unescaped).
struct StringClasses {
  uint8_t c[256];
  constexpr StringClasses() : c() {
    for (int i = 0; i < 256; ++i) c[i] = i < 0x20 ? 4 : i == '"' ? 2 : i == '\\' ? 3 : i >= 0x80 ? 1 : 0;
  }
};
inline constexpr StringClasses kStringClasses{};

inline bool IsDigit(uint8_t c) { return static_cast<uint8_t>(c - '0') <= 9; }
inline bool IsHex(uint8_t c) { return IsDigit(c) || static_cast<uint8_t>((c | 0x20) - 'a') <= 5; }
}  // namespace detail

/** memcmp(a, b, n) == 0 for the short strings of keys and path segments, without a library call:
 *  word-sized loads, the last one overlapping. */
inline bool SameBytes(const void* a, const void* b, size_t n) {
  const char* x = static_cast<const char*>(a);
  const char* y = static_cast<const char*>(b);
  if (n >= 8) {
    uint64_t u, v;
    for (size_t i = 0; i + 8 < n; i += 8) {
      std::memcpy(&u, x + i, 8);
      std::memcpy(&v, y + i, 8);
      if (u != v) return false;
    }
    std::memcpy(&u, x + n - 8, 8);
    std::memcpy(&v, y + n - 8, 8);
    return u == v;
  }
  if (n >= 4) {
    uint32_t u0, v0, u1, v1;
    std::memcpy(&u0, x, 4);
    std::memcpy(&v0, y, 4);
    std::memcpy(&u1, x + n - 4, 4);
    std::memcpy(&v1, y + n - 4, 4);
    return u0 == v0 && u1 == v1;
  }
  for (size_t i = 0; i < n; ++i) {
    if (x[i] != y[i]) return false;
  }
  return true;
}

/** p is just after an opening quote. Returns the position after the closing quote, or nullptr when
 *  the string is not valid JSON. ORs kHasEscape / kHasHighByte into *flags. */
inline const uint8_t* ScanString(const uint8_t* p, const uint8_t* end, uint8_t* flags) {
  uint8_t seen = 0;
  for (;;) {
    uint8_t k = 0;
    while (p < end && (k = detail::kStringClasses.c[*p]) <= 1) {
      seen |= k;  // class 1 is kHasHighByte's bit
      ++p;
    }
    if (p == end || k == 4) return nullptr;
    if (k == 2) {
      *flags |= seen;
      return p + 1;
    }
    // Backslash: one of \" \\ \/ \b \f \n \r \t, or \u and exactly four hex digits.
    seen |= kHasEscape;
    if (end - p < 2) return nullptr;
    const uint8_t e = p[1];
    if (e == 'u') {
      if (end - p < 6 || !detail::IsHex(p[2]) || !detail::IsHex(p[3]) || !detail::IsHex(p[4]) || !detail::IsHex(p[5])) {
        return nullptr;
      }
      p += 6;
    } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
      p += 2;
    } else {
      return nullptr;
    }
  }
}

/** A JSON number -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? starting at p; the position after
 *  it, or nullptr. What may follow (a comma, a bracket) is the caller's check, so "01" fails there. */
inline const uint8_t* ScanNumber(const uint8_t* p, const uint8_t* end) {
  using detail::IsDigit;
  if (p < end && *p == '-') ++p;
  if (p == end) return nullptr;
  if (*p == '0') {
    ++p;
  } else if (IsDigit(*p)) {
    while (p < end && IsDigit(*p)) ++p;
  } else {
    return nullptr;
  }
  if (p < end && *p == '.') {
    if (++p == end || !IsDigit(*p)) return nullptr;
    while (p < end && IsDigit(*p)) ++p;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    if (++p < end && (*p == '+' || *p == '-')) ++p;
    if (p == end || !IsDigit(*p)) return nullptr;
    while (p < end && IsDigit(*p)) ++p;
  }
  return p;
}

enum class Text { kOk, kInvalidUtf8, kMalformed };

/** Appends the WTF-8 encoding of UTF-16 code units (pairs combined, lone surrogates as 3 bytes):
 *  the bytes keyHash() in src/decode/key-table.ts hashes for the same JS string. */
void AppendWtf8(const char16_t* units, size_t n, std::string* out);
/** The UTF-16 code units of WTF-8 bytes (from AppendWtf8 or Unescape). */
std::u16string Wtf8ToUtf16(std::string_view bytes);

/** The string body [s, e) (between the quotes) as WTF-8 in *out: escapes decoded, \uD83D\uDE00
 *  pairs combined, lone surrogates as 3 bytes. kInvalidUtf8 when a raw byte sequence is not UTF-8
 *  (JSON.parse would read U+FFFD there), kMalformed for a bad escape (ScanString rejects those
 *  first; this only guards against bytes that changed since, e.g. in a SharedArrayBuffer). */
Text Unescape(const uint8_t* s, const uint8_t* e, std::string* out);

/** A JSON number that ScanNumber accepted, correctly rounded like JSON.parse: out-of-range
 *  magnitudes give +-Infinity or +-0. NaN only if the bytes are not a JSON number. */
double ParseNumber(const uint8_t* s, const uint8_t* e);

/** ScanNumber and ParseNumber in one pass: the end of the JSON number at p (nullptr if there is
 *  none) with its value in *out. A decimal of at most 19 digits, no exponent part, whose digits
 *  fit 2^53 and whose fraction is at most 22 digits is one exact division (Clinger's fast path:
 *  both operands are exact doubles, so the quotient is correctly rounded); anything else goes
 *  through ParseNumber. Request bodies of feature rows are mostly the first kind. */
inline const uint8_t* ScanParseNumber(const uint8_t* p, const uint8_t* end, double* out) {
  using detail::IsDigit;
  static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                      1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  const uint8_t* const start = p;
  const bool negative = p < end && *p == '-';
  if (negative) ++p;
  if (p == end) return nullptr;
  uint64_t m = 0;
  int digits = 0, fraction = 0;
  if (*p == '0') {
    ++p;
  } else if (IsDigit(*p)) {
    do {
      m = m * 10 + static_cast<uint64_t>(*p++ - '0');
      ++digits;
    } while (p < end && IsDigit(*p));
  } else {
    return nullptr;
  }
  if (p < end && *p == '.') {
    if (++p == end || !IsDigit(*p)) return nullptr;
    do {
      m = m * 10 + static_cast<uint64_t>(*p++ - '0');  // wraps past 19 digits: then not used
      ++digits;
      ++fraction;
    } while (p < end && IsDigit(*p));
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    const uint8_t* e = ScanNumber(start, end);
    if (e != nullptr) *out = ParseNumber(start, e);
    return e;
  }
  if (digits > 19 || m > (uint64_t{1} << 53) || fraction > 22) {
    *out = ParseNumber(start, p);
    return p;
  }
  const double v = static_cast<double>(m) / kPow10[fraction];
  *out = negative ? -v : v;
  return p;
}

/** String(v) for a finite double, as JavaScript prints it (shortest round trip; "1e+21", "1.5e-7",
 *  "0" for -0). Writes at most 32 chars to out; returns the length. */
size_t FormatJsNumber(double v, char* out);

enum class Iso { kNoMatch, kValue, kNeedsJs };

/** JsonDecoder's timestamp rule for a string: /^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?
 *  ([Zz]|[+-]\d{2}:?\d{2})?)?$/ then Date.parse. kNoMatch when the pattern does not match (a bad
 *  timestamp); kValue with *ms when the result is certain (a date alone is UTC midnight; a
 *  date-time with a zone); kNeedsJs for what depends on the local zone (no zone) or on V8's
 *  handling of out-of-range fields (month 13, 24:00, zone +24:00): JS settles those. */
Iso ParseIsoTimestamp(std::string_view s, double* ms);

}  // namespace decode
}  // namespace sluice
