// AVX-512 kernel for perfect trees: 4 vectors of 16 rows in flight. The top six levels (63 slots)
// pick feature and threshold from registers with a two-table permute instead of a gather, so a
// depth-6 tree gathers only the rows' values and its leaves; deeper levels gather as the AVX2
// kernel does. It walks whole chunks of 64 rows, then one of 32 if there is one: loading a tree's
// 512-byte top for fewer rows costs more than it saves (measured: 1 row under a lane mask took 3x
// the AVX2 kernel's time), so the caller walks the rest with the AVX2 kernel. Each row still adds
// its leaves in tree order, so results are bit-identical to the scalar kernel.
#include "xgboost/forest.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

namespace sluice::xgb {

bool Avx512Available() {
  static const bool ok = KernelAllowed("avx512") && __builtin_cpu_supports("avx512f");
  return ok;
}

namespace {

// kVectors x 16 rows through one tree, all the way down.
template <int kVectors>
__attribute__((target("avx512f"))) inline void PerfectStep512(const Split* splits, const float* leaves,
                                                              const PerfectTree& tree, const PerfectTop64& top,
                                                              const float* rows, int32_t numFeatures,
                                                              int32_t numGroups, float* acc) {
  const int* base = reinterpret_cast<const int*>(splits);
  const float* fbase = reinterpret_cast<const float*>(splits);
  const __m512i featMask = _mm512_set1_epi32(kFeatureMask);
  const __m512i rowStride = _mm512_mullo_epi32(
      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(numFeatures));
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i zero = _mm512_setzero_si512();
  const __m512 zeroPs = _mm512_setzero_ps();
  // Slots 0-31 and 32-63 of the top: a permute over two registers picks from 32 entries.
  const __m512i feat0 = _mm512_loadu_si512(top.feat), feat1 = _mm512_loadu_si512(top.feat + 16);
  const __m512i feat2 = _mm512_loadu_si512(top.feat + 32), feat3 = _mm512_loadu_si512(top.feat + 48);
  const __m512 thr0 = _mm512_loadu_ps(top.threshold), thr1 = _mm512_loadu_ps(top.threshold + 16);
  const __m512 thr2 = _mm512_loadu_ps(top.threshold + 32), thr3 = _mm512_loadu_ps(top.threshold + 48);
  __m512i idx[kVectors];
  for (int v = 0; v < kVectors; ++v) idx[v] = zero;
  // Gathers are the masked forms with a zero source (all lanes on): the unmasked ones trip GCC 12's
  // -Wmaybe-uninitialized inside the intrinsics header.
  for (int32_t level = 0; level < tree.depth; ++level) {
    for (int v = 0; v < kVectors; ++v) {
      __m512i f;
      __m512 t;
      if (level < 5) {  // slots 0-30
        f = _mm512_permutex2var_epi32(feat0, idx[v], feat1);
        t = _mm512_permutex2var_ps(thr0, idx[v], thr1);
      } else if (level < kTop64Levels) {  // slots 31-62: bit 5 picks the upper table
        const __mmask16 upper = _mm512_test_epi32_mask(idx[v], _mm512_set1_epi32(32));
        f = _mm512_mask_blend_epi32(upper, _mm512_permutex2var_epi32(feat0, idx[v], feat1),
                                    _mm512_permutex2var_epi32(feat2, idx[v], feat3));
        t = _mm512_mask_blend_ps(upper, _mm512_permutex2var_ps(thr0, idx[v], thr1),
                                 _mm512_permutex2var_ps(thr2, idx[v], thr3));
      } else {
        const __m512i o = _mm512_add_epi32(idx[v], idx[v]);  // 2 ints per Split
        f = _mm512_mask_i32gather_epi32(zero, 0xFFFF, o, base, 4);
        t = _mm512_mask_i32gather_ps(zeroPs, 0xFFFF, o, fbase + 1, 4);
      }
      const float* r = rows + static_cast<size_t>(v) * 16 * numFeatures;
      const __m512i at = _mm512_add_epi32(rowStride, _mm512_and_si512(f, featMask));
      const __m512 x = _mm512_mask_i32gather_ps(zeroPs, 0xFFFF, at, r, 4);
      // goLeft: ordered x < t, or unordered !(x >= t) where the node's sign bit (NaN goes left) is set.
      const __mmask16 nanLeft = _mm512_cmplt_epi32_mask(f, zero);
      const __mmask16 left = (nanLeft & _mm512_cmp_ps_mask(x, t, _CMP_NGE_UQ)) |
                             (static_cast<__mmask16>(~nanLeft) & _mm512_cmp_ps_mask(x, t, _CMP_LT_OQ));
      // next = 2i + 1 + (goLeft ? 0 : 1)
      const __m512i down = _mm512_add_epi32(_mm512_add_epi32(idx[v], idx[v]), one);
      idx[v] = _mm512_mask_add_epi32(down, static_cast<__mmask16>(~left), down, one);
    }
  }
  const __m512i firstLeaf = _mm512_set1_epi32((1 << tree.depth) - 1);
  for (int v = 0; v < kVectors; ++v) {
    const __m512 leaf = _mm512_mask_i32gather_ps(zeroPs, 0xFFFF, _mm512_sub_epi32(idx[v], firstLeaf), leaves, 4);
    float* a = acc + static_cast<size_t>(v) * 16 * numGroups + tree.group;
    if (numGroups == 1) {
      _mm512_storeu_ps(a, _mm512_add_ps(_mm512_loadu_ps(a), leaf));  // same IEEE adds as the scalar path
    } else {
      alignas(64) float l[16];
      _mm512_store_ps(l, leaf);
      for (int i = 0; i < 16; ++i) a[static_cast<size_t>(i) * numGroups] += l[i];
    }
  }
}

}  // namespace

__attribute__((target("avx512f"))) size_t AccumulatePerfectTreeAvx512(const Split* splits, const float* leaves,
                                                                     const PerfectTree& tree, const PerfectTop64& top,
                                                                     const float* rows, size_t nRows,
                                                                     int32_t numFeatures, int32_t numGroups,
                                                                     float* acc) {
  const Split* s = splits + tree.splitBegin;
  const float* l = leaves + tree.leafBegin;
  size_t start = 0;
  for (; start + 64 <= nRows; start += 64) {
    PerfectStep512<4>(s, l, tree, top, rows + start * numFeatures, numFeatures, numGroups, acc + start * numGroups);
  }
  if (start + 32 <= nRows) {
    PerfectStep512<2>(s, l, tree, top, rows + start * numFeatures, numFeatures, numGroups, acc + start * numGroups);
    start += 32;
  }
  return start;
}

}  // namespace sluice::xgb

#else
namespace sluice::xgb {
bool Avx512Available() { return false; }
size_t AccumulatePerfectTreeAvx512(const Split*, const float*, const PerfectTree&, const PerfectTop64&, const float*,
                                   size_t, int32_t, int32_t, float*) {
  return 0;
}
}  // namespace sluice::xgb
#endif
