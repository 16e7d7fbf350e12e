// The output order of fired results (SPEC §6): by step, event-caused before watermark-caused,
// then (windowEnd, key), then retractions before their new session. Workers sort their rows by
// it (sortResults); the main thread merges the partitions' sorted rows by it (mergeResults). Keys
// order as JavaScript orders their strings: by UTF-16 code unit, read off the key names table's
// WTF-8 bytes (src/decode/key-names.ts).
#include <algorithm>
#include <queue>
#include <string>
#include <vector>

#include "common/module.h"
#include "records/record_program.h"

namespace sluice {
namespace {

constexpr const char* kCode = "SLUICE_RUNTIME";

// The sort columns of one set of rows (an OutputBuilder's or a TaskOutput's).
struct Rows {
  Span<double> step, sortEndMs;
  Span<uint8_t> phase;
  Span<int32_t> keyId, sub;
  size_t count = 0;
};

bool GetRows(const Napi::Value& v, size_t count, Rows* r) {
  if (!v.IsObject()) return false;
  Napi::Object o = v.As<Napi::Object>();
  if (!GetFloat64Array(o.Get("step"), &r->step) || !GetFloat64Array(o.Get("sortEndMs"), &r->sortEndMs) || !GetUint8Array(o.Get("phase"), &r->phase) ||
      !GetInt32Array(o.Get("keyId"), &r->keyId) || !GetInt32Array(o.Get("sub"), &r->sub))
    return false;
  r->count = count;
  return count <= r->step.size && count <= r->sortEndMs.size && count <= r->phase.size && count <= r->keyId.size && count <= r->sub.size;
}

// WTF-8 bytes read as UTF-16 code units, one at a time; -1 at the end.
class Utf16Units {
 public:
  Utf16Units(const uint8_t* p, const uint8_t* end) : p_(p), end_(end) {}
  int32_t Next() {
    if (low_ >= 0) {
      const int32_t u = low_;
      low_ = -1;
      return u;
    }
    if (p_ >= end_) return -1;
    const uint8_t c = *p_;
    int32_t cp;
    int len;
    if (c < 0x80) cp = c, len = 1;
    else if (c < 0xe0) cp = ((c & 0x1f) << 6) | (p_[1] & 0x3f), len = 2;
    else if (c < 0xf0) cp = ((c & 0x0f) << 12) | ((p_[1] & 0x3f) << 6) | (p_[2] & 0x3f), len = 3;
    else cp = ((c & 0x07) << 18) | ((p_[1] & 0x3f) << 12) | ((p_[2] & 0x3f) << 6) | (p_[3] & 0x3f), len = 4;
    p_ += std::min<ptrdiff_t>(len, end_ - p_);
    if (cp < 0x10000) return cp;
    low_ = 0xdc00 + ((cp - 0x10000) & 0x3ff);
    return 0xd800 + ((cp - 0x10000) >> 10);
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
  int32_t low_ = -1;
};

struct KeyTable {
  Span<int32_t> index;
  Span<uint8_t> bytes;
  bool Valid(int32_t id) const {
    if (id < 0 || static_cast<size_t>(id + 1) * records::kKeyWords > index.size) return false;
    return Start(id) <= NameEnd(id) && static_cast<size_t>(NameEnd(id)) <= bytes.size;
  }
  int32_t Start(int32_t id) const { return id == 0 ? 0 : index.data[(id - 1) * records::kKeyWords + 2]; }
  int32_t NameEnd(int32_t id) const { return index.data[id * records::kKeyWords]; }

  // <0, 0, >0 as a's name orders before, as, after b's in JavaScript.
  int Compare(int32_t a, int32_t b) const {
    if (a == b) return 0;
    const uint8_t* p = bytes.data + Start(a);
    const uint8_t* pe = bytes.data + NameEnd(a);
    const uint8_t* q = bytes.data + Start(b);
    const uint8_t* qe = bytes.data + NameEnd(b);
    while (p < pe && q < qe && *p == *q) p++, q++;
    if (p == pe || q == qe) return static_cast<int>((pe - p) - (qe - q));  // a prefix orders first
    if (*p < 0x80 && *q < 0x80) return *p - *q;
    // Back to the start of the code point (the same for both: the bytes so far are equal).
    while (p > bytes.data + Start(a) && (*p & 0xc0) == 0x80) p--, q--;
    Utf16Units x(p, pe), y(q, qe);
    for (;;) {
      const int32_t u = x.Next(), v = y.Next();
      if (u != v || u < 0) return u - v;
    }
  }
};

// a's row i orders before b's row j.
bool Before(const Rows& a, size_t i, const Rows& b, size_t j, const KeyTable& keys) {
  if (a.step.data[i] != b.step.data[j]) return a.step.data[i] < b.step.data[j];
  if (a.phase.data[i] != b.phase.data[j]) return a.phase.data[i] < b.phase.data[j];
  if (a.sortEndMs.data[i] != b.sortEndMs.data[j]) return a.sortEndMs.data[i] < b.sortEndMs.data[j];
  const int byKey = keys.Compare(a.keyId.data[i], b.keyId.data[j]);
  return byKey != 0 ? byKey < 0 : a.sub.data[i] < b.sub.data[j];
}

bool CheckKeys(const Rows& r, const KeyTable& keys) {
  for (size_t i = 0; i < r.count; i++)
    if (!keys.Valid(r.keyId.data[i])) return false;
  return true;
}

// [sync] sortResults(rows: {step, phase, sortEndMs, keyId, sub}, count, keyIndex, keyBytes,
//   order: Int32Array): void. order[0..count) gets the row indices in output order (stable).
// @throw TypeError (SLUICE_RUNTIME) on columns shorter than count or a key id not in the table.
Napi::Value JsSortResults(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Rows rows;
  KeyTable keys;
  Span<int32_t> order;
  const size_t count = info.Length() == 5 && info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 0;
  if (info.Length() != 5 || !GetRows(info[0], count, &rows) || !GetInt32Array(info[2], &keys.index) || !GetUint8Array(info[3], &keys.bytes) ||
      !GetInt32Array(info[4], &order) || order.size < count) {
    ThrowTypeError(env, kCode, "sortResults(rows, count, keyIndex, keyBytes, order): columns or order shorter than count, or of the wrong type");
    return env.Undefined();
  }
  if (!CheckKeys(rows, keys)) {
    ThrowTypeError(env, kCode, "sortResults: a key id outside the key table");
    return env.Undefined();
  }
  // Keys compare by their first 8 bytes when both are ASCII there and differ (then byte order is
  // string order); only otherwise byte by byte. Most comparisons end at the prefix.
  struct Item {
    double step, sortEndMs;
    uint64_t prefix;  // big-endian, zero-padded; 0 with asciiPrefix false
    int32_t phase, sub, row;
    bool asciiPrefix;
  };
  std::vector<Item> items(count);
  for (size_t i = 0; i < count; i++) {
    const int32_t id = rows.keyId.data[i];
    const uint8_t* name = keys.bytes.data + keys.Start(id);
    const size_t len = std::min<size_t>(8, keys.NameEnd(id) - keys.Start(id));
    uint64_t prefix = 0;
    bool ascii = true;
    for (size_t b = 0; b < 8; b++) {
      const uint8_t c = b < len ? name[b] : 0;
      ascii = ascii && c < 0x80;
      prefix = (prefix << 8) | c;
    }
    items[i] = {rows.step.data[i], rows.sortEndMs.data[i], prefix, rows.phase.data[i], rows.sub.data[i], static_cast<int32_t>(i), ascii};
  }
  std::stable_sort(items.begin(), items.end(), [&](const Item& a, const Item& b) {
    if (a.step != b.step) return a.step < b.step;
    if (a.phase != b.phase) return a.phase < b.phase;
    if (a.sortEndMs != b.sortEndMs) return a.sortEndMs < b.sortEndMs;
    if (a.asciiPrefix && b.asciiPrefix && a.prefix != b.prefix) return a.prefix < b.prefix;
    const int byKey = keys.Compare(rows.keyId.data[a.row], rows.keyId.data[b.row]);
    return byKey != 0 ? byKey < 0 : a.sub < b.sub;
  });
  for (size_t i = 0; i < count; i++) order.data[i] = items[i].row;
  return env.Undefined();
}

// [sync] mergeResults(runs: Array<{step, phase, sortEndMs, keyId, sub, count}>, keyIndex,
//   keyBytes, run: Int32Array, row: Int32Array): number. Each run's rows are in output order; the
//   merged order goes to (run[i], row[i]) and the number of rows is returned. Equal rows keep the
//   order of their runs.
// @throw TypeError (SLUICE_RUNTIME) on bad columns, out arrays too short, or an unknown key id.
Napi::Value JsMergeResults(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto fail = [&](const std::string& why) {
    ThrowTypeError(env, kCode, "mergeResults: " + why);
    return env.Undefined();
  };
  KeyTable keys;
  Span<int32_t> outRun, outRow;
  if (info.Length() != 5 || !info[0].IsArray() || !GetInt32Array(info[1], &keys.index) || !GetUint8Array(info[2], &keys.bytes) || !GetInt32Array(info[3], &outRun) ||
      !GetInt32Array(info[4], &outRow))
    return fail("expected (runs, keyIndex, keyBytes, run, row)");
  Napi::Array list = info[0].As<Napi::Array>();
  std::vector<Rows> runs(list.Length());
  size_t total = 0;
  for (uint32_t r = 0; r < list.Length(); r++) {
    Napi::Value v = list.Get(r);
    const Napi::Value count = v.IsObject() ? v.As<Napi::Object>().Get("count") : Napi::Value();
    if (!count.IsNumber() || !GetRows(v, count.As<Napi::Number>().Uint32Value(), &runs[r])) return fail("run " + std::to_string(r) + " has bad columns");
    if (!CheckKeys(runs[r], keys)) return fail("run " + std::to_string(r) + " holds a key id outside the key table");
    total += runs[r].count;
  }
  if (outRun.size < total || outRow.size < total) return fail("run and row must hold " + std::to_string(total) + " entries");
  // A min-heap of (run, next row); ties go to the lower run index.
  std::vector<size_t> next(runs.size(), 0);
  auto later = [&](uint32_t a, uint32_t b) {
    if (Before(runs[b], next[b], runs[a], next[a], keys)) return true;
    if (Before(runs[a], next[a], runs[b], next[b], keys)) return false;
    return a > b;
  };
  std::priority_queue<uint32_t, std::vector<uint32_t>, decltype(later)> heap(later);
  for (uint32_t r = 0; r < runs.size(); r++)
    if (runs[r].count > 0) heap.push(r);
  size_t n = 0;
  while (!heap.empty()) {
    const uint32_t r = heap.top();
    heap.pop();
    outRun.data[n] = static_cast<int32_t>(r);
    outRow.data[n] = static_cast<int32_t>(next[r]);
    n++;
    if (++next[r] < runs[r].count) heap.push(r);
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

Registrar reg([](Napi::Env env, Napi::Object exports) {
  exports.Set("sortResults", Napi::Function::New(env, JsSortResults, "sortResults"));
  exports.Set("mergeResults", Napi::Function::New(env, JsMergeResults, "mergeResults"));
});

}  // namespace
}  // namespace sluice
