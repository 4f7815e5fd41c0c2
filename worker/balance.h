// Unequal work for unequal ranks (--balance): per-rank batch sizes that add up to the uniform
// global batch, chosen by measured speed, so a slow rank (a smaller GPU, a shared core) stops
// holding every step back. The update stays the uniform one: each rank's gradient is weighted by
// its share of the global batch (Batch::global_count), and every global batch is the same block
// of the epoch's permutation whatever the split (BatchLoader::Options::shard_batches).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "collectives/communicator.h"
#include "common/status.h"

namespace ringmaster::worker {

// Splits `total` into weights.size() integers proportional to the (positive, finite) weights,
// each at least `min_each` (largest remainder, ties to the lower index), summing to `total`.
// Deterministic: every rank computes the same split from the same weights.
// REQUIRES: !weights.empty(), total >= min_each * weights.size().
std::vector<int64_t> split_proportionally(int64_t total, std::span<const double> weights, int64_t min_each = 1);

// --balance: none (every rank takes --batch-size), auto (measured), or fixed per-rank batch sizes
// "B0,B1,..." (one per rank, adding up to ranks x --batch-size).
struct BalanceSpec {
  enum class Kind { kNone, kAuto, kFixed } kind = Kind::kNone;
  std::vector<int64_t> batches;  // kFixed
};
Result<BalanceSpec> parse_balance(std::string_view text);
std::string name_of(const BalanceSpec& spec);  // as parse_balance reads it: "none", "auto", "192,64"

// The measuring side of --balance auto. Every rank records its compute time per step (forward,
// backward, without waiting for the allreduce or for data); decide() is a collective that every
// rank calls at the same step: it shares the ranks' speeds (samples per compute second, median
// over the window) and returns the new split when it differs from the current one by more than
// 2% of the global batch.
class Balancer {
 public:
  Balancer(int world, int64_t global_batch, std::vector<int64_t> initial);
  void record(int64_t samples, double compute_seconds);
  int64_t recorded_steps() const { return steps_; }  // since the last decide(), equal on all ranks
  Result<std::optional<std::vector<int64_t>>> decide(collectives::Communicator& comm);
  const std::vector<int64_t>& batches() const { return batches_; }
  const std::vector<double>& speeds() const { return speeds_; }  // of the last decide(), samples/s
  int decisions() const { return decisions_; }

 private:
  int world_;
  int64_t global_batch_;
  std::vector<int64_t> batches_;
  std::vector<double> per_sample_;  // seconds per sample, per step since the last decide()
  std::vector<double> speeds_;
  int64_t steps_ = 0;
  int decisions_ = 0;
};

std::string join_batches(std::span<const int64_t> batches);  // "192,64"

}  // namespace ringmaster::worker
