// What the pieces of the t-digest core share; not part of the addon's API (that is tdigest.h).
// Only native/tdigest/tdigest*.cc include this. The pieces:
//
//   tdigest.cc         region layout, sizes, exact mode, Add, Move, Validate
//   tdigest_sort.cc    radix sort of the buffered values
//   tdigest_grid.cc    the scale function, the rank grid and its phases
//   tdigest_model.cc   the piecewise-parabolic cell model
//   tdigest_merge.cc   cutting merged items and values into cells; Merge
//   tdigest_query.cc   Quantile, Cdf
//   tdigest_bytes.cc   ToBytes, FromBytes
//
// Everything that decides the digest's state (the grid, the cuts, the means) uses only +, -, *, /,
// sqrt and floor, which IEEE 754 defines exactly, and no fused multiply-add: so a digest and its
// serialized bytes are the same on every platform. (quantile()'s own arithmetic does not matter.)
#pragma once
#include "tdigest/tdigest.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace sluice::tdigest::detail {

constexpr uint32_t kMagic = 0x01674454u;  // 'T','D','g',1
constexpr uint32_t kFlagInt = 1u;
constexpr uint32_t kFlagFull = 2u;
constexpr size_t kCommonWords = 3;        // 24 bytes
constexpr size_t kFullHeaderWords = 9;    // 72 bytes
constexpr int kQuantBits = 20;            // impure means keep 2^-32 relative precision

struct Common {
  uint32_t magic;
  uint32_t capacity;  // words
  uint32_t nBuf;
  uint32_t flags;
  double compression;
};
struct Full {
  Common c;
  uint32_t nCells;
  uint32_t cellCap;
  double count;
  double min;
  double max;
  double phaseLo;
  double phaseHi;
};
static_assert(sizeof(Common) == kCommonWords * 8, "layout");
static_assert(sizeof(Full) == kFullHeaderWords * 8, "layout");

inline size_t PureWords(uint32_t cellCap) { return (static_cast<size_t>(cellCap) + 7) / 8; }

// Pointers into a region, computed on each call (never stored in it).
struct View {
  Common* c = nullptr;
  Full* f = nullptr;  // null in exact mode
  double* mean = nullptr;
  double* weight = nullptr;
  uint8_t* pure = nullptr;
  double* buf = nullptr;
};

inline View MakeView(uint64_t* words) {
  View v;
  v.c = reinterpret_cast<Common*>(words);
  if (v.c->flags & kFlagFull) {
    v.f = reinterpret_cast<Full*>(words);
    const uint32_t cap = v.f->cellCap;
    v.mean = reinterpret_cast<double*>(words + kFullHeaderWords);
    v.weight = v.mean + cap;
    v.pure = reinterpret_cast<uint8_t*>(v.weight + cap);
    v.buf = v.weight + cap + PureWords(cap);
  } else {
    v.buf = reinterpret_cast<double*>(words + kCommonWords);
  }
  return v;
}
inline View MakeView(const uint64_t* words) { return MakeView(const_cast<uint64_t*>(words)); }

// Doubles as unsigned integers in the same order (for -0 < +0 < ...; NaN never gets here).
inline uint64_t Ord(double v) {
  uint64_t u;
  std::memcpy(&u, &v, 8);
  return (u >> 63) ? ~u : (u | 0x8000000000000000ull);
}
inline double FromOrd(uint64_t o) {
  const uint64_t u = (o >> 63) ? (o & 0x7fffffffffffffffull) : ~o;
  double v;
  std::memcpy(&v, &u, 8);
  return v;
}

// ---------------------------------------------------------------- shared functions

// Buffer capacity B (tdigest.cc).
uint32_t BufferCap(double d);

// Sorts n finite doubles ascending into out (tdigest_sort.cc).
void SortValues(const double* in, size_t n, double* out, Scratch& s);

// The cell model (tdigest_model.cc): CellsOf views a full-mode region's cells; Classify picks a
// cell's kind; BuildModel fills every cell's model and the PPM edges.
enum Kind : uint8_t { kPureCell = 0, kTwoPoint = 1, kSmooth = 2 };

struct Cells {
  const double* mean;
  const double* weight;
  const uint8_t* pure;
  uint32_t n;
  double min, max;
  bool allInt;
};

// CellModel: kind; lo, hi: the two values (two-point), the limited parabola's edge values (smooth),
// or the mean (pure); na: the weight at lo (two-point).

Cells CellsOf(const View& v);
CellModel Classify(const Cells& c, uint32_t i);
void BuildModel(const Cells& c, std::vector<CellModel>& model, std::vector<double>& e);

// Mean of the PPM parabola over [t0, t1] (fractions of the cell), and its value at t.
inline double PpmMean(double vl, double vr, double a, double t0, double t1) {
  const double dd = vr - vl, q6 = 6 * (a - 0.5 * (vl + vr));
  const double s = t0 + t1;
  return vl + dd * s / 2 + q6 * (s / 2 - (t0 * t0 + t0 * t1 + t1 * t1) / 3);
}
inline double PpmAt(double vl, double vr, double a, double t) {
  const double dd = vr - vl, q6 = 6 * (a - 0.5 * (vl + vr));
  return vl + t * (dd + q6 * (1 - t));
}

// The grid (tdigest_grid.cc). BaseGrid: the left half's boundaries for total W. Grid: the integer
// rank boundaries a merge cuts on (L must hold BaseGrid(W, d) when haveBase). UpdatePhases: moves
// the phases by the inflow at the old cells' 1% boundaries, leaving BaseGrid(Wnew, d) in L.
void BaseGrid(double W, double d, std::vector<double>& L);
void Grid(double W, double d, double phaseLo, double phaseHi, std::vector<double>& L, std::vector<double>& G,
          bool haveBase = false);
void UpdatePhases(const Cells& c, const std::vector<double>& edges,
                  const double* vals, size_t nVals, const Cells* other, double Wnew, double d, double* phaseLo,
                  double* phaseHi, std::vector<double>& L);

// Merging into cells (tdigest_merge.cc). StoreCells: writes s.out* as a full-mode region's cells.
// Flush: merges a full-mode digest's buffer into its cells. ToFull: turns an exact-mode region
// holding n values (sortedVals: a sorted copy) into full mode.
void StoreCells(uint64_t* words, Scratch& s);
void Flush(uint64_t* words, Scratch& s);
void ToFull(uint64_t* words, const double* sortedVals, size_t n, bool allInt, Scratch& s);

}  // namespace sluice::tdigest::detail
