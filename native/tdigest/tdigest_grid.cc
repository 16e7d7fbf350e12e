// The scale function and the grid of rank boundaries a merge cuts on, with its phases (part of the
// t-digest core; see tdigest.h for the design and tdigest_internal.h for the split).
#include "tdigest/tdigest_internal.h"

namespace sluice::tdigest {
using namespace detail;  // tdigest_internal.h

namespace {

constexpr double kTail = 0.06;  // tail cells: r / (kTail * d)
constexpr double kMid = 0.16;   // middle cells: W sqrt(q(1-q)) / (kMid * d)
constexpr double kRefQ = 0.01;  // where the grid phases measure inflow

// Cell size at rank r (from the nearer end) for total W.
inline double SizeAt(double r, double W, double d) {
  const double rr = std::max(r, 0.5);
  const double q = std::min(rr / W, 0.5);
  const double st = rr / (kTail * d);
  const double sm = W * std::sqrt(q * (1 - q)) / (kMid * d);
  return std::min(st, sm);
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

}  // namespace

namespace detail {

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
          bool haveBase) {
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

}  // namespace detail

}  // namespace sluice::tdigest
