// `ringmaster bench sweep`: the search algorithms on standard test functions, in process.
// Branin (2 parameters, minimum 0.397887) and Hartmann-6 (6 parameters, minimum -3.32237), each
// algorithm run with `seeds` seeds and a budget of `budget` trials, one trial at a time. Reported
// per function and algorithm: the median number of trials until the regret (best found minus the
// minimum) is at most 0.01 (Branin) or 0.05 (Hartmann-6), ">budget" when fewer than half the seeds
// get there, how many seeds got there, and the median best regret at the end; then the time one
// suggestion takes with 100 and 500 trials observed (a fresh suggester, so the model is fitted
// from scratch: the cold, worst case); then the hypervolume the multi-objective samplers (random,
// nsga2, and tpe and multivariate-tpe as MOTPE) reach after 100 and 200 trials on Branin-Currin
// and ZDT1 (and 1000 on ZDT1 without MOTPE). Prints a table and one JSON line. Not a test.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace ringmaster::bench {

struct SweepBenchOptions {
  std::vector<std::string> algorithms = {"random", "sobol", "tpe", "multivariate-tpe", "bayesianoptimization", "cmaes"};
  std::vector<std::string> functions = {"branin", "hartmann6"};
  int seeds = 20;
  int budget = 200;
  std::vector<int> latency_at = {100, 500};
  int threads = 0;  // 0: one per core
};

int run_sweep_bench(const SweepBenchOptions& options, std::FILE* out);

}  // namespace ringmaster::bench
