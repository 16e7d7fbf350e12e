// Registration and error helpers shared by every binding file.
//
// Exception policy: the addon is built with NAPI_DISABLE_CPP_EXCEPTIONS. Core code (no Napi) reports
// failures by return value; binding code turns them into JS errors with ThrowError() and returns.
// Every JS error carries a stable `code` (SLUICE_*), as src/errors.ts expects.
#pragma once
#include <napi.h>
#include <functional>
#include <string>
#include <vector>

namespace sluice {

// Each binding file registers an initializer with a static Registrar; addon.cc runs them all.
using ModuleInit = std::function<void(Napi::Env, Napi::Object exports)>;
std::vector<ModuleInit>& ModuleInits();
struct Registrar {
  explicit Registrar(ModuleInit init) { ModuleInits().push_back(std::move(init)); }
};

// Throws a JS Error (or TypeError) with `code` set. Callers return right after.
void ThrowError(Napi::Env env, const char* code, const std::string& message);
void ThrowTypeError(Napi::Env env, const char* code, const std::string& message);

// Per-environment storage for class constructors, so the addon loads in any number of worker
// threads: nothing here is process-global.
struct InstanceData {
  std::vector<Napi::FunctionReference> constructors;
};
InstanceData& Instance(Napi::Env env);

// A typed-array argument as (pointer, element count); works on views of SharedArrayBuffers too.
template <typename T>
struct Span {
  T* data = nullptr;
  size_t size = 0;
};
bool GetFloat32Array(const Napi::Value& v, Span<float>* out);
bool GetFloat64Array(const Napi::Value& v, Span<double>* out);
bool GetInt32Array(const Napi::Value& v, Span<int32_t>* out);
bool GetUint32Array(const Napi::Value& v, Span<uint32_t>* out);
bool GetUint8Array(const Napi::Value& v, Span<uint8_t>* out);

// The arguments (bytes: Uint8Array, start: number, end: number) of a function named `name`, as
// the bytes [start, end); throws a TypeError (SLUICE_RUNTIME) and returns false when they are not.
bool GetByteRange(const Napi::CallbackInfo& info, const char* name, Span<uint8_t>* out);

}  // namespace sluice
