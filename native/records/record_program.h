// A record layout as a small program run per row: literal bytes, numbers from columns, the key.
// JS compiles it (src/records/program.ts) and the addon runs it over a task's rows, so that a
// record's bytes cost no JS string. Ops are 4 int32 each: code and three operands.
#pragma once
#include <cstdint>

namespace sluice {
namespace records {

enum class Op : int32_t {
  kEnd = 0,
  kLiteral = 1,     // literal bytes [a, a + b) into the value
  kFloat64 = 2,     // column a (Float64Array), element row * c + b, as String() writes it
  kFloat32 = 3,     // column a (Float32Array), element row * c + b, as float32ToJson writes it
  kFloat32List = 4, // column a (Float32Array), b elements from row * c: one bare, more as [x,y]
  kInt32 = 5,       // column a (Int32Array), element row * c + b
  kKeyJson = 6,     // the key whose id is in column a (Int32Array), as a JSON string
  kKafkaKey = 7,    // the record's Kafka key starts as that key's Kafka bytes (column a)
  kKeyLiteral = 8,  // literal bytes [a, a + b) appended to the Kafka key
  kKeyFloat64 = 9,  // column a (Float64Array), element row * c + b, appended to the Kafka key
  kText = 10,       // text t = column a (Int32Array)[row]: bytes [end[t - 1], end[t]) of column c
                    // (Uint8Array), end being column b (Int32Array); a JSON value already
};

constexpr int kOpWords = 4;

// The key names table (src/decode/key-names.ts): per key id, 4 int32s
// [nameEnd, jsonEnd, end, hash]; key id i's bytes start where key i - 1's end.
constexpr int kKeyWords = 4;

}  // namespace records
}  // namespace sluice
