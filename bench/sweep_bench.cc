#include "bench/sweep_bench.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "common/strings.h"
#include "sweep/pareto.h"
#include "sweep/space.h"
#include "sweep/suggest.h"
#include "common/rng.h"

namespace ringmaster::bench {
namespace {

constexpr double kPi = 3.14159265358979323846;

struct TestFunction {
  std::string name;
  std::vector<std::pair<double, double>> bounds;
  double minimum;
  double target;  // regret to reach
  double (*f)(const std::vector<double>&);
};

double branin(const std::vector<double>& x) {
  const double b = 5.1 / (4 * kPi * kPi), c = 5 / kPi, t = 1 / (8 * kPi);
  const double u = x[1] - b * x[0] * x[0] + c * x[0] - 6;
  return u * u + 10 * (1 - t) * std::cos(x[0]) + 10;
}

double hartmann6(const std::vector<double>& x) {
  static const double alpha[4] = {1.0, 1.2, 3.0, 3.2};
  static const double a[4][6] = {{10, 3, 17, 3.5, 1.7, 8},
                                 {0.05, 10, 17, 0.1, 8, 14},
                                 {3, 3.5, 1.7, 10, 17, 8},
                                 {17, 8, 0.05, 10, 0.1, 14}};
  static const double p[4][6] = {{0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886},
                                 {0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991},
                                 {0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650},
                                 {0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381}};
  double s = 0;
  for (int i = 0; i < 4; ++i) {
    double e = 0;
    for (int j = 0; j < 6; ++j) e += a[i][j] * (x[static_cast<std::size_t>(j)] - p[i][j]) * (x[static_cast<std::size_t>(j)] - p[i][j]);
    s -= alpha[i] * std::exp(-e);
  }
  return s;
}

const std::vector<TestFunction>& functions() {
  static const std::vector<TestFunction> all = {
      {"branin", {{-5, 10}, {0, 15}}, 0.397887, 0.01, branin},
      {"hartmann6", std::vector<std::pair<double, double>>(6, {0.0, 1.0}), -3.32237, 0.05, hartmann6},
  };
  return all;
}

sweep::SearchSpace space_of(const TestFunction& f) {
  std::vector<jobs::ParameterSpec> params;
  for (std::size_t i = 0; i < f.bounds.size(); ++i) {
    jobs::ParameterSpec p;
    p.name = fmt::format("x{}", i + 1);
    p.type = jobs::ParameterType::kDouble;
    p.feasible_space.min = sweep::format_double(f.bounds[i].first);
    p.feasible_space.max = sweep::format_double(f.bounds[i].second);
    params.push_back(p);
  }
  return *sweep::SearchSpace::from(params);
}

double evaluate(const TestFunction& f, const sweep::Assignment& a) {
  std::vector<double> x;
  for (const auto& [k, v] : a) x.push_back(std::stod(v));
  return f.f(x);
}

// "name" or "name:key=value/key=value" (algorithm settings).
jobs::AlgorithmSpec spec_of(const std::string& text) {
  jobs::AlgorithmSpec spec;
  const auto colon = text.find(':');
  spec.name = text.substr(0, colon);
  if (colon == std::string::npos) return spec;
  std::string rest = text.substr(colon + 1);
  for (std::size_t at = 0; at <= rest.size();) {
    const auto end = std::min(rest.find('/', at), rest.size());
    const std::string kv = rest.substr(at, end - at);
    const auto eq = kv.find('=');
    if (eq != std::string::npos) spec.settings.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    at = end + 1;
  }
  return spec;
}

struct RunResult {
  int trials_to_target = -1;  // -1: not within the budget
  double final_regret = 0;
};

RunResult run_one(const TestFunction& f, const std::string& algorithm, uint64_t seed, int budget) {
  const sweep::SearchSpace space = space_of(f);
  jobs::AlgorithmSpec spec = spec_of(algorithm);
  // sobol takes no seed unless scrambled: each seed scrambles it its own way, or every seed would
  // run the one sequence.
  if (spec.name == "sobol" && std::none_of(spec.settings.begin(), spec.settings.end(), [](const auto& kv) {
        return kv.first == "random_state";
      }))
    spec.settings.emplace_back("random_state", std::to_string(seed));
  auto suggester = sweep::make_suggester(spec, space, seed);
  if (!suggester) throw std::runtime_error(suggester.status().message());
  std::vector<sweep::TrialView> trials;
  double best = std::numeric_limits<double>::infinity();
  RunResult r;
  while (static_cast<int>(trials.size()) < budget) {
    const sweep::Suggestion s = (*suggester)->next(trials);
    if (s.kind != sweep::Suggestion::Kind::kTrial) break;  // one at a time: nothing is left running
    sweep::TrialView t;
    t.assignment = s.assignment;
    t.state = sweep::TrialView::State::kDone;
    t.loss = evaluate(f, s.assignment);
    best = std::min(best, t.loss);
    trials.push_back(std::move(t));
    if (best - f.minimum <= f.target) {
      r.trials_to_target = static_cast<int>(trials.size());
      break;
    }
  }
  r.final_regret = best - f.minimum;
  return r;
}

// Seconds for one suggestion by a fresh suggester after `observed` random trials.
double latency(const TestFunction& f, const std::string& algorithm, int observed) {
  const sweep::SearchSpace space = space_of(f);
  Rng rng(12345);
  std::vector<sweep::TrialView> trials;
  for (int i = 0; i < observed; ++i) {
    sweep::TrialView t;
    t.assignment = space.sample(rng);
    t.state = sweep::TrialView::State::kDone;
    t.loss = evaluate(f, t.assignment);
    trials.push_back(std::move(t));
  }
  std::vector<double> times;
  for (int rep = 0; rep < 3; ++rep) {
    auto suggester = sweep::make_suggester(spec_of(algorithm), space, 7 + static_cast<uint64_t>(rep));
    if (!suggester) throw std::runtime_error(suggester.status().message());
    const auto start = std::chrono::steady_clock::now();
    (void)(*suggester)->next(trials);
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[1];
}

}  // namespace

// Multi-objective search (issue 28): the hypervolume of every trial so far (as the search sees
// it: all objectives minimized) after a budget of trials, median over the seeds, for the
// multi-objective algorithms against random search. Two problems with known fronts:
//   Branin-Currin (2-D; BoTorch's test problem: rescaled Branin and Currin's exponential, both
//     minimized), against BoTorch's reference (18, 6); the true front dominates 59.3601.
//   ZDT1 in 6 dimensions (Zitzler, Deb and Thiele 2000; front f2 = 1 - sqrt(f1)), against
//     (1.1, 1.1); the true front dominates 0.8767.
namespace {

struct MoProblem {
  std::string name;
  std::size_t dims;
  std::function<sweep::Objectives(const sweep::Assignment&)> f;
  sweep::Objectives reference;
  double best;  // the true front's hypervolume
  std::vector<int> budgets;
};

std::vector<MoProblem> mo_problems() {
  auto x = [](const sweep::Assignment& a, std::size_t i) { return std::stod(a.at(i).second); };
  MoProblem bc{"branin-currin", 2, [x](const sweep::Assignment& a) {
                 const double u = x(a, 0), v = x(a, 1), pi = 3.14159265358979323846;
                 const double x0 = 15 * u - 5, x1 = 15 * v;
                 const double b = std::pow(x1 - 5.1 / (4 * pi * pi) * x0 * x0 + 5 / pi * x0 - 6, 2) +
                                  10 * (1 - 1 / (8 * pi)) * std::cos(x0) + 10;
                 const double factor = v > 0 ? 1 - std::exp(-1 / (2 * v)) : 1.0;
                 const double c = factor * (2300 * u * u * u + 1900 * u * u + 2092 * u + 60) /
                                  (100 * u * u * u + 500 * u * u + 4 * u + 20);
                 return sweep::Objectives{b, c};
               },
               {18, 6}, 59.3601, {100, 200}};
  MoProblem zdt1{"zdt1-6d", 6, [x](const sweep::Assignment& a) {
                   const double f1 = x(a, 0);
                   double g = 0;
                   for (std::size_t i = 1; i < a.size(); ++i) g += x(a, i);
                   g = 1 + 9 * g / static_cast<double>(a.size() - 1);
                   return sweep::Objectives{f1, g * (1 - std::sqrt(f1 / g))};
                 },
                 {1.1, 1.1}, 0.8767, {100, 200, 1000}};
  return {bc, zdt1};
}

}  // namespace

void multi_objective(int seeds, nlohmann::json& json, std::FILE* out) {
  json["multi_objective"] = nlohmann::json::array();
  for (const MoProblem& p : mo_problems()) {
    std::vector<jobs::ParameterSpec> params;
    for (std::size_t i = 0; i < p.dims; ++i) {
      jobs::ParameterSpec spec;
      spec.name = fmt::format("x{}", i);
      spec.type = jobs::ParameterType::kDouble;
      spec.feasible_space.min = "0";
      spec.feasible_space.max = "1";
      params.push_back(spec);
    }
    const sweep::SearchSpace space = *sweep::SearchSpace::from(params);
    fmt::print(out, "\nmulti-objective: {}, hypervolume against ({}) (the true front's: {}), median of {} seeds\n{:<22}",
               p.name, fmt::join(p.reference, ", "), p.best, seeds, "algorithm");
    for (int b : p.budgets) fmt::print(out, " {:>12}", fmt::format("{} trials", b));
    fmt::print(out, "\n");
    for (const char* name : {"random", "nsga2", "tpe", "multivariate-tpe"}) {
      const bool model = std::string(name).find("tpe") != std::string::npos;
      std::vector<std::vector<double>> hv(p.budgets.size());
      for (int seed = 0; seed < seeds; ++seed) {
        jobs::AlgorithmSpec spec;
        spec.name = name;
        auto s = sweep::make_suggester(spec, space, 1000 + static_cast<uint64_t>(seed), 2);
        if (!s) throw std::runtime_error(s.status().message());
        std::vector<sweep::TrialView> trials;
        std::vector<sweep::Objectives> seen;
        for (std::size_t k = 0; k < p.budgets.size(); ++k) {
          if (model && p.budgets[k] > 200) break;  // tpe's Parzen estimators: O(n) per candidate
          while (static_cast<int>(trials.size()) < p.budgets[k]) {
            const sweep::Suggestion next = (*s)->next(trials);
            sweep::TrialView t;
            t.assignment = next.assignment;
            t.state = sweep::TrialView::State::kDone;
            t.losses = p.f(next.assignment);
            t.loss = t.losses[0];
            seen.push_back(t.losses);
            trials.push_back(std::move(t));
          }
          hv[k].push_back(sweep::hypervolume_2d(seen, p.reference));
        }
      }
      fmt::print(out, "{:<22}", name);
      for (std::size_t k = 0; k < p.budgets.size(); ++k) {
        if (hv[k].empty()) {
          fmt::print(out, " {:>12}", "-");
          continue;
        }
        fmt::print(out, " {:>12.4f}", median(hv[k]));
        json["multi_objective"].push_back({{"function", p.name}, {"algorithm", name}, {"trials", p.budgets[k]},
                                           {"median_hypervolume", median(hv[k])}, {"hypervolumes", hv[k]}});
      }
      fmt::print(out, "\n");
    }
  }
}

int run_sweep_bench(const SweepBenchOptions& o, std::FILE* out) {
  for (const auto& a : o.algorithms) {
    const jobs::AlgorithmSpec spec = spec_of(a);
    if (spec.name == "grid" || spec.name == "hyperband") {
      fmt::print(stderr, "ringmaster bench sweep: --algorithms: expected random, tpe, multivariate-tpe, "
                         "bayesianoptimization, cmaes or sobol (with settings as name:key=value/key=value), found \"{}\"\n", a);
      return 2;
    }
    if (auto s = sweep::make_suggester(spec, space_of(functions()[0]), 0); !s) {
      fmt::print(stderr, "ringmaster bench sweep: --algorithms {}: {}\n", a, s.status().message());
      return 2;
    }
  }
  std::vector<const TestFunction*> fns;
  for (const auto& name : o.functions) {
    auto it = std::find_if(functions().begin(), functions().end(), [&](auto& f) { return f.name == name; });
    if (it == functions().end()) {
      fmt::print(stderr, "ringmaster bench sweep: --functions: expected branin or hartmann6, found \"{}\"\n", name);
      return 2;
    }
    fns.push_back(&*it);
  }
  struct Task {
    std::size_t fn, alg;
    int seed;
  };
  // The reference: random search without the budget (100 times it), so that "vs random" is a
  // ratio even where random does not reach the target within the budget.
  std::vector<std::string> algorithms = o.algorithms;
  const std::size_t reference = algorithms.size();
  algorithms.push_back("random");
  const int reference_budget = o.budget * 100;
  std::vector<Task> tasks;
  for (std::size_t f = 0; f < fns.size(); ++f)
    for (std::size_t a = 0; a < algorithms.size(); ++a)
      for (int s = 0; s < o.seeds; ++s) tasks.push_back({f, a, s});
  std::vector<RunResult> results(tasks.size());
  std::atomic<std::size_t> next{0};
  const unsigned threads = o.threads > 0 ? static_cast<unsigned>(o.threads) : std::max(1u, std::thread::hardware_concurrency());
  const auto started = std::chrono::steady_clock::now();
  {
    std::vector<std::jthread> pool;
    for (unsigned t = 0; t < threads; ++t)
      pool.emplace_back([&] {
        for (std::size_t i; (i = next.fetch_add(1)) < tasks.size();)
          results[i] = run_one(*fns[tasks[i].fn], algorithms[tasks[i].alg], 1000 + static_cast<uint64_t>(tasks[i].seed),
                               tasks[i].alg == reference ? reference_budget : o.budget);
      });
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  nlohmann::json json = {{"bench", "sweep"}, {"seeds", o.seeds}, {"budget", o.budget}, {"results", nlohmann::json::array()}};
  fmt::print(out, "sweep search: median trials to the target regret over {} seeds, budget {} ({:.0f} s)\n", o.seeds, o.budget, seconds);
  fmt::print(out, "{:<11} {:<22} {:>14} {:>9} {:>14} {:>11}\n", "function", "algorithm", "median trials", "reached",
             "vs random", "regret p50");
  for (std::size_t f = 0; f < fns.size(); ++f) {
    // The reference first.
    std::vector<double> ref;
    for (std::size_t i = 0; i < tasks.size(); ++i)
      if (tasks[i].fn == f && tasks[i].alg == reference)
        ref.push_back(results[i].trials_to_target > 0 ? results[i].trials_to_target : std::numeric_limits<double>::infinity());
    const double random_median = median(ref);
    for (std::size_t a = 0; a <= o.algorithms.size(); ++a) {
      std::vector<double> counts, regrets;
      int reached = 0;
      for (std::size_t i = 0; i < tasks.size(); ++i)
        if (tasks[i].fn == f && tasks[i].alg == a) {
          const auto& r = results[i];
          reached += r.trials_to_target > 0;
          counts.push_back(r.trials_to_target > 0 ? r.trials_to_target : std::numeric_limits<double>::infinity());
          regrets.push_back(r.final_regret);
        }
      const double m = median(counts);
      const int budget = a == reference ? reference_budget : o.budget;
      const std::string label = a == reference ? fmt::format("random ({} trials)", reference_budget) : algorithms[a];
      std::string ratio = "-";
      if (std::isfinite(random_median) && std::isfinite(m)) ratio = fmt::format("{:.3f}x", m / random_median);
      else if (std::isfinite(m)) ratio = fmt::format("<{:.3f}x", m / reference_budget);
      fmt::print(out, "{:<11} {:<22} {:>14} {:>6}/{:<2} {:>14} {:>11.4f}\n", fns[f]->name, label,
                 std::isfinite(m) ? fmt::format("{:.1f}", m) : fmt::format(">{}", budget), reached, o.seeds, ratio,
                 median(regrets));
      json["results"].push_back({{"function", fns[f]->name},
                                 {"algorithm", algorithms[a]},
                                 {"budget", budget},
                                 {"median_trials", std::isfinite(m) ? nlohmann::json(m) : nlohmann::json(nullptr)},
                                 {"reached", reached},
                                 {"final_regrets", regrets},
                                 {"median_final_regret", median(regrets)}});
    }
  }
  json["latency_ms"] = nlohmann::json::array();
  fmt::print(out, "\nsuggestion latency (hartmann6, a fresh suggester, median of 3)\n{:<22}", "algorithm");
  for (int n : o.latency_at) fmt::print(out, " {:>12}", fmt::format("{} trials", n));
  fmt::print(out, "\n");
  const TestFunction& h6 = functions()[1];
  for (const auto& a : o.algorithms) {
    fmt::print(out, "{:<22}", a);
    for (int n : o.latency_at) {
      const double s = latency(h6, a, n);
      fmt::print(out, " {:>9.1f} ms", s * 1e3);
      json["latency_ms"].push_back({{"algorithm", a}, {"observed", n}, {"ms", s * 1e3}});
    }
    fmt::print(out, "\n");
  }
  multi_objective(o.seeds, json, out);
  fmt::print(out, "{}\n", json.dump());
  return 0;
}

}  // namespace ringmaster::bench
