// NSGA-II (Deb, Pratap, Agarwal and Meyarivan, 2002), the multi-objective search of issue 28: a
// population of population_size trials per generation. The first generation samples the space at
// random; each next one is bred, once every trial of the last has ended, from the best
// population_size trials so far (by Pareto rank, then crowding distance): binary tournaments, SBX
// crossover (distribution index 20, probability crossover_prob) and polynomial mutation (index 20,
// each coordinate with probability 1/d) in the space's unit cube. Beside MOTPE (tpe with several
// objectives, suggest.cc), which needs far fewer trials (docs/multi-objective.md): NSGA-II fits no
// model, so it costs microseconds per suggestion at any trial count, handles any number of
// objectives, and runs a generation's trials in parallel as cmaes does here; Optuna chose it as its
// default multi-objective sampler for the same reasons. Failed trials rank last. Reached as
// algorithmName `nsga2` (ours; settings population_size, crossover_prob, random_state).
//
// Like every suggester (suggest.h) it is a function of the trial list and the seed, so a resumed
// experiment continues where it was. TrialView::losses carries the objectives (lower is better).
#pragma once

#include <cstdint>
#include <memory>

#include "common/status.h"
#include "sweep/suggest.h"

namespace ringmaster::sweep {

struct Nsga2Options {
  int population_size = 20;
  double crossover_prob = 0.9;
  uint64_t seed = 0;
};

std::unique_ptr<Suggester> make_nsga2(const SearchSpace& space, Nsga2Options options);

}  // namespace ringmaster::sweep
