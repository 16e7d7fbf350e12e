// CRC-32C (Castagnoli), the checksum of Kafka record batches (v2). kafkajs computes it in JS a
// byte at a time, a visible share of each produce; here it is the SSE4.2 instruction where the CPU
// has it, else slicing-by-8 tables.
#include <cstdint>
#include <cstring>
#include "common/module.h"

namespace sluice {
namespace {

constexpr uint32_t kPoly = 0x82F63B78u;  // reflected Castagnoli polynomial

struct Tables {
  uint32_t t[8][256];
  Tables() {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ kPoly : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
      for (int s = 1; s < 8; s++) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
  }
};
const Tables kTables;

uint32_t Crc32cTables(uint32_t crc, const uint8_t* p, size_t n) {
  const auto& t = kTables.t;
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);  // little-endian x86-64 / arm64
    w ^= crc;
    crc = t[7][w & 0xff] ^ t[6][(w >> 8) & 0xff] ^ t[5][(w >> 16) & 0xff] ^ t[4][(w >> 24) & 0xff] ^
          t[3][(w >> 32) & 0xff] ^ t[2][(w >> 40) & 0xff] ^ t[1][(w >> 48) & 0xff] ^ t[0][w >> 56];
    p += 8;
    n -= 8;
  }
  while (n--) crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xff];
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t Crc32cSse42(uint32_t crc, const uint8_t* p, size_t n) {
  uint64_t c = crc;
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    c = __builtin_ia32_crc32di(c, w);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
  return c32;
}
const bool kHasSse42 = __builtin_cpu_supports("sse4.2");
#endif

}  // namespace

uint32_t Crc32c(const uint8_t* p, size_t n) {
#if defined(__x86_64__)
  if (kHasSse42) return ~Crc32cSse42(~0u, p, n);
#endif
  return ~Crc32cTables(~0u, p, n);
}

namespace {

// crc32c(bytes: Uint8Array, start: number, end: number): number (unsigned)
Napi::Value JsCrc32c(const Napi::CallbackInfo& info) {
  Span<uint8_t> range;
  if (!GetByteRange(info, "crc32c", &range)) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), Crc32c(range.data, range.size));
}

Registrar reg([](Napi::Env env, Napi::Object exports) { exports.Set("crc32c", Napi::Function::New(env, JsCrc32c, "crc32c")); });

}  // namespace
}  // namespace sluice
