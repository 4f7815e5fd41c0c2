// Population Based Training (Jaderberg et al., 2017), Katib's `pbt`: a population of n_population
// trials trains a while; then each member continues from a checkpoint. The weakest
// truncation_threshold of them take a random one of the strongest truncation_threshold's
// checkpoint and hyperparameters, explored: each value multiplied by 0.8 or 1.2 (ints truncated,
// clamped to the feasible space; a list value moves to its neighbour, wrapping), or, with
// resample_probability, drawn afresh from the space with that probability. The others continue
// from their own checkpoint with their own values. That is the paper's truncation selection and
// what the issue asks; Katib's service (pkg/suggestion/v1beta1/pbt/service.py) differs in two
// places we do not copy: its weak trials keep their own checkpoint with a strong one's values,
// and it perturbs every other member too.
//
// Generations are synchronous: generation g+1 starts once every member of g has ended (Katib's
// queue streams, seeding more of the first generation while it waits). A member that fails runs
// again with the same values and parent, as Katib re-queues it. Every trial carries its Lineage
// (generation, member, parent); the driver copies the parent's suggestion_trial_dir before the
// trial starts (Katib's contract: the directory a trial sees holds its parent's files).
//
// Like every suggester (suggest.h) it is a function of the trial list and the seed, so a resumed
// experiment continues where it was.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "common/rng.h"
#include "sweep/suggest.h"

namespace ringmaster::sweep {

struct PbtOptions {
  int population = 40;               // n_population
  double truncation_threshold = 0.2;
  std::optional<double> resample_probability;  // none: perturb
  uint64_t seed = 0;
};

std::unique_ptr<Suggester> make_pbt(const SearchSpace& space, PbtOptions options);

// The explore step on one assignment (exposed for tests).
Assignment pbt_explore(const SearchSpace& space, const Assignment& values, const PbtOptions& options, Rng& rng);

}  // namespace ringmaster::sweep
