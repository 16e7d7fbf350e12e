// The native decode step (no Napi): one pass over a message's bytes that validates it as JSON
// exactly as JSON.parse would, and picks out the key, the event time and the numeric fields at
// their dotted paths. src/decode/decoder.ts (JsonDecoder) is the reference; a case this scanner
// cannot settle with certainty comes back as kNeedsJs and the caller decodes it with JsonDecoder.
//
// Strings are kept as WTF-8: UTF-8, except that a lone surrogate (only reachable through a \uXXXX
// escape or a JS string) is encoded as its own 3-byte sequence. That is the encoding keyHash() in
// src/decode/key-table.ts hashes, and it maps JS strings one-to-one, so byte equality of keys is
// string equality in JS.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {
namespace decode {

/** Per-message outcome; the numbers are the `status` codes of the JS binding (src/native/decode.ts). */
enum Status : uint8_t {
  kClean = 0,
  kTooLarge = 1,
  kDecode = 2,
  kMissingKey = 3,
  kBadTimestamp = 4,
  kBadField = 5,
  kNeedsJs = 6,  // valid or not, this message must be decoded by the JS path (JsonDecoder)
};

/** FNV-1a over the bytes, then murmur3's fmix32: keyHash() in src/decode/key-table.ts. */
uint32_t KeyHash(const uint8_t* bytes, size_t len);

/** Key bytes -> dense id in first-seen order, with each key's hash and partition (KeyTable.intern). */
class KeyTable {
 public:
  explicit KeyTable(uint32_t numPartitions);
  int32_t Intern(std::string_view key);
  size_t size() const { return entries_.size(); }
  /** Valid until the next Intern. */
  std::string_view Name(int32_t id) const;
  uint32_t Partition(int32_t id) const { return entries_[id].hash % numPartitions_; }

 private:
  // Keys up to kInlineBytes long (card ids, user ids) live in their entry, so a lookup reads the
  // slot and the entry and nothing else: with 10^4..10^6 keys each of those is a cache miss.
  static constexpr size_t kInlineBytes = 20;
  struct Entry {
    uint32_t hash;
    uint32_t length;
    char bytes[kInlineBytes];  // the key, or (longer keys) its offset in longKeys_ as a size_t
  };
  // Open addressing, linear probing, load <= 1/2. The hash sits next to the id so that probing
  // past other keys does not touch their entries.
  struct Slot {
    uint32_t hash;
    int32_t id;  // -1: empty
  };
  void Grow();
  uint32_t numPartitions_;
  std::vector<Entry> entries_;  // by key id
  std::vector<Slot> slots_;
  std::string longKeys_;  // bytes of keys longer than kInlineBytes, back to back
};

/** What a column reads at its path (src/decode/transforms.ts ColumnKind has the same numbers). */
enum class ColumnKind : int32_t {
  kNumber = 0,    // a finite number
  kCategory = 1,  // a string: its index in values, NaN for others
  kOneHot = 2,    // a string: 1 when it is values[index], else 0
  kLength = 3,    // a string: its length in UTF-16 units
  kWords = 4,     // a string: runs of characters that are not JS \s
  kHash = 5,      // a string: MurmurHash3 x86 32 (seed 0) of its UTF-8 bytes, mod buckets
  kHour = 6,      // a timestamp (epoch ms, or ISO-8601 as the event time reads it): UTC parts
  kMinute = 7,
  kWeekday = 8,  // Monday 0
  kDay = 9,
  kMonth = 10,
};

struct Column {
  ColumnKind kind = ColumnKind::kNumber;
  std::vector<std::string> values;  // WTF-8
  int32_t index = 0;
  uint32_t buckets = 0;
};

struct Spec {
  std::string keyPath;                  // WTF-8, dots for nesting
  std::string timestampPath;            // "$kafka": the record timestamp
  std::vector<std::string> fieldPaths;  // in column order
  std::vector<Column> columns;          // one per field path
  std::string eventIdPath;              // empty: none
  double maxEventBytes = 0;
};

/** What Scanner::Decode found in a clean message. `key` points into the message or the scanner. */
struct Decoded {
  std::string_view key;
  double timestampMs = 0;
  // The event id as JSON text (JSON.stringify of the value; null when absent), when the spec has
  // one: `eventId`, between quotes when `eventIdQuoted`.
  std::string_view eventId;
  bool eventIdQuoted = false;
};

class Scanner {
 public:
  explicit Scanner(const Spec& spec);
  size_t numFields() const { return fieldNodes_.size(); }

  /** Decodes one message; on kClean fills *out and fields[0, numFields()). Any bytes are safe. */
  Status Decode(const uint8_t* data, size_t len, double recordTimestampMs, Decoded* out, double* fields);

 private:
  // One node per distinct path prefix; node 0 is the root object. Nodes are numbered in preorder,
  // so a node's subtree is the range [node, subtreeEnd).
  struct Node {
    std::string segment;
    int32_t subtreeEnd = 0;
    std::vector<int32_t> children;
  };
  // The last value seen at a node's path in the current message (JSON.parse: the last duplicate wins).
  enum Kind : uint8_t { kNone, kString, kNumber, kNull, kOther };
  struct Found {
    Kind kind = kNone;
    bool plain = false;  // string without escapes or bytes >= 0x80: its raw bytes are its value
    uint32_t begin = 0, end = 0;  // the value's bytes; a string's without its quotes
  };

  int32_t AddPath(const std::string& path);
  int32_t MatchChild(int32_t node, const uint8_t* key, const uint8_t* keyEnd, bool plain);
  Status Scan(const uint8_t* data, size_t len);
  Status Key(const uint8_t* data, Decoded* out);
  Status Timestamp(const uint8_t* data, double recordTimestampMs, double* out);
  Status Field(const uint8_t* data, size_t column, double* out);
  Status EventId(const uint8_t* data, Decoded* out);
  Status StringValue(const uint8_t* data, const Found& f, std::string_view* out);

  std::vector<Node> nodes_;
  int32_t keyNode_ = -1;
  int32_t timestampNode_ = -1;  // -1: the record timestamp
  std::vector<int32_t> fieldNodes_;
  std::vector<Column> columns_;
  int32_t eventIdNode_ = -1;  // -1: the spec has no event id
  bool specHasReplacementChar_ = false;
  double maxEventBytes_;

  std::vector<Found> found_;
  std::vector<int32_t> stack_;  // open containers: (trie node + 1) * 2 + isObject
  bool needsJs_ = false;
  // Decoded strings: an object key being matched, the key value (Decoded::key may point here), the timestamp.
  std::string memberScratch_, keyScratch_, timestampScratch_, fieldScratch_;
  char numberKey_[32];
  char numberId_[32];
};

}  // namespace decode
}  // namespace sluice
