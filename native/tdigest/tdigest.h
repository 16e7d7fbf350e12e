// A merging t-digest (Dunning & Ertl) that lives in caller-provided memory.
//
// The digest is plain functions over a byte region of known capacity: a small fixed header and
// arrays, no pointers, host byte order, 8-byte aligned. A region can be copied or moved as bytes
// (Move() also records the new capacity), so digests can live in a SharedArrayBuffer arena that
// any worker thread maps. Working memory comes from a per-thread Scratch the caller passes.
//
// ## Two modes
//
// Exact mode (a new digest, and until it has taken BufferCapacity(compression) values): the
// region holds the raw values, so a window with a few dozen values costs a few dozen words and its
// quantiles are exact order statistics.
//
//   offset 0   uint32 magic      'T','D','g',1 (layout version 1)
//   offset 4   uint32 capacity   region size in 8-byte words
//   offset 8   uint32 nBuf       raw values held
//   offset 12  uint32 flags      bit 0: every value so far was an integer; bit 1: full mode
//   offset 16  f64    compression
//   offset 24  f64    values[nBuf]          (insertion order; capacity - 3 slots)
//
// Full mode (when the buffer first fills): the values are compressed into cells ("centroids").
//
//   offset 0   (the 24 bytes above, flags bit 1 set)
//   offset 24  uint32 nCells, uint32 cellCap
//   offset 32  f64    count              total weight: cells + buffered values (an integer <= 2^53)
//   offset 40  f64    min, max           exact extremes
//   offset 56  f64    phaseLo, phaseHi   grid phases in [0, 1) (see below)
//   offset 72  f64    mean[cellCap]      cell means, nondecreasing
//              f64    weight[cellCap]    cell weights (integers)
//              uint8  pure[cellCap]      1: every value in the cell is equal to its mean; padded to 8
//              f64    buffer[B]          raw values not yet merged, B = BufferCapacity(compression)
//
// B = BufferCapacity(compression) = 25 d values (2500 at d = 100; at least 2500, at most 2^20).
// RequiredWords(n, compression) gives the words a digest of n values needs: 3 + n below B, and a
// constant full size (FullWords: 3487 words = 27,896 bytes at d = 100) from B on, so an arena can
// grow a digest by moving it to a bigger block. cellCap = MaxCells(compression) bounds the cell
// count for any count up to 2^53 (460 at d = 100; about 165 cells are in use at 10^6 values).
//
// ## Merging
//
// When the buffer reaches B values (and only then, so the result depends only on the values, never
// on call boundaries or serialization), the buffer is sorted (LSD radix sort on order-preserving
// integer keys) and merged with the cells. The merged sequence is cut on a grid of integer rank
// boundaries that depends only on the total weight W, the compression d and two phases, so every
// cell holds exactly the weight the grid gives it (the serialized form does not store weights).
// Going out from each end, the next cell's size is
//
//   size(r) = max(1, floor(min(r / (0.06 d), W sqrt(q (1 - q)) / (0.16 d)))),  q = min(r / W, 1/2)
//
// evaluated at the cell's midpoint, r being the rank from that end. This is the minimum of a
// k2/k3-like tail bound (cells grow geometrically with the distance from the end: singletons at the
// very ends, then a sixth of the distance at d = 100) and a k1-like middle bound (about 3% of W at
// the median at d = 100): a scale function whose derivative is the max of both. The tail bound is
// anchored at the ends, in rank rather than in q, so cells made of early data are not cut again when
// data keeps arriving elsewhere (sorted input); the phases shift each tail's grid by the inflow
// measured below (above) the old cells' 1% boundary, so cells of random data are not cut again
// either. Where a boundary falls inside an old cell, the cell's contents are reconstructed with a
// monotone piecewise-parabolic model (PPM, Colella & Woodward) through the cell means, which is also
// what Quantile() and Cdf() read; cells are cut into 4 such pieces before the merge so that new
// values interleave with them. Cells whose values are all equal stay exact ("pure"); a cell between
// two pure cells, and a cell of integer data whose neighbours leave only two integers possible, is
// modelled as those two values (so discrete data keeps exact quantiles), and integer data (flags
// bit 0) gets integer quantiles.
//
// Impure cell means (but the first cell's) are rounded down to a 2^-32 relative grid in their delta
// from the previous mean, so that the serialized form is small and lossless.
//
// ## Serialized form (ToBytes / FromBytes), version 1, little-endian
//
//   'T','D','G',1 | flags u8 (bit 0 integers, bit 1 full) | compression f64 | count varint |
//   nBuf varint | if count > 0: min f64, max f64 | if full: phaseLo f64, phaseHi f64 | bit stream
//
// The bit stream holds, for each cell of the grid (count - nBuf, compression, phases), a pure bit
// when the cell's weight is above 1, then the delta of its mean from the previous mean (min for the
// first) in order-preserving integer form: exact for pure, single and first cells, in units of 2^20
// for the others; then the buffered values, sorted, as deltas from the previous (min first). A delta
// is an Elias-gamma code of the change in its bit length, then its bits below the leading one.
// About 700 bytes at d = 100 and 10^6 values (the buffer is empty at a multiple of B).
//
// FromBytes checks everything and never trusts a length, so garbage gives kCorrupt, never a crash.
// ToBytes does not change the digest, and FromBytes(ToBytes(d)) continues exactly as d would.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sluice::tdigest {

constexpr double kMinCompression = 10;
constexpr double kMaxCompression = 10000;
constexpr double kMaxCount = 9007199254740992.0;  // 2^53: counts stay exact integers in a double

enum class Status {
  kOk = 0,
  kNeedsCapacity,    // the region is too small: move it to RequiredWords(...) words and retry
  kInvalidArgument,  // NaN or infinite value, q outside [0, 1], bad compression
  kCountOverflow,    // the count would pass 2^53
  kCorrupt,          // region or bytes are not a digest
};

const char* StatusMessage(Status s);

namespace detail {
struct Item {  // a piece of the sequence a merge cuts into cells
  double mean, weight, lo, hi;
  uint8_t pure;
};
struct CellModel {  // how a cell's contents are reconstructed
  uint8_t kind;
  double lo, hi, na;
};
}  // namespace detail

// Per-thread working memory for merges, sorts and queries: grows to its working size once and is
// reused; never shared between threads, never part of a digest.
struct Scratch {
  std::vector<uint64_t> keys, keys2;       // radix sort
  std::vector<double> sorted, sorted2;     // sorted buffers
  std::vector<double> raw, mergeVals;      // merge inputs
  std::vector<detail::Item> items;
  std::vector<detail::CellModel> model;
  std::vector<double> outMean, outWeight;  // a merge's cells before they are stored
  std::vector<uint8_t> outPure;
  std::vector<double> grid, base, edges;
  std::vector<uint64_t> region, region2;   // temporary digests
};

// Buffer capacity B: values held before a merge, and the exact-mode threshold.
uint32_t BufferCapacity(double compression);
// Upper bound on the number of cells for any count.
uint32_t MaxCells(double compression);
// Words of a full-mode digest (constant per compression).
size_t FullWords(double compression);
// Words a digest that has taken n values needs (exact below B, FullWords from B on).
size_t RequiredWords(double n, double compression);
inline size_t InitWords() { return 3; }

bool ValidCompression(double compression);

// Writes an empty digest into words[0, capacityWords). kNeedsCapacity if capacityWords < 3.
Status Init(uint64_t* words, size_t capacityWords, double compression);

// Checks that words[0, capacityWords) holds a well-formed digest (for regions read back from
// untrusted storage). Cheap: O(cells + buffer).
Status Validate(const uint64_t* words, size_t capacityWords);

// O(1) structural check: the header is a digest's and the arrays it describes fit in availWords.
// Enough for memory safety on regions only this code writes; Validate() also checks the contents.
Status CheckHeader(const uint64_t* words, size_t availWords);

// Copies a digest into dst (capacityWords words, at least RequiredWords(count)). src and dst may be
// the same block only if capacities are equal. Relays out full-mode arrays when needed.
Status Move(const uint64_t* src, uint64_t* dst, size_t capacityWords);

double Count(const uint64_t* words);
double Compression(const uint64_t* words);
// Words this digest needs now (RequiredWords of its count).
size_t NeededWords(const uint64_t* words);

// Adds values. All or nothing: on kInvalidArgument (a non-finite value) or kNeedsCapacity
// (region smaller than RequiredWords(count + n)) nothing is added.
Status Add(uint64_t* words, const double* xs, size_t n, Scratch& s);
Status AddFloat(uint64_t* words, const float* xs, size_t n, Scratch& s);

// Merges src into dst (src unchanged; src may alias dst). *needWords receives the words dst needs
// for the result when kNeedsCapacity. Compressions may differ: the result keeps dst's.
Status Merge(uint64_t* dst, const uint64_t* src, Scratch& s, size_t* needWords);

// Queries; the digest is not changed. NaN for an empty digest.
double Quantile(const uint64_t* words, double q, Scratch& s);
double Cdf(const uint64_t* words, double x, Scratch& s);

// Serialized form (see above).
void ToBytes(const uint64_t* words, std::vector<uint8_t>* out, Scratch& s);
// Reads bytes into a region of capacityWords words; *needWords gets the words needed when
// kNeedsCapacity. On kCorrupt, *error says what is wrong.
Status FromBytes(const uint8_t* bytes, size_t n, uint64_t* words, size_t capacityWords, size_t* needWords,
                 std::string* error, Scratch& s);
// The words a serialized digest needs (0 and *error set if the bytes are not a digest).
size_t FromBytesWords(const uint8_t* bytes, size_t n, std::string* error);

// For tests and the bench: cell count (0 in exact mode).
uint32_t CellCount(const uint64_t* words);

}  // namespace sluice::tdigest
