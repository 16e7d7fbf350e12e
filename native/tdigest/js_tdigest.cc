// JS binding of the t-digest core (tdigest.h): the `TDigest` class and `tdigestFromBytes` for
// digests the addon owns, and the digest* functions for digests inside caller memory (an arena's
// Float64Array over a SharedArrayBuffer). Types: src/native/tdigest.ts.
//
// Every function is synchronous. Invalid arguments throw a TypeError (or an Error for bytes that
// are not a digest) with code SLUICE_TDIGEST_INVALID; nothing is changed when a call throws.
// Working memory (sort buffers, a temporary digest for queries) is per OS thread, so the addon can
// run in any number of worker threads at once; a digest itself must have one writer at a time.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common/module.h"
#include "tdigest/tdigest.h"

namespace sluice {
namespace {

namespace td = sluice::tdigest;

constexpr const char* kInvalid = "SLUICE_TDIGEST_INVALID";

td::Scratch& ThreadScratch() {
  thread_local td::Scratch scratch;  // one per thread: workers never share it
  return scratch;
}

std::string NumberText(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

bool ReadNumber(const Napi::Value& v, double* out) {
  if (!v.IsNumber()) return false;
  *out = v.As<Napi::Number>().DoubleValue();
  return true;
}

// Per-environment data: the index of the TDigest constructor in Instance(env).constructors is
// passed to every method as the class's data pointer (an integer, not a pointer to shared state).
Napi::FunctionReference& Ctor(Napi::Env env, void* data) {
  return Instance(env).constructors[reinterpret_cast<uintptr_t>(data)];
}

class JsTDigest : public Napi::ObjectWrap<JsTDigest> {
 public:
  static Napi::Function Define(Napi::Env env, void* data) {
    return DefineClass(env, "TDigest",
                       {InstanceMethod<&JsTDigest::Push>("push"), InstanceMethod<&JsTDigest::PushMany>("pushMany"),
                        InstanceMethod<&JsTDigest::Quantile>("quantile"), InstanceMethod<&JsTDigest::Cdf>("cdf"),
                        InstanceMethod<&JsTDigest::Merge>("merge"), InstanceMethod<&JsTDigest::Count>("count"),
                        InstanceMethod<&JsTDigest::ToBytes>("toBytes"), InstanceMethod<&JsTDigest::Cells>("cells"),
                        InstanceMethod<&JsTDigest::RegionBytes>("regionBytes")},
                       data);
  }

  // [sync] new TDigest(compression)
  // @param compression - number in [10, 10000]
  // @throw TypeError (SLUICE_TDIGEST_INVALID) if compression is not a number in [10, 10000]
  explicit JsTDigest(const Napi::CallbackInfo& info) : Napi::ObjectWrap<JsTDigest>(info), ctorData_(info.Data()) {
    Napi::Env env = info.Env();
    double compression = 0;
    if (info.Length() < 1 || !ReadNumber(info[0], &compression) || !td::ValidCompression(compression)) {
      ThrowTypeError(env, kInvalid, "TDigest: compression must be a number in [10, 10000]");
      return;
    }
    words_.assign(td::InitWords() + 13, 0);  // room for 13 values before the first growth
    td::Init(words_.data(), words_.size(), compression);
  }

  // Replaces this digest with the serialized one. Returns false after throwing.
  bool Load(Napi::Env env, const uint8_t* bytes, size_t n) {
    std::string error;
    const size_t need = td::FromBytesWords(bytes, n, &error);
    if (need == 0) {
      ThrowError(env, kInvalid, "tdigestFromBytes: " + error);
      return false;
    }
    std::vector<uint64_t> words(std::max(need, td::InitWords() + 13), 0);
    size_t ignored = 0;
    if (td::FromBytes(bytes, n, words.data(), words.size(), &ignored, &error, ThreadScratch()) != td::Status::kOk) {
      ThrowError(env, kInvalid, "tdigestFromBytes: " + error);
      return false;
    }
    words_.swap(words);
    return true;
  }

 private:
  // Grows the region so that `more` values (or a merge to `needWords`) fit.
  void Reserve(size_t needWords) {
    if (needWords <= words_.size()) return;
    const double compression = td::Compression(words_.data());
    size_t next = std::max(needWords, std::min(2 * words_.size(), td::FullWords(compression)));
    words_.resize(next, 0);
    td::Move(words_.data(), words_.data(), words_.size());  // records the new capacity
  }

  bool Fail(Napi::Env env, td::Status st, const std::string& what) {
    if (st == td::Status::kOk) return false;
    ThrowError(env, kInvalid, what + ": " + td::StatusMessage(st));
    return true;
  }

  // [sync] push(x): adds one value.
  // @param x - a finite number
  // @throw TypeError (SLUICE_TDIGEST_INVALID) if x is not a finite number (NaN, +-Infinity)
  Napi::Value Push(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    double x = 0;
    if (info.Length() < 1 || !ReadNumber(info[0], &x) || !std::isfinite(x)) {
      ThrowTypeError(env, kInvalid,
                     "push: expected a finite number, got " + (info.Length() && info[0].IsNumber() ? NumberText(x) : std::string("a non-number")));
      return env.Undefined();
    }
    Reserve(td::RequiredWords(td::Count(words_.data()) + 1, td::Compression(words_.data())));
    Fail(env, td::Add(words_.data(), &x, 1, ThreadScratch()), "push");
    return env.Undefined();
  }

  // [sync] pushMany(xs): adds every value of a Float64Array or Float32Array (views of a
  // SharedArrayBuffer too), in order. The same as push() of each value, bit for bit.
  // @param xs - Float64Array | Float32Array of finite numbers
  // @throw TypeError (SLUICE_TDIGEST_INVALID) if xs is not such an array, or holds NaN or +-Infinity
  //        (then nothing is added)
  Napi::Value PushMany(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Span<double> f64;
    Span<float> f32;
    const bool is64 = info.Length() >= 1 && GetFloat64Array(info[0], &f64);
    const bool is32 = !is64 && info.Length() >= 1 && GetFloat32Array(info[0], &f32);
    if (!is64 && !is32) {
      ThrowTypeError(env, kInvalid, "pushMany: expected a Float64Array or a Float32Array");
      return env.Undefined();
    }
    const size_t n = is64 ? f64.size : f32.size;
    Reserve(td::RequiredWords(td::Count(words_.data()) + static_cast<double>(n), td::Compression(words_.data())));
    td::Scratch& s = ThreadScratch();
    const td::Status st = is64 ? td::Add(words_.data(), f64.data, n, s) : td::AddFloat(words_.data(), f32.data, n, s);
    if (st == td::Status::kInvalidArgument) {
      size_t at = 0;
      double bad = 0;
      for (; at < n; ++at) {
        bad = is64 ? f64.data[at] : f32.data[at];
        if (!std::isfinite(bad)) break;
      }
      ThrowTypeError(env, kInvalid,
                     "pushMany: values must be finite numbers, got " + NumberText(bad) + " at index " + std::to_string(at));
      return env.Undefined();
    }
    Fail(env, st, "pushMany");
    return env.Undefined();
  }

  // [sync] quantile(q): the value below which a fraction q of the values lie; NaN when empty.
  // Exact (an order statistic) while the digest holds fewer than its buffer's values.
  // @param q - number in [0, 1]
  // @throw TypeError (SLUICE_TDIGEST_INVALID) if q is not a number in [0, 1]
  Napi::Value Quantile(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    double q = 0;
    if (info.Length() < 1 || !ReadNumber(info[0], &q) || !(q >= 0 && q <= 1)) {
      ThrowTypeError(env, kInvalid, "quantile: q must be a number in [0, 1]");
      return env.Undefined();
    }
    return Napi::Number::New(env, td::Quantile(words_.data(), q, ThreadScratch()));
  }

  // [sync] cdf(x): the fraction of values below x, counting values equal to x as half; NaN when empty.
  // @param x - a number (not NaN)
  // @throw TypeError (SLUICE_TDIGEST_INVALID) if x is not a number or is NaN
  Napi::Value Cdf(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    double x = 0;
    if (info.Length() < 1 || !ReadNumber(info[0], &x) || std::isnan(x)) {
      ThrowTypeError(env, kInvalid, "cdf: x must be a number (not NaN)");
      return env.Undefined();
    }
    return Napi::Number::New(env, td::Cdf(words_.data(), x, ThreadScratch()));
  }

  // [sync] merge(other): adds other's values (other is unchanged; other may be this digest).
  // @param other - a TDigest
  // @throw TypeError (SLUICE_TDIGEST_INVALID) if other is not a TDigest; Error if the count would
  //        pass 2^53
  Napi::Value Merge(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::FunctionReference& ctor = Ctor(env, ctorData_);
    if (info.Length() < 1 || !info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(ctor.Value())) {
      ThrowTypeError(env, kInvalid, "merge: expected a TDigest");
      return env.Undefined();
    }
    JsTDigest* other = JsTDigest::Unwrap(info[0].As<Napi::Object>());
    const std::vector<uint64_t> src = other == this ? words_ : std::vector<uint64_t>();
    const uint64_t* srcWords = other == this ? src.data() : other->words_.data();
    Reserve(td::RequiredWords(td::Count(words_.data()) + td::Count(srcWords), td::Compression(words_.data())));
    size_t need = 0;
    td::Status st = td::Merge(words_.data(), srcWords, ThreadScratch(), &need);
    if (st == td::Status::kNeedsCapacity) {  // e.g. a full source makes a small digest full
      Reserve(need);
      st = td::Merge(words_.data(), srcWords, ThreadScratch(), &need);
    }
    Fail(env, st, "merge");
    return env.Undefined();
  }

  // [sync] count(): the number of values added (merged digests included).
  Napi::Value Count(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), td::Count(words_.data()));
  }

  // [sync] toBytes(): the serialized digest (format version 1, see tdigest.h). Does not change the
  // digest; tdigestFromBytes(toBytes()) continues exactly as this digest would.
  Napi::Value ToBytes(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::vector<uint8_t> bytes;
    td::ToBytes(words_.data(), &bytes, ThreadScratch());
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, bytes.size());
    if (!bytes.empty()) std::memcpy(ab.Data(), bytes.data(), bytes.size());
    return Napi::Uint8Array::New(env, bytes.size(), ab, 0);
  }

  // [sync] cells(): cells ("centroids") held; 0 while the digest is exact.
  Napi::Value Cells(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), td::CellCount(words_.data()));
  }

  // [sync] regionBytes(): bytes the digest needs in caller memory (what an arena block holds).
  Napi::Value RegionBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(td::NeededWords(words_.data()) * 8));
  }

  std::vector<uint64_t> words_;
  void* ctorData_;  // the constructor's index (see Ctor)
};

// [sync] tdigestFromBytes(bytes): a TDigest from toBytes() output.
// @param bytes - Uint8Array (a Buffer too)
// @throw TypeError (SLUICE_TDIGEST_INVALID) if bytes is not a Uint8Array; Error (SLUICE_TDIGEST_INVALID)
//        saying what is wrong when the bytes are not a digest (empty, wrong magic or version,
//        truncated, inconsistent counts, values out of order or not finite, trailing bytes)
Napi::Value FromBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Span<uint8_t> bytes;
  if (info.Length() < 1 || !GetUint8Array(info[0], &bytes)) {
    ThrowTypeError(env, kInvalid, "tdigestFromBytes: expected a Uint8Array");
    return env.Undefined();
  }
  std::string error;
  if (td::FromBytesWords(bytes.data, bytes.size, &error) == 0) {
    ThrowError(env, kInvalid, "tdigestFromBytes: " + error);
    return env.Undefined();
  }
  // The compression is at bytes [5, 13); FromBytesWords checked it.
  double compression;
  std::memcpy(&compression, bytes.data + 5, 8);
  Napi::Object obj = Ctor(env, info.Data()).New({Napi::Number::New(env, compression)});
  if (env.IsExceptionPending()) return env.Undefined();
  if (!JsTDigest::Unwrap(obj)->Load(env, bytes.data, bytes.size)) return env.Undefined();
  return obj;
}

// ---------------------------------------------------------------- digests in caller memory

// Reads (region: Float64Array, offset words) and checks that a digest header fits there.
bool Region(const Napi::CallbackInfo& info, const char* fn, size_t argRegion, size_t argOffset, uint64_t** words,
            size_t* avail) {
  Napi::Env env = info.Env();
  Span<double> region;
  double off = 0;
  if (info.Length() <= argOffset || !GetFloat64Array(info[argRegion], &region) || !ReadNumber(info[argOffset], &off) ||
      !(off >= 0) || off != std::floor(off) || off + td::InitWords() > static_cast<double>(region.size)) {
    ThrowTypeError(env, kInvalid, std::string(fn) + ": expected (region: Float64Array, offsetWords) inside the region");
    return false;
  }
  *words = reinterpret_cast<uint64_t*>(region.data) + static_cast<size_t>(off);
  *avail = region.size - static_cast<size_t>(off);
  return true;
}

// A digest already in a region: its recorded capacity must fit in what is left of the region.
bool Block(const Napi::CallbackInfo& info, const char* fn, size_t argRegion, size_t argOffset, uint64_t** words) {
  size_t avail = 0;
  if (!Region(info, fn, argRegion, argOffset, words, &avail)) return false;
  if (td::CheckHeader(*words, avail) != td::Status::kOk) {
    ThrowError(info.Env(), kInvalid, std::string(fn) + ": no digest at that offset");
    return false;
  }
  return true;
}

// [sync] digestInitWords(compression): words an empty digest needs.
// @throw TypeError (SLUICE_TDIGEST_INVALID) if compression is not a number in [10, 10000]
Napi::Value DigestInitWords(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double c = 0;
  if (info.Length() < 1 || !ReadNumber(info[0], &c) || !td::ValidCompression(c)) {
    ThrowTypeError(env, kInvalid, "digestInitWords: compression must be a number in [10, 10000]");
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(td::InitWords()));
}

// [sync] digestInit(region, offsetWords, blockWords, compression): writes an empty digest.
// @throw TypeError (SLUICE_TDIGEST_INVALID) on a block outside the region, too small, or a bad compression
Napi::Value DigestInit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t* words = nullptr;
  size_t avail = 0;
  double blockWords = 0, c = 0;
  if (!Region(info, "digestInit", 0, 1, &words, &avail)) return env.Undefined();
  if (info.Length() < 4 || !ReadNumber(info[2], &blockWords) || !ReadNumber(info[3], &c) ||
      !(blockWords >= static_cast<double>(td::InitWords())) || blockWords != std::floor(blockWords) ||
      blockWords > static_cast<double>(avail) || !td::ValidCompression(c)) {
    ThrowTypeError(env, kInvalid, "digestInit: expected a block inside the region and a compression in [10, 10000]");
    return env.Undefined();
  }
  td::Init(words, static_cast<size_t>(blockWords), c);
  return env.Undefined();
}

// [sync] digestAdd(region, offsetWords, x): adds x. Returns 0, or the words the digest needs to
// take x: move it to a block that big (digestMove), then add again.
// @throw TypeError (SLUICE_TDIGEST_INVALID) if x is not finite or there is no digest at the offset
Napi::Value DigestAdd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t* words = nullptr;
  if (!Block(info, "digestAdd", 0, 1, &words)) return env.Undefined();
  double x = 0;
  if (info.Length() < 3 || !ReadNumber(info[2], &x) || !std::isfinite(x)) {
    ThrowTypeError(env, kInvalid, "digestAdd: expected a finite number");
    return env.Undefined();
  }
  const td::Status st = td::Add(words, &x, 1, ThreadScratch());
  if (st == td::Status::kNeedsCapacity)
    return Napi::Number::New(env, static_cast<double>(td::RequiredWords(td::Count(words) + 1, td::Compression(words))));
  if (st != td::Status::kOk) ThrowError(env, kInvalid, std::string("digestAdd: ") + td::StatusMessage(st));
  return Napi::Number::New(env, 0);
}

// [sync] digestAddRefs(region, slots, refs, values, begin, end, needOut): adds values[i] to the
// digest whose word offset is slots[refs[i]], for i from begin, in order (a window task's adds,
// one call instead of one per value). Stops at the first digest that needs a bigger block:
// returns its index and writes the words it needs to needOut[0]; returns end when all are in.
// @throw TypeError (SLUICE_TDIGEST_INVALID) on bad arguments, a ref outside slots, no digest at an
//        offset, or a value that is not finite
Napi::Value DigestAddRefs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Span<double> region, values, needOut;
  Span<int32_t> slots, refs;
  double begin = 0, end = 0;
  if (info.Length() < 7 || !GetFloat64Array(info[0], &region) || !GetInt32Array(info[1], &slots) ||
      !GetInt32Array(info[2], &refs) || !GetFloat64Array(info[3], &values) || !ReadNumber(info[4], &begin) ||
      !ReadNumber(info[5], &end) || !GetFloat64Array(info[6], &needOut) || needOut.size < 1 || !(begin >= 0) ||
      !(end >= begin) || end > static_cast<double>(refs.size) || end > static_cast<double>(values.size) ||
      begin != std::floor(begin) || end != std::floor(end)) {
    ThrowTypeError(env, kInvalid, "digestAddRefs: expected (region, slots, refs, values, begin, end, needOut)");
    return env.Undefined();
  }
  uint64_t* base = reinterpret_cast<uint64_t*>(region.data);
  td::Scratch& scratch = ThreadScratch();
  for (size_t i = static_cast<size_t>(begin); i < static_cast<size_t>(end); ++i) {
    const int32_t ref = refs.data[i];
    const double x = values.data[i];
    if (ref < 0 || static_cast<size_t>(ref) >= slots.size || !std::isfinite(x)) {
      ThrowTypeError(env, kInvalid, "digestAddRefs: a ref outside slots or a value that is not finite");
      return env.Undefined();
    }
    const int32_t off = slots.data[ref];
    if (off < 0 || static_cast<size_t>(off) + td::InitWords() > region.size ||
        td::CheckHeader(base + off, region.size - static_cast<size_t>(off)) != td::Status::kOk) {
      ThrowError(env, kInvalid, "digestAddRefs: no digest at that offset");
      return env.Undefined();
    }
    uint64_t* words = base + off;
    const td::Status st = td::Add(words, &x, 1, scratch);
    if (st == td::Status::kNeedsCapacity) {
      needOut.data[0] = static_cast<double>(td::RequiredWords(td::Count(words) + 1, td::Compression(words)));
      return Napi::Number::New(env, static_cast<double>(i));
    }
    if (st != td::Status::kOk) {
      ThrowError(env, kInvalid, std::string("digestAddRefs: ") + td::StatusMessage(st));
      return env.Undefined();
    }
  }
  return Napi::Number::New(env, end);
}

// [sync] digestMerge(region, dstOffsetWords, srcOffsetWords): merges src into dst (src unchanged).
// Returns 0, or the words dst needs: move it, then merge again.
// @throw TypeError (SLUICE_TDIGEST_INVALID) if there is no digest at either offset
Napi::Value DigestMerge(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t *dst = nullptr, *src = nullptr;
  if (!Block(info, "digestMerge", 0, 1, &dst) || !Block(info, "digestMerge", 0, 2, &src)) return env.Undefined();
  size_t need = 0;
  const td::Status st = td::Merge(dst, src, ThreadScratch(), &need);
  if (st == td::Status::kNeedsCapacity) return Napi::Number::New(env, static_cast<double>(need));
  if (st != td::Status::kOk) ThrowError(env, kInvalid, std::string("digestMerge: ") + td::StatusMessage(st));
  return Napi::Number::New(env, 0);
}

// [sync] digestMove(region, fromOffsetWords, toOffsetWords, blockWords): copies a digest to another
// block of blockWords words (at least what it needs) and records that capacity there.
// @throw TypeError (SLUICE_TDIGEST_INVALID) if there is no digest at from, or the block is too small
//        or outside the region
Napi::Value DigestMove(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t *from = nullptr, *to = nullptr;
  size_t avail = 0;
  double blockWords = 0;
  if (!Block(info, "digestMove", 0, 1, &from) || !Region(info, "digestMove", 0, 2, &to, &avail)) return env.Undefined();
  if (info.Length() < 4 || !ReadNumber(info[3], &blockWords) || blockWords != std::floor(blockWords) ||
      !(blockWords >= static_cast<double>(td::NeededWords(from))) || blockWords > static_cast<double>(avail)) {
    ThrowTypeError(env, kInvalid, "digestMove: the block must be inside the region and hold the digest");
    return env.Undefined();
  }
  const td::Status st = td::Move(from, to, static_cast<size_t>(blockWords));
  if (st != td::Status::kOk) ThrowError(env, kInvalid, std::string("digestMove: ") + td::StatusMessage(st));
  return env.Undefined();
}

// [sync] digestQuantile(region, offsetWords, q): the q-quantile; NaN for an empty digest.
// @throw TypeError (SLUICE_TDIGEST_INVALID) if q is not in [0, 1] or there is no digest at the offset
Napi::Value DigestQuantile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t* words = nullptr;
  if (!Block(info, "digestQuantile", 0, 1, &words)) return env.Undefined();
  double q = 0;
  if (info.Length() < 3 || !ReadNumber(info[2], &q) || !(q >= 0 && q <= 1)) {
    ThrowTypeError(env, kInvalid, "digestQuantile: q must be a number in [0, 1]");
    return env.Undefined();
  }
  return Napi::Number::New(env, td::Quantile(words, q, ThreadScratch()));
}

Registrar reg([](Napi::Env env, Napi::Object exports) {
  auto& ctors = Instance(env).constructors;
  void* index = reinterpret_cast<void*>(static_cast<uintptr_t>(ctors.size()));
  Napi::Function ctor = JsTDigest::Define(env, index);
  ctors.push_back(Napi::Persistent(ctor));
  exports.Set("TDigest", ctor);
  exports.Set("tdigestFromBytes", Napi::Function::New(env, FromBytes, "tdigestFromBytes", index));
  exports.Set("digestInitWords", Napi::Function::New(env, DigestInitWords, "digestInitWords"));
  exports.Set("digestInit", Napi::Function::New(env, DigestInit, "digestInit"));
  exports.Set("digestAdd", Napi::Function::New(env, DigestAdd, "digestAdd"));
  exports.Set("digestAddRefs", Napi::Function::New(env, DigestAddRefs, "digestAddRefs"));
  exports.Set("digestMerge", Napi::Function::New(env, DigestMerge, "digestMerge"));
  exports.Set("digestMove", Napi::Function::New(env, DigestMove, "digestMove"));
  exports.Set("digestQuantile", Napi::Function::New(env, DigestQuantile, "digestQuantile"));
});

}  // namespace
}  // namespace sluice
