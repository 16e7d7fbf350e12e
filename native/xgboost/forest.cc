#include "xgboost/forest.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace sluice::xgb {

namespace {

// Limits that keep a hostile file from making us allocate or loop without bound. Real models are
// far below them: XGBoost's own max_depth cap for exact trees is 31 levels in practice.
constexpr int32_t kMaxDepth = 256;
constexpr int32_t kMaxCategory = 1 << 24;  // XGBoost's OutOfRangeCat(): floats are exact below it

std::string At(int32_t tree, int32_t node) {
  return "tree " + std::to_string(tree) + " node " + std::to_string(node) + ": ";
}

// Walks one tree from its root and writes it breadth-first into `nodes`, children side by side.
// Rejects out-of-range children, nodes reached twice (cycles, shared subtrees) and bad values.
bool LayoutTree(const ForestInput& in, int32_t t, std::vector<Node>* nodes, Tree* tree,
                std::vector<int32_t>* newToOld, std::string* error) {
  const int32_t begin = in.treeNodeOffset[t];
  const int32_t n = in.treeNodeOffset[t + 1] - begin;
  if (n <= 0) {
    *error = "tree " + std::to_string(t) + ": has no nodes";
    return false;
  }
  std::vector<uint8_t> seen(n, 0);
  std::vector<int32_t> depthOf(n, 0);
  // queue holds local node ids in output order; slot[i] is the absolute output index of queue[i].
  std::vector<int32_t> queue;
  queue.reserve(n);
  queue.push_back(0);
  seen[0] = 1;
  const int32_t base = static_cast<int32_t>(nodes->size());
  int32_t maxDepth = 0;
  nodes->push_back(Node{});
  newToOld->push_back(begin);
  for (size_t qi = 0; qi < queue.size(); ++qi) {
    const int32_t local = queue[qi];
    const int32_t g = begin + local;
    const int32_t self = base + static_cast<int32_t>(qi);
    Node& out = (*nodes)[self];
    const int32_t l = in.left[g], r = in.right[g];
    if (l == -1 && r == -1) {
      const float v = in.splitCondition[g] * in.treeWeight[t];
      if (!std::isfinite(in.splitCondition[g])) {
        *error = At(t, local) + "leaf value is not a finite number";
        return false;
      }
      out = Node{kDefaultLeftBit, std::nanf(""), self, v};
      continue;
    }
    if (l < 0 || l >= n || r < 0 || r >= n) {
      *error = At(t, local) + "child index " + std::to_string(l < 0 || l >= n ? l : r) +
               " is out of range (the tree has " + std::to_string(n) + " nodes)";
      return false;
    }
    if (seen[l] || seen[r] || l == r) {
      *error = At(t, local) + "child " + std::to_string(seen[l] || l == r ? l : r) +
               " is reached twice: the tree has a cycle or a shared node";
      return false;
    }
    const int32_t f = in.splitIndex[g];
    if (f < 0 || f >= in.numFeatures) {
      *error = At(t, local) + "split feature " + std::to_string(f) + " is out of range (the model has " +
               std::to_string(in.numFeatures) + " features)";
      return false;
    }
    const bool isCat = in.isCategorical && in.isCategorical[g];
    if (!isCat && std::isnan(in.splitCondition[g])) {
      *error = At(t, local) + "split condition is NaN";
      return false;
    }
    seen[l] = seen[r] = 1;
    const int32_t d = depthOf[local] + 1;
    if (d > kMaxDepth) {
      *error = At(t, local) + "tree is deeper than " + std::to_string(kMaxDepth) + " levels";
      return false;
    }
    depthOf[l] = depthOf[r] = d;
    maxDepth = std::max(maxDepth, d);
    const int32_t leftOut = base + static_cast<int32_t>(queue.size());
    queue.push_back(l);
    queue.push_back(r);
    nodes->push_back(Node{});
    nodes->push_back(Node{});
    newToOld->push_back(begin + l);
    newToOld->push_back(begin + r);
    Node& o = (*nodes)[self];  // re-take: push_back may have moved the vector
    o.featFlags = f | (in.defaultLeft[g] ? kDefaultLeftBit : 0);
    o.threshold = in.splitCondition[g];
    o.left = leftOut;
    o.leaf = 0.0f;
  }
  tree->root = base;
  tree->depth = maxDepth;
  tree->group = in.treeGroup[t];
  tree->catBegin = -1;
  tree->perfect = -1;
  return true;
}

// Copies a Node-layout tree into the perfect layout (see PerfectTree). Slot `slot` at `level`
// receives node `idx`; a leaf above the bottom fills its subtree with pass-through slots.
void FillPerfect(const std::vector<Node>& nodes, int32_t idx, int32_t slot, int32_t level, int32_t depth,
                 Split* splits, float* leaves) {
  const Node& n = nodes[idx];
  const bool leaf = n.left == idx;
  if (level == depth) {
    leaves[slot - ((1 << depth) - 1)] = n.leaf;
    return;
  }
  if (leaf) {
    splits[slot] = Split{kDefaultLeftBit, std::nanf("")};
    FillPerfect(nodes, idx, 2 * slot + 1, level + 1, depth, splits, leaves);
    return;
  }
  splits[slot] = Split{n.featFlags, n.threshold};
  FillPerfect(nodes, n.left, 2 * slot + 1, level + 1, depth, splits, leaves);
  FillPerfect(nodes, n.left + 1, 2 * slot + 2, level + 1, depth, splits, leaves);
}

}  // namespace

bool Forest::Build(const ForestInput& in, Forest* out, std::string* error) {
  if (in.numFeatures <= 0 || in.numGroups <= 0 || in.numTrees < 0 || in.numNodes < 0) {
    *error = "model sizes must be positive";
    return false;
  }
  if (in.treeNodeOffset[0] != 0 || in.treeNodeOffset[in.numTrees] != in.numNodes) {
    *error = "tree node offsets do not cover the node arrays";
    return false;
  }
  for (int32_t t = 0; t < in.numTrees; ++t) {
    if (in.treeNodeOffset[t + 1] < in.treeNodeOffset[t]) {
      *error = "tree " + std::to_string(t) + ": node offsets go backwards";
      return false;
    }
    if (in.treeGroup[t] < 0 || in.treeGroup[t] >= in.numGroups) {
      *error = "tree " + std::to_string(t) + ": output group " + std::to_string(in.treeGroup[t]) +
               " is out of range (the model has " + std::to_string(in.numGroups) + " groups)";
      return false;
    }
    if (!std::isfinite(in.treeWeight[t])) {
      *error = "tree " + std::to_string(t) + ": weight is not a finite number";
      return false;
    }
  }
  for (int32_t gi = 0; gi < in.numGroups; ++gi) {
    if (std::isnan(in.baseMargin[gi])) {
      *error = "base margin is NaN";
      return false;
    }
  }

  Forest f;
  f.numFeatures_ = in.numFeatures;
  f.numGroups_ = in.numGroups;
  f.transform_ = in.transform;
  f.baseMargin_.assign(in.baseMargin, in.baseMargin + in.numGroups);
  f.nodes_.reserve(in.numNodes);
  f.trees_.resize(in.numTrees);
  std::vector<int32_t> newToOld;
  newToOld.reserve(in.numNodes);
  bool anyCat = false;
  if (in.isCategorical) {
    for (int32_t i = 0; i < in.numNodes; ++i) anyCat = anyCat || in.isCategorical[i];
  }
  for (int32_t t = 0; t < in.numTrees; ++t) {
    if (!LayoutTree(in, t, &f.nodes_, &f.trees_[t], &newToOld, error)) return false;
  }
  if (anyCat) {
    f.isCat_.assign(f.nodes_.size(), 0);
    f.catSplits_.assign(f.nodes_.size(), CatSplit{0, 0});
    for (int32_t t = 0; t < in.numTrees; ++t) {
      const Tree& tr = f.trees_[t];
      const int32_t end = t + 1 < in.numTrees ? f.trees_[t + 1].root : static_cast<int32_t>(f.nodes_.size());
      for (int32_t i = tr.root; i < end; ++i) {
        const int32_t old = newToOld[i];
        if (!in.isCategorical[old] || f.nodes_[i].left == i) continue;
        const int32_t cb = in.catNodeStart[old], ce = in.catNodeStart[old + 1];
        if (cb < 0 || ce < cb) {
          *error = At(t, old - in.treeNodeOffset[t]) + "category list offsets are invalid";
          return false;
        }
        int32_t maxCat = -1;
        for (int32_t k = cb; k < ce; ++k) {
          const int32_t c = in.catValues[k];
          if (c < 0 || c >= kMaxCategory) {
            *error = At(t, old - in.treeNodeOffset[t]) + "category " + std::to_string(c) +
                     " is out of range (0 to 2^24 - 1)";
            return false;
          }
          maxCat = std::max(maxCat, c);
        }
        // XGBoost sizes a node's bitset to whole 32-bit words holding its largest category.
        const uint32_t words = static_cast<uint32_t>(maxCat + 1 + 31) / 32;
        CatSplit cs{static_cast<uint32_t>(f.catBits_.size()), words * 32};
        f.catBits_.resize(f.catBits_.size() + words, 0);
        for (int32_t k = cb; k < ce; ++k) {
          const uint32_t c = static_cast<uint32_t>(in.catValues[k]);
          f.catBits_[cs.bitOffset + c / 32] |= 1u << (c % 32);
        }
        f.catSplits_[i] = cs;
        f.isCat_[i] = 1;
        f.trees_[t].catBegin = 0;  // marks the tree for the categorical-aware kernel
      }
    }
    if (f.catBits_.empty()) f.isCat_.clear();
  }
  for (Tree& tr : f.trees_) {
    if (tr.catBegin >= 0 || tr.depth > kPerfectMaxDepth) continue;
    PerfectTree pt{static_cast<uint32_t>(f.splits_.size()), static_cast<uint32_t>(f.leaves_.size()), tr.depth,
                   tr.group};
    // Unreached padding slots stay as pass-through splits and zero leaves.
    f.splits_.resize(f.splits_.size() + (size_t{1} << tr.depth) - 1, Split{kDefaultLeftBit, std::nanf("")});
    f.leaves_.resize(f.leaves_.size() + (size_t{1} << tr.depth), 0.0f);
    FillPerfect(f.nodes_, tr.root, 0, 0, tr.depth, f.splits_.data() + pt.splitBegin, f.leaves_.data() + pt.leafBegin);
    tr.perfect = static_cast<int32_t>(f.perfect_.size());
    f.perfect_.push_back(pt);
    PerfectTop top{};
    for (int32_t level = 0; level < kTopLevels && level < tr.depth; ++level) {
      for (int32_t k = 0; k < (1 << level); ++k) {
        const Split& sp = f.splits_[pt.splitBegin + (1 << level) - 1 + k];
        top.feat[level][k] = sp.featFlags;
        top.threshold[level][k] = sp.threshold;
      }
    }
    f.perfectTop_.push_back(top);
    if (Avx512Available()) {
      PerfectTop64 top64{};
      const int32_t slots = (1 << std::min(kTop64Levels, tr.depth)) - 1;
      for (int32_t k = 0; k < slots; ++k) {
        top64.feat[k] = f.splits_[pt.splitBegin + k].featFlags;
        top64.threshold[k] = f.splits_[pt.splitBegin + k].threshold;
      }
      f.perfectTop64_.push_back(top64);
    }
  }
  *out = std::move(f);
  return true;
}

// One node decision for trees with categorical splits; mirrors XGBoost 1.7's GetNextNode and
// common::Decision: missing -> default child; a category in the node's set goes right; any other
// value goes left, including negative ones, ones past the set's bitset and ones >= 2^24.
static inline int32_t NextCategorical(const Node& n, int32_t idx, float x, const uint8_t* isCat,
                                      const CatSplit* cats, const uint32_t* bits) {
  if (std::isnan(x)) return n.featFlags < 0 ? n.left : n.left + 1;
  if (!isCat[idx]) return n.left + !(x < n.threshold);
  const CatSplit& cs = cats[idx];
  if (x < 0.0f || x >= static_cast<float>(kMaxCategory) || static_cast<uint32_t>(x) >= cs.numBits) return n.left;
  const uint32_t c = static_cast<uint32_t>(x);  // truncates, as XGBoost's AsCat does
  const bool inSet = (bits[cs.bitOffset + c / 32] >> (c % 32)) & 1u;
  return inSet ? n.left + 1 : n.left;
}

// Rows per block: 64 rows x 32 features is 8 KiB of input, so a block and one tree's nodes stay
// in L1/L2 while every tree walks the block (XGBoost's kBlockOfRowsSize is 64 for the same reason).
constexpr size_t kBlockRows = 256;

void Forest::PredictBlock(const float* rows, size_t nRows, float* acc) const {
  for (size_t r = 0; r < nRows; ++r) {
    std::memcpy(acc + r * numGroups_, baseMargin_.data(), sizeof(float) * numGroups_);
  }
  const bool avx2 = Avx2Available();
  const bool avx512 = nRows >= 32 && !perfectTop64_.empty();  // it walks chunks of 64 and 32 rows only
  for (const Tree& tree : trees_) {
    if (tree.catBegin >= 0) {
      for (size_t r = 0; r < nRows; ++r) {
        const float* row = rows + r * numFeatures_;
        int32_t idx = tree.root;
        while (nodes_[idx].left != idx) {
          const Node& n = nodes_[idx];
          idx = NextCategorical(n, idx, row[n.featFlags & kFeatureMask], isCat_.data(), catSplits_.data(),
                                catBits_.data());
        }
        acc[r * numGroups_ + tree.group] += nodes_[idx].leaf;
      }
    } else if (tree.perfect >= 0) {
      const PerfectTree& pt = perfect_[tree.perfect];
      const size_t done = avx512 ? AccumulatePerfectTreeAvx512(splits_.data(), leaves_.data(), pt,
                                                               perfectTop64_[tree.perfect], rows, nRows,
                                                               numFeatures_, numGroups_, acc)
                                 : 0;
      if (done == nRows) continue;
      const float* restRows = rows + done * numFeatures_;
      float* restAcc = acc + done * numGroups_;
      if (avx2) {
        AccumulatePerfectTreeAvx2(splits_.data(), leaves_.data(), pt, perfectTop_[tree.perfect], restRows,
                                  nRows - done, numFeatures_, numGroups_, restAcc);
      } else {
        AccumulatePerfectTree(splits_.data(), leaves_.data(), pt, restRows, nRows - done, numFeatures_, numGroups_,
                              restAcc);
      }
    } else if (avx2) {
      AccumulateNumericTreeAvx2(nodes_.data(), tree, rows, nRows, numFeatures_, numGroups_, acc);
    } else {
      AccumulateNumericTree(nodes_.data(), tree, rows, nRows, numFeatures_, numGroups_, acc);
    }
  }
}

void Forest::PredictMargin(const float* rows, size_t nRows, float* margins) const {
  for (size_t start = 0; start < nRows; start += kBlockRows) {
    const size_t n = std::min(kBlockRows, nRows - start);
    PredictBlock(rows + start * numFeatures_, n, margins + start * numGroups_);
  }
}

void Forest::ApplyTransform(const float* margins, size_t nRows, float* out) const {
  const size_t g = static_cast<size_t>(numGroups_);
  switch (transform_) {
    case Transform::kIdentity:
      if (out != margins) std::memcpy(out, margins, sizeof(float) * nRows * g);
      return;
    case Transform::kSigmoid:
      for (size_t i = 0; i < nRows * g; ++i) out[i] = 1.0f / (1.0f + std::exp(-margins[i]));
      return;
    case Transform::kExp:
      for (size_t i = 0; i < nRows * g; ++i) out[i] = std::exp(margins[i]);
      return;
    case Transform::kSoftmax:
    case Transform::kArgmax:
      for (size_t r = 0; r < nRows; ++r) {
        const float* m = margins + r * g;
        if (transform_ == Transform::kArgmax) {
          size_t best = 0;  // first maximum wins, as in XGBoost's FindMaxIndex
          for (size_t k = 1; k < g; ++k) best = m[k] > m[best] ? k : best;
          out[r] = static_cast<float>(best);
          continue;
        }
        float mx = m[0];
        for (size_t k = 1; k < g; ++k) mx = std::max(mx, m[k]);
        float sum = 0.0f;
        float* o = out + r * g;
        for (size_t k = 0; k < g; ++k) {
          o[k] = std::exp(m[k] - mx);
          sum += o[k];
        }
        for (size_t k = 0; k < g; ++k) o[k] /= sum;
      }
      return;
  }
}

void Forest::Predict(const float* rows, size_t nRows, float* out) const {
  if (transform_ == Transform::kArgmax) {
    float margins[kBlockRows * 64];
    std::vector<float> heap;
    float* buf = margins;
    if (static_cast<size_t>(numGroups_) > 64) {
      heap.resize(kBlockRows * numGroups_);
      buf = heap.data();
    }
    for (size_t start = 0; start < nRows; start += kBlockRows) {
      const size_t n = std::min(kBlockRows, nRows - start);
      PredictBlock(rows + start * numFeatures_, n, buf);
      ApplyTransform(buf, n, out + start);
    }
    return;
  }
  PredictMargin(rows, nRows, out);
  ApplyTransform(out, nRows, out);
}

}  // namespace sluice::xgb
