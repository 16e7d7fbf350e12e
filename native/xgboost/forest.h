// A validated XGBoost forest in the layout the prediction kernels walk.
//
// Evaluation follows XGBoost's CPU predictor (src/predictor/cpu_predictor.cc in 1.7): split tests
// `fvalue < split_condition` in float32, NaN takes the default child, leaf values are added in
// float32 in tree order onto the base margin of the tree's output group, then the transform.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace sluice::xgb {

enum class Transform : int32_t {
  kIdentity = 0,  // reg:squarederror, binary:logitraw, rank:*
  kSigmoid = 1,   // reg:logistic, binary:logistic
  kExp = 2,       // count:poisson, reg:gamma, reg:tweedie
  kSoftmax = 3,   // multi:softprob: one probability per class
  kArgmax = 4,    // multi:softmax: the class index, as a float
};

// The model as the TypeScript parser hands it over: XGBoost's own per-tree arrays, concatenated.
// Node indices in left/right are local to their tree; -1 marks a leaf. Nothing here is trusted.
struct ForestInput {
  int32_t numFeatures = 0;
  int32_t numGroups = 0;
  Transform transform = Transform::kIdentity;
  const float* baseMargin = nullptr;  // numGroups values, already in margin space
  int32_t numTrees = 0;
  const int32_t* treeNodeOffset = nullptr;  // numTrees + 1
  const int32_t* treeGroup = nullptr;       // numTrees
  const float* treeWeight = nullptr;        // numTrees; 1 for gbtree, weight_drop for dart
  int32_t numNodes = 0;
  const int32_t* left = nullptr;
  const int32_t* right = nullptr;
  const int32_t* splitIndex = nullptr;
  const float* splitCondition = nullptr;  // the leaf value for leaves, as XGBoost stores it
  const uint8_t* defaultLeft = nullptr;
  // Categorical splits: catNodeStart[node] .. catNodeStart[node + 1] indexes catValues; a node
  // with a non-empty range (or isCategorical set) splits on category membership.
  const uint8_t* isCategorical = nullptr;    // numNodes
  const int32_t* catNodeStart = nullptr;     // numNodes + 1
  const int32_t* catValues = nullptr;
};

// One node as the kernels read it: 16 bytes, so a node is one aligned load and the SIMD kernel
// can gather its fields with a scale of 4 from one base.
struct Node {
  int32_t featFlags;  // feature index; bit 31 set = NaN goes left
  float threshold;    // NaN on leaves: with bit 31 set, every value goes "left", i.e. stays put
  int32_t left;       // absolute index of the left child; right is left + 1; leaves point to self
  float leaf;         // leaf value times the tree weight; 0 on inner nodes
};
constexpr int32_t kDefaultLeftBit = INT32_MIN;
constexpr int32_t kFeatureMask = INT32_MAX;

struct Tree {
  int32_t root;      // absolute node index
  int32_t depth;     // levels to walk from the root to the deepest leaf
  int32_t group;     // output group the leaf adds to
  int32_t catBegin;  // >= 0 for trees with a categorical split (walked by the general path)
  int32_t perfect;   // into Forest::perfect_ when the tree also has a perfect layout, else -1
};

// A numeric tree of depth D laid out as a perfect binary tree in heap order: the children of slot
// i are 2i+1 and 2i+2, so the kernels compute the next index instead of loading it. Leaves above
// the last level become pass-through slots (threshold NaN, NaN-goes-left: every value goes left)
// and their value sits at the leftmost bottom slot below them. Slots: 2^D - 1 splits, 2^D leaves.
struct Split {
  int32_t featFlags;  // as Node::featFlags
  float threshold;
};
struct PerfectTree {
  uint32_t splitBegin;  // into Forest::splits_
  uint32_t leafBegin;   // into Forest::leaves_
  int32_t depth;
  int32_t group;
};
// The first kTopLevels levels (at most 8 slots each) again, one level per row of 8, features and
// thresholds apart: the SIMD kernel picks them with a register permute instead of a gather.
constexpr int32_t kTopLevels = 4;
struct PerfectTop {
  int32_t feat[kTopLevels][8];
  float threshold[kTopLevels][8];
};
// The first kTop64Levels levels (63 slots) in heap order, features and thresholds apart: the
// AVX-512 kernel picks them with a two-table permute (32 entries a table) instead of a gather.
constexpr int32_t kTop64Levels = 6;
struct PerfectTop64 {
  int32_t feat[64];
  float threshold[64];
};
// Deeper trees would waste too much memory on padding; they use the Node layout.
constexpr int32_t kPerfectMaxDepth = 12;

// Category membership of one categorical node, as a bitset over category values.
struct CatSplit {
  uint32_t bitOffset;  // into Forest::catBits, in 32-bit words
  uint32_t numBits;    // capacity of the set; categories at or past it take the default child
};

class Forest {
 public:
  // Validates everything a kernel relies on (indices in range, trees acyclic, finite thresholds
  // and leaves). On failure returns false and sets *error to a message naming tree and node.
  static bool Build(const ForestInput& in, Forest* out, std::string* error);

  int32_t numFeatures() const { return numFeatures_; }
  int32_t numGroups() const { return numGroups_; }
  int32_t numOutputs() const { return transform_ == Transform::kArgmax ? 1 : numGroups_; }

  // rows: nRows x numFeatures, row-major, NaN = missing. out: nRows x numOutputs.
  void Predict(const float* rows, size_t nRows, float* out) const;
  // Raw margins before the transform: nRows x numGroups.
  void PredictMargin(const float* rows, size_t nRows, float* margins) const;

 private:
  void PredictBlock(const float* rows, size_t nRows, float* acc) const;
  void ApplyTransform(const float* margins, size_t nRows, float* out) const;

  int32_t numFeatures_ = 0;
  int32_t numGroups_ = 0;
  Transform transform_ = Transform::kIdentity;
  std::vector<float> baseMargin_;
  std::vector<Node> nodes_;
  std::vector<Tree> trees_;
  std::vector<CatSplit> catSplits_;  // per node of categorical trees, indexed by absolute node
  std::vector<uint8_t> isCat_;       // per node; empty when the forest has no categorical split
  std::vector<uint32_t> catBits_;
  std::vector<PerfectTree> perfect_;
  std::vector<PerfectTop> perfectTop_;  // parallel to perfect_
  std::vector<PerfectTop64> perfectTop64_;  // parallel to perfect_, when the AVX-512 kernel runs
  std::vector<Split> splits_;
  std::vector<float> leaves_;
};

// Kernels, chosen at run time (forest_kernels.cc, forest_avx2.cc).
// Adds the tree's leaf for each row to acc[row * numGroups + group]. Rows are walked together.
void AccumulatePerfectTree(const Split* splits, const float* leaves, const PerfectTree& tree, const float* rows,
                           size_t nRows, int32_t numFeatures, int32_t numGroups, float* acc);
void AccumulatePerfectTreeAvx2(const Split* splits, const float* leaves, const PerfectTree& tree,
                               const PerfectTop& top, const float* rows, size_t nRows, int32_t numFeatures,
                               int32_t numGroups, float* acc);
// Adds each tree's leaf for rows [0, nRows) into acc[row * numGroups + group], in tree order.
void AccumulateNumericTree(const Node* nodes, const Tree& tree, const float* rows, size_t nRows,
                           int32_t numFeatures, int32_t numGroups, float* acc);
// Which kernels may run: all by default; SLUICE_XGB_KERNEL=scalar|avx2|avx512 caps them (tests walk
// every kernel this machine has; results are bit-identical across them).
bool KernelAllowed(const char* kernel);
bool Avx2Available();
bool Avx512Available();
// Walks the block's rows in whole chunks of 64, then 32; returns how many rows that was.
size_t AccumulatePerfectTreeAvx512(const Split* splits, const float* leaves, const PerfectTree& tree,
                                   const PerfectTop64& top, const float* rows, size_t nRows, int32_t numFeatures,
                                   int32_t numGroups, float* acc);
void AccumulateNumericTreeAvx2(const Node* nodes, const Tree& tree, const float* rows, size_t nRows,
                               int32_t numFeatures, int32_t numGroups, float* acc);

}  // namespace sluice::xgb
