// The serialized form: ToBytes, FromBytes (part of the t-digest core; see tdigest.h for the format
// and tdigest_internal.h for the split).
#include "tdigest/tdigest_internal.h"

namespace sluice::tdigest {
using namespace detail;  // tdigest_internal.h

namespace {

constexpr uint8_t kBytesMagic[4] = {'T', 'D', 'G', 1};

class BitWriter {
 public:
  explicit BitWriter(std::vector<uint8_t>* out) : out_(out) {}
  void Put(uint64_t v, int n) {  // low n bits of v, n <= 64
    for (int i = 0; i < n; ++i) {
      if (used_ == 0) out_->push_back(0);
      if ((v >> i) & 1) out_->back() |= static_cast<uint8_t>(1u << used_);
      used_ = (used_ + 1) & 7;
    }
  }
  void Gamma(uint64_t v) {  // v >= 1
    int len = 63 - __builtin_clzll(v);
    Put(0, len);
    Put(1, 1);
    Put(v, len);  // low len bits (the top one is implied)
  }

 private:
  std::vector<uint8_t>* out_;
  int used_ = 0;
};

class BitReader {
 public:
  BitReader(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  bool Get(int n, uint64_t* v) {
    uint64_t r = 0;
    for (int i = 0; i < n; ++i) {
      if (pos_ >= n_ * 8) return false;
      r |= static_cast<uint64_t>((p_[pos_ >> 3] >> (pos_ & 7)) & 1) << i;
      ++pos_;
    }
    *v = r;
    return true;
  }
  bool Gamma(uint64_t* v) {
    int len = 0;
    uint64_t bit = 0;
    while (true) {
      if (!Get(1, &bit)) return false;
      if (bit) break;
      if (++len > 63) return false;
    }
    uint64_t low = 0;
    if (!Get(len, &low)) return false;
    *v = (len == 64 ? 0 : (1ull << len)) | low;
    return true;
  }
  // True when only zero padding is left.
  bool AtEnd() const {
    if ((pos_ + 7) / 8 != n_) return false;
    if (pos_ % 8 == 0) return true;
    return (p_[n_ - 1] >> (pos_ % 8)) == 0;
  }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
};

inline uint64_t ZigZag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
inline int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

inline int BitLen(uint64_t v) { return v ? 64 - __builtin_clzll(v) : 0; }

// A nonnegative delta: its bit length as a change from the previous one, then its low bits.
struct DeltaCoder {
  int prev = 32;
  void Put(BitWriter& w, uint64_t d) {
    const int len = BitLen(d);
    w.Gamma(ZigZag(len - prev) + 1);
    if (len > 1) w.Put(d, len - 1);
    prev = len;
  }
  bool Get(BitReader& r, uint64_t* d) {
    uint64_t z;
    if (!r.Gamma(&z) || z == 0) return false;
    const int64_t len = prev + UnZigZag(z - 1);
    if (len < 0 || len > 64) return false;
    uint64_t low = 0;
    if (len > 1 && !r.Get(static_cast<int>(len - 1), &low)) return false;
    *d = len == 0 ? 0 : (len == 1 ? 1 : ((1ull << (len - 1)) | low));
    prev = static_cast<int>(len);
    return true;
  }
};

void PutVarint(std::vector<uint8_t>* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<uint8_t>(v));
}
bool GetVarint(const uint8_t* p, size_t n, size_t* pos, uint64_t* v) {
  uint64_t r = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*pos >= n) return false;
    const uint8_t b = p[(*pos)++];
    r |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = r;
      return true;
    }
  }
  return false;
}
void PutF64(std::vector<uint8_t>* out, double v) {
  uint64_t u;
  std::memcpy(&u, &v, 8);
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<uint8_t>(u >> (8 * i)));
}
bool GetF64(const uint8_t* p, size_t n, size_t* pos, double* v) {
  if (*pos + 8 > n) return false;
  uint64_t u = 0;
  for (int i = 0; i < 8; ++i) u |= static_cast<uint64_t>(p[*pos + i]) << (8 * i);
  *pos += 8;
  std::memcpy(v, &u, 8);
  return true;
}

struct Parsed {
  uint8_t flags = 0;
  double compression = 0, count = 0, min = 0, max = 0, phaseLo = 0, phaseHi = 0;
  uint64_t nBuf = 0;
  size_t bitsAt = 0;
};

bool ParseHead(const uint8_t* p, size_t n, Parsed* h, std::string* err) {
  auto fail = [&](const char* m) {
    if (err) *err = m;
    return false;
  };
  if (n < 4) return fail("too short to be a t-digest");
  if (std::memcmp(p, kBytesMagic, 3) != 0) return fail("wrong magic: not a t-digest");
  if (p[3] != kBytesMagic[3]) {
    if (err) *err = "unsupported t-digest format version " + std::to_string(p[3]) + " (this build reads version 1)";
    return false;
  }
  size_t pos = 4;
  if (pos >= n) return fail("truncated t-digest (flags)");
  h->flags = p[pos++];
  if (h->flags & ~(kFlagInt | kFlagFull)) return fail("unknown t-digest flags");
  if (!GetF64(p, n, &pos, &h->compression)) return fail("truncated t-digest (compression)");
  if (!ValidCompression(h->compression)) return fail("t-digest compression outside [10, 10000]");
  uint64_t count = 0;
  if (!GetVarint(p, n, &pos, &count)) return fail("truncated t-digest (count)");
  if (count > static_cast<uint64_t>(kMaxCount)) return fail("t-digest count is too large");
  h->count = static_cast<double>(count);
  if (!GetVarint(p, n, &pos, &h->nBuf)) return fail("truncated t-digest (buffer size)");
  const uint32_t B = BufferCap(h->compression);
  if (h->nBuf > count || h->nBuf >= B) return fail("t-digest buffer size is inconsistent");
  const bool full = h->flags & kFlagFull;
  if (!full && count != h->nBuf) return fail("t-digest count is inconsistent");
  if (full && count < B) return fail("t-digest count is too small for its mode");
  if (count > 0) {
    if (!GetF64(p, n, &pos, &h->min) || !GetF64(p, n, &pos, &h->max)) return fail("truncated t-digest (extremes)");
    if (!(std::isfinite(h->min) && std::isfinite(h->max) && h->min <= h->max))
      return fail("t-digest extremes are not finite and ordered");
  }
  if (full) {
    if (!GetF64(p, n, &pos, &h->phaseLo) || !GetF64(p, n, &pos, &h->phaseHi))
      return fail("truncated t-digest (phases)");
    if (!(h->phaseLo >= 0 && h->phaseLo < 1 && h->phaseHi >= 0 && h->phaseHi < 1))
      return fail("t-digest phases outside [0, 1)");
  }
  h->bitsAt = pos;
  return true;
}

inline bool IsInt(double x) { return std::fabs(x) >= 4503599627370496.0 || x == std::floor(x); }

}  // namespace

void ToBytes(const uint64_t* words, std::vector<uint8_t>* out, Scratch& s) {
  out->clear();
  out->reserve(64);
  View v = MakeView(words);
  const Common* c = v.c;
  const bool full = c->flags & kFlagFull;
  const double count = Count(words);
  for (uint8_t b : kBytesMagic) out->push_back(b);
  out->push_back(static_cast<uint8_t>(c->flags & (kFlagInt | kFlagFull)));
  PutF64(out, c->compression);
  PutVarint(out, static_cast<uint64_t>(count));
  PutVarint(out, c->nBuf);
  s.sorted.resize(c->nBuf);
  SortValues(v.buf, c->nBuf, s.sorted.data(), s);
  double mn = 0;
  if (count > 0) {
    mn = full ? v.f->min : s.sorted.front();
    PutF64(out, mn);
    PutF64(out, full ? v.f->max : s.sorted.back());
  }
  BitWriter w(out);
  if (full) {
    PutF64(out, v.f->phaseLo);
    PutF64(out, v.f->phaseHi);
    DeltaCoder exact, quant;
    double prev = mn;
    for (uint32_t i = 0; i < v.f->nCells; ++i) {
      const double m = v.mean[i];
      const bool heavy = v.weight[i] > 1;
      if (heavy) w.Put(v.pure[i], 1);
      if (heavy && !v.pure[i] && i > 0) {
        quant.Put(w, (Ord(m) - Ord(prev)) >> kQuantBits);  // exact: see QuantizeFrom
      } else {
        exact.Put(w, Ord(m) - Ord(prev));
      }
      prev = m;
    }
  }
  DeltaCoder bufCoder;
  double prev = mn;
  for (size_t i = 0; i < s.sorted.size(); ++i) {
    bufCoder.Put(w, Ord(s.sorted[i]) - Ord(prev));
    prev = s.sorted[i];
  }
}

size_t FromBytesWords(const uint8_t* bytes, size_t n, std::string* error) {
  Parsed h;
  if (!ParseHead(bytes, n, &h, error)) return 0;
  return RequiredWords(h.count, h.compression);
}

Status FromBytes(const uint8_t* bytes, size_t n, uint64_t* words, size_t capacityWords, size_t* needWords,
                 std::string* error, Scratch& s) {
  Parsed h;
  if (!ParseHead(bytes, n, &h, error)) return Status::kCorrupt;
  const size_t need = RequiredWords(h.count, h.compression);
  if (needWords) *needWords = need;
  if (need > capacityWords) return Status::kNeedsCapacity;
  auto fail = [&](const char* m) {
    if (error) *error = m;
    return Status::kCorrupt;
  };
  const bool full = h.flags & kFlagFull;
  const bool allInt = h.flags & kFlagInt;
  BitReader r(bytes + h.bitsAt, n - h.bitsAt);
  // Decode into scratch first; the region is only written once everything checks out.
  s.outMean.clear();
  s.outWeight.clear();
  s.outPure.clear();
  double prev = h.min;
  if (full) {
    const double Wc = h.count - static_cast<double>(h.nBuf);
    Grid(Wc, h.compression, h.phaseLo, h.phaseHi, s.base, s.grid);
    const size_t cells = s.grid.size() - 1;
    if (cells > MaxCells(h.compression)) return fail("t-digest has too many cells");
    DeltaCoder exact, quant;
    for (size_t i = 0; i < cells; ++i) {
      const double w = s.grid[i + 1] - s.grid[i];
      uint64_t pure = 1, d = 0;
      if (w > 1 && !r.Get(1, &pure)) return fail("truncated t-digest (cells)");
      uint64_t o;
      if (w > 1 && !pure && i > 0) {
        if (!quant.Get(r, &d)) return fail("truncated t-digest (cells)");
        if (d > (UINT64_MAX - Ord(prev)) >> kQuantBits) return fail("t-digest cell mean out of range");
        o = Ord(prev) + (d << kQuantBits);
      } else {
        if (!exact.Get(r, &d)) return fail("truncated t-digest (cells)");
        if (d > UINT64_MAX - Ord(prev)) return fail("t-digest cell mean out of range");
        o = Ord(prev) + d;
      }
      const double m = FromOrd(o);
      if (!std::isfinite(m) || m < prev || m > h.max) return fail("t-digest cell mean out of range");
      // A cell of one value can still have a fractional mean (a merge cuts cells from a smooth
      // model of the data), so only cells of several equal values must hold an integer.
      if (allInt && pure && w > 1 && !IsInt(m)) return fail("t-digest cell mean is not an integer");
      s.outMean.push_back(m);
      s.outWeight.push_back(w);
      s.outPure.push_back(static_cast<uint8_t>(pure));
      prev = m;
    }
  }
  std::vector<double>& vals = s.sorted2;
  vals.clear();
  DeltaCoder bufCoder;
  prev = h.min;
  for (uint64_t i = 0; i < h.nBuf; ++i) {
    uint64_t d;
    if (!bufCoder.Get(r, &d)) return fail("truncated t-digest (buffer)");
    if (d > UINT64_MAX - Ord(prev)) return fail("t-digest value out of range");
    const double x = FromOrd(Ord(prev) + d);
    if (!std::isfinite(x) || x > h.max) return fail("t-digest value out of range");
    if (allInt && !IsInt(x)) return fail("t-digest value is not an integer");
    vals.push_back(x);
    prev = x;
  }
  if (!r.AtEnd()) return fail("trailing bytes after the t-digest");
  if (!full && h.count > 0 && (vals.front() != h.min || vals.back() != h.max))
    return fail("t-digest extremes do not match its values");
  if (allInt && h.count > 0 && !(IsInt(h.min) && IsInt(h.max))) return fail("t-digest extremes are not integers");
  // Write the region.
  if (Init(words, capacityWords, h.compression) != Status::kOk) return fail("bad compression");
  if (!full) {
    Common* c = reinterpret_cast<Common*>(words);
    std::copy(vals.begin(), vals.end(), reinterpret_cast<double*>(words + kCommonWords));
    c->nBuf = static_cast<uint32_t>(vals.size());
    c->flags = allInt ? kFlagInt : 0;
    return Status::kOk;
  }
  Full* f = reinterpret_cast<Full*>(words);
  f->c.flags = kFlagFull | (allInt ? kFlagInt : 0);
  f->nCells = 0;
  f->cellCap = MaxCells(h.compression);
  f->count = h.count;
  f->min = h.min;
  f->max = h.max;
  f->phaseLo = h.phaseLo;
  f->phaseHi = h.phaseHi;
  StoreCells(words, s);
  View v = MakeView(words);
  std::copy(vals.begin(), vals.end(), v.buf);
  f->c.nBuf = static_cast<uint32_t>(vals.size());
  return Status::kOk;
}

}  // namespace sluice::tdigest
