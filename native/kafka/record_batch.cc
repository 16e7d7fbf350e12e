// The records section of a Kafka record batch (message format v2), written straight from encoded
// records (src/records/encoded.ts): length, attributes, timestamp delta, offset delta, key, value,
// no headers, the integers as zigzag varints. Byte for byte what kafkajs writes for the same
// messages (src/io/kafka/produce-request.ts checks it against kafkajs), for a partition's share of
// a send: JS wrote these a field at a time, ~1.8 µs a record of the main thread.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "common/module.h"

namespace sluice {
namespace {

constexpr const char* kCode = "SLUICE_RUNTIME";
constexpr uint8_t kHasKey = 1;  // RecordFlag.HasKey

struct Source {
  Span<uint8_t> values, keys, flags;
  Span<int32_t> valueEnd, keyEnd;
  Span<double> timestampMs;
};

bool GetSource(const Napi::Value& v, Source* s) {
  if (!v.IsObject()) return false;
  Napi::Object o = v.As<Napi::Object>();
  return GetUint8Array(o.Get("values"), &s->values) && GetInt32Array(o.Get("valueEnd"), &s->valueEnd) && GetUint8Array(o.Get("keys"), &s->keys) &&
         GetInt32Array(o.Get("keyEnd"), &s->keyEnd) && GetUint8Array(o.Get("flags"), &s->flags) && GetFloat64Array(o.Get("timestampMs"), &s->timestampMs);
}

size_t VarintSize(int64_t v) {
  uint64_t u = (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
  size_t n = 1;
  while (u >= 128) u >>= 7, n++;
  return n;
}

uint8_t* WriteVarint(uint8_t* p, int64_t v) {
  uint64_t u = (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
  while (u >= 128) {
    *p++ = static_cast<uint8_t>(u | 0x80);
    u >>= 7;
  }
  *p++ = static_cast<uint8_t>(u);
  return p;
}

// One record's fields, checked against its source's buffers.
struct Fields {
  const uint8_t* key;
  int64_t keyBytes;  // -1: null
  const uint8_t* value;
  int64_t valueBytes;
  double timestampMs;  // NaN: none
};

bool FieldsOf(const Source& s, int32_t r, Fields* f) {
  if (r < 0 || static_cast<size_t>(r) >= s.valueEnd.size || static_cast<size_t>(r) >= s.keyEnd.size || static_cast<size_t>(r) >= s.flags.size ||
      static_cast<size_t>(r) >= s.timestampMs.size)
    return false;
  const int32_t vs = r == 0 ? 0 : s.valueEnd.data[r - 1], ve = s.valueEnd.data[r] - 1;  // without the newline
  const int32_t ks = r == 0 ? 0 : s.keyEnd.data[r - 1], ke = s.keyEnd.data[r];
  if (vs < 0 || ve < vs || static_cast<size_t>(ve) > s.values.size || ks < 0 || ke < ks || static_cast<size_t>(ke) > s.keys.size) return false;
  f->value = s.values.data + vs;
  f->valueBytes = ve - vs;
  f->key = s.keys.data + ks;
  f->keyBytes = s.flags.data[r] & kHasKey ? ke - ks : -1;
  f->timestampMs = s.timestampMs.data[r];
  return true;
}

// [sync] encodeKafkaRecords(sources, source: Int32Array, row: Int32Array, count, nowMs,
//   out: Uint8Array | null): { bytes, firstTimestampMs, maxTimestampMs }
// The records section for records row[i] of sources[source[i]], i < count, as kafkajs writes a
// record batch: the batch's first timestamp is the smallest given one (records without one get
// nowMs; none given: first = max = nowMs). With out null it only measures; otherwise it writes
// into out, which must hold `bytes`.
// @throw TypeError (SLUICE_RUNTIME) on bad arguments, a record not in its source, or out too small.
Napi::Value JsEncodeKafkaRecords(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto fail = [&](const std::string& why) {
    ThrowTypeError(env, kCode, "encodeKafkaRecords: " + why);
    return env.Undefined();
  };
  Span<int32_t> source, row;
  if (info.Length() != 6 || !info[0].IsArray() || !GetInt32Array(info[1], &source) || !GetInt32Array(info[2], &row) || !info[3].IsNumber() || !info[4].IsNumber())
    return fail("expected (sources, source, row, count, nowMs, out)");
  Napi::Array list = info[0].As<Napi::Array>();
  std::vector<Source> sources(list.Length());
  for (uint32_t i = 0; i < list.Length(); i++)
    if (!GetSource(list.Get(i), &sources[i])) return fail("source " + std::to_string(i) + " is not a set of record columns");
  const size_t count = info[3].As<Napi::Number>().Uint32Value();
  const double nowMs = info[4].As<Napi::Number>().DoubleValue();
  if (count > source.size || count > row.size) return fail("source and row must hold count entries");
  Span<uint8_t> out;
  const bool writing = !info[5].IsNull();
  if (writing && !GetUint8Array(info[5], &out)) return fail("out must be a Uint8Array or null");
  std::vector<Fields> fields(count);
  double first = INFINITY, max = -INFINITY;
  for (size_t i = 0; i < count; i++) {
    const int32_t s = source.data[i];
    if (s < 0 || static_cast<size_t>(s) >= sources.size() || !FieldsOf(sources[s], row.data[i], &fields[i])) return fail("record " + std::to_string(i) + " is not in its source");
    const double ts = fields[i].timestampMs;
    if (std::isnan(ts)) continue;
    if (ts < first) first = ts;
    if (ts > max) max = ts;
  }
  if (first == INFINITY) first = max = nowMs;
  size_t bytes = 0;
  for (size_t i = 0; i < count; i++) {
    const Fields& f = fields[i];
    const int64_t delta = static_cast<int64_t>((std::isnan(f.timestampMs) ? nowMs : f.timestampMs) - first);
    const size_t body = 1 + VarintSize(delta) + VarintSize(static_cast<int64_t>(i)) + VarintSize(f.keyBytes) + (f.keyBytes > 0 ? f.keyBytes : 0) + VarintSize(f.valueBytes) + f.valueBytes + 1;
    bytes += VarintSize(static_cast<int64_t>(body)) + body;
  }
  if (writing) {
    if (out.size < bytes) return fail("out is smaller than the records");
    uint8_t* p = out.data;
    for (size_t i = 0; i < count; i++) {
      const Fields& f = fields[i];
      const int64_t delta = static_cast<int64_t>((std::isnan(f.timestampMs) ? nowMs : f.timestampMs) - first);
      const size_t body = 1 + VarintSize(delta) + VarintSize(static_cast<int64_t>(i)) + VarintSize(f.keyBytes) + (f.keyBytes > 0 ? f.keyBytes : 0) + VarintSize(f.valueBytes) + f.valueBytes + 1;
      p = WriteVarint(p, static_cast<int64_t>(body));
      *p++ = 0;  // attributes
      p = WriteVarint(p, delta);
      p = WriteVarint(p, static_cast<int64_t>(i));  // offset delta
      p = WriteVarint(p, f.keyBytes);
      if (f.keyBytes > 0) std::memcpy(p, f.key, f.keyBytes), p += f.keyBytes;
      p = WriteVarint(p, f.valueBytes);
      std::memcpy(p, f.value, f.valueBytes);
      p += f.valueBytes;
      *p++ = 0;  // no headers
    }
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("bytes", Napi::Number::New(env, static_cast<double>(bytes)));
  result.Set("firstTimestampMs", Napi::Number::New(env, first));
  result.Set("maxTimestampMs", Napi::Number::New(env, max));
  return result;
}

Registrar reg([](Napi::Env env, Napi::Object exports) { exports.Set("encodeKafkaRecords", Napi::Function::New(env, JsEncodeKafkaRecords, "encodeKafkaRecords")); });

}  // namespace
}  // namespace sluice
