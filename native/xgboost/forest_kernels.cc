// The portable kernel: one tree over a block of rows, all rows walking the same number of levels.
// Leaves point to themselves (see Node), so a row that reaches a leaf early just stays there, and
// the inner loop has no branch on the data: rows are independent, so the CPU overlaps their loads.
#include "xgboost/forest.h"

#include <cstdlib>
#include <cstring>

namespace sluice::xgb {

bool KernelAllowed(const char* kernel) {
  static const char* cap = std::getenv("SLUICE_XGB_KERNEL");  // read once, at the first model
  if (cap == nullptr || *cap == '\0') return true;
  if (std::strcmp(cap, "scalar") == 0) return false;
  if (std::strcmp(cap, "avx2") == 0) return std::strcmp(kernel, "avx2") == 0;
  return true;  // avx512, or a name this build does not know: no cap
}

static inline int32_t Step(const Node& n, float x) {
  // Ordered `x < t` is false for NaN; unordered `!(x >= t)` is true for NaN. The node's flag picks
  // which one applies, which is "NaN takes the default child" without a test for NaN. Leaves have
  // t = NaN and the flag set, so every x goes "left", i.e. back to the leaf itself.
  const bool goLeft = n.featFlags < 0 ? !(x >= n.threshold) : (x < n.threshold);
  return n.left + (goLeft ? 0 : 1);
}

void AccumulateNumericTree(const Node* nodes, const Tree& tree, const float* rows, size_t nRows,
                           int32_t numFeatures, int32_t numGroups, float* acc) {
  constexpr size_t kLanes = 16;  // rows walked together: enough independent loads to hide latency
  for (size_t start = 0; start < nRows; start += kLanes) {
    const size_t n = nRows - start < kLanes ? nRows - start : kLanes;
    int32_t idx[kLanes];
    for (size_t i = 0; i < n; ++i) idx[i] = tree.root;
    for (int32_t level = 0; level < tree.depth; ++level) {
      for (size_t i = 0; i < n; ++i) {
        const Node& node = nodes[idx[i]];
        const float x = rows[(start + i) * numFeatures + (node.featFlags & kFeatureMask)];
        idx[i] = Step(node, x);
      }
    }
    for (size_t i = 0; i < n; ++i) acc[(start + i) * numGroups + tree.group] += nodes[idx[i]].leaf;
  }
}

void AccumulatePerfectTree(const Split* splits, const float* leaves, const PerfectTree& tree, const float* rows,
                           size_t nRows, int32_t numFeatures, int32_t numGroups, float* acc) {
  constexpr size_t kLanes = 16;
  const int32_t firstLeaf = (1 << tree.depth) - 1;
  for (size_t start = 0; start < nRows; start += kLanes) {
    const size_t n = nRows - start < kLanes ? nRows - start : kLanes;
    int32_t idx[kLanes] = {0};
    for (int32_t level = 0; level < tree.depth; ++level) {
      for (size_t i = 0; i < n; ++i) {
        const Split& s = splits[tree.splitBegin + idx[i]];
        const float x = rows[(start + i) * numFeatures + (s.featFlags & kFeatureMask)];
        const bool goLeft = s.featFlags < 0 ? !(x >= s.threshold) : (x < s.threshold);
        idx[i] = 2 * idx[i] + (goLeft ? 1 : 2);
      }
    }
    for (size_t i = 0; i < n; ++i) {
      acc[(start + i) * numGroups + tree.group] += leaves[tree.leafBegin + idx[i] - firstLeaf];
    }
  }
}

}  // namespace sluice::xgb
