// JS binding of the native decode step: `new NativeDecoder(spec)`, `decode(...)` over a packed batch,
// and the key table (`keyName`, `keyPartition`, `internKey`, `numKeys`). Types and the status codes
// are in src/native/decode.ts; src/decode/native-decoder.ts is the only caller.
#include <algorithm>
#include <cstring>
#include <memory>

#include "common/module.h"
#include "decode/json_scan.h"
#include "decode/json_text.h"

namespace sluice {
namespace {

constexpr const char* kInvalid = "SLUICE_DECODE_INVALID";

// A JS string as WTF-8, the key table's and the scanner's encoding.
bool ToWtf8(const Napi::Value& v, std::string* out) {
  if (!v.IsString()) return false;
  const std::u16string units = v.As<Napi::String>().Utf16Value();
  out->clear();
  decode::AppendWtf8(units.data(), units.size(), out);
  return true;
}

// A non-negative integer below `limit`, or -1.
int64_t Index(const Napi::Value& v, double limit) {
  if (!v.IsNumber()) return -1;
  const double d = v.As<Napi::Number>().DoubleValue();
  return d >= 0 && d < limit && d == static_cast<double>(static_cast<int64_t>(d)) ? static_cast<int64_t>(d) : -1;
}

// {kind, values, index, buckets} (src/native/decode.ts).
bool ReadColumn(const Napi::Value& v, decode::Column* out) {
  if (!v.IsObject()) return false;
  Napi::Object o = v.As<Napi::Object>();
  const int64_t kind = Index(o.Get("kind"), 11), index = Index(o.Get("index"), 2147483648.0);
  const int64_t buckets = Index(o.Get("buckets"), 2147483649.0);
  Napi::Value values = o.Get("values");
  if (kind < 0 || index < 0 || buckets < 0 || !values.IsArray()) return false;
  out->kind = static_cast<decode::ColumnKind>(kind);
  out->index = static_cast<int32_t>(index);
  out->buckets = static_cast<uint32_t>(buckets);
  if (out->kind == decode::ColumnKind::kHash && out->buckets == 0) return false;
  Napi::Array list = values.As<Napi::Array>();
  for (uint32_t i = 0; i < list.Length(); ++i) {
    if (!ToWtf8(list.Get(i), &out->values.emplace_back())) return false;
  }
  return true;
}

class JsDecoder : public Napi::ObjectWrap<JsDecoder> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeDecoder",
                       {InstanceMethod<&JsDecoder::Decode>("decode"),
                        InstanceMethod<&JsDecoder::KeyName>("keyName"),
                        InstanceMethod<&JsDecoder::KeyPartition>("keyPartition"),
                        InstanceMethod<&JsDecoder::InternKey>("internKey"),
                        InstanceAccessor<&JsDecoder::NumKeys>("numKeys")});
  }

  // [sync] new NativeDecoder({keyPath, timestampPath, fieldPaths, maxEventBytes, numPartitions}).
  // @throw TypeError (SLUICE_DECODE_INVALID) on a missing field or one of the wrong type.
  explicit JsDecoder(const Napi::CallbackInfo& info) : Napi::ObjectWrap<JsDecoder>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) {
      ThrowTypeError(env, kInvalid, "NativeDecoder: expected a spec object");
      return;
    }
    Napi::Object spec = info[0].As<Napi::Object>();
    decode::Spec s;
    Napi::Value fields = spec.Get("fieldPaths"), maxBytes = spec.Get("maxEventBytes");
    const int64_t partitions = Index(spec.Get("numPartitions"), 2147483648.0);
    if (!ToWtf8(spec.Get("keyPath"), &s.keyPath) || !ToWtf8(spec.Get("timestampPath"), &s.timestampPath) ||
        !fields.IsArray() || !maxBytes.IsNumber() || partitions < 1) {
      ThrowTypeError(env, kInvalid,
                     "NativeDecoder: spec needs keyPath and timestampPath strings, fieldPaths: string[], "
                     "maxEventBytes: number and numPartitions: a positive integer");
      return;
    }
    Napi::Array list = fields.As<Napi::Array>();
    for (uint32_t i = 0; i < list.Length(); ++i) {
      s.fieldPaths.emplace_back();
      if (!ToWtf8(list.Get(i), &s.fieldPaths.back())) {
        ThrowTypeError(env, kInvalid, "NativeDecoder: fieldPaths[" + std::to_string(i) + "] is not a string");
        return;
      }
    }
    Napi::Value columns = spec.Get("columns");
    if (!columns.IsUndefined()) {
      if (!columns.IsArray() || columns.As<Napi::Array>().Length() != list.Length()) {
        ThrowTypeError(env, kInvalid, "NativeDecoder: columns must be an array with one entry per field path");
        return;
      }
      Napi::Array cs = columns.As<Napi::Array>();
      for (uint32_t i = 0; i < cs.Length(); ++i) {
        if (!ReadColumn(cs.Get(i), &s.columns.emplace_back())) {
          ThrowTypeError(env, kInvalid,
                         "NativeDecoder: columns[" + std::to_string(i) +
                             "] needs kind (0-10), values: string[], index and buckets (non-negative integers)");
          return;
        }
      }
    }
    Napi::Value eventId = spec.Get("eventIdPath");
    if (!eventId.IsUndefined() && !ToWtf8(eventId, &s.eventIdPath)) {
      ThrowTypeError(env, kInvalid, "NativeDecoder: eventIdPath must be a string");
      return;
    }
    s.maxEventBytes = maxBytes.As<Napi::Number>().DoubleValue();
    scanner_ = std::make_unique<decode::Scanner>(s);
    keys_ = std::make_unique<decode::KeyTable>(static_cast<uint32_t>(partitions));
  }

 private:
  // [sync] decode(data, starts, ends, recordTimestampMs, out, begin = 0, outBegin = 0) -> number.
  // Decodes messages begin.. of starts.length, message i being data[starts[i], ends[i]). Clean
  // events go to out rows outBegin.. in order, their keys interned; status[i] gets every message's
  // code. Stops right after the first message whose status is 6 (needs JS), or that the caller
  // preset to 6, so the caller can decode it in JS (interning its key) before resuming at i + 1:
  // key ids then follow arrival order exactly. Returns the number of clean events written.
  // @throw TypeError (SLUICE_DECODE_INVALID) on wrong types, a range outside data, or out columns
  // too short for every remaining message; nothing is written then.
  Napi::Value Decode(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Span<uint8_t> data, status;
    Span<int32_t> starts, ends, rawIndex, keyId;
    Span<double> recordTs, timestampMs, fields;
    if (info.Length() < 5 || !GetUint8Array(info[0], &data) || !GetInt32Array(info[1], &starts) ||
        !GetInt32Array(info[2], &ends) || !GetFloat64Array(info[3], &recordTs) || !info[4].IsObject()) {
      ThrowTypeError(env, kInvalid,
                     "decode: expected (data: Uint8Array, starts: Int32Array, ends: Int32Array, "
                     "recordTimestampMs: Float64Array, out: object[, begin, outBegin])");
      return env.Undefined();
    }
    Napi::Object out = info[4].As<Napi::Object>();
    if (!GetInt32Array(out.Get("rawIndex"), &rawIndex) || !GetInt32Array(out.Get("keyId"), &keyId) ||
        !GetFloat64Array(out.Get("timestampMs"), &timestampMs) || !GetFloat64Array(out.Get("fields"), &fields) ||
        !GetUint8Array(out.Get("status"), &status)) {
      ThrowTypeError(env, kInvalid,
                     "decode: out needs rawIndex: Int32Array, keyId: Int32Array, timestampMs: Float64Array, "
                     "fields: Float64Array and status: Uint8Array");
      return env.Undefined();
    }
    const size_t count = starts.size;
    const int64_t begin = info.Length() > 5 && !info[5].IsUndefined() ? Index(info[5], static_cast<double>(count) + 1) : 0;
    const int64_t outBegin = info.Length() > 6 && !info[6].IsUndefined() ? Index(info[6], 2147483648.0) : 0;
    if (begin < 0 || outBegin < 0) {
      ThrowTypeError(env, kInvalid, "decode: begin must be an integer in [0, starts.length] and outBegin one >= 0");
      return env.Undefined();
    }
    if (ends.size < count || recordTs.size < count || status.size < count) {
      ThrowTypeError(env, kInvalid, "decode: ends, recordTimestampMs and out.status need starts.length entries");
      return env.Undefined();
    }
    // Event ids (a spec with eventIdPath): row r's JSON text is eventIds[eventIdEnd[r - 1], eventIdEnd[r]).
    Span<uint8_t> ids;
    Span<int32_t> idEnd;
    const bool withIds = !out.Get("eventIds").IsUndefined();
    if (withIds && (!GetUint8Array(out.Get("eventIds"), &ids) || !GetInt32Array(out.Get("eventIdEnd"), &idEnd))) {
      ThrowTypeError(env, kInvalid, "decode: out.eventIds must be a Uint8Array and out.eventIdEnd an Int32Array");
      return env.Undefined();
    }
    const size_t F = scanner_->numFields();
    size_t rows = std::min({rawIndex.size, keyId.size, timestampMs.size});
    if (F > 0) rows = std::min(rows, fields.size / F);
    if (withIds) rows = std::min(rows, idEnd.size);
    if (rows < static_cast<size_t>(outBegin) || rows - static_cast<size_t>(outBegin) < count - static_cast<size_t>(begin)) {
      ThrowTypeError(env, kInvalid, "decode: out columns need a row from outBegin for every message from begin");
      return env.Undefined();
    }
    for (size_t i = static_cast<size_t>(begin); i < count; ++i) {
      if (starts.data[i] < 0 || ends.data[i] < starts.data[i] || static_cast<size_t>(ends.data[i]) > data.size) {
        ThrowTypeError(env, kInvalid, "decode: message " + std::to_string(i) + " is not a range inside data");
        return env.Undefined();
      }
    }
    size_t row = static_cast<size_t>(outBegin);
    size_t idAt = withIds && outBegin > 0 ? static_cast<size_t>(idEnd.data[outBegin - 1]) : 0;
    decode::Decoded d;
    // An empty typed array may have a null data pointer; offsets are only applied to real ones.
    static const uint8_t kNoBytes[1] = {0};
    const uint8_t* bytes = data.data != nullptr ? data.data : kNoBytes;
    for (size_t i = static_cast<size_t>(begin); i < count; ++i) {
      if (status.data[i] == decode::kNeedsJs) break;  // preset by the caller
      const decode::Status s = scanner_->Decode(bytes + starts.data[i], static_cast<size_t>(ends.data[i] - starts.data[i]),
                                                recordTs.data[i], &d, F > 0 ? fields.data + row * F : nullptr);
      status.data[i] = s;
      if (s == decode::kNeedsJs) break;
      if (s != decode::kClean) continue;
      if (withIds) {
        const size_t n = d.eventId.size() + (d.eventIdQuoted ? 2 : 0);
        if (idAt + n > ids.size) {  // the caller reserves enough: message bytes + 32 each
          ThrowTypeError(env, kInvalid, "decode: out.eventIds has no room for message " + std::to_string(i) + "'s event id");
          return env.Undefined();
        }
        uint8_t* w = ids.data + idAt;
        if (d.eventIdQuoted) *w++ = '"';
        std::memcpy(w, d.eventId.data(), d.eventId.size());
        if (d.eventIdQuoted) w[d.eventId.size()] = '"';
        idAt += n;
        idEnd.data[row] = static_cast<int32_t>(idAt);
      }
      rawIndex.data[row] = static_cast<int32_t>(i);
      keyId.data[row] = keys_->Intern(d.key);
      timestampMs.data[row] = d.timestampMs;
      ++row;
    }
    return Napi::Number::New(env, static_cast<double>(row - static_cast<size_t>(outBegin)));
  }

  // Reads a key id argument; throws and returns -1 when it is not one.
  int64_t KeyId(const Napi::CallbackInfo& info, const char* method) {
    const int64_t id = info.Length() > 0 ? Index(info[0], static_cast<double>(keys_->size())) : -1;
    if (id < 0) ThrowTypeError(info.Env(), kInvalid, std::string(method) + ": expected a key id below numKeys");
    return id;
  }

  // [sync] keyName(id) -> the key as a JS string. @throw TypeError (SLUICE_DECODE_INVALID) on a bad id.
  Napi::Value KeyName(const Napi::CallbackInfo& info) {
    const int64_t id = KeyId(info, "keyName");
    if (id < 0) return info.Env().Undefined();
    return Napi::String::New(info.Env(), decode::Wtf8ToUtf16(keys_->Name(static_cast<int32_t>(id))));
  }

  // [sync] keyPartition(id) -> keyHash(key) % numPartitions. @throw TypeError on a bad id.
  Napi::Value KeyPartition(const Napi::CallbackInfo& info) {
    const int64_t id = KeyId(info, "keyPartition");
    if (id < 0) return info.Env().Undefined();
    return Napi::Number::New(info.Env(), keys_->Partition(static_cast<int32_t>(id)));
  }

  // [sync] internKey(key) -> its id, interning it on first sight (the JS fallback's keys).
  // @throw TypeError (SLUICE_DECODE_INVALID) when key is not a string.
  Napi::Value InternKey(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !ToWtf8(info[0], &scratch_)) {
      ThrowTypeError(info.Env(), kInvalid, "internKey: expected a string");
      return info.Env().Undefined();
    }
    return Napi::Number::New(info.Env(), keys_->Intern(scratch_));
  }

  // [sync] numKeys: how many keys are interned.
  Napi::Value NumKeys(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(keys_->size()));
  }

  std::unique_ptr<decode::Scanner> scanner_;
  std::unique_ptr<decode::KeyTable> keys_;
  std::string scratch_;
};

Registrar reg([](Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = JsDecoder::Define(env);
  Instance(env).constructors.push_back(Napi::Persistent(ctor));
  exports.Set("NativeDecoder", ctor);
});

}  // namespace
}  // namespace sluice
