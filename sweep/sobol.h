// The Sobol low-discrepancy sequence in up to kMaxDimensions dimensions, for the `sobol` search
// algorithm (Katib's, served there by goptuna's sampler). Direction numbers are Joe and Kuo's
// (new-joe-kuo-6.21201, the table scipy and goptuna use; "Constructing Sobol sequences with better
// two-dimensional projections", SIAM J. Sci. Comput. 30, 2008), points in Gray-code order as their
// reference generator and scipy emit them, with 32 bits per coordinate. Optionally scrambled by a
// random digital shift (each coordinate XORed with a seeded 32-bit mask), which keeps every
// elementary-interval property of the sequence. Pure; thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace ringmaster::sweep {

class SobolSequence {
 public:
  static constexpr std::size_t kMaxDimensions = 21;
  // dimensions in [1, kMaxDimensions]; `scramble_seed`: a digital shift from that seed, or none.
  SobolSequence(std::size_t dimensions, std::optional<uint64_t> scramble_seed);
  // Point `index` (0 is the origin when unscrambled), each coordinate in [0, 1).
  std::vector<double> point(uint64_t index) const;
  std::size_t dimensions() const { return directions_.size(); }

 private:
  std::vector<std::vector<uint32_t>> directions_;  // per dimension, V[bit] (32 of them)
  std::vector<uint32_t> shift_;                   // per dimension; zero when unscrambled
};

}  // namespace ringmaster::sweep
