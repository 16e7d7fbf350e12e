// JS binding of the numeric JSON parser: parseJsonNumeric(bytes, maxDepth). Types are in
// src/native/json.ts. json_numeric.cc parses to a tape first, with no N-API call, so the numbers
// can all go to one ArrayBuffer; Build() then makes the values with the plain N-API C calls.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common/module.h"
#include "json/json_numeric.h"

namespace sluice {
namespace {

constexpr const char* kInvalid = "SLUICE_JSON_INVALID";

// The tape as JS values. Every numeric array is a Float64Array view of one ArrayBuffer holding
// them all: an off-heap ArrayBuffer is costly to make (an allocation and a backing store each,
// about 1.4 us here), a view of one is not. Returns nullptr when an N-API call failed.
napi_value Build(napi_env env, const uint8_t* input, const json::Tape& tape) {
  napi_value buffer = nullptr;
  if (!tape.numbers.empty()) {
    void* data = nullptr;
    if (napi_create_arraybuffer(env, tape.numbers.size() * sizeof(double), &data, &buffer) != napi_ok) return nullptr;
    std::memcpy(data, tape.numbers.data(), tape.numbers.size() * sizeof(double));
  }
  // Handles of finished values not yet in a container; all live in the call's handle scope, which
  // N-API keeps until the call returns.
  std::vector<napi_value> stack;
  std::vector<napi_property_descriptor> props;
  for (const json::Value& v : tape.values) {
    napi_value out = nullptr;
    napi_status status = napi_ok;
    switch (v.op) {
      case json::Op::kNull:
        status = napi_get_null(env, &out);
        break;
      case json::Op::kFalse:
      case json::Op::kTrue:
        status = napi_get_boolean(env, v.op == json::Op::kTrue, &out);
        break;
      case json::Op::kNumber:
        status = napi_create_double(env, v.number, &out);
        break;
      case json::Op::kAscii:  // Latin-1 makes a one-byte V8 string without a UTF-8 pass
        status = napi_create_string_latin1(env, reinterpret_cast<const char*>(input) + v.offset, v.count, &out);
        break;
      case json::Op::kString16:
        status = napi_create_string_utf16(env, tape.units.data() + v.offset, v.count, &out);
        break;
      case json::Op::kNumbers:
        status = napi_create_typedarray(env, napi_float64_array, v.count, buffer, v.offset * sizeof(double), &out);
        break;
      case json::Op::kArray: {
        // napi_create_array, then appending in order, keeps V8's packed elements (as JSON.parse's).
        if (napi_create_array(env, &out) != napi_ok) return nullptr;
        const size_t base = stack.size() - v.count;
        for (size_t i = 0; i < v.count && status == napi_ok; ++i) status = napi_set_element(env, out, static_cast<uint32_t>(i), stack[base + i]);
        stack.resize(base);
        break;
      }
      case json::Op::kObject: {
        if (napi_create_object(env, &out) != napi_ok) return nullptr;
        const size_t base = stack.size() - 2 * v.count;
        // Defined, not assigned: a "__proto__" key becomes an own property, as in JSON.parse,
        // instead of calling the prototype setter. A repeated key is defined again: the last wins.
        props.clear();
        for (size_t i = 0; i < v.count; ++i) {
          props.push_back({nullptr, stack[base + 2 * i], nullptr, nullptr, nullptr, stack[base + 2 * i + 1], napi_default_jsproperty, nullptr});
        }
        if (v.count > 0) status = napi_define_properties(env, out, v.count, props.data());
        stack.resize(base);
        break;
      }
    }
    if (status != napi_ok) return nullptr;
    stack.push_back(out);
  }
  return stack.size() == 1 ? stack[0] : nullptr;
}

// A SyntaxError, like JSON.parse's, with `code` set (the N-API call for one is NAPI_VERSION 9).
void ThrowSyntaxError(Napi::Env env, const std::string& message) {
  Napi::Value ctor = env.Global().Get("SyntaxError");
  if (ctor.IsFunction()) {
    Napi::Object err = ctor.As<Napi::Function>().New({Napi::String::New(env, message)});
    if (!env.IsExceptionPending()) {
      err.Set("code", Napi::String::New(env, kInvalid));
      napi_throw(env, err);
      return;
    }
  }
  if (!env.IsExceptionPending()) ThrowError(env, kInvalid, message);
}

std::string Describe(const uint8_t* data, size_t length, const json::SyntaxError& e) {
  std::string found = "the end of the input";
  if (e.offset < length) {
    const uint8_t c = data[e.offset];
    char buf[16];
    if (c >= 0x20 && c < 0x7F) {
      std::snprintf(buf, sizeof buf, "'%c'", c);
    } else {
      std::snprintf(buf, sizeof buf, "byte 0x%02X", c);
    }
    found = buf;
  }
  return "parseJsonNumeric: invalid JSON at byte " + std::to_string(e.offset) + ": expected " + e.expected + ", found " + found;
}

// [sync] parseJsonNumeric(bytes: Uint8Array, maxDepth: number) -> unknown. JSON.parse of the
// decoded text, except that non-empty arrays of numbers and nulls become Float64Arrays.
// @throw SyntaxError (SLUICE_JSON_INVALID) when bytes are not JSON or nest deeper than maxDepth;
// TypeError (SLUICE_RUNTIME) on wrong arguments; Error (SLUICE_RUNTIME) when out of memory.
Napi::Value JsParseJsonNumeric(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Span<uint8_t> bytes;
  const double maxDepth = info.Length() == 2 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
  if (info.Length() != 2 || !GetUint8Array(info[0], &bytes) || !(maxDepth >= 0) || maxDepth != std::floor(maxDepth)) {
    ThrowTypeError(env, "SLUICE_RUNTIME", "parseJsonNumeric(bytes: Uint8Array, maxDepth: a non-negative integer)");
    return env.Undefined();
  }
  json::Tape tape;
  json::SyntaxError error;
  napi_value result = nullptr;
  bool parsed = false;
  try {
    // Infinity (no limit) as the largest size_t: the parser's stack is on the heap, so that is safe.
    const size_t depth = maxDepth < 1e15 ? static_cast<size_t>(maxDepth) : SIZE_MAX;
    parsed = json::ParseNumeric(bytes.data, bytes.size, depth, &tape, &error);
    if (parsed) result = Build(env, bytes.data, tape);
  } catch (const std::exception& e) {  // std::bad_alloc, on a body too big for memory
    ThrowError(env, "SLUICE_RUNTIME", std::string("parseJsonNumeric: ") + e.what());
    return env.Undefined();
  }
  if (result != nullptr) return Napi::Value(env, result);
  if (!parsed) {
    if (error.tooDeep) {
      ThrowSyntaxError(env, "parseJsonNumeric: JSON nested deeper than maxDepth (" + std::to_string(static_cast<size_t>(std::fmin(maxDepth, 1e15))) +
                                ") at byte " + std::to_string(error.offset));
    } else {
      ThrowSyntaxError(env, Describe(bytes.data, bytes.size, error));
    }
  } else if (!env.IsExceptionPending()) {
    ThrowError(env, "SLUICE_RUNTIME", "parseJsonNumeric: building the result failed");
  }
  return env.Undefined();
}

Registrar reg([](Napi::Env env, Napi::Object exports) {
  exports.Set("parseJsonNumeric", Napi::Function::New(env, JsParseJsonNumeric, "parseJsonNumeric"));
});

}  // namespace
}  // namespace sluice
