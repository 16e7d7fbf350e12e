// Queries: Quantile and Cdf (part of the t-digest core; see tdigest_internal.h).
#include "tdigest/tdigest_internal.h"

namespace sluice::tdigest {
using namespace detail;  // tdigest_internal.h

namespace {

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

}  // namespace sluice::tdigest
