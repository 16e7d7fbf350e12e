#include "json/json_numeric.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "decode/json_text.h"

namespace sluice {
namespace json {
namespace {

using decode::detail::IsDigit;
using decode::detail::IsHex;

inline bool IsSpace(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
inline char16_t HexValue(uint8_t c) { return static_cast<char16_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10); }

// The UTF-8 sequence at p (*p >= 0x80) appended as UTF-16, or U+FFFD for its maximal ill-formed
// subpart, exactly as TextDecoder's non-fatal decoder does. Returns the first byte not consumed:
// a byte that broke the sequence is read again, so a quote or backslash is never swallowed.
const uint8_t* AppendUtf8(const uint8_t* p, const uint8_t* end, std::u16string* out) {
  const uint8_t lead = *p;
  uint8_t lo = 0x80, hi = 0xBF;  // the second byte's range; narrower after E0, ED, F0, F4
  size_t need;
  uint32_t cp;
  if (lead >= 0xC2 && lead <= 0xDF) {
    need = 1;
    cp = lead & 0x1Fu;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    need = 2;
    cp = lead & 0x0Fu;
    if (lead == 0xE0) lo = 0xA0;  // no overlongs
    if (lead == 0xED) hi = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    need = 3;
    cp = lead & 0x07u;
    if (lead == 0xF0) lo = 0x90;  // no overlongs
    if (lead == 0xF4) hi = 0x8F;  // nothing past U+10FFFF
  } else {
    out->push_back(u'\uFFFD');
    return p + 1;
  }
  for (size_t i = 1; i <= need; ++i) {
    if (p + i == end || p[i] < lo || p[i] > hi) {
      out->push_back(u'\uFFFD');
      return p + i;
    }
    cp = (cp << 6) | (p[i] & 0x3Fu);
    lo = 0x80;
    hi = 0xBF;
  }
  if (cp >= 0x10000) {
    out->push_back(static_cast<char16_t>(0xD800 + ((cp - 0x10000) >> 10)));
    out->push_back(static_cast<char16_t>(0xDC00 + ((cp - 0x10000) & 0x3FF)));
  } else {
    out->push_back(static_cast<char16_t>(cp));
  }
  return p + need + 1;
}

class Parser {
 public:
  Parser(const uint8_t* data, size_t length, size_t maxDepth, Tape* tape, SyntaxError* error)
      : begin_(data), p_(data), end_(data + length), maxDepth_(maxDepth), tape_(tape), error_(error) {}

  bool Run() {
    // TextDecoder drops one leading BOM before JSON.parse sees the text.
    if (end_ - p_ >= 3 && p_[0] == 0xEF && p_[1] == 0xBB && p_[2] == 0xBF) p_ += 3;
    return Document();
  }

 private:
  bool Fail(const uint8_t* at, const char* expected) {
    error_->offset = static_cast<size_t>(at - begin_);
    error_->expected = expected;
    return false;
  }
  void Emit(Op op, size_t count = 0, size_t offset = 0, double number = 0) { tape_->values.push_back(Value{op, count, offset, number}); }
  void SkipSpace() {
    while (p_ < end_ && IsSpace(*p_)) ++p_;
  }
  // At '[' or '{': checks the depth and moves to the first element. A container closed right away
  // is done (*empty, and on the tape).
  bool Enter(uint8_t close, Op op, bool* empty) {
    if (open_.size() >= maxDepth_) {
      error_->tooDeep = true;
      return Fail(p_, "at most maxDepth nested arrays and objects");
    }
    ++p_;
    SkipSpace();
    *empty = p_ < end_ && *p_ == close;
    if (*empty) {
      ++p_;
      Emit(op);
    }
    return true;
  }
  void Open(bool object, size_t count) {
    open_.push_back(object ? 1 : 0);
    counts_.push_back(count);
  }

  bool Document();
  bool Array(bool* opened);
  bool Key();
  bool String();
  bool Literal(const char* word, size_t length, Op op) {
    if (static_cast<size_t>(end_ - p_) < length || std::memcmp(p_, word, length) != 0) return Fail(p_, word);
    p_ += length;
    Emit(op);
    return true;
  }

  const uint8_t* const begin_;
  const uint8_t* p_;
  const uint8_t* const end_;
  const size_t maxDepth_;
  Tape* const tape_;
  SyntaxError* const error_;
  std::vector<uint8_t> open_;   // per open container: 1 object, 0 array
  std::vector<size_t> counts_;  // per open container: elements (members) so far
};

// One loop with an explicit stack of open containers, so nesting costs heap, not C++ stack.
bool Parser::Document() {
  for (;;) {
    // A value starts here.
    SkipSpace();
    if (p_ == end_) return Fail(p_, "a value");
    bool complete = true;  // false: a container was opened and its elements follow
    switch (*p_) {
      case '{': {
        bool empty = false;
        if (!Enter('}', Op::kObject, &empty)) return false;
        if (!empty) {
          Open(true, 0);
          if (!Key()) return false;
          complete = false;
        }
        break;
      }
      case '[': {
        bool opened = false;
        if (!Array(&opened)) return false;
        complete = !opened;
        break;
      }
      case '"':
        if (!String()) return false;
        break;
      case 't':
        if (!Literal("true", 4, Op::kTrue)) return false;
        break;
      case 'f':
        if (!Literal("false", 5, Op::kFalse)) return false;
        break;
      case 'n':
        if (!Literal("null", 4, Op::kNull)) return false;
        break;
      default: {
        const uint8_t* e = *p_ == '-' || IsDigit(*p_) ? decode::ScanNumber(p_, end_) : nullptr;
        if (e == nullptr) return Fail(p_, "a value");
        Emit(Op::kNumber, 0, 0, decode::ParseNumber(p_, e));
        p_ = e;
      }
    }
    if (!complete) continue;
    // A value ended: close every container it completes, up to one that takes another element.
    for (;;) {
      SkipSpace();
      if (open_.empty()) return p_ == end_ || Fail(p_, "the end of the input");
      ++counts_.back();
      const bool object = open_.back() != 0;
      if (p_ < end_ && *p_ == ',') {
        ++p_;
        if (object && !Key()) return false;
        break;
      }
      if (p_ == end_ || *p_ != (object ? '}' : ']')) return Fail(p_, object ? "',' or '}'" : "',' or ']'");
      ++p_;
      Emit(object ? Op::kObject : Op::kArray, counts_.back());
      open_.pop_back();
      counts_.pop_back();
    }
  }
}

// At '['. Appends numbers and nulls to the tape's numbers while that is all there is: a numeric
// array ends here. At any other element the array is opened as an ordinary one, the numbers read
// so far become its first elements, and Document() reads on from that element.
bool Parser::Array(bool* opened) {
  bool empty = false;
  if (!Enter(']', Op::kArray, &empty)) return false;
  if (empty) return true;
  std::vector<double>& numbers = tape_->numbers;
  const size_t first = numbers.size();
  while (p_ < end_) {
    if (*p_ == '-' || IsDigit(*p_)) {
      double v;
      const uint8_t* e = decode::ScanParseNumber(p_, end_, &v);
      if (e == nullptr) break;  // Document() reports it
      numbers.push_back(v);
      p_ = e;
    } else if (*p_ == 'n' && end_ - p_ >= 4 && std::memcmp(p_, "null", 4) == 0) {
      numbers.push_back(std::numeric_limits<double>::quiet_NaN());  // a JSON number is never NaN
      p_ += 4;
    } else {
      break;
    }
    SkipSpace();
    if (p_ < end_ && *p_ == ',') {
      ++p_;
      SkipSpace();
      continue;
    }
    if (p_ == end_ || *p_ != ']') return Fail(p_, "',' or ']'");
    ++p_;
    Emit(Op::kNumbers, numbers.size() - first, first);
    return true;
  }
  *opened = true;
  Open(false, numbers.size() - first);
  for (size_t i = first; i < numbers.size(); ++i) {
    const double v = numbers[i];
    std::isnan(v) ? Emit(Op::kNull) : Emit(Op::kNumber, 0, 0, v);
  }
  numbers.resize(first);
  return true;
}

// After '{' or ',' in an object: the key and its ':'.
bool Parser::Key() {
  SkipSpace();
  if (p_ == end_ || *p_ != '"') return Fail(p_, "a string key");
  if (!String()) return false;
  SkipSpace();
  if (p_ == end_ || *p_ != ':') return Fail(p_, "':'");
  ++p_;
  return true;
}

// At the opening quote. Plain ASCII stays in the input; anything else is decoded to UTF-16 in the
// tape's units (escapes as their code units, so lone surrogates survive, as in JS strings).
bool Parser::String() {
  const auto& classes = decode::detail::kStringClasses.c;  // 0 ASCII, 1 >= 0x80, 2 '"', 3 '\\', 4 control
  const uint8_t* p = ++p_;
  while (p < end_ && classes[*p] == 0) ++p;
  if (p < end_ && *p == '"') {
    Emit(Op::kAscii, static_cast<size_t>(p - p_), static_cast<size_t>(p_ - begin_));
    p_ = p + 1;
    return true;
  }
  std::u16string& units = tape_->units;
  const size_t first = units.size();
  units.append(p_, p);
  for (;;) {
    if (p == end_) return Fail(p, "'\"' to end the string");
    switch (classes[*p]) {
      case 0:
        units.push_back(*p++);
        break;
      case 1:
        p = AppendUtf8(p, end_, &units);
        break;
      case 2:
        Emit(Op::kString16, units.size() - first, first);
        p_ = p + 1;
        return true;
      case 3: {
        if (end_ - p < 2) return Fail(p + 1, "an escape");
        const uint8_t e = p[1];
        if (e == 'u') {
          char16_t unit = 0;
          for (int i = 2; i < 6; ++i) {
            if (p + i == end_ || !IsHex(p[i])) return Fail(p + i, "a hex digit");
            unit = static_cast<char16_t>(unit * 16 + HexValue(p[i]));
          }
          units.push_back(unit);
          p += 6;
          break;
        }
        const char* from = "\"\\/bfnrt";
        const char* at = e != 0 ? std::strchr(from, e) : nullptr;
        if (at == nullptr) return Fail(p + 1, "an escape: one of \"\\/bfnrtu");
        units.push_back(static_cast<char16_t>("\"\\/\b\f\n\r\t"[at - from]));
        p += 2;
        break;
      }
      default:
        return Fail(p, "a string character (control characters must be escaped)");
    }
  }
}

}  // namespace

bool ParseNumeric(const uint8_t* data, size_t length, size_t maxDepth, Tape* tape, SyntaxError* error) {
  return Parser(data, length, maxDepth, tape, error).Run();
}

}  // namespace json
}  // namespace sluice
