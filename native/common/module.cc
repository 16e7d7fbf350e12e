#include "common/module.h"

namespace sluice {

std::vector<ModuleInit>& ModuleInits() {
  static std::vector<ModuleInit> inits;  // filled during static init, read-only afterwards
  return inits;
}

static void SetCode(Napi::Error& err, const char* code) {
  err.Set("code", Napi::String::New(err.Env(), code));
}

void ThrowError(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  SetCode(err, code);
  err.ThrowAsJavaScriptException();
}

void ThrowTypeError(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error err = Napi::TypeError::New(env, message);
  SetCode(err, code);
  err.ThrowAsJavaScriptException();
}

InstanceData& Instance(Napi::Env env) { return *env.GetInstanceData<InstanceData>(); }

template <typename T>
static bool GetTyped(const Napi::Value& v, napi_typedarray_type want, Span<T>* out) {
  if (!v.IsTypedArray()) return false;
  // napi_get_typedarray_info gives the element pointer directly; unlike Napi::ArrayBuffer it also
  // works when the view is over a SharedArrayBuffer.
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(v.Env(), v, &type, &length, &data, nullptr, nullptr) != napi_ok) return false;
  if (type != want) return false;
  out->data = static_cast<T*>(data);
  out->size = length;
  return true;
}

bool GetFloat32Array(const Napi::Value& v, Span<float>* out) { return GetTyped(v, napi_float32_array, out); }
bool GetFloat64Array(const Napi::Value& v, Span<double>* out) { return GetTyped(v, napi_float64_array, out); }
bool GetInt32Array(const Napi::Value& v, Span<int32_t>* out) { return GetTyped(v, napi_int32_array, out); }
bool GetUint32Array(const Napi::Value& v, Span<uint32_t>* out) { return GetTyped(v, napi_uint32_array, out); }
bool GetUint8Array(const Napi::Value& v, Span<uint8_t>* out) { return GetTyped(v, napi_uint8_array, out); }

bool GetByteRange(const Napi::CallbackInfo& info, const char* name, Span<uint8_t>* out) {
  Span<uint8_t> bytes;
  if (info.Length() != 3 || !GetUint8Array(info[0], &bytes) || !info[1].IsNumber() || !info[2].IsNumber()) {
    ThrowTypeError(info.Env(), "SLUICE_RUNTIME", std::string(name) + "(bytes: Uint8Array, start: number, end: number)");
    return false;
  }
  const double start = info[1].As<Napi::Number>().DoubleValue();
  const double end = info[2].As<Napi::Number>().DoubleValue();
  if (!(start >= 0 && start <= end && end <= static_cast<double>(bytes.size))) {
    ThrowTypeError(info.Env(), "SLUICE_RUNTIME", std::string(name) + ": start and end must satisfy 0 <= start <= end <= bytes.length");
    return false;
  }
  out->data = bytes.data + static_cast<size_t>(start);
  out->size = static_cast<size_t>(end) - static_cast<size_t>(start);
  return true;
}

}  // namespace sluice
