// JS binding: encodeRecords(...) runs record programs (record_program.h) over rows and writes
// EncodedRecords columns (src/records/encoded.ts); gatherRecords(...) copies records from several
// of them into one, in a given order (the main thread's merge into output order).
#include <algorithm>
#include <charconv>
#include <string>
#include <cstring>
#include <vector>

#include "common/module.h"
#include "records/json_number.h"
#include "records/record_program.h"

namespace sluice {
int32_t KafkaMurmur2(const uint8_t* data, size_t length);

namespace {

constexpr const char* kCode = "SLUICE_RUNTIME";
constexpr uint8_t kHasKey = 1;  // RecordFlag.HasKey

// A column: a typed array of one of the element types the ops read.
struct Column {
  napi_typedarray_type type = napi_uint8_array;
  const void* data = nullptr;
  size_t length = 0;
};

bool GetColumn(const Napi::Value& v, Column* out) {
  if (!v.IsTypedArray()) return false;
  void* data = nullptr;
  if (napi_get_typedarray_info(v.Env(), v, &out->type, &out->length, &data, nullptr, nullptr) != napi_ok) return false;
  out->data = data;
  return true;
}

struct Keys {
  Span<int32_t> index;
  Span<uint8_t> bytes;
  int32_t start(int32_t id) const { return id == 0 ? 0 : index.data[(id - 1) * records::kKeyWords + 2]; }
  int32_t nameEnd(int32_t id) const { return index.data[id * records::kKeyWords]; }
  int32_t jsonEnd(int32_t id) const { return index.data[id * records::kKeyWords + 1]; }
  int32_t end(int32_t id) const { return index.data[id * records::kKeyWords + 2]; }
  bool valid(int32_t id) const { return id >= 0 && static_cast<size_t>(id + 1) * records::kKeyWords <= index.size; }
};

struct Program {
  const int32_t* ops = nullptr;
  size_t words = 0;
  size_t fixedBytes = 0;      // what a row's value needs at most, its key aside
  size_t fixedKeyBytes = 0;   // and its Kafka key, the key's own bytes aside
  int32_t keyJsonColumn = -1;  // the key id columns of its key ops (-1: none)
  int32_t kafkaKeyColumn = -1;
  const int32_t* textOp = nullptr;  // its kText op, if any (one at most)
};

// The checked inputs of one call.
struct Job {
  std::vector<Program> programs;
  Span<uint8_t> literals;
  std::vector<Column> columns;
  Span<uint8_t> kinds;  // empty: program 0 for every row
  Keys keys;
  Span<uint8_t> values, keyOut, flags;
  Span<int32_t> valueEnd, keyEnd, keyHash;
};

template <typename T>
bool At(const Column& c, napi_typedarray_type want, size_t i, T* out) {
  if (c.type != want || i >= c.length) return false;
  *out = static_cast<const T*>(c.data)[i];
  return true;
}

// Checks a program's ops against the columns and literals; sums its bytes but for the keys.
bool Compile(const Job& job, Program* p, std::string* why) {
  size_t bytes = 1;  // the newline
  for (size_t w = 0; w + records::kOpWords <= p->words; w += records::kOpWords) {
    const int32_t* op = p->ops + w;
    const auto code = static_cast<records::Op>(op[0]);
    const int32_t a = op[1], b = op[2], c = op[3];
    const bool column = a >= 0 && static_cast<size_t>(a) < job.columns.size();
    switch (code) {
      case records::Op::kEnd:
        p->fixedBytes = bytes;
        return true;
      case records::Op::kLiteral:
      case records::Op::kKeyLiteral:
        if (a < 0 || b < 0 || static_cast<size_t>(a) + b > job.literals.size) return *why = "a literal outside the literals", false;
        (code == records::Op::kLiteral ? bytes : p->fixedKeyBytes) += b;
        break;
      case records::Op::kFloat64:
      case records::Op::kFloat32:
      case records::Op::kInt32:
      case records::Op::kKeyFloat64:
        if (!column || b < 0 || c < 0) return *why = "a number op with a bad column", false;
        (code == records::Op::kKeyFloat64 ? p->fixedKeyBytes : bytes) += records::kMaxNumberChars;
        break;
      case records::Op::kFloat32List:
        if (!column || b < 1 || c < 0) return *why = "a list op with a bad column", false;
        bytes += b * (records::kMaxNumberChars + 1) + 2;
        break;
      case records::Op::kKeyJson:
      case records::Op::kKafkaKey:
        if (!column || job.columns[a].type != napi_int32_array) return *why = "a key op whose column is not an Int32Array", false;
        (code == records::Op::kKeyJson ? p->keyJsonColumn : p->kafkaKeyColumn) = a;
        break;
      case records::Op::kText: {
        const auto is = [&](int32_t i, napi_typedarray_type t) { return i >= 0 && static_cast<size_t>(i) < job.columns.size() && job.columns[i].type == t; };
        if (!is(a, napi_int32_array) || !is(b, napi_int32_array) || !is(c, napi_uint8_array)) return *why = "a text op whose columns are not Int32Array, Int32Array, Uint8Array", false;
        if (p->textOp != nullptr) return *why = "more than one text op", false;
        p->textOp = op;
        break;
      }
      default:
        return *why = "an unknown op " + std::to_string(op[0]), false;
    }
  }
  return *why = "a program without an end op", false;
}

// Bytes the row's keys need (JSON string in the value, Kafka key), or -1 for a bad key id.
int64_t KeyBytes(const Job& job, const Program& p, size_t row, int64_t* kafka) {
  const Keys& k = job.keys;
  int64_t json = 0;
  *kafka = static_cast<int64_t>(p.fixedKeyBytes);
  for (const int32_t column : {p.keyJsonColumn, p.kafkaKeyColumn}) {
    if (column < 0) continue;
    int32_t id;
    if (!At(job.columns[column], napi_int32_array, row, &id) || !k.valid(id)) return -1;
    if (column == p.keyJsonColumn) json += k.jsonEnd(id) > k.nameEnd(id) ? k.jsonEnd(id) - k.nameEnd(id) : k.nameEnd(id) - k.start(id) + 2;
    if (column == p.kafkaKeyColumn) *kafka += k.end(id) > k.jsonEnd(id) ? k.end(id) - k.jsonEnd(id) : k.nameEnd(id) - k.start(id);
  }
  return json;
}

// The bytes [*from, *to) of the row's text for kText op `op`; false when its text index or ends
// are outside their columns.
bool TextRange(const Job& job, const int32_t* op, size_t row, int32_t* from, int32_t* to) {
  const Column& ends = job.columns[op[2]];
  int32_t t;
  *from = 0;
  if (!At(job.columns[op[1]], napi_int32_array, row, &t) || t < 0 || !At(ends, napi_int32_array, t, to)) return false;
  if (t > 0 && !At(ends, napi_int32_array, t - 1, from)) return false;
  return *from >= 0 && *to >= *from && static_cast<size_t>(*to) <= job.columns[op[3]].length;
}

// Bytes of the row's text (kText), or -1 when it is outside its columns.
int64_t TextBytes(const Job& job, const Program& p, size_t row) {
  if (p.textOp == nullptr) return 0;
  int32_t from, to;
  return TextRange(job, p.textOp, row, &from, &to) ? to - from : -1;
}

// Every element a program reads for rows [from, to) is in its column, of the type the op reads.
bool ColumnsCover(const Job& job, const Program& p, size_t from, size_t to, std::string* why) {
  if (to <= from) return true;
  for (const int32_t* op = p.ops; static_cast<records::Op>(op[0]) != records::Op::kEnd; op += records::kOpWords) {
    const auto code = static_cast<records::Op>(op[0]);
    napi_typedarray_type want;
    size_t last;  // the largest index read
    const size_t stride = static_cast<size_t>(op[3]);
    switch (code) {
      case records::Op::kFloat64:
      case records::Op::kKeyFloat64:
        want = napi_float64_array, last = (to - 1) * stride + op[2];
        break;
      case records::Op::kFloat32:
        want = napi_float32_array, last = (to - 1) * stride + op[2];
        break;
      case records::Op::kFloat32List:
        want = napi_float32_array, last = (to - 1) * stride + op[2] - 1;
        break;
      case records::Op::kInt32:
        want = napi_int32_array, last = (to - 1) * stride + op[2];
        break;
      default:
        continue;
    }
    const Column& c = job.columns[op[1]];
    if (c.type != want || last >= c.length) return *why = "column " + std::to_string(op[1]) + " is too short for the rows, or of the wrong type", false;
  }
  return true;
}

// Runs program p for one row into value (and key); false when a column index is out of range.
bool RunRow(const Job& job, const Program& p, size_t row, uint8_t* value, uint8_t** valueEnd, uint8_t* key, uint8_t** keyEnd, bool* hasKey) {
  char* v = reinterpret_cast<char*>(value);
  char* k = reinterpret_cast<char*>(key);
  const Keys& keys = job.keys;
  for (const int32_t* op = p.ops; static_cast<records::Op>(op[0]) != records::Op::kEnd; op += records::kOpWords) {
    const int32_t a = op[1], b = op[2], c = op[3];
    const size_t i = row * static_cast<size_t>(c) + b;
    switch (static_cast<records::Op>(op[0])) {
      case records::Op::kLiteral:
        std::memcpy(v, job.literals.data + a, b);
        v += b;
        break;
      case records::Op::kKeyLiteral:
        std::memcpy(k, job.literals.data + a, b);
        k += b;
        break;
      // Types and bounds: checked for the call's rows by ColumnsCover.
      case records::Op::kFloat64:
        v = records::WriteFloat64Json(static_cast<const double*>(job.columns[a].data)[i], v);
        break;
      case records::Op::kKeyFloat64:
        k = records::WriteFloat64Json(static_cast<const double*>(job.columns[a].data)[i], k);
        break;
      case records::Op::kFloat32:
        v = records::WriteFloat32Json(static_cast<const float*>(job.columns[a].data)[i], v);
        break;
      case records::Op::kFloat32List: {
        const float* xs = static_cast<const float*>(job.columns[a].data) + row * static_cast<size_t>(c);
        if (b == 1) {
          v = records::WriteFloat32Json(xs[0], v);
          break;
        }
        *v++ = '[';
        for (int32_t j = 0; j < b; j++) {
          if (j > 0) *v++ = ',';
          v = records::WriteFloat32Json(xs[j], v);
        }
        *v++ = ']';
        break;
      }
      case records::Op::kInt32:
        v = std::to_chars(v, v + 12, static_cast<const int32_t*>(job.columns[a].data)[i]).ptr;
        break;
      case records::Op::kKeyJson: {
        int32_t id = 0;
        At(job.columns[a], napi_int32_array, row, &id);  // checked by KeyBytes
        if (keys.jsonEnd(id) > keys.nameEnd(id)) {
          std::memcpy(v, keys.bytes.data + keys.nameEnd(id), keys.jsonEnd(id) - keys.nameEnd(id));
          v += keys.jsonEnd(id) - keys.nameEnd(id);
        } else {
          *v++ = '"';
          std::memcpy(v, keys.bytes.data + keys.start(id), keys.nameEnd(id) - keys.start(id));
          v += keys.nameEnd(id) - keys.start(id);
          *v++ = '"';
        }
        break;
      }
      case records::Op::kText: {
        int32_t from = 0, to = 0;
        TextRange(job, op, row, &from, &to);  // checked by TextBytes
        std::memcpy(v, static_cast<const uint8_t*>(job.columns[c].data) + from, to - from);
        v += to - from;
        break;
      }
      case records::Op::kKafkaKey: {
        int32_t id = 0;
        At(job.columns[a], napi_int32_array, row, &id);
        const bool own = keys.end(id) > keys.jsonEnd(id);  // bytes of its own (lone surrogates)
        const int32_t from = own ? keys.jsonEnd(id) : keys.start(id);
        const int32_t to = own ? keys.end(id) : keys.nameEnd(id);
        std::memcpy(k, keys.bytes.data + from, to - from);
        k += to - from;
        *hasKey = true;
        break;
      }
      case records::Op::kEnd:
        break;
    }
  }
  *v++ = '\n';
  *valueEnd = reinterpret_cast<uint8_t*>(v);
  *keyEnd = reinterpret_cast<uint8_t*>(k);
  return true;
}

// [sync] encodeRecords(programs: Int32Array[], literals: Uint8Array, columns: TypedArray[],
//   kinds: Uint8Array | null, keyIndex: Int32Array, keyBytes: Uint8Array,
//   out: { values, valueEnd, keys, keyEnd, keyHash, flags }, cursor: Int32Array(5)): void
// cursor = [row, rowEnd, recordOut, valuesAt, keysAt]: encodes rows from `row` up to rowEnd
// (kinds[row] picks the program; 255 skips the row) as records from recordOut on, values from
// valuesAt and keys from keysAt, and advances the cursor. It stops early, between rows, when
// the out arrays have no room for the next row: grow them and call again.
// @throw TypeError (SLUICE_RUNTIME) on arguments of the wrong type, a bad program, a column too
// short for a row, or a key id outside the key table.
Napi::Value JsEncodeRecords(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto fail = [&](const std::string& why) {
    ThrowTypeError(env, kCode, "encodeRecords: " + why);
    return env.Undefined();
  };
  if (info.Length() != 8 || !info[0].IsArray() || !info[2].IsArray() || !info[6].IsObject()) return fail("expected (programs, literals, columns, kinds, keyIndex, keyBytes, out, cursor)");
  Job job;
  Span<int32_t> cursor;
  if (!GetUint8Array(info[1], &job.literals) || !GetInt32Array(info[4], &job.keys.index) || !GetUint8Array(info[5], &job.keys.bytes) ||
      !GetInt32Array(info[7], &cursor) || cursor.size != 5)
    return fail("literals, keyIndex, keyBytes or cursor of the wrong type");
  if (!info[3].IsNull() && !GetUint8Array(info[3], &job.kinds)) return fail("kinds must be a Uint8Array or null");
  Napi::Array columns = info[2].As<Napi::Array>();
  job.columns.resize(columns.Length());
  for (uint32_t i = 0; i < columns.Length(); i++)
    if (!GetColumn(columns.Get(i), &job.columns[i])) return fail("column " + std::to_string(i) + " is not a typed array");
  Napi::Array programs = info[0].As<Napi::Array>();
  job.programs.resize(programs.Length());
  for (uint32_t i = 0; i < programs.Length(); i++) {
    Span<int32_t> ops;
    if (!GetInt32Array(programs.Get(i), &ops)) return fail("program " + std::to_string(i) + " is not an Int32Array");
    job.programs[i].ops = ops.data;
    job.programs[i].words = ops.size;
    std::string why;
    if (!Compile(job, &job.programs[i], &why)) return fail("program " + std::to_string(i) + ": " + why);
  }
  Napi::Object out = info[6].As<Napi::Object>();
  if (!GetUint8Array(out.Get("values"), &job.values) || !GetInt32Array(out.Get("valueEnd"), &job.valueEnd) || !GetUint8Array(out.Get("keys"), &job.keyOut) ||
      !GetInt32Array(out.Get("keyEnd"), &job.keyEnd) || !GetInt32Array(out.Get("keyHash"), &job.keyHash) || !GetUint8Array(out.Get("flags"), &job.flags))
    return fail("out needs values, keys, flags (Uint8Array) and valueEnd, keyEnd, keyHash (Int32Array)");
  const size_t records = std::min({job.valueEnd.size, job.keyEnd.size, job.keyHash.size, job.flags.size});
  int32_t& row = cursor.data[0];
  const int32_t rowEnd = cursor.data[1];
  int32_t& recordOut = cursor.data[2];
  int32_t& valuesAt = cursor.data[3];
  int32_t& keysAt = cursor.data[4];
  if (row < 0 || rowEnd < row || recordOut < 0 || valuesAt < 0 || keysAt < 0 || static_cast<size_t>(valuesAt) > job.values.size || static_cast<size_t>(keysAt) > job.keyOut.size)
    return fail("cursor out of range");
  if (!job.kinds.data && job.programs.empty()) return fail("no program");
  for (size_t p = 0; p < job.programs.size(); p++) {
    std::string why;
    if (!ColumnsCover(job, job.programs[p], row, rowEnd, &why)) return fail("program " + std::to_string(p) + ": " + why);
  }
  for (; row < rowEnd; row++) {
    const uint8_t kind = job.kinds.data ? (static_cast<size_t>(row) < job.kinds.size ? job.kinds.data[row] : 255) : 0;
    if (kind == 255) continue;
    if (kind >= job.programs.size()) return fail("kinds[" + std::to_string(row) + "] names no program");
    const Program& p = job.programs[kind];
    int64_t kafkaBytes;
    const int64_t jsonBytes = KeyBytes(job, p, row, &kafkaBytes);
    if (jsonBytes < 0) return fail("row " + std::to_string(row) + ": a key id outside the key table, or a short key column");
    const int64_t textBytes = TextBytes(job, p, row);
    if (textBytes < 0) return fail("row " + std::to_string(row) + ": a text outside its columns");
    if (static_cast<size_t>(recordOut) >= records || valuesAt + p.fixedBytes + jsonBytes + textBytes > job.values.size || keysAt + kafkaBytes > static_cast<int64_t>(job.keyOut.size)) break;  // grow and call again
    uint8_t* valueEnd;
    uint8_t* keyEnd;
    bool hasKey = false;
    if (!RunRow(job, p, row, job.values.data + valuesAt, &valueEnd, job.keyOut.data + keysAt, &keyEnd, &hasKey))
      return fail("row " + std::to_string(row) + ": a column too short or of the wrong type");
    valuesAt = static_cast<int32_t>(valueEnd - job.values.data);
    const uint8_t* keyStart = job.keyOut.data + keysAt;
    keysAt = static_cast<int32_t>(keyEnd - job.keyOut.data);
    job.valueEnd.data[recordOut] = valuesAt;
    job.keyEnd.data[recordOut] = keysAt;
    job.keyHash.data[recordOut] = hasKey ? KafkaMurmur2(keyStart, keyEnd - keyStart) : 0;
    job.flags.data[recordOut] = hasKey ? kHasKey : 0;
    recordOut++;
  }
  return env.Undefined();
}

// EncodedRecords columns, as the gather reads and writes them.
struct RecordColumns {
  Span<uint8_t> values, keys, flags;
  Span<int32_t> valueEnd, keyEnd, keyHash;
  Span<double> timestampMs;
};

bool GetRecordColumns(const Napi::Value& v, RecordColumns* c) {
  if (!v.IsObject()) return false;
  Napi::Object o = v.As<Napi::Object>();
  return GetUint8Array(o.Get("values"), &c->values) && GetInt32Array(o.Get("valueEnd"), &c->valueEnd) && GetUint8Array(o.Get("keys"), &c->keys) &&
         GetInt32Array(o.Get("keyEnd"), &c->keyEnd) && GetInt32Array(o.Get("keyHash"), &c->keyHash) && GetUint8Array(o.Get("flags"), &c->flags) &&
         GetFloat64Array(o.Get("timestampMs"), &c->timestampMs);
}

// [sync] gatherRecords(sources: RecordColumns[], source: Int32Array, row: Int32Array,
//   out: RecordColumns, cursor: Int32Array(5)): void
// cursor = [i, n, recordOut, valuesAt, keysAt]: appends record row[i] of sources[source[i]] for i
// from i up to n (value, key, hash, HasKey flag, timestamp) to out, and advances the cursor. It
// stops early, between records, when out has no room: grow it and call again.
// @throw TypeError (SLUICE_RUNTIME) on arguments of the wrong type or a record that is not there.
Napi::Value JsGatherRecords(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto fail = [&](const std::string& why) {
    ThrowTypeError(env, kCode, "gatherRecords: " + why);
    return env.Undefined();
  };
  if (info.Length() != 5 || !info[0].IsArray()) return fail("expected (sources, source, row, out, cursor)");
  Napi::Array list = info[0].As<Napi::Array>();
  std::vector<RecordColumns> sources(list.Length());
  for (uint32_t i = 0; i < list.Length(); i++)
    if (!GetRecordColumns(list.Get(i), &sources[i])) return fail("source " + std::to_string(i) + " is not a set of record columns");
  Span<int32_t> source, rows, cursor;
  RecordColumns out;
  if (!GetInt32Array(info[1], &source) || !GetInt32Array(info[2], &rows) || !GetRecordColumns(info[3], &out) || !GetInt32Array(info[4], &cursor) || cursor.size != 5)
    return fail("source, row, out or cursor of the wrong type");
  int32_t& i = cursor.data[0];
  const int32_t n = cursor.data[1];
  int32_t& recordOut = cursor.data[2];
  int32_t& valuesAt = cursor.data[3];
  int32_t& keysAt = cursor.data[4];
  const size_t capacity = std::min({out.valueEnd.size, out.keyEnd.size, out.keyHash.size, out.flags.size, out.timestampMs.size});
  if (i < 0 || n < i || static_cast<size_t>(n) > source.size || static_cast<size_t>(n) > rows.size || recordOut < 0 || valuesAt < 0 || keysAt < 0 ||
      static_cast<size_t>(valuesAt) > out.values.size || static_cast<size_t>(keysAt) > out.keys.size)
    return fail("cursor out of range");
  for (; i < n; i++) {
    const int32_t s = source.data[i], r = rows.data[i];
    if (s < 0 || static_cast<size_t>(s) >= sources.size()) return fail("no source " + std::to_string(s));
    const RecordColumns& c = sources[s];
    if (r < 0 || static_cast<size_t>(r) >= c.valueEnd.size || static_cast<size_t>(r) >= c.keyEnd.size || static_cast<size_t>(r) >= c.flags.size ||
        static_cast<size_t>(r) >= c.keyHash.size || static_cast<size_t>(r) >= c.timestampMs.size)
      return fail("source " + std::to_string(s) + " has no record " + std::to_string(r));
    const int32_t vs = r == 0 ? 0 : c.valueEnd.data[r - 1], ve = c.valueEnd.data[r];
    const int32_t ks = r == 0 ? 0 : c.keyEnd.data[r - 1], ke = c.keyEnd.data[r];
    if (vs < 0 || ve < vs || static_cast<size_t>(ve) > c.values.size || ks < 0 || ke < ks || static_cast<size_t>(ke) > c.keys.size)
      return fail("source " + std::to_string(s) + ": record " + std::to_string(r) + " is out of its buffers");
    if (static_cast<size_t>(recordOut) >= capacity || static_cast<size_t>(valuesAt) + (ve - vs) > out.values.size || static_cast<size_t>(keysAt) + (ke - ks) > out.keys.size) break;
    std::memcpy(out.values.data + valuesAt, c.values.data + vs, ve - vs);
    std::memcpy(out.keys.data + keysAt, c.keys.data + ks, ke - ks);
    valuesAt += ve - vs;
    keysAt += ke - ks;
    out.valueEnd.data[recordOut] = valuesAt;
    out.keyEnd.data[recordOut] = keysAt;
    out.keyHash.data[recordOut] = c.keyHash.data[r];
    out.flags.data[recordOut] = c.flags.data[r] & kHasKey;
    out.timestampMs.data[recordOut] = c.timestampMs.data[r];
    recordOut++;
  }
  return env.Undefined();
}

// float32ListJson(values): "a,b,c" as float32ToJson writes each (sluice serve's answers).
Napi::Value JsFloat32ListJson(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    Napi::TypeError e = Napi::TypeError::New(env, "float32ListJson: expected a Float32Array");
    e.Set("code", Napi::String::New(env, "SLUICE_RUNTIME"));
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Float32Array values = info[0].As<Napi::Float32Array>();
  const size_t n = values.ElementLength();
  std::string text;
  text.resize(n * (records::kMaxNumberChars + 1));
  char* at = text.data();
  for (size_t i = 0; i < n; i++) {
    if (i > 0) *at++ = ',';
    at = records::WriteFloat32Json(values[i], at);
  }
  return Napi::String::New(env, text.data(), at - text.data());
}

Registrar reg([](Napi::Env env, Napi::Object exports) {
  exports.Set("float32ListJson", Napi::Function::New(env, JsFloat32ListJson, "float32ListJson"));
  exports.Set("encodeRecords", Napi::Function::New(env, JsEncodeRecords, "encodeRecords"));
  exports.Set("gatherRecords", Napi::Function::New(env, JsGatherRecords, "gatherRecords"));
});

}  // namespace
}  // namespace sluice
