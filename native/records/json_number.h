// Numbers in records, written byte for byte as sluice's JavaScript encoders write them
// (src/records/number.ts), so that records made here and in JS are the same text.
#pragma once
#include <cstddef>

namespace sluice {
namespace records {

// Longest output of either writer: "-1.2345678901234567e-308" (24), with room to spare.
constexpr size_t kMaxNumberChars = 32;

// JavaScript's String(x) (Number::toString, radix 10) for a finite x; "null" for NaN and
// ±Infinity, as float64ToJson. Returns the end of what it wrote.
char* WriteFloat64Json(double x, char* out);

// float32ToJson: the fewest significant digits (6 to 9, from 1 for subnormals) whose decimal,
// read as a double and rounded to float32, is x; written as String() writes that double.
char* WriteFloat32Json(float x, char* out);

}  // namespace records
}  // namespace sluice
