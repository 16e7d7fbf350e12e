// The merging t-digest core; see tdigest.h for the layout, the grid and the serialized form.
//
// Everything that decides the digest's state (the grid, the cuts, the means) uses only +, -, *, /,
// sqrt and floor, which IEEE 754 defines exactly, and no fused multiply-add: so a digest and its
// serialized bytes are the same on every platform. (quantile()'s own arithmetic does not matter.)
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

namespace sluice::tdigest {
namespace {

constexpr uint32_t kMagic = 0x01674454u;  // 'T','D','g',1
constexpr uint32_t kFlagInt = 1u;
constexpr uint32_t kFlagFull = 2u;
constexpr size_t kCommonWords = 3;        // 24 bytes
constexpr size_t kFullHeaderWords = 9;    // 72 bytes
constexpr double kTail = 0.06;            // tail cells: r / (kTail * d)
constexpr double kMid = 0.16;             // middle cells: W sqrt(q(1-q)) / (kMid * d)
constexpr double kRefQ = 0.01;            // where the grid phases measure inflow
constexpr int kChunks = 4;                // pieces a smooth cell is cut into before a merge
constexpr int kQuantBits = 20;            // impure means keep 2^-32 relative precision
constexpr uint8_t kBytesMagic[4] = {'T', 'D', 'G', 1};

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

// ---------------------------------------------------------------- sizes

// 25 values per unit of compression: 2500 at d = 100, so that a full digest (3487 words) fits a
// 4096-word block of a power-of-two arena, and a stream of a round number of values, such as 10^6,
// ends with an empty buffer. At least 2500 (a merge has a fixed cost of a few microseconds, so fewer
// merges keep add() fast), at most 2^20.
uint32_t BufferCap(double d) {
  const double b = std::ceil(25 * d);
  return static_cast<uint32_t>(std::min(std::max(b, 2500.0), 1048576.0));
}

// Cell size at rank r (from the nearer end) for total W.
inline double SizeAt(double r, double W, double d) {
  const double rr = std::max(r, 0.5);
  const double q = std::min(rr / W, 0.5);
  const double st = rr / (kTail * d);
  const double sm = W * std::sqrt(q * (1 - q)) / (kMid * d);
  return std::min(st, sm);
}

// Left-half base grid: 0 = L[0] < L[1] < ... with the last one past W/2.
void BaseGrid(double W, double d, std::vector<double>& L) {
  L.clear();
  L.push_back(0);
  double r = 0;
  const double half = W / 2;
  while (true) {
    const double s0 = SizeAt(r, W, d);
    double sz = std::floor(SizeAt(r + s0 / 2, W, d));
    if (!(sz >= 1)) sz = 1;
    r += sz;
    L.push_back(r);
    if (r > half) break;
  }
}

// Full grid: 0 = G[0] < G[1] < ... < G[n] = W (integer ranks); cell i is [G[i], G[i+1]).
// L must hold BaseGrid(W, d) when haveBase is set (UpdatePhases leaves it there).
void Grid(double W, double d, double phaseLo, double phaseHi, std::vector<double>& L, std::vector<double>& G,
          bool haveBase = false) {
  if (!haveBase) BaseGrid(W, d, L);
  const double half = W / 2;
  G.clear();
  G.push_back(0);
  // Left tail, phase-shifted.
  for (size_t j = 1; j + 1 < L.size(); ++j) {
    const double b = std::floor(L[j] + phaseLo * (L[j + 1] - L[j]) + 0.5);
    if (b > half) break;
    if (b > G.back()) G.push_back(b);
  }
  const double leftEnd = G.back();
  // Right tail (as distances from W), phase-shifted.
  const size_t rightStart = G.size();
  double lastR = 0;
  for (size_t j = 1; j + 1 < L.size(); ++j) {
    const double b = std::floor(L[j] + phaseHi * (L[j + 1] - L[j]) + 0.5);
    if (b > half) break;
    if (b > lastR) {
      G.push_back(b);
      lastR = b;
    }
  }
  // G[rightStart..] holds distances from the top, increasing; turn them into ranks, decreasing.
  std::vector<double> right(G.begin() + rightStart, G.end());
  G.resize(rightStart);
  const double gap = (W - lastR) - leftEnd;
  const double smid = SizeAt(half, W, d);
  if (gap > smid && gap >= 2) G.push_back(std::floor(leftEnd + gap / 2));
  for (size_t i = right.size(); i-- > 0;) {
    const double b = W - right[i];
    if (b > G.back() && b < W) G.push_back(b);
  }
  G.push_back(W);
}

double FracIndex(const std::vector<double>& L, double x) {
  const size_t j = std::upper_bound(L.begin(), L.end(), x) - L.begin();
  if (j == 0) return 0;
  if (j >= L.size()) return static_cast<double>(L.size() - 1);
  return static_cast<double>(j - 1) + (x - L[j - 1]) / (L[j] - L[j - 1]);
}

inline double Frac(double x) {
  double f = x - std::floor(x);
  if (!(f >= 0 && f < 1)) f = 0;
  return f;
}

// ---------------------------------------------------------------- radix sort

// Sorts n doubles (finite, no -0) ascending into out; uses s.keys/keys2. LSD radix sort on the top
// six bytes of order-preserving keys (skipping bytes every key shares), then a sort of each run of
// keys equal in those 48 bits (rare: values within 2^-36 of each other, equal values excepted).
void SortValues(const double* in, size_t n, double* out, Scratch& s) {
  if (n == 0) return;
  if (n < 64) {
    std::copy(in, in + n, out);
    std::sort(out, out + n);
    return;
  }
  s.keys.resize(n);
  s.keys2.resize(n);
  uint64_t* a = s.keys.data();
  uint64_t* b = s.keys2.data();
  uint32_t hist[6][256];
  std::memset(hist, 0, sizeof(hist));
  for (size_t i = 0; i < n; ++i) {
    const uint64_t k = Ord(in[i]);
    a[i] = k;
    hist[0][(k >> 16) & 0xff]++;
    hist[1][(k >> 24) & 0xff]++;
    hist[2][(k >> 32) & 0xff]++;
    hist[3][(k >> 40) & 0xff]++;
    hist[4][(k >> 48) & 0xff]++;
    hist[5][k >> 56]++;
  }
  for (int p = 0; p < 6; ++p) {
    const uint32_t* h = hist[p];
    const int shift = 16 + 8 * p;
    if (h[(a[0] >> shift) & 0xff] == n) continue;  // every key has this digit
    uint32_t off[256];
    uint32_t sum = 0;
    for (int i = 0; i < 256; ++i) {
      off[i] = sum;
      sum += h[i];
    }
    for (size_t i = 0; i < n; ++i) {
      const uint64_t k = a[i];
      b[off[(k >> shift) & 0xff]++] = k;
    }
    std::swap(a, b);
  }
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    while (j < n && (a[j] >> 16) == (a[i] >> 16)) ++j;
    if (j - i > 1) std::sort(a + i, a + j);
    i = j;
  }
  for (size_t i = 0; i < n; ++i) out[i] = FromOrd(a[i]);
}

// ---------------------------------------------------------------- cell model

enum Kind : uint8_t { kPureCell = 0, kTwoPoint = 1, kSmooth = 2 };
using detail::CellModel;
using detail::Item;

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

inline CellModel Classify(const Cells& c, uint32_t i) {
  const double m = c.mean[i], w = c.weight[i];
  if (c.pure[i] || w == 1) return {kPureCell, m, m, w};
  const double lm = i > 0 ? c.mean[i - 1] : c.min;
  const double rm = i + 1 < c.n ? c.mean[i + 1] : c.max;
  if (c.allInt) {
    const double k = std::floor(m);
    if (m > k && lm > k - 1 && rm < k + 2) {
      double na = std::floor(w * (k + 1 - m) + 0.5);
      na = std::min(std::max(na, 0.0), w);
      return {kTwoPoint, k, k + 1, na};
    }
  }
  if (i > 0 && i + 1 < c.n && c.pure[i - 1] && c.pure[i + 1] && c.weight[i - 1] >= 2 && c.weight[i + 1] >= 2 &&
      rm > lm && lm <= m && m <= rm) {
    double na = std::floor(w * (rm - m) / (rm - lm) + 0.5);
    na = std::min(std::max(na, 0.0), w);
    return {kTwoPoint, lm, rm, na};
  }
  return {kSmooth, m, m, 0};
}

inline double MonoSlope(double dxm, double dx, double dxp, double am, double a, double ap) {
  if (!((ap - a) * (a - am) > 0)) return 0;
  double r = dx / (dxm + dx + dxp) * ((2 * dxm + dx) / (dxp + dx) * (ap - a) + (dx + 2 * dxp) / (dxm + dx) * (a - am));
  const double lim = 2 * std::min(std::fabs(a - am), std::fabs(ap - a));
  if (std::fabs(r) > lim) r = r > 0 ? lim : -lim;
  return r;
}

// Fills model[i] for every cell: kind, and for smooth cells the monotone PPM edges (lo, hi).
void BuildModel(const Cells& c, std::vector<CellModel>& model, std::vector<double>& e) {
  const uint32_t n = c.n;
  model.resize(n);
  for (uint32_t i = 0; i < n; ++i) model[i] = Classify(c, i);
  e.resize(n + 1);
  e[0] = c.min;
  e[n] = c.max;
  const double* m = c.mean;
  const double* w = c.weight;
  for (uint32_t i = 1; i < n; ++i) {
    double v;
    if (model[i - 1].kind == kPureCell) {
      v = m[i - 1];
    } else if (model[i].kind == kPureCell) {
      v = m[i];
    } else {
      v = m[i - 1] + (m[i] - m[i - 1]) * w[i - 1] / (w[i - 1] + w[i]);
      if (i >= 2 && i + 1 < n) {
        const double dx0 = w[i - 2], dx1 = w[i - 1], dx2 = w[i], dx3 = w[i + 1];
        const double a0 = m[i - 2], a1 = m[i - 1], a2 = m[i], a3 = m[i + 1];
        const double d1 = MonoSlope(dx0, dx1, dx2, a0, a1, a2);
        const double d2 = MonoSlope(dx1, dx2, dx3, a1, a2, a3);
        const double sum = dx0 + dx1 + dx2 + dx3;
        const double t1 = 2 * dx2 * dx1 / (dx1 + dx2) * ((dx0 + dx1) / (2 * dx1 + dx2) - (dx3 + dx2) / (2 * dx2 + dx1));
        v = a1 + dx1 / (dx1 + dx2) * (a2 - a1) +
            (t1 * (a2 - a1) - dx1 * (dx0 + dx1) / (2 * dx1 + dx2) * d2 + dx2 * (dx2 + dx3) / (dx1 + 2 * dx2) * d1) / sum;
      }
      if (model[i - 1].kind == kTwoPoint) v = std::max(v, model[i - 1].hi);
      if (model[i].kind == kTwoPoint) v = std::min(v, model[i].lo);
    }
    if (!(v >= m[i - 1])) v = m[i - 1];
    if (!(v <= m[i])) v = m[i];
    e[i] = v;
  }
  for (uint32_t i = 0; i < n; ++i) {
    if (model[i].kind != kSmooth) continue;
    double vl = e[i], vr = e[i + 1];
    const double a = m[i];
    if (!(vl <= a)) vl = a;
    if (!(vr >= a)) vr = a;
    if ((vr - a) * (a - vl) <= 0) {
      vl = vr = a;
    } else {
      const double dd = vr - vl, q6 = 6 * (a - 0.5 * (vl + vr));
      if (dd * q6 > dd * dd) {
        vl = 3 * a - 2 * vr;
      } else if (-dd * dd > dd * q6) {
        vr = 3 * a - 2 * vl;
      }
    }
    model[i].lo = vl;
    model[i].hi = vr;
  }
}

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

// ---------------------------------------------------------------- merge (partition)

// Appends the pieces a digest's cells are cut into (sorted by mean within themselves).
void AppendItems(const Cells& c, std::vector<Item>& items, std::vector<CellModel>& model, std::vector<double>& e) {
  BuildModel(c, model, e);
  for (uint32_t i = 0; i < c.n; ++i) {
    const double m = c.mean[i], w = c.weight[i];
    const CellModel& cm = model[i];
    if (cm.kind == kPureCell) {
      items.push_back({m, w, m, m, 1});
      continue;
    }
    if (cm.kind == kTwoPoint) {
      if (cm.na > 0) items.push_back({cm.lo, cm.na, cm.lo, cm.lo, 1});
      if (w - cm.na > 0) items.push_back({cm.hi, w - cm.na, cm.hi, cm.hi, 1});
      continue;
    }
    const double lm = i > 0 ? c.mean[i - 1] : c.min;
    const double rm = i + 1 < c.n ? c.mean[i + 1] : c.max;
    const double vl = cm.lo, vr = cm.hi;
    if (w < 2 * kChunks) {
      items.push_back({m, w, std::max(lm, vl), std::min(rm, vr), 0});
      continue;
    }
    const double base = std::floor(w / kChunks), rem = w - base * kChunks;
    double off = 0, sum = 0;
    for (int k = 0; k < kChunks; ++k) {
      const double cw = base + (k < rem ? 1 : 0);
      const double t0 = off / w, t1 = (off + cw) / w;
      double mean = PpmMean(vl, vr, m, t0, t1);
      const double clo = std::max(PpmAt(vl, vr, m, t0), lm);
      const double chi = std::min(PpmAt(vl, vr, m, t1), rm);
      if (k == kChunks - 1) mean = (m * w - sum) / cw;
      mean = std::min(std::max(mean, clo), chi);
      sum += mean * cw;
      items.push_back({mean, cw, clo, std::min(std::max(chi, clo), rm), 0});
      off += cw;
    }
  }
}

void SortItems(std::vector<Item>& items) {
  // Usually already sorted (cells are); insertion sort when nearly so, stable sort otherwise.
  size_t inversions = 0;
  for (size_t i = 1; i < items.size(); ++i)
    if (items[i].mean < items[i - 1].mean) ++inversions;
  if (inversions == 0) return;
  if (inversions < 32) {
    for (size_t i = 1; i < items.size(); ++i) {
      Item x = items[i];
      size_t j = i;
      while (j > 0 && items[j - 1].mean > x.mean) {
        items[j] = items[j - 1];
        --j;
      }
      items[j] = x;
    }
  } else {
    std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.mean < b.mean; });
  }
}

// Rounds an impure mean down onto the 2^kQuantBits grid of ordered deltas from prev.
inline double QuantizeFrom(double prev, double m) {
  const uint64_t op = Ord(prev), om = Ord(m);
  if (om <= op) return prev;
  const uint64_t d = ((om - op) >> kQuantBits) << kQuantBits;
  return FromOrd(op + d);
}

// Cuts the merged sequence (items and sorted raw values, both ascending) on grid G into cells.
void Partition(const std::vector<Item>& items, const double* vals, size_t nVals, const std::vector<double>& G,
               double min, Scratch& s) {
  s.outMean.clear();
  s.outWeight.clear();
  s.outPure.clear();
  size_t j = 1;
  double nextB = G.size() > 1 ? G[1] : std::numeric_limits<double>::infinity();
  double cum = 0;
  double cw = 0, csum = 0, cfirst = 0, cmin = 0, cmax = 0;
  bool cpure = true;
  double prevMean = min;
  auto emit = [&]() {
    double mean;
    if (cpure) {
      mean = cfirst;
    } else {
      mean = csum / cw;
      mean = std::min(std::max(mean, cmin), cmax);  // rounding cannot leave the parts' range
      // The first cell keeps its exact mean: min, its base, can still move.
      if (cw > 1 && !s.outMean.empty()) mean = QuantizeFrom(prevMean, mean);
    }
    if (mean < prevMean) mean = prevMean;
    s.outMean.push_back(mean);
    s.outWeight.push_back(cw);
    s.outPure.push_back((cpure || cw == 1) ? 1 : 0);
    prevMean = mean;
    cw = 0;
    csum = 0;
    cpure = true;
  };
  auto add = [&](double m, double w, bool pure) {
    if (cw == 0) {
      cfirst = cmin = cmax = m;
      cpure = pure;
    } else {
      cpure = cpure && pure && m == cfirst;
      cmin = std::min(cmin, m);
      cmax = std::max(cmax, m);
    }
    cw += w;
    csum += m * w;
  };
  auto feed = [&](const Item& it) {
    double rem = it.weight, off = 0;
    while (rem > 0) {
      const double room = nextB - cum;
      const double take = rem <= room ? rem : room;
      if (take > 0) {
        double m = it.mean;
        if (take != it.weight && it.hi > it.lo) {
          const double slope = (it.hi - it.lo) / it.weight;
          m = it.mean + slope * ((off + take / 2) - it.weight / 2);
          m = std::min(std::max(m, it.lo), it.hi);
        }
        add(m, take, it.pure != 0);
        cum += take;
        off += take;
        rem -= take;
      }
      if (cum >= nextB) {
        emit();
        ++j;
        nextB = j < G.size() ? G[j] : std::numeric_limits<double>::infinity();
      }
    }
  };
  size_t a = 0, b = 0;
  while (a < items.size() || b < nVals) {
    if (b >= nVals || (a < items.size() && items[a].mean <= vals[b])) {
      feed(items[a++]);
      continue;
    }
    // A run of raw values that come before the next item and fit in the current cell (all but the
    // one that fills it): the same as feeding them one by one, without the bookkeeping.
    const double limit = a < items.size() ? items[a].mean : std::numeric_limits<double>::infinity();
    size_t k = b;
    const double roomD = nextB - cum;  // >= 1 and an integer
    const size_t room = roomD < 1e15 ? static_cast<size_t>(roomD) : static_cast<size_t>(1e15);
    const size_t end = std::min(nVals, b + (room > 1 ? room - 1 : 0));
    if (k < end && cw == 0) {
      cfirst = cmin = cmax = vals[k];
      cpure = true;
    }
    double sum = 0;
    bool same = true;
    while (k < end && vals[k] < limit) {
      sum += vals[k];
      same &= vals[k] == cfirst;
      ++k;
    }
    if (k > b) {
      const double nk = static_cast<double>(k - b);
      cpure = cpure && same;
      cmin = std::min(cmin, vals[b]);
      cmax = std::max(cmax, vals[k - 1]);
      cw += nk;
      csum += sum;
      cum += nk;
      b = k;
    }
    if (b < nVals && (a >= items.size() || vals[b] < items[a].mean)) {
      const double x = vals[b++];
      feed(Item{x, 1, x, x, 1});
    }
  }
  if (cw > 0) emit();
}

// Moves the phases by the measured inflow below (above) a reference boundary of the old cells.
void UpdatePhases(const Cells& c, const std::vector<double>& edges,
                  const double* vals, size_t nVals, const Cells* other, double Wnew, double d, double* phaseLo,
                  double* phaseHi, std::vector<double>& L) {
  BaseGrid(Wnew, d, L);  // left in L for Grid()
  if (c.n == 0) return;
  double Wold = 0;
  for (uint32_t i = 0; i < c.n; ++i) Wold += c.weight[i];
  const double target = Wold * kRefQ;
  auto below = [&](double e) {
    double n = static_cast<double>(std::lower_bound(vals, vals + nVals, e) - vals);
    if (other)
      for (uint32_t i = 0; i < other->n && other->mean[i] < e; ++i) n += other->weight[i];
    return n;
  };
  auto atOrAbove = [&](double e) {
    double n = static_cast<double>(vals + nVals - std::lower_bound(vals, vals + nVals, e));
    if (other)
      for (uint32_t i = other->n; i-- > 0 && other->mean[i] >= e;) n += other->weight[i];
    return n;
  };
  {
    double cum = 0;
    uint32_t i = 0;
    while (i < c.n && cum + c.weight[i] <= target) cum += c.weight[i++];
    if (i > 0 && i < c.n && cum > 0) {
      const double eps = below(edges[i]) / cum;
      *phaseLo = Frac(*phaseLo + FracIndex(L, cum * (1 + eps)) - FracIndex(L, cum));
    }
  }
  {
    double cum = 0;
    uint32_t k = 0;
    while (k < c.n && cum + c.weight[c.n - 1 - k] <= target) cum += c.weight[c.n - 1 - k++];
    if (k > 0 && k < c.n && cum > 0) {
      const uint32_t i = c.n - k;
      const double eps = atOrAbove(edges[i]) / cum;
      *phaseHi = Frac(*phaseHi + FracIndex(L, cum * (1 + eps)) - FracIndex(L, cum));
    }
  }
}

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

Cells CellsOf(const View& v) {
  Cells c{};
  c.mean = v.mean;
  c.weight = v.weight;
  c.pure = v.pure;
  c.n = v.f ? v.f->nCells : 0;
  c.min = v.f ? v.f->min : 0;
  c.max = v.f ? v.f->max : 0;
  c.allInt = (v.c->flags & kFlagInt) != 0;
  return c;
}

// Writes the partition result (s.out*) as the cells of a full-mode region; the buffer is emptied.
void StoreCells(uint64_t* words, Scratch& s) {
  View v = MakeView(words);
  const uint32_t cap = v.f->cellCap;
  uint32_t n = static_cast<uint32_t>(s.outMean.size());
  if (n > cap) {  // never happens (MaxCells bounds the grid); keep the region sound regardless
    double extra = 0;
    for (uint32_t i = cap; i < n; ++i) extra += s.outWeight[i];
    s.outWeight[cap - 1] += extra;
    s.outPure[cap - 1] = 0;
    n = cap;
  }
  std::copy(s.outMean.begin(), s.outMean.begin() + n, v.mean);
  std::copy(s.outWeight.begin(), s.outWeight.begin() + n, v.weight);
  std::copy(s.outPure.begin(), s.outPure.begin() + n, v.pure);
  v.f->nCells = n;
  v.f->c.nBuf = 0;
}

// Merges the full-mode digest's buffer into its cells.
void Flush(uint64_t* words, Scratch& s) {
  View v = MakeView(words);
  Full* f = v.f;
  const size_t nb = f->c.nBuf;
  s.sorted.resize(nb);
  SortValues(v.buf, nb, s.sorted.data(), s);
  const double d = f->c.compression;
  Cells c = CellsOf(v);
  s.items.clear();
  AppendItems(c, s.items, s.model, s.edges);
  SortItems(s.items);
  double phaseLo = f->phaseLo, phaseHi = f->phaseHi;
  UpdatePhases(c, s.edges, s.sorted.data(), nb, nullptr, f->count, d, &phaseLo, &phaseHi, s.base);
  Grid(f->count, d, phaseLo, phaseHi, s.base, s.grid, true);
  Partition(s.items, s.sorted.data(), nb, s.grid, f->min, s);
  f->phaseLo = phaseLo;
  f->phaseHi = phaseHi;
  StoreCells(words, s);
}

// Turns an exact-mode region holding `sortedVals` (already sorted copy) into full mode.
void ToFull(uint64_t* words, const double* sortedVals, size_t n, bool allInt, Scratch& s) {
  Common* c = reinterpret_cast<Common*>(words);
  const double d = c->compression;
  const uint32_t capWords = c->capacity;
  Full* f = reinterpret_cast<Full*>(words);
  f->c.magic = kMagic;
  f->c.capacity = capWords;
  f->c.flags = kFlagFull | (allInt ? kFlagInt : 0);
  f->c.compression = d;
  f->c.nBuf = 0;
  f->nCells = 0;
  f->cellCap = MaxCells(d);
  f->count = static_cast<double>(n);
  f->min = sortedVals[0];
  f->max = sortedVals[n - 1];
  f->phaseLo = 0;
  f->phaseHi = 0;
  s.items.clear();
  Grid(f->count, d, 0, 0, s.base, s.grid);
  Partition(s.items, sortedVals, n, s.grid, f->min, s);
  StoreCells(words, s);
}

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

// Copies a digest region (of any mode) into s.region and flushes its buffer there, so queries see
// cells only. Returns the words to query (the input itself when nothing is buffered).
const uint64_t* Settled(const uint64_t* words, Scratch& s) {
  const Common* c = reinterpret_cast<const Common*>(words);
  if (!(c->flags & kFlagFull) || c->nBuf == 0) return words;
  const size_t need = FullWords(c->compression);
  s.region.resize(need);
  std::memcpy(s.region.data(), words, need * 8);
  reinterpret_cast<Common*>(s.region.data())->capacity = static_cast<uint32_t>(need);
  Flush(s.region.data(), s);
  return s.region.data();
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

Status Merge(uint64_t* dst, const uint64_t* src, Scratch& s, size_t* needWords) {
  const Common* sc = reinterpret_cast<const Common*>(src);
  Common* dc = reinterpret_cast<Common*>(dst);
  if (sc->magic != kMagic || dc->magic != kMagic) return Status::kCorrupt;
  const double srcCount = Count(src), dstCount = Count(dst);
  if (srcCount == 0) return Status::kOk;
  if (dstCount + srcCount > kMaxCount) return Status::kCountOverflow;
  const double d = dc->compression;
  const size_t need = RequiredWords(dstCount + srcCount, d);
  if (needWords) *needWords = need;
  if (need > dc->capacity) return Status::kNeedsCapacity;
  if (!(sc->flags & kFlagFull)) {
    // A small digest: the same as adding its values, in sorted order (so the order they were added
    // in, or a serialization round trip, cannot change the result).
    std::vector<double>& vals = s.mergeVals;
    vals.resize(sc->nBuf);
    SortValues(reinterpret_cast<const double*>(src + kCommonWords), sc->nBuf, vals.data(), s);
    const Status st = Add(dst, vals.data(), vals.size(), s);
    if (st == Status::kOk && !(sc->flags & kFlagInt)) dc->flags &= ~kFlagInt;
    return st;
  }
  // src has cells. Copy it first (it may alias dst).
  const size_t srcWords = FullWords(sc->compression);
  s.region2.resize(srcWords);
  std::memcpy(s.region2.data(), src, srcWords * 8);
  const uint64_t* S = s.region2.data();
  View sv = MakeView(S);
  View dv = MakeView(dst);
  // All raw values of both, sorted.
  const uint32_t dstBuf = dc->nBuf, srcBuf = sv.c->nBuf;
  std::vector<double>& raw = s.raw;
  raw.resize(static_cast<size_t>(dstBuf) + srcBuf);
  std::copy(dv.buf, dv.buf + dstBuf, raw.begin());
  std::copy(sv.buf, sv.buf + srcBuf, raw.begin() + dstBuf);
  s.sorted.resize(raw.size());
  SortValues(raw.data(), raw.size(), s.sorted.data(), s);
  const bool allInt = (dc->flags & kFlagInt) && (sv.c->flags & kFlagInt);
  const double W = dstCount + srcCount;
  double mn = sv.f->min, mx = sv.f->max;
  if (dv.f) {
    mn = std::min(mn, dv.f->min);
    mx = std::max(mx, dv.f->max);
  } else if (dstBuf > 0) {
    mn = std::min(mn, s.sorted.front());
    mx = std::max(mx, s.sorted.back());
  }
  Cells srcCells = CellsOf(sv);
  std::vector<Item>& items = s.items;
  std::vector<CellModel>& model = s.model;
  items.clear();
  double phaseLo, phaseHi;
  if (dv.f) {
    Cells dstCells = CellsOf(dv);
    AppendItems(dstCells, items, model, s.edges);
    phaseLo = dv.f->phaseLo;
    phaseHi = dv.f->phaseHi;
    UpdatePhases(dstCells, s.edges, s.sorted.data(), s.sorted.size(), &srcCells, W, d, &phaseLo, &phaseHi,
                 s.base);
    AppendItems(srcCells, items, model, s.edges);
  } else {
    AppendItems(srcCells, items, model, s.edges);
    phaseLo = sv.f->phaseLo;
    phaseHi = sv.f->phaseHi;
    UpdatePhases(srcCells, s.edges, s.sorted.data(), s.sorted.size(), nullptr, W, d, &phaseLo, &phaseHi,
                 s.base);
  }
  SortItems(items);
  Grid(W, d, phaseLo, phaseHi, s.base, s.grid, true);
  Partition(items, s.sorted.data(), s.sorted.size(), s.grid, mn, s);
  // Rewrite dst as a full-mode digest.
  Full* f = reinterpret_cast<Full*>(dst);
  const uint32_t capWords = dc->capacity;
  f->c.magic = kMagic;
  f->c.capacity = capWords;
  f->c.flags = kFlagFull | (allInt ? kFlagInt : 0);
  f->c.compression = d;
  f->c.nBuf = 0;
  f->nCells = 0;
  f->cellCap = MaxCells(d);
  f->count = W;
  f->min = mn;
  f->max = mx;
  f->phaseLo = phaseLo;
  f->phaseHi = phaseHi;
  StoreCells(dst, s);
  return Status::kOk;
}

namespace {

double QuantileCells(const uint64_t* words, double q, Scratch& s) {
  View v = MakeView(words);
  const Full* f = v.f;
  const double W = f->count;
  if (q <= 0) return f->min;
  if (q >= 1) return f->max;
  const double idx = q * W;
  Cells c = CellsOf(v);
  uint32_t i = 0;
  double cum = 0;
  while (i + 1 < c.n && cum + c.weight[i] <= idx) cum += c.weight[i++];
  const CellModel cm = Classify(c, i);
  double r;
  if (cm.kind == kPureCell) {
    r = c.mean[i];
  } else if (cm.kind == kTwoPoint) {
    r = (idx - cum) < cm.na ? cm.lo : cm.hi;
  } else {
    std::vector<CellModel>& model = s.model;
    BuildModel(c, model, s.edges);
    const double t = std::min(std::max((idx - cum) / c.weight[i], 0.0), 1.0);
    r = PpmAt(model[i].lo, model[i].hi, c.mean[i], t);
    if (c.allInt) r = std::floor(r + 0.5);
  }
  return std::min(std::max(r, f->min), f->max);
}

double CdfCells(const uint64_t* words, double x, Scratch& s) {
  View v = MakeView(words);
  const Full* f = v.f;
  if (x < f->min) return 0;
  if (x > f->max) return 1;
  Cells c = CellsOf(v);
  std::vector<CellModel>& model = s.model;
  BuildModel(c, model, s.edges);
  double lo = 0, hi = 0;  // weight below x, and at or below x
  for (uint32_t i = 0; i < c.n; ++i) {
    const double w = c.weight[i];
    const CellModel& cm = model[i];
    auto point = [&](double value, double weight) {
      if (value < x) {
        lo += weight;
        hi += weight;
      } else if (value == x) {
        hi += weight;
      }
    };
    if (cm.kind == kPureCell) {
      point(c.mean[i], w);
    } else if (cm.kind == kTwoPoint) {
      point(cm.lo, cm.na);
      point(cm.hi, w - cm.na);
    } else {
      const double vl = cm.lo, vr = cm.hi, a = c.mean[i];
      if (vr < x) {
        lo += w;
        hi += w;
      } else if (vl > x) {
        break;
      } else if (vl == vr) {
        point(a, w);
      } else {
        // The parabola is monotone on [0, 1]: bisect for the fraction below x.
        double t0 = 0, t1 = 1;
        for (int it = 0; it < 64; ++it) {
          const double tm = 0.5 * (t0 + t1);
          if (PpmAt(vl, vr, a, tm) < x) t0 = tm; else t1 = tm;
        }
        lo += t0 * w;
        hi += t0 * w;
      }
    }
  }
  return std::min(std::max((lo + hi) / 2 / f->count, 0.0), 1.0);
}

}  // namespace

double Quantile(const uint64_t* words, double q, Scratch& s) {
  const Common* c = reinterpret_cast<const Common*>(words);
  if (c->magic != kMagic || !(q >= 0 && q <= 1)) return std::numeric_limits<double>::quiet_NaN();
  if (!(c->flags & kFlagFull)) {
    const size_t n = c->nBuf;
    if (n == 0) return std::numeric_limits<double>::quiet_NaN();
    s.sorted.resize(n);
    SortValues(reinterpret_cast<const double*>(words + kCommonWords), n, s.sorted.data(), s);
    const double k = std::floor(q * static_cast<double>(n));
    return s.sorted[std::min(n - 1, static_cast<size_t>(k))];
  }
  return QuantileCells(Settled(words, s), q, s);
}

double Cdf(const uint64_t* words, double x, Scratch& s) {
  const Common* c = reinterpret_cast<const Common*>(words);
  if (c->magic != kMagic || std::isnan(x)) return std::numeric_limits<double>::quiet_NaN();
  if (!(c->flags & kFlagFull)) {
    const size_t n = c->nBuf;
    if (n == 0) return std::numeric_limits<double>::quiet_NaN();
    const double* vals = reinterpret_cast<const double*>(words + kCommonWords);
    double lo = 0, hi = 0;
    for (size_t i = 0; i < n; ++i) {
      lo += vals[i] < x;
      hi += vals[i] <= x;
    }
    return (lo + hi) / 2 / static_cast<double>(n);
  }
  return CdfCells(Settled(words, s), x, s);
}

// ---------------------------------------------------------------- serialization

namespace {

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
      if (allInt && pure && !IsInt(m)) return fail("t-digest cell mean is not an integer");
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
