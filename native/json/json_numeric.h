// JSON text -> a tape of values, for request bodies (sluice serve, Open Inference Protocol v2):
// the grammar and values of JSON.parse(new TextDecoder().decode(bytes)), except that a non-empty
// array of numbers and nulls comes out whole as doubles (null -> NaN), not one value per element.
// No Napi here: js_json.cc turns the tape into JS values.
//
// Text decoding is TextDecoder's (non-fatal): a leading UTF-8 BOM is dropped, and invalid UTF-8
// inside a string reads as U+FFFD, one per maximal ill-formed subpart (WHATWG Encoding, "UTF-8
// decoder"); outside strings any byte >= 0x80 is a syntax error, as JSON.parse finds after decoding.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sluice {
namespace json {

enum class Op : uint8_t {
  kNull,
  kFalse,
  kTrue,
  kNumber,    // `number`
  kAscii,     // input bytes [offset, offset + count), all ASCII (so also Latin-1)
  kString16,  // Tape::units [offset, offset + count): UTF-16, lone surrogates from escapes kept
  kNumbers,   // a numeric array: Tape::numbers [offset, offset + count), count >= 1
  kArray,     // made of the `count` values before it
  kObject,    // made of the `count` (key, value) pairs before it, keys being strings
};

/** One value; a container comes after its elements (postfix order), so a stack rebuilds the tree. */
struct Value {
  Op op;
  size_t count = 0;
  size_t offset = 0;
  double number = 0;
};

struct Tape {
  std::vector<Value> values;
  // Every numeric array's elements back to back: the builder can put them all in one buffer.
  std::vector<double> numbers;
  std::u16string units;  // decoded strings that were not plain ASCII
};

/** Where and why the text is not JSON. `expected` names what would have been valid there. */
struct SyntaxError {
  size_t offset = 0;  // bytes from the start of the input (a BOM included)
  const char* expected = "";
  bool tooDeep = false;  // the nesting passed maxDepth rather than the grammar failing
};

/** Parses [data, data + length) onto an empty tape, or returns false with *error set. More than
 *  maxDepth open arrays and objects is an error (tooDeep); the parser does not recurse, so any
 *  depth is safe. Throws only std::bad_alloc. */
bool ParseNumeric(const uint8_t* data, size_t length, size_t maxDepth, Tape* tape, SyntaxError* error);

}  // namespace json
}  // namespace sluice
