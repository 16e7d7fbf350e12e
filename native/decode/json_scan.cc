#include "decode/json_scan.h"

#include <cmath>
#include <cstring>

#include "decode/json_text.h"

namespace sluice {
namespace decode {

// ---- key table ---------------------------------------------------------------------------------

// MurmurHash3's finalizer: every input bit reaches every output bit.
static inline uint32_t Fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

uint32_t KeyHash(const uint8_t* bytes, size_t len) {
  uint32_t h = 0x811c9dc5u;
  for (size_t i = 0; i < len; ++i) h = (h ^ bytes[i]) * 0x01000193u;
  return Fmix32(h);
}

KeyTable::KeyTable(uint32_t numPartitions) : numPartitions_(numPartitions) {}

std::string_view KeyTable::Name(int32_t id) const {
  const Entry& e = entries_[id];
  if (e.length <= kInlineBytes) return std::string_view(e.bytes, e.length);
  size_t offset;
  std::memcpy(&offset, e.bytes, sizeof offset);
  return std::string_view(longKeys_.data() + offset, e.length);
}

void KeyTable::Grow() {
  // 1024 slots cover small jobs without a rehash; then doubling keeps the load at most 1/2.
  const size_t capacity = slots_.empty() ? 1024 : slots_.size() * 2;
  slots_.assign(capacity, Slot{0, -1});
  const size_t mask = capacity - 1;
  for (size_t id = 0; id < entries_.size(); ++id) {
    size_t i = entries_[id].hash & mask;
    while (slots_[i].id >= 0) i = (i + 1) & mask;
    slots_[i] = Slot{entries_[id].hash, static_cast<int32_t>(id)};
  }
}

int32_t KeyTable::Intern(std::string_view key) {
  const uint32_t h = KeyHash(reinterpret_cast<const uint8_t*>(key.data()), key.size());
  if ((entries_.size() + 1) * 2 > slots_.size()) Grow();
  const size_t mask = slots_.size() - 1;
  size_t i = h & mask;
  for (; slots_[i].id >= 0; i = (i + 1) & mask) {
    if (slots_[i].hash != h) continue;
    const std::string_view name = Name(slots_[i].id);
    if (name.size() == key.size() && SameBytes(name.data(), key.data(), key.size())) return slots_[i].id;
  }
  const int32_t id = static_cast<int32_t>(entries_.size());
  slots_[i] = Slot{h, id};
  Entry e{h, static_cast<uint32_t>(key.size()), {}};
  if (key.size() <= kInlineBytes) {
    std::memcpy(e.bytes, key.data(), key.size());
  } else {
    const size_t offset = longKeys_.size();
    std::memcpy(e.bytes, &offset, sizeof offset);
    longKeys_.append(key.data(), key.size());
  }
  entries_.push_back(e);
  return id;
}

// ---- spec -> path trie -------------------------------------------------------------------------

Scanner::Scanner(const Spec& spec) : maxEventBytes_(spec.maxEventBytes) {
  // Build the trie with temporary ids, then renumber in preorder so subtrees are ranges.
  struct Tmp {
    std::string segment;
    std::vector<int32_t> children;
  };
  std::vector<Tmp> tmp(1);
  auto insert = [&](const std::string& path) {
    int32_t cur = 0;
    size_t from = 0;
    for (;;) {
      const size_t dot = path.find('.', from);  // String.split('.'): '.' is never inside a UTF-8 sequence
      std::string seg = path.substr(from, dot == std::string::npos ? std::string::npos : dot - from);
      int32_t next = -1;
      for (int32_t c : tmp[cur].children) {
        if (tmp[c].segment == seg) next = c;
      }
      if (next < 0) {
        next = static_cast<int32_t>(tmp.size());
        tmp[cur].children.push_back(next);
        tmp.push_back({std::move(seg), {}});
      }
      cur = next;
      if (dot == std::string::npos) return cur;
      from = dot + 1;
    }
  };
  const int32_t keyTmp = insert(spec.keyPath);
  const int32_t tsTmp = spec.timestampPath == "$kafka" ? -1 : insert(spec.timestampPath);
  std::vector<int32_t> fieldTmp;
  for (const std::string& f : spec.fieldPaths) fieldTmp.push_back(insert(f));
  const int32_t idTmp = spec.eventIdPath.empty() ? -1 : insert(spec.eventIdPath);

  std::vector<int32_t> newId(tmp.size()), order;
  std::vector<int32_t> todo{0};
  while (!todo.empty()) {
    const int32_t t = todo.back();
    todo.pop_back();
    newId[t] = static_cast<int32_t>(order.size());
    order.push_back(t);
    for (auto it = tmp[t].children.rbegin(); it != tmp[t].children.rend(); ++it) todo.push_back(*it);
  }
  nodes_.resize(order.size());
  for (size_t n = 0; n < order.size(); ++n) {
    Tmp& t = tmp[order[n]];
    Node& node = nodes_[n];
    node.segment = std::move(t.segment);
    if (node.segment.find("\xEF\xBF\xBD") != std::string::npos) specHasReplacementChar_ = true;
    for (int32_t c : t.children) node.children.push_back(newId[c]);
  }
  for (size_t n = nodes_.size(); n-- > 0;) {
    Node& node = nodes_[n];
    node.subtreeEnd = node.children.empty() ? static_cast<int32_t>(n) + 1 : nodes_[node.children.back()].subtreeEnd;
  }
  keyNode_ = newId[keyTmp];
  timestampNode_ = tsTmp < 0 ? -1 : newId[tsTmp];
  for (int32_t f : fieldTmp) fieldNodes_.push_back(newId[f]);
  eventIdNode_ = idTmp < 0 ? -1 : newId[idTmp];
  columns_ = spec.columns;
  columns_.resize(fieldNodes_.size());  // columns not given read numbers
  found_.resize(nodes_.size());
}

// The child of `node` named by the object key [key, keyEnd) as JSON.parse would read it, or -1.
int32_t Scanner::MatchChild(int32_t node, const uint8_t* key, const uint8_t* keyEnd, bool plain) {
  const Node& n = nodes_[node];
  const size_t len = static_cast<size_t>(keyEnd - key);
  if (!plain) {
    // Escapes or non-ASCII bytes: compare the decoded string. Invalid UTF-8 reads as U+FFFD in
    // JSON.parse, which only a path holding U+FFFD could match; leave that rare case to JS.
    if (Unescape(key, keyEnd, &memberScratch_) != Text::kOk) {
      if (specHasReplacementChar_) needsJs_ = true;
      return -1;
    }
    key = reinterpret_cast<const uint8_t*>(memberScratch_.data());
    for (int32_t c : n.children) {
      const std::string& s = nodes_[c].segment;
      if (s.size() == memberScratch_.size() && SameBytes(s.data(), key, s.size())) return c;
    }
    return -1;
  }
  for (int32_t c : n.children) {
    const std::string& s = nodes_[c].segment;
    if (s.size() == len && SameBytes(s.data(), key, len)) return c;
  }
  return -1;
}

// ---- the scan ----------------------------------------------------------------------------------

static inline const uint8_t* SkipWs(const uint8_t* p, const uint8_t* end) {
  while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) ++p;
  return p;
}

static inline const uint8_t* Literal(const uint8_t* p, const uint8_t* end, const char* word, size_t n) {
  return static_cast<size_t>(end - p) >= n && std::memcmp(p, word, n) == 0 ? p + n : nullptr;
}

// Validates the whole message (JSON.parse rejects a syntax error anywhere, even in fields nobody
// reads) and records the last value at each trie node. The nesting stack lives on the heap, so depth
// is bounded only by the message size, like V8's own iterative JSON.parse.
Status Scanner::Scan(const uint8_t* data, size_t len) {
  const uint8_t* p = data;
  const uint8_t* const end = data + len;
  for (Found& f : found_) f.kind = kNone;
  stack_.clear();
  needsJs_ = false;
  p = SkipWs(p, end);
  if (p == end || *p != '{') return kDecode;  // invalid, or valid but not an object: 'decode' both ways
  ++p;
  stack_.push_back(2 * (0 + 1) + 1);
  int32_t node = 0;  // trie node of the innermost open object, -1 when no path goes through it
  bool inObject = true;
  bool first = true;  // just after '{' or '[': the container may close at once
  for (;;) {
    bool closed = false;
    int32_t target = -1;
    p = SkipWs(p, end);
    if (p == end) return kDecode;
    if (first && *p == (inObject ? '}' : ']')) {
      ++p;
      closed = true;
    } else if (inObject) {
      if (*p != '"') return kDecode;
      const uint8_t* key = ++p;
      uint8_t flags = 0;
      p = ScanString(p, end, &flags);
      if (p == nullptr) return kDecode;
      if (node >= 0) target = MatchChild(node, key, p - 1, flags == 0);
      p = SkipWs(p, end);
      if (p == end || *p != ':') return kDecode;
      p = SkipWs(p + 1, end);
      if (p == end) return kDecode;
      // A later duplicate replaces the whole earlier value, including anything found inside it.
      if (target >= 0) {
        for (int32_t n = target; n < nodes_[target].subtreeEnd; ++n) found_[n].kind = kNone;
      }
    }
    if (!closed) {
      const uint8_t* begin = p;
      Kind kind = kOther;
      bool plain = false;
      switch (*p) {
        case '{': {
          const int32_t inner = target >= 0 && !nodes_[target].children.empty() ? target : -1;
          if (target >= 0) found_[target] = {kOther, false, 0, 0};
          stack_.push_back(2 * (inner + 1) + 1);
          node = inner;
          inObject = first = true;
          ++p;
          continue;
        }
        case '[':
          if (target >= 0) found_[target] = {kOther, false, 0, 0};
          stack_.push_back(0);
          node = -1;
          inObject = false;
          first = true;
          ++p;
          continue;
        case '"': {
          uint8_t flags = 0;
          begin = ++p;
          p = ScanString(p, end, &flags);
          kind = kString;
          plain = flags == 0;
          break;
        }
        case 't': p = Literal(p, end, "true", 4); break;
        case 'f': p = Literal(p, end, "false", 5); break;
        case 'n':
          p = Literal(p, end, "null", 4);
          kind = kNull;
          break;
        default:
          p = ScanNumber(p, end);
          kind = kNumber;
          break;
      }
      if (p == nullptr) return kDecode;
      if (target >= 0) {
        const uint32_t valueEnd = static_cast<uint32_t>((kind == kString ? p - 1 : p) - data);
        found_[target] = {kind, plain, static_cast<uint32_t>(begin - data), valueEnd};
      }
    }
    // After a value (or an empty container): a comma, or closing brackets until one is followed by one.
    for (;;) {
      if (closed) {
        stack_.pop_back();
        if (stack_.empty()) return SkipWs(p, end) == end ? kClean : kDecode;
        node = stack_.back() / 2 - 1;
        inObject = (stack_.back() & 1) != 0;
        closed = false;
      }
      p = SkipWs(p, end);
      if (p == end) return kDecode;
      if (*p == ',') {
        ++p;
        first = false;
        break;
      }
      if (*p != (inObject ? '}' : ']')) return kDecode;
      ++p;
      closed = true;
    }
  }
}

// ---- extraction --------------------------------------------------------------------------------

Status Scanner::Key(const uint8_t* data, Decoded* out) {
  const Found& f = found_[keyNode_];
  if (f.kind == kString) {
    const uint8_t* s = data + f.begin;
    if (f.plain) {
      out->key = std::string_view(reinterpret_cast<const char*>(s), f.end - f.begin);
      return kClean;
    }
    // Invalid UTF-8 would become U+FFFD in JS; the JS path builds that key.
    if (Unescape(s, data + f.end, &keyScratch_) != Text::kOk) return kNeedsJs;
    out->key = keyScratch_;
    return kClean;
  }
  if (f.kind == kNumber) {
    const double v = ParseNumber(data + f.begin, data + f.end);
    if (!std::isfinite(v)) return kMissingKey;
    out->key = std::string_view(numberKey_, FormatJsNumber(v, numberKey_));
    return kClean;
  }
  return kMissingKey;
}

Status Scanner::Timestamp(const uint8_t* data, double recordTimestampMs, double* out) {
  if (timestampNode_ < 0) {
    *out = recordTimestampMs;
    return std::isfinite(recordTimestampMs) ? kClean : kBadTimestamp;
  }
  const Found& f = found_[timestampNode_];
  if (f.kind == kNumber) {
    *out = ParseNumber(data + f.begin, data + f.end);
    return std::isfinite(*out) ? kClean : kBadTimestamp;
  }
  if (f.kind != kString) return kBadTimestamp;
  std::string_view text(reinterpret_cast<const char*>(data + f.begin), f.end - f.begin);
  if (!f.plain) {
    // Non-ASCII never matches the ISO pattern (\d is ASCII); escapes may still spell digits.
    if (Unescape(data + f.begin, data + f.end, &timestampScratch_) != Text::kOk) return kBadTimestamp;
    text = timestampScratch_;
  }
  switch (ParseIsoTimestamp(text, out)) {
    case Iso::kValue: return kClean;
    case Iso::kNeedsJs: return kNeedsJs;
    case Iso::kNoMatch: break;
  }
  return kBadTimestamp;
}

Status Scanner::Decode(const uint8_t* data, size_t len, double recordTimestampMs, Decoded* out, double* fields) {
  if (static_cast<double>(len) > maxEventBytes_) return kTooLarge;
  Status s = Scan(data, len);
  if (s != kClean) return s;
  if (needsJs_) return kNeedsJs;
  // The order of the checks is JsonDecoder's: key, then timestamp, then fields in column order.
  if ((s = Key(data, out)) != kClean) return s;
  if ((s = Timestamp(data, recordTimestampMs, &out->timestampMs)) != kClean) return s;
  for (size_t i = 0; i < fieldNodes_.size(); ++i) {
    if ((s = Field(data, i, &fields[i])) != kClean) return s;
  }
  return eventIdNode_ < 0 ? kClean : EventId(data, out);
}

// JSON.stringify of the id's value, for the values written as they are: a plain string (quoted),
// a finite number (as JS prints it), null or absent ("null"). Anything else is JS's to write.
Status Scanner::EventId(const uint8_t* data, Decoded* out) {
  const Found& f = found_[eventIdNode_];
  out->eventIdQuoted = false;
  switch (f.kind) {
    case kNone:
    case kNull:
      out->eventId = "null";
      return kClean;
    case kString:
      if (!f.plain) return kNeedsJs;
      out->eventId = std::string_view(reinterpret_cast<const char*>(data + f.begin), f.end - f.begin);
      out->eventIdQuoted = true;
      return kClean;
    case kNumber: {
      const double v = ParseNumber(data + f.begin, data + f.end);
      if (!std::isfinite(v)) return kNeedsJs;
      out->eventId = std::string_view(numberId_, FormatJsNumber(v, numberId_));
      return kClean;
    }
    default:
      return kNeedsJs;
  }
}

// ---- columns (src/decode/transforms.ts columnValue is the reference) ---------------------------

namespace {

// The next code point of WTF-8 bytes at *p (the bytes are valid: they came from the scanner).
uint32_t NextCodePoint(const uint8_t** p) {
  const uint8_t* s = *p;
  if (s[0] < 0x80) {
    *p = s + 1;
    return s[0];
  }
  if (s[0] < 0xE0) {
    *p = s + 2;
    return ((s[0] & 0x1Fu) << 6) | (s[1] & 0x3Fu);
  }
  if (s[0] < 0xF0) {
    *p = s + 3;
    return ((s[0] & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
  }
  *p = s + 4;
  return ((s[0] & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
}

// JS \s: WhiteSpace and LineTerminator (ECMA-262).
bool IsJsSpace(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

uint32_t Rotl(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

// MurmurHash3_x86_32 (src/util/murmur3.ts).
uint32_t Murmur3(const uint8_t* data, size_t len) {
  const uint32_t c1 = 0xcc9e2d51u, c2 = 0x1b873593u;
  uint32_t h = 0;
  const size_t blocks = len / 4;
  for (size_t i = 0; i < blocks; ++i) {
    uint32_t k;
    std::memcpy(&k, data + 4 * i, 4);  // little-endian hosts (x86-64, arm64)
    k = Rotl(k * c1, 15) * c2;
    h = Rotl(h ^ k, 13) * 5 + 0xe6546b64u;
  }
  const uint8_t* tail = data + 4 * blocks;
  uint32_t k = 0;
  switch (len & 3) {
    case 3: k ^= static_cast<uint32_t>(tail[2]) << 16; [[fallthrough]];
    case 2: k ^= static_cast<uint32_t>(tail[1]) << 8; [[fallthrough]];
    case 1:
      k ^= tail[0];
      h ^= Rotl(k * c1, 15) * c2;
  }
  return Fmix32(h ^ static_cast<uint32_t>(len));
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// A UTC part of epoch ms as JS Date's getUTC* reads it; false outside Date's range.
bool TimePart(ColumnKind kind, double ms, double* out) {
  const double t = std::trunc(ms);  // TimeClip
  if (!(std::fabs(t) <= 8.64e15)) return false;
  const int64_t m = static_cast<int64_t>(t);
  const int64_t days = FloorDiv(m, 86400000);
  const int64_t inDay = m - days * 86400000;
  switch (kind) {
    case ColumnKind::kHour: *out = static_cast<double>(inDay / 3600000); return true;
    case ColumnKind::kMinute: *out = static_cast<double>((inDay / 60000) % 60); return true;
    case ColumnKind::kWeekday: *out = static_cast<double>(((days + 3) % 7 + 7) % 7); return true;  // 1970-01-01: Thursday
    default: break;
  }
  // Civil date from days since the epoch (H. Hinnant's days_from_civil, inverted).
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  if (kind == ColumnKind::kDay) *out = static_cast<double>(doy - (153 * mp + 2) / 5 + 1);
  else *out = static_cast<double>(mp < 10 ? mp + 3 : mp - 9);
  return true;
}

}  // namespace

// A string value's WTF-8 bytes (escapes decoded); kNeedsJs when JSON.parse would see U+FFFD.
Status Scanner::StringValue(const uint8_t* data, const Found& f, std::string_view* out) {
  if (f.plain) {
    *out = std::string_view(reinterpret_cast<const char*>(data + f.begin), f.end - f.begin);
    return kClean;
  }
  if (Unescape(data + f.begin, data + f.end, &fieldScratch_) != Text::kOk) return kNeedsJs;
  *out = fieldScratch_;
  return kClean;
}

Status Scanner::Field(const uint8_t* data, size_t column, double* out) {
  const Found& f = found_[fieldNodes_[column]];
  const Column& c = columns_[column];
  if (f.kind == kNone || f.kind == kNull) {
    *out = std::nan("");
    return kClean;
  }
  if (c.kind == ColumnKind::kNumber) {
    if (f.kind != kNumber) return kBadField;
    *out = ParseNumber(data + f.begin, data + f.end);
    return std::isfinite(*out) ? kClean : kBadField;
  }
  if (c.kind >= ColumnKind::kHour) {
    double ms;
    if (f.kind == kNumber) {
      ms = ParseNumber(data + f.begin, data + f.end);
    } else if (f.kind == kString) {
      std::string_view text;
      const Status s = StringValue(data, f, &text);
      if (s != kClean) return s;
      switch (ParseIsoTimestamp(text, &ms)) {
        case Iso::kValue: break;
        case Iso::kNeedsJs: return kNeedsJs;
        case Iso::kNoMatch: return kBadField;
      }
    } else {
      return kBadField;
    }
    if (!std::isfinite(ms)) return kBadField;
    return TimePart(c.kind, ms, out) ? kClean : kBadField;
  }
  if (f.kind != kString) return kBadField;
  std::string_view text;
  const Status s = StringValue(data, f, &text);
  if (s != kClean) return s;
  switch (c.kind) {
    case ColumnKind::kCategory:
    case ColumnKind::kOneHot: {
      int32_t found = -1;
      for (size_t i = 0; i < c.values.size() && found < 0; ++i) {
        if (c.values[i] == text) found = static_cast<int32_t>(i);
      }
      if (c.kind == ColumnKind::kOneHot) *out = found == c.index ? 1 : 0;
      else *out = found < 0 ? std::nan("") : found;
      return kClean;
    }
    case ColumnKind::kHash: {
      // A lone surrogate (WTF-8 ED A0..BF) is U+FFFD in the UTF-8 that JS hashes.
      for (size_t i = 0; i + 1 < text.size(); ++i) {
        if (static_cast<uint8_t>(text[i]) == 0xED && static_cast<uint8_t>(text[i + 1]) >= 0xA0) return kNeedsJs;
      }
      *out = Murmur3(reinterpret_cast<const uint8_t*>(text.data()), text.size()) % c.buckets;
      return kClean;
    }
    default: break;
  }
  const uint8_t* p = reinterpret_cast<const uint8_t*>(text.data());
  const uint8_t* const end = p + text.size();
  double n = 0;
  bool inWord = false;
  while (p < end) {
    const uint32_t cp = NextCodePoint(&p);
    if (c.kind == ColumnKind::kLength) {
      n += cp >= 0x10000 ? 2 : 1;
    } else {
      const bool space = IsJsSpace(cp);
      if (!space && !inWord) ++n;
      inWord = !space;
    }
  }
  *out = n;
  return kClean;
}

}  // namespace decode
}  // namespace sluice
