// Merging: cutting a sorted sequence of cell pieces and raw values into cells on the grid; Flush,
// the switch to full mode, and Merge (part of the t-digest core; see tdigest_internal.h).
#include "tdigest/tdigest_internal.h"

namespace sluice::tdigest {
using namespace detail;  // tdigest_internal.h

namespace {

constexpr int kChunks = 4;  // pieces a smooth cell is cut into before a merge

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

}  // namespace

namespace detail {

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

// Writes a full-mode header over a region, keeping its capacity and compression; no cells yet.
Full* WriteFullHeader(uint64_t* words, bool allInt, double count, double mn, double mx, double phaseLo,
                      double phaseHi) {
  const Common* c = reinterpret_cast<const Common*>(words);
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
  f->count = count;
  f->min = mn;
  f->max = mx;
  f->phaseLo = phaseLo;
  f->phaseHi = phaseHi;
  return f;
}

// Turns an exact-mode region holding `sortedVals` (already sorted copy) into full mode.
void ToFull(uint64_t* words, const double* sortedVals, size_t n, bool allInt, Scratch& s) {
  Full* f = WriteFullHeader(words, allInt, static_cast<double>(n), sortedVals[0], sortedVals[n - 1], 0, 0);
  s.items.clear();
  Grid(f->count, f->c.compression, 0, 0, s.base, s.grid);
  Partition(s.items, sortedVals, n, s.grid, f->min, s);
  StoreCells(words, s);
}

}  // namespace detail

Status Merge(uint64_t* dst, const uint64_t* src, Scratch& s, size_t* needWords) {
  const Common* sc = reinterpret_cast<const Common*>(src);
  Common* dc = reinterpret_cast<Common*>(dst);
  if (sc->magic != kMagic || dc->magic != kMagic) return Status::kCorrupt;
  const double srcCount = Count(src), dstCount = Count(dst);
  if (srcCount == 0) return Status::kOk;
  if (dstCount + srcCount > kMaxCount) return Status::kCountOverflow;
  const double d = dc->compression;
  // A source with cells makes the result full whatever the count: it needs the full layout.
  const size_t need = sc->flags & kFlagFull ? std::max(RequiredWords(dstCount + srcCount, d), FullWords(d)) : RequiredWords(dstCount + srcCount, d);
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
  WriteFullHeader(dst, allInt, W, mn, mx, phaseLo, phaseHi);
  StoreCells(dst, s);
  return Status::kOk;
}

}  // namespace sluice::tdigest
