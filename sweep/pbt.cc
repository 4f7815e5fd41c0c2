#include "sweep/pbt.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "common/strings.h"

namespace ringmaster::sweep {
namespace {

class Pbt final : public Suggester {
 public:
  Pbt(const SearchSpace& space, PbtOptions o) : space_(space), o_(o) {}

  Suggestion next(const std::vector<TrialView>& trials) override {
    const int n = o_.population;
    int generation = 0;
    for (const auto& t : trials) generation = std::max(generation, t.lineage.generation);
    // The first member of the newest generation with no trial running or done (never created, or
    // failed: it runs again).
    std::vector<bool> filled(static_cast<std::size_t>(n), false);
    bool running = false;
    for (const auto& t : trials)
      if (t.lineage.generation == generation && t.state != TrialView::State::kFailed && t.lineage.member < n) {
        filled[static_cast<std::size_t>(t.lineage.member)] = true;
        running |= t.state == TrialView::State::kRunning;
      }
    const auto empty = std::find(filled.begin(), filled.end(), false);
    if (empty != filled.end()) return member(trials, generation, static_cast<int>(empty - filled.begin()));
    if (running) return {Suggestion::Kind::kWait, {}, ""};
    return member(trials, generation + 1, 0);
  }

 private:
  Suggestion member(const std::vector<TrialView>& trials, int generation, int m) const {
    Suggestion s;
    if (generation == 0) {
      Rng rng = Rng::derive(o_.seed, static_cast<uint64_t>(m));
      s.assignment = space_.sample(rng);
      s.lineage = Lineage{0, m, std::nullopt};
      s.note = "generation 0";
      return s;
    }
    // The members of the generation before, each by the trial that ended it (a failed one was
    // run again).
    const int n = o_.population;
    std::vector<std::size_t> done(static_cast<std::size_t>(n), trials.size());
    for (std::size_t i = 0; i < trials.size(); ++i) {
      const auto& t = trials[i];
      if (t.lineage.generation == generation - 1 && t.state == TrialView::State::kDone && t.lineage.member < n)
        done[static_cast<std::size_t>(t.lineage.member)] = i;
    }
    // Best first (lower loss); ties by member.
    std::vector<int> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    auto loss = [&](int k) {
      const std::size_t i = done[static_cast<std::size_t>(k)];
      return i < trials.size() && std::isfinite(trials[i].loss) ? trials[i].loss : HUGE_VAL;
    };
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return loss(a) < loss(b); });
    const int cut = std::min(n / 2, static_cast<int>(std::floor(o_.truncation_threshold * n + 1e-9)));
    const auto rank = static_cast<int>(std::find(order.begin(), order.end(), m) - order.begin());
    const std::size_t own = done[static_cast<std::size_t>(m)];
    if (rank < n - cut && own < trials.size()) {
      s.assignment = trials[own].assignment;
      s.lineage = Lineage{generation, m, own};
      s.note = fmt::format("generation {}, continues", generation);
      return s;
    }
    // Exploit a strong member, then explore.
    Rng rng = Rng::derive(o_.seed, (static_cast<uint64_t>(generation) << 24) + static_cast<uint64_t>(m));
    std::size_t parent = trials.size();
    for (int tries = 0; tries < 4 * n && parent >= trials.size(); ++tries)
      parent = done[static_cast<std::size_t>(order[rng.below(static_cast<uint64_t>(std::max(cut, 1)))])];
    if (parent >= trials.size()) {  // nothing of the generation before finished: start afresh
      s.assignment = space_.sample(rng);
      s.lineage = Lineage{generation, m, std::nullopt};
      s.note = fmt::format("generation {}, resampled", generation);
      return s;
    }
    s.assignment = pbt_explore(space_, trials[parent].assignment, o_, rng);
    s.lineage = Lineage{generation, m, parent};
    s.note = fmt::format("generation {}, exploits", generation);
    return s;
  }

  SearchSpace space_;
  PbtOptions o_;
};

}  // namespace

Assignment pbt_explore(const SearchSpace& space, const Assignment& values, const PbtOptions& o, Rng& rng) {
  Assignment out = values;
  const Assignment fresh = space.sample(rng);
  const auto& dims = space.dimensions();
  for (std::size_t d = 0; d < dims.size() && d < out.size(); ++d) {
    std::string& v = out[d].second;
    if (o.resample_probability) {
      if (rng.uniform_double() < *o.resample_probability) v = fresh[d].second;
      continue;
    }
    const Dimension& dim = dims[d];
    if (!dim.values.empty()) {  // discrete, categorical: a neighbour, wrapping at both ends
      const auto at = std::find(dim.values.begin(), dim.values.end(), v);
      const std::size_t k = dim.values.size();
      const std::size_t i = at == dim.values.end() ? 0 : static_cast<std::size_t>(at - dim.values.begin());
      v = dim.values[rng.below(2) ? (i + 1) % k : (i + k - 1) % k];
      continue;
    }
    const double factor = rng.below(2) ? 1.2 : 0.8;
    const double x = parse_double(v).value_or((dim.min + dim.max) / 2);
    if (dim.type == jobs::ParameterType::kInt) {
      const double moved = std::trunc(std::trunc(x) * factor);
      v = std::to_string(static_cast<long long>(std::clamp(moved, dim.min, dim.max)));
    } else {
      v = format_double(std::clamp(x * factor, dim.min, dim.max));
    }
  }
  return out;
}

std::unique_ptr<Suggester> make_pbt(const SearchSpace& space, PbtOptions options) {
  return std::make_unique<Pbt>(space, options);
}

}  // namespace ringmaster::sweep
