#include "worker/balance.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>

#include "common/strings.h"

namespace ringmaster::worker {

std::vector<int64_t> split_proportionally(int64_t total, std::span<const double> weights, int64_t min_each) {
  const auto n = static_cast<int64_t>(weights.size());
  std::vector<int64_t> out(weights.size(), min_each);
  int64_t left = total - min_each * n;
  if (left <= 0) return out;
  double sum = 0.0;
  for (double w : weights) sum += (std::isfinite(w) && w > 0) ? w : 0.0;
  std::vector<double> exact(weights.size());
  for (std::size_t i = 0; i < weights.size(); ++i) {
    const double w = (std::isfinite(weights[i]) && weights[i] > 0) ? weights[i] : 0.0;
    exact[i] = sum > 0 ? static_cast<double>(left) * w / sum : static_cast<double>(left) / static_cast<double>(n);
  }
  int64_t given = 0;
  for (std::size_t i = 0; i < exact.size(); ++i) {
    const auto whole = static_cast<int64_t>(std::floor(exact[i]));
    out[i] += whole;
    given += whole;
  }
  std::vector<std::size_t> order(exact.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return exact[a] - std::floor(exact[a]) > exact[b] - std::floor(exact[b]);
  });
  for (std::size_t k = 0; given < left; ++k, ++given) ++out[order[k % order.size()]];
  return out;
}

Result<BalanceSpec> parse_balance(std::string_view text) {
  BalanceSpec spec;
  if (text == "none" || text.empty()) return spec;
  if (text == "auto") {
    spec.kind = BalanceSpec::Kind::kAuto;
    return spec;
  }
  spec.kind = BalanceSpec::Kind::kFixed;
  std::string_view rest = text;
  while (true) {
    const std::size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    const int64_t v = parse_int<int64_t>(item).value_or(0);
    if (v <= 0)
      return invalid_argument(fmt::format("--balance: expected none, auto or per-rank batch sizes such as 192,64, "
                                          "found \"{}\" (\"{}\" is not a positive integer)",
                                          text, item));
    spec.batches.push_back(v);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return spec;
}

Balancer::Balancer(int world, int64_t global_batch, std::vector<int64_t> initial)
    : world_(world), global_batch_(global_batch), batches_(std::move(initial)) {}

void Balancer::record(int64_t samples, double compute_seconds) {
  ++steps_;
  if (samples > 0 && compute_seconds > 0) per_sample_.push_back(compute_seconds / static_cast<double>(samples));
}

Result<std::optional<std::vector<int64_t>>> Balancer::decide(collectives::Communicator& comm) {
  double speed = 0.0;
  if (!per_sample_.empty()) {
    auto mid = per_sample_.begin() + static_cast<std::ptrdiff_t>(per_sample_.size() / 2);
    std::nth_element(per_sample_.begin(), mid, per_sample_.end());
    speed = *mid > 0 ? 1.0 / *mid : 0.0;
  }
  per_sample_.clear();
  steps_ = 0;
  speeds_.assign(static_cast<std::size_t>(world_), 0.0);
  if (Status s = comm.allgather(&speed, speeds_.data(), 1, collectives::DataType::kFloat64); !s)
    return s.with_context("sharing the ranks' measured speeds (--balance auto)");
  ++decisions_;
  std::vector<int64_t> next = split_proportionally(global_batch_, speeds_, 1);
  int64_t moved = 0;
  for (std::size_t r = 0; r < next.size(); ++r) moved = std::max(moved, std::abs(next[r] - batches_[r]));
  if (moved * 50 <= global_batch_) return std::optional<std::vector<int64_t>>();
  batches_ = next;
  return std::optional<std::vector<int64_t>>(std::move(next));
}

std::string join_batches(std::span<const int64_t> batches) { return fmt::format("{}", fmt::join(batches, ",")); }

std::string name_of(const BalanceSpec& spec) {
  switch (spec.kind) {
    case BalanceSpec::Kind::kNone: return "none";
    case BalanceSpec::Kind::kAuto: return "auto";
    case BalanceSpec::Kind::kFixed: return join_batches(spec.batches);
  }
  return "none";
}

}  // namespace ringmaster::worker
