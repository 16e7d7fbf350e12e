// The cell model: how a cell's contents are reconstructed (pure, two-point, or a monotone
// piecewise-parabolic piece), read by merges and queries (part of the t-digest core; see
// tdigest_internal.h).
#include "tdigest/tdigest_internal.h"

namespace sluice::tdigest {
using namespace detail;  // tdigest_internal.h

namespace {

inline double MonoSlope(double dxm, double dx, double dxp, double am, double a, double ap) {
  if (!((ap - a) * (a - am) > 0)) return 0;
  double r = dx / (dxm + dx + dxp) * ((2 * dxm + dx) / (dxp + dx) * (ap - a) + (dx + 2 * dxp) / (dxm + dx) * (a - am));
  const double lim = 2 * std::min(std::fabs(a - am), std::fabs(ap - a));
  if (std::fabs(r) > lim) r = r > 0 ? lim : -lim;
  return r;
}

}  // namespace

namespace detail {

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

CellModel Classify(const Cells& c, uint32_t i) {
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

}  // namespace detail

}  // namespace sluice::tdigest
