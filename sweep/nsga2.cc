#include "sweep/nsga2.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/rng.h"
#include "sweep/pareto.h"

namespace ringmaster::sweep {
namespace {

constexpr double kEta = 20.0;  // SBX and polynomial mutation distribution index

class Nsga2 final : public Suggester {
 public:
  Nsga2(const SearchSpace& space, Nsga2Options o) : space_(space), o_(o), dims_(space.dimensions().size()) {}

  Suggestion next(const std::vector<TrialView>& trials) override {
    const std::size_t p = static_cast<std::size_t>(o_.population_size);
    const std::size_t index = trials.size();
    const std::size_t generation = index / p;
    if (generation == 0) {
      Rng rng = Rng::derive(o_.seed, index);
      return {Suggestion::Kind::kTrial, space_.sample(rng), "generation 0"};
    }
    for (std::size_t i = (generation - 1) * p; i < generation * p; ++i)
      if (trials[i].state == TrialView::State::kRunning) return {Suggestion::Kind::kWait, {}, ""};
    while (bred_.size() < generation) bred_.push_back(breed(trials, bred_.size() + 1));
    const auto& children = bred_[generation - 1];
    return {Suggestion::Kind::kTrial, space_.from_unit(children[index - generation * p]),
            "generation " + std::to_string(generation)};
  }

 private:
  // Generation g's points, from the trials of generations before it (all ended).
  std::vector<std::vector<double>> breed(const std::vector<TrialView>& trials, std::size_t g) {
    const std::size_t p = static_cast<std::size_t>(o_.population_size);
    const std::size_t n = g * p;  // the trials of generations 0 .. g-1
    // Failed trials (no losses) rank behind every finished one.
    std::vector<Objectives> objectives;
    std::size_t m = 1;
    for (std::size_t i = 0; i < n; ++i) m = std::max(m, trials[i].losses.size());
    for (std::size_t i = 0; i < n; ++i) {
      const auto& t = trials[i];
      objectives.push_back(t.state == TrialView::State::kDone && t.losses.size() == m
                               ? t.losses
                               : Objectives(m, std::numeric_limits<double>::max()));
    }
    const CrowdedComparison better(objectives);
    std::vector<std::size_t> order = better.order();
    order.resize(std::min(n, p));  // the elite population
    Rng rng = Rng::derive(o_.seed, 1000003 * g);
    auto pick = [&] {  // binary tournament
      const std::size_t a = order[rng.next() % order.size()], b = order[rng.next() % order.size()];
      return better(a, b) ? a : b;
    };
    std::vector<std::vector<double>> children;
    while (children.size() < p) {
      std::vector<double> x = space_.to_unit(trials[pick()].assignment), y = space_.to_unit(trials[pick()].assignment);
      if (rng.uniform() < o_.crossover_prob) sbx(x, y, rng);
      for (auto* c : {&x, &y}) {
        mutate(*c, rng);
        if (children.size() < p) children.push_back(*c);
      }
    }
    return children;
  }

  static void sbx(std::vector<double>& x, std::vector<double>& y, Rng& rng) {
    for (std::size_t k = 0; k < x.size(); ++k) {
      if (rng.uniform() > 0.5 || std::abs(x[k] - y[k]) < 1e-12) continue;
      const double u = rng.uniform();
      const double beta = u <= 0.5 ? std::pow(2 * u, 1 / (kEta + 1)) : std::pow(1 / (2 * (1 - u)), 1 / (kEta + 1));
      const double a = 0.5 * ((1 + beta) * x[k] + (1 - beta) * y[k]), b = 0.5 * ((1 - beta) * x[k] + (1 + beta) * y[k]);
      x[k] = std::clamp(a, 0.0, 1.0);
      y[k] = std::clamp(b, 0.0, 1.0);
    }
  }

  void mutate(std::vector<double>& x, Rng& rng) const {
    const double prob = 1.0 / static_cast<double>(std::max<std::size_t>(1, dims_));
    for (double& v : x) {
      if (rng.uniform() >= prob) continue;
      const double u = rng.uniform();
      const double delta = u < 0.5 ? std::pow(2 * u, 1 / (kEta + 1)) - 1 : 1 - std::pow(2 * (1 - u), 1 / (kEta + 1));
      v = std::clamp(v + delta, 0.0, 1.0);
    }
  }

  SearchSpace space_;
  Nsga2Options o_;
  std::size_t dims_;
  std::vector<std::vector<std::vector<double>>> bred_;  // generations 1, 2, ...
};

}  // namespace

std::unique_ptr<Suggester> make_nsga2(const SearchSpace& space, Nsga2Options options) {
  options.population_size = std::max(2, options.population_size);
  return std::make_unique<Nsga2>(space, options);
}

}  // namespace ringmaster::sweep
