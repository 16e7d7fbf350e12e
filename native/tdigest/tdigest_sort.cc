// Sorting the buffered values (part of the t-digest core; see tdigest_internal.h).
#include "tdigest/tdigest_internal.h"

namespace sluice::tdigest {
using namespace detail;  // tdigest_internal.h

namespace detail {

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

}  // namespace detail

}  // namespace sluice::tdigest
