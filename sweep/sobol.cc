#include "sweep/sobol.h"

#include <array>

#include "common/rng.h"

namespace ringmaster::sweep {
namespace {

// Joe-Kuo new-joe-kuo-6.21201, dimensions 2..21: s (the primitive polynomial's degree), a (its
// inner coefficients as bits), and the initial direction numbers m_1..m_s.
struct Row {
  unsigned s, a;
  std::array<uint32_t, 7> m;
};
constexpr std::array<Row, 20> kJoeKuo = {{
    {1, 0, {1}},
    {2, 1, {1, 3}},
    {3, 1, {1, 3, 1}},
    {3, 2, {1, 1, 1}},
    {4, 1, {1, 1, 3, 3}},
    {4, 4, {1, 3, 5, 13}},
    {5, 2, {1, 1, 5, 5, 17}},
    {5, 4, {1, 1, 5, 5, 5}},
    {5, 7, {1, 1, 7, 11, 19}},
    {5, 11, {1, 1, 5, 1, 1}},
    {5, 13, {1, 1, 1, 3, 11}},
    {5, 14, {1, 3, 5, 5, 31}},
    {6, 1, {1, 3, 3, 9, 7, 49}},
    {6, 13, {1, 1, 1, 15, 21, 21}},
    {6, 16, {1, 3, 1, 13, 27, 49}},
    {6, 19, {1, 1, 1, 15, 7, 5}},
    {6, 22, {1, 3, 1, 15, 13, 25}},
    {6, 25, {1, 1, 5, 5, 19, 61}},
    {7, 1, {1, 3, 7, 11, 23, 15, 103}},
    {7, 4, {1, 3, 7, 13, 13, 15, 69}},
}};
constexpr unsigned kBits = 32;

}  // namespace

SobolSequence::SobolSequence(std::size_t dimensions, std::optional<uint64_t> scramble_seed) {
  for (std::size_t d = 0; d < dimensions && d < kMaxDimensions; ++d) {
    std::vector<uint32_t> v(kBits);
    if (d == 0) {  // the van der Corput sequence: m_i = 1
      for (unsigned i = 0; i < kBits; ++i) v[i] = 1u << (31 - i);
    } else {
      const Row& r = kJoeKuo[d - 1];
      for (unsigned i = 0; i < r.s && i < kBits; ++i) v[i] = r.m[i] << (31 - i);
      // The recurrence of the primitive polynomial x^s + a_1 x^(s-1) + ... + a_(s-1) x + 1.
      for (unsigned i = r.s; i < kBits; ++i) {
        uint32_t x = v[i - r.s] ^ (v[i - r.s] >> r.s);
        for (unsigned k = 1; k < r.s; ++k)
          if ((r.a >> (r.s - 1 - k)) & 1u) x ^= v[i - k];
        v[i] = x;
      }
    }
    directions_.push_back(std::move(v));
  }
  shift_.assign(directions_.size(), 0);
  if (scramble_seed) {
    Rng rng(*scramble_seed);
    for (auto& s : shift_) s = static_cast<uint32_t>(rng.next() >> 32);
  }
}

std::vector<double> SobolSequence::point(uint64_t index) const {
  const uint64_t gray = index ^ (index >> 1);
  std::vector<double> out(directions_.size());
  for (std::size_t d = 0; d < directions_.size(); ++d) {
    uint32_t x = shift_[d];
    for (unsigned bit = 0; bit < kBits && (gray >> bit) != 0; ++bit)
      if ((gray >> bit) & 1u) x ^= directions_[d][bit];
    out[d] = static_cast<double>(x) / 4294967296.0;
  }
  return out;
}

}  // namespace ringmaster::sweep
