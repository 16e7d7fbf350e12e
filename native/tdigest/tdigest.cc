// The merging t-digest core; see tdigest.h for the layout, the grid and the serialized form, and
// tdigest_internal.h for how the core is split into files. This file: the region's sizes, exact
// mode, Add, and the structural functions (Init, Validate, CheckHeader, Move).
#include "tdigest/tdigest_internal.h"

namespace sluice::tdigest {
using namespace detail;  // tdigest_internal.h

// ---------------------------------------------------------------- sizes

namespace detail {

// 25 values per unit of compression: 2500 at d = 100, so that a full digest (3487 words) fits a
// 4096-word block of a power-of-two arena, and a stream of a round number of values, such as 10^6,
// ends with an empty buffer. At least 2500 (a merge has a fixed cost of a few microseconds, so fewer
// merges keep add() fast), at most 2^20.
uint32_t BufferCap(double d) {
  const double b = std::ceil(25 * d);
  return static_cast<uint32_t>(std::min(std::max(b, 2500.0), 1048576.0));
}

}  // namespace detail

namespace {

// MaxCells per compression, cached per thread (a few compressions at most are in use).
struct MaxCellsCache {
  double d[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
  uint32_t cells[8] = {};
  unsigned next = 0;
};
thread_local MaxCellsCache tMaxCells;

uint32_t ComputeMaxCells(double d) {
  std::vector<double> L;
  BaseGrid(kMaxCount, d, L);
  return static_cast<uint32_t>(2 * L.size() + 16);
}

// ---------------------------------------------------------------- add

struct Scan {
  bool ok = true;
  bool allInt = true;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
};

template <typename T>
bool AllFinite(const T* xs, size_t n) {
  bool fin = true;
  for (size_t i = 0; i < n; ++i) {
    const double x = static_cast<double>(xs[i]);
    fin &= (x - x) == 0;  // false for NaN and +-Infinity
  }
  return fin;
}

template <typename T>
Scan ScanValues(const T* xs, size_t n) {
  Scan r;
  double mn = r.min, mx = r.max;
  bool fin = true, ints = true;
  for (size_t i = 0; i < n; ++i) {
    const double x = static_cast<double>(xs[i]);
    fin &= (x - x) == 0;  // false for NaN and +-Infinity
    mn = x < mn ? x : mn;
    mx = x > mx ? x : mx;
    // |x| >= 2^52 is always an integer; below, adding and taking away 2^52 rounds to an integer.
    const double ax = std::fabs(x);
    ints &= (ax >= 4503599627370496.0) | ((ax + 4503599627370496.0) - 4503599627370496.0 == ax);
  }
  r.ok = fin;
  r.allInt = ints;
  r.min = mn;
  r.max = mx;
  return r;
}

template <typename T>
Status AddImpl(uint64_t* words, const T* xs, size_t n, Scratch& s) {
  Common* c = reinterpret_cast<Common*>(words);
  if (c->magic != kMagic) return Status::kCorrupt;
  if (n == 0) return Status::kOk;
  if (!AllFinite(xs, n)) return Status::kInvalidArgument;
  const double d = c->compression;
  const uint32_t B = BufferCap(d);
  const double count = Count(words);
  if (count + static_cast<double>(n) > kMaxCount) return Status::kCountOverflow;
  if (RequiredWords(count + static_cast<double>(n), d) > c->capacity) return Status::kNeedsCapacity;
  // Chunk by chunk up to the next merge, so that a merge sees exactly the values (and extremes and
  // integer flag) it would see had they been added one at a time.
  size_t i = 0;
  if (!(c->flags & kFlagFull)) {
    double* buf = reinterpret_cast<double*>(words + kCommonWords);
    const size_t take = std::min<size_t>(n, B - c->nBuf);
    if (!ScanValues(xs, take).allInt) c->flags &= ~kFlagInt;
    for (size_t k = 0; k < take; ++k) buf[c->nBuf + k] = static_cast<double>(xs[k]) + 0.0;  // -0 -> +0
    c->nBuf += static_cast<uint32_t>(take);
    i = take;
    if (c->nBuf < B) return Status::kOk;
    // The buffer is full: compress into cells (full mode).
    s.sorted2.resize(B);
    SortValues(buf, B, s.sorted2.data(), s);
    ToFull(words, s.sorted2.data(), B, (c->flags & kFlagInt) != 0, s);
  }
  View v = MakeView(words);
  Full* f = v.f;
  while (i < n) {
    const size_t take = std::min<size_t>(n - i, B - f->c.nBuf);
    const Scan sc = ScanValues(xs + i, take);
    if (!sc.allInt) f->c.flags &= ~kFlagInt;
    f->min = std::min(f->min, sc.min + 0.0);
    f->max = std::max(f->max, sc.max + 0.0);
    double* dst = v.buf + f->c.nBuf;
    for (size_t k = 0; k < take; ++k) dst[k] = static_cast<double>(xs[i + k]) + 0.0;
    f->c.nBuf += static_cast<uint32_t>(take);
    f->count += static_cast<double>(take);
    i += take;
    if (f->c.nBuf == B) Flush(words, s);
  }
  return Status::kOk;
}

}  // namespace

// ---------------------------------------------------------------- public

const char* StatusMessage(Status s) {
  switch (s) {
    case Status::kOk: return "ok";
    case Status::kNeedsCapacity: return "the digest needs a bigger region";
    case Status::kInvalidArgument: return "invalid argument";
    case Status::kCountOverflow: return "the digest cannot count past 2^53 values";
    case Status::kCorrupt: return "not a t-digest";
  }
  return "unknown";
}

bool ValidCompression(double d) { return d >= kMinCompression && d <= kMaxCompression; }

uint32_t BufferCapacity(double d) { return BufferCap(d); }

uint32_t MaxCells(double d) {
  MaxCellsCache& c = tMaxCells;
  for (int i = 0; i < 8; ++i)
    if (c.d[i] == d) return c.cells[i];
  const unsigned slot = c.next++ & 7;
  c.cells[slot] = ComputeMaxCells(d);
  c.d[slot] = d;
  return c.cells[slot];
}

size_t FullWords(double d) {
  const uint32_t cap = MaxCells(d);
  return kFullHeaderWords + 2 * static_cast<size_t>(cap) + PureWords(cap) + BufferCap(d);
}

size_t RequiredWords(double n, double d) {
  if (n < BufferCap(d)) return kCommonWords + static_cast<size_t>(n);
  return FullWords(d);
}

Status Init(uint64_t* words, size_t capacityWords, double compression) {
  if (!ValidCompression(compression)) return Status::kInvalidArgument;
  if (capacityWords < kCommonWords) return Status::kNeedsCapacity;
  if (capacityWords > 0xffffffffu) return Status::kInvalidArgument;
  Common* c = reinterpret_cast<Common*>(words);
  c->magic = kMagic;
  c->capacity = static_cast<uint32_t>(capacityWords);
  c->nBuf = 0;
  c->flags = kFlagInt;
  c->compression = compression;
  return Status::kOk;
}

double Count(const uint64_t* words) {
  const Common* c = reinterpret_cast<const Common*>(words);
  if (c->flags & kFlagFull) return reinterpret_cast<const Full*>(words)->count;
  return c->nBuf;
}

double Compression(const uint64_t* words) { return reinterpret_cast<const Common*>(words)->compression; }

uint32_t CellCount(const uint64_t* words) {
  const Common* c = reinterpret_cast<const Common*>(words);
  return (c->flags & kFlagFull) ? reinterpret_cast<const Full*>(words)->nCells : 0;
}

size_t NeededWords(const uint64_t* words) { return RequiredWords(Count(words), Compression(words)); }

Status Validate(const uint64_t* words, size_t capacityWords) {
  if (capacityWords < kCommonWords) return Status::kCorrupt;
  const Common* c = reinterpret_cast<const Common*>(words);
  if (c->magic != kMagic || c->capacity > capacityWords || c->capacity < kCommonWords) return Status::kCorrupt;
  if (!ValidCompression(c->compression)) return Status::kCorrupt;
  if (c->flags & ~(kFlagInt | kFlagFull)) return Status::kCorrupt;
  const double d = c->compression;
  const uint32_t B = BufferCap(d);
  if (c->nBuf >= B) return Status::kCorrupt;
  View v = MakeView(words);
  if (!(c->flags & kFlagFull)) {
    if (kCommonWords + c->nBuf > c->capacity) return Status::kCorrupt;
    for (uint32_t i = 0; i < c->nBuf; ++i)
      if (!std::isfinite(v.buf[i])) return Status::kCorrupt;
    return Status::kOk;
  }
  if (FullWords(d) > c->capacity) return Status::kCorrupt;
  const Full* f = v.f;
  if (f->cellCap != MaxCells(d) || f->nCells == 0 || f->nCells > f->cellCap) return Status::kCorrupt;
  if (!(f->count >= B && f->count <= kMaxCount && f->count == std::floor(f->count))) return Status::kCorrupt;
  if (!(std::isfinite(f->min) && std::isfinite(f->max) && f->min <= f->max)) return Status::kCorrupt;
  if (!(f->phaseLo >= 0 && f->phaseLo < 1 && f->phaseHi >= 0 && f->phaseHi < 1)) return Status::kCorrupt;
  double total = c->nBuf, prev = f->min;
  for (uint32_t i = 0; i < f->nCells; ++i) {
    const double m = v.mean[i], w = v.weight[i];
    if (!(m >= prev && m <= f->max) || !(w >= 1 && w == std::floor(w)) || v.pure[i] > 1) return Status::kCorrupt;
    prev = m;
    total += w;
  }
  if (total != f->count) return Status::kCorrupt;
  for (uint32_t i = 0; i < c->nBuf; ++i)
    if (!(v.buf[i] >= f->min && v.buf[i] <= f->max)) return Status::kCorrupt;
  return Status::kOk;
}

Status CheckHeader(const uint64_t* words, size_t availWords) {
  if (availWords < kCommonWords) return Status::kCorrupt;
  const Common* c = reinterpret_cast<const Common*>(words);
  if (c->magic != kMagic || c->capacity > availWords || c->capacity < kCommonWords) return Status::kCorrupt;
  if (!ValidCompression(c->compression) || (c->flags & ~(kFlagInt | kFlagFull))) return Status::kCorrupt;
  const double d = c->compression;
  if (c->nBuf >= BufferCap(d)) return Status::kCorrupt;
  if (!(c->flags & kFlagFull)) return kCommonWords + c->nBuf <= c->capacity ? Status::kOk : Status::kCorrupt;
  const Full* f = reinterpret_cast<const Full*>(words);
  if (f->cellCap != MaxCells(d) || f->nCells > f->cellCap || FullWords(d) > c->capacity) return Status::kCorrupt;
  return Status::kOk;
}

Status Move(const uint64_t* src, uint64_t* dst, size_t capacityWords) {
  const Common* c = reinterpret_cast<const Common*>(src);
  if (c->magic != kMagic) return Status::kCorrupt;
  if (capacityWords > 0xffffffffu) return Status::kInvalidArgument;
  const size_t used = (c->flags & kFlagFull) ? FullWords(c->compression) : kCommonWords + c->nBuf;
  if (capacityWords < used) return Status::kNeedsCapacity;
  if (src != dst) std::memmove(dst, src, used * 8);
  reinterpret_cast<Common*>(dst)->capacity = static_cast<uint32_t>(capacityWords);
  return Status::kOk;
}

Status Add(uint64_t* words, const double* xs, size_t n, Scratch& s) { return AddImpl(words, xs, n, s); }
Status AddFloat(uint64_t* words, const float* xs, size_t n, Scratch& s) { return AddImpl(words, xs, n, s); }

}  // namespace sluice::tdigest
