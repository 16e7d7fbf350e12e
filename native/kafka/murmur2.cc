// Kafka's default partitioner hash: murmur2 (seed 0x9747b28c) as the Java client computes it, so
// keyed records land where Java clients and kafkajs put them (partition = (h & 0x7fffffff) % n).
// kafkajs computes it with 64-bit Long objects per key; sluice hashes each key once, here.
#include <cstdint>
#include <cstring>
#include "common/module.h"

namespace sluice {

int32_t KafkaMurmur2(const uint8_t* data, size_t length) {
  constexpr uint32_t kSeed = 0x9747b28cu;
  constexpr uint32_t m = 0x5bd1e995u;
  uint32_t h = kSeed ^ static_cast<uint32_t>(length);
  const size_t length4 = length / 4;
  for (size_t i = 0; i < length4; i++) {
    uint32_t k;
    std::memcpy(&k, data + 4 * i, 4);  // little-endian, as the Java code assembles it
    k *= m;
    k ^= k >> 24;
    k *= m;
    h *= m;
    h ^= k;
  }
  const uint8_t* tail = data + (length & ~static_cast<size_t>(3));
  switch (length % 4) {
    case 3:
      h ^= static_cast<uint32_t>(tail[2]) << 16;
      [[fallthrough]];
    case 2:
      h ^= static_cast<uint32_t>(tail[1]) << 8;
      [[fallthrough]];
    case 1:
      h ^= tail[0];
      h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return static_cast<int32_t>(h);
}

namespace {

// [sync] murmur2(bytes: Uint8Array, start: number, end: number): number (signed 32-bit)
// @throw TypeError (SLUICE_RUNTIME) unless 0 <= start <= end <= bytes.length.
Napi::Value JsMurmur2(const Napi::CallbackInfo& info) {
  Span<uint8_t> range;
  if (!GetByteRange(info, "murmur2", &range)) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), KafkaMurmur2(range.data, range.size));
}

Registrar reg([](Napi::Env env, Napi::Object exports) { exports.Set("murmur2", Napi::Function::New(env, JsMurmur2, "murmur2")); });

}  // namespace
}  // namespace sluice
