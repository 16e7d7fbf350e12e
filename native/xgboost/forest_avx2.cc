// AVX2 kernel: 8 rows per vector, one gather per node field per level. Compiled for AVX2 with a
// function attribute so the rest of the addon stays baseline x86-64; Forest picks it at run time.
// Each row still adds its leaves in tree order, so results are bit-identical to the scalar kernel.
#include "xgboost/forest.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

namespace sluice::xgb {

bool Avx2Available() {
  static const bool ok = KernelAllowed("avx2") && __builtin_cpu_supports("avx2");  // read-only after first use
  return ok;
}

__attribute__((target("avx2"))) void AccumulateNumericTreeAvx2(const Node* nodes, const Tree& tree,
                                                               const float* rows, size_t nRows,
                                                               int32_t numFeatures, int32_t numGroups,
                                                               float* acc) {
  const int* base = reinterpret_cast<const int*>(nodes);
  const float* fbase = reinterpret_cast<const float*>(nodes);
  const __m256i featMask = _mm256_set1_epi32(kFeatureMask);
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i rowStride = _mm256_mullo_epi32(lane, _mm256_set1_epi32(numFeatures));
  const __m256i one = _mm256_set1_epi32(1);
  size_t start = 0;
  // Two vectors (16 rows) in flight, so one's gathers overlap the other's compares.
  for (; start + 16 <= nRows; start += 16) {
    const float* r0 = rows + start * numFeatures;
    const float* r1 = r0 + 8 * static_cast<size_t>(numFeatures);
    __m256i i0 = _mm256_set1_epi32(tree.root), i1 = i0;
    for (int32_t level = 0; level < tree.depth; ++level) {
      const __m256i o0 = _mm256_slli_epi32(i0, 2), o1 = _mm256_slli_epi32(i1, 2);  // 4 ints per Node
      const __m256i f0 = _mm256_i32gather_epi32(base, o0, 4);
      const __m256i f1 = _mm256_i32gather_epi32(base, o1, 4);
      const __m256 t0 = _mm256_i32gather_ps(fbase + 1, o0, 4);
      const __m256 t1 = _mm256_i32gather_ps(fbase + 1, o1, 4);
      const __m256i l0 = _mm256_i32gather_epi32(base + 2, o0, 4);
      const __m256i l1 = _mm256_i32gather_epi32(base + 2, o1, 4);
      const __m256 x0 = _mm256_i32gather_ps(r0, _mm256_add_epi32(rowStride, _mm256_and_si256(f0, featMask)), 4);
      const __m256 x1 = _mm256_i32gather_ps(r1, _mm256_add_epi32(rowStride, _mm256_and_si256(f1, featMask)), 4);
      // goLeft: ordered x < t, or unordered !(x >= t) where the node's sign bit (NaN goes left) is set.
      const __m256 a0 = _mm256_blendv_ps(_mm256_cmp_ps(x0, t0, _CMP_LT_OQ), _mm256_cmp_ps(x0, t0, _CMP_NGE_UQ),
                                         _mm256_castsi256_ps(f0));
      const __m256 a1 = _mm256_blendv_ps(_mm256_cmp_ps(x1, t1, _CMP_LT_OQ), _mm256_cmp_ps(x1, t1, _CMP_NGE_UQ),
                                         _mm256_castsi256_ps(f1));
      i0 = _mm256_add_epi32(l0, _mm256_andnot_si256(_mm256_castps_si256(a0), one));
      i1 = _mm256_add_epi32(l1, _mm256_andnot_si256(_mm256_castps_si256(a1), one));
    }
    alignas(32) int32_t idx[16];
    _mm256_store_si256(reinterpret_cast<__m256i*>(idx), i0);
    _mm256_store_si256(reinterpret_cast<__m256i*>(idx + 8), i1);
    for (int i = 0; i < 16; ++i) acc[(start + i) * numGroups + tree.group] += nodes[idx[i]].leaf;
  }
  if (start < nRows) {
    Tree rest = tree;
    AccumulateNumericTree(nodes, rest, rows + start * numFeatures, nRows - start, numFeatures, numGroups,
                          acc + start * numGroups);
  }
}

namespace {

// Walks kVectors x 8 rows of one perfect tree together. Indices are computed (2i+1+right), so no
// child index is ever loaded. The top kTopLevels levels pick feature and threshold from registers
// (a permute); deeper levels gather them. Every level gathers the rows' feature values.
template <int kVectors>
__attribute__((target("avx2"))) inline void PerfectStep(const Split* splits, const float* leaves,
                                                        const PerfectTree& tree, const PerfectTop& top,
                                                        const float* rows, int32_t numFeatures, int32_t numGroups,
                                                        float* acc) {
  const int* base = reinterpret_cast<const int*>(splits);
  const float* fbase = reinterpret_cast<const float*>(splits);
  const __m256i featMask = _mm256_set1_epi32(kFeatureMask);
  const __m256i rowStride =
      _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(numFeatures));
  const __m256i one = _mm256_set1_epi32(1);
  __m256i idx[kVectors];
  for (int v = 0; v < kVectors; ++v) idx[v] = _mm256_setzero_si256();
  for (int32_t level = 0; level < tree.depth; ++level) {
    const bool inTop = level < kTopLevels;
    __m256i topFeat = _mm256_setzero_si256(), levelStart = _mm256_setzero_si256();
    __m256 topThr = _mm256_setzero_ps();
    if (inTop) {
      topFeat = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(top.feat[level]));
      topThr = _mm256_loadu_ps(top.threshold[level]);
      levelStart = _mm256_set1_epi32((1 << level) - 1);
    }
    for (int v = 0; v < kVectors; ++v) {
      __m256i f;
      __m256 t;
      if (inTop) {
        const __m256i k = _mm256_sub_epi32(idx[v], levelStart);
        f = _mm256_permutevar8x32_epi32(topFeat, k);
        t = _mm256_permutevar8x32_ps(topThr, k);
      } else {
        const __m256i o = _mm256_slli_epi32(idx[v], 1);  // 2 ints per Split
        f = _mm256_i32gather_epi32(base, o, 4);
        t = _mm256_i32gather_ps(fbase + 1, o, 4);
      }
      const float* r = rows + static_cast<size_t>(v) * 8 * numFeatures;
      const __m256 x = _mm256_i32gather_ps(r, _mm256_add_epi32(rowStride, _mm256_and_si256(f, featMask)), 4);
      // goLeft: ordered x < t, or unordered !(x >= t) where the node's sign bit (NaN goes left) is set.
      const __m256 left = _mm256_blendv_ps(_mm256_cmp_ps(x, t, _CMP_LT_OQ), _mm256_cmp_ps(x, t, _CMP_NGE_UQ),
                                           _mm256_castsi256_ps(f));
      // next = 2i + 1 + (goLeft ? 0 : 1)
      idx[v] = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(idx[v], idx[v]), one),
                                _mm256_andnot_si256(_mm256_castps_si256(left), one));
    }
  }
  const __m256i firstLeaf = _mm256_set1_epi32((1 << tree.depth) - 1);
  for (int v = 0; v < kVectors; ++v) {
    const __m256 leaf = _mm256_i32gather_ps(leaves, _mm256_sub_epi32(idx[v], firstLeaf), 4);
    float* a = acc + static_cast<size_t>(v) * 8 * numGroups + tree.group;
    if (numGroups == 1) {
      _mm256_storeu_ps(a, _mm256_add_ps(_mm256_loadu_ps(a), leaf));  // same IEEE adds as the scalar path
    } else {
      alignas(32) float l[8];
      _mm256_store_ps(l, leaf);
      for (int i = 0; i < 8; ++i) a[static_cast<size_t>(i) * numGroups] += l[i];
    }
  }
}

}  // namespace

__attribute__((target("avx2"))) void AccumulatePerfectTreeAvx2(const Split* splits, const float* leaves,
                                                               const PerfectTree& tree, const PerfectTop& top,
                                                               const float* rows, size_t nRows, int32_t numFeatures,
                                                               int32_t numGroups, float* acc) {
  const Split* s = splits + tree.splitBegin;
  const float* l = leaves + tree.leafBegin;
  constexpr size_t kRows = 32;  // 4 vectors in flight: enough independent gathers to hide latency
  size_t start = 0;
  for (; start + kRows <= nRows; start += kRows) {
    PerfectStep<4>(s, l, tree, top, rows + start * numFeatures, numFeatures, numGroups, acc + start * numGroups);
  }
  for (; start + 8 <= nRows; start += 8) {
    PerfectStep<1>(s, l, tree, top, rows + start * numFeatures, numFeatures, numGroups, acc + start * numGroups);
  }
  if (start < nRows) {
    AccumulatePerfectTree(splits, leaves, tree, rows + start * numFeatures, nRows - start, numFeatures, numGroups,
                          acc + start * numGroups);
  }
}

}  // namespace sluice::xgb

#else
namespace sluice::xgb {
bool Avx2Available() { return false; }
void AccumulateNumericTreeAvx2(const Node* nodes, const Tree& tree, const float* rows, size_t nRows,
                               int32_t numFeatures, int32_t numGroups, float* acc) {
  AccumulateNumericTree(nodes, tree, rows, nRows, numFeatures, numGroups, acc);
}
void AccumulatePerfectTreeAvx2(const Split* splits, const float* leaves, const PerfectTree& tree, const PerfectTop&,
                               const float* rows, size_t nRows, int32_t numFeatures, int32_t numGroups, float* acc) {
  AccumulatePerfectTree(splits, leaves, tree, rows, nRows, numFeatures, numGroups, acc);
}
}  // namespace sluice::xgb
#endif
