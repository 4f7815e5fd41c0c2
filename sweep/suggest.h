// Katib's search algorithms, in process: given every trial so far, each says what the next trial
// should try. Names and settings are Katib's (spec.algorithm.algorithmName / algorithmSettings):
//
//   random                 random_state
//   grid                   (none)
//   tpe                    n_startup_trials (10), n_ei_candidates (24), gamma (0.25), prior_weight (1.0), random_state
//   multivariate-tpe       the same; one joint Parzen estimator over all parameters
//   bayesianoptimization   base_estimator (GP), n_initial_points (10), acq_func (ei), acq_optimizer (auto), random_state
//   cmaes                  sigma (0.25, in the unit cube), restart_strategy (none | ipop), random_state
//   hyperband              resource_name (a parameter), r_l (the most resource a trial gets), eta (3), random_state
//   sobol                  (Katib: none) the Sobol sequence from its second point; random_state (ours):
//                          scrambled by a digital shift from that seed, from its first point (sobol.h)
//   nsga2                  (ours) population_size (20), crossover_prob (0.9), random_state (nsga2.h)
//   pbt                    suggestion_trial_dir, n_population (>= 5), truncation_threshold (0..1),
//                          resample_probability (none: perturb by 0.8 or 1.2), random_state (pbt.h)
//
// The model-based algorithms work in the search space's unit cube (SearchSpace::to_unit) on a loss
// (the objective, negated when it is maximized). Trials still running are given a "constant liar"
// loss (the worst seen, for tpe; the mean, for bayesianoptimization) so that parallel suggestions
// spread out instead of repeating one point. Every algorithm is a function of the trial list and
// the seed, so a resumed experiment continues where it was; cmaes and hyperband wait (kWait) for
// the trials a generation or rung depends on.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "jobs/model.h"
#include "sweep/space.h"

namespace ringmaster::sweep {

// Where a trial stands in a population (pbt.h): its generation, its place in it, and the trial
// whose checkpoint it continues from (an index into the trial list; none in generation 0).
struct Lineage {
  int generation = 0;
  int member = 0;
  std::optional<std::size_t> parent;
};

struct TrialView {
  enum class State { kRunning, kDone, kFailed };
  Assignment assignment;
  State state = State::kRunning;
  double loss = 0;  // kDone: lower is better
  std::vector<double> losses;  // kDone, multi-objective search (nsga2.h): one loss per objective
  Lineage lineage;             // as the suggestion that made it said (pbt)
};

struct Suggestion {
  enum class Kind { kTrial, kWait, kEnd };
  Suggestion() = default;
  Suggestion(Kind k, Assignment a, std::string n) : kind(k), assignment(std::move(a)), note(std::move(n)) {}
  Kind kind = Kind::kTrial;
  Assignment assignment;  // kTrial
  std::string note;       // e.g. hyperband's bracket and rung, shown with the trial
  std::optional<Lineage> lineage;  // pbt: the driver copies the parent's checkpoint directory first
};

class Suggester {
 public:
  virtual ~Suggester() = default;
  // What trial number trials.size() should try. `trials` holds every trial so far, in creation
  // order, with the assignments this suggester gave them.
  virtual Suggestion next(const std::vector<TrialView>& trials) = 0;
  // The most trials the algorithm can ever suggest (the grid's size, hyperband's schedule); 0: no
  // limit.
  virtual std::size_t limit() const { return 0; }
};

// The algorithms make_suggester knows, in the order error messages list them.
const std::vector<std::string>& supported_algorithms();

// Fails (kInvalidArgument) for an algorithm not in supported_algorithms() (naming them), an unknown
// setting (naming the known ones) or a bad value, as "spec.algorithm.algorithmSettings[i] (name):
// expected ..., found ...". `seed` is used unless the settings give random_state.
// `objectives` > 1 (multi-objective: TrialView::losses): only random, grid, sobol, tpe and
// multivariate-tpe (which rank trials by Pareto rank and crowding distance then, as MOTPE does)
// and nsga2 are accepted; the others are refused naming these.
Result<std::unique_ptr<Suggester>> make_suggester(const jobs::AlgorithmSpec& algorithm, const SearchSpace& space,
                                                  uint64_t seed, std::size_t objectives = 1);

// Katib's medianstop early stopping (the median stopping rule of Google Vizier): a running trial
// that has reported at least start_step values of the objective is stopped when its best value so
// far is strictly worse than the median, over the succeeded trials (at least min_trials_required
// of them), of each one's running average of its first as many reported values.
struct MedianStop {
  int min_trials_required = 3;
  int start_step = 4;
  // `series`: the running trial's reported values as losses (lower is better); `completed`: each
  // succeeded trial's, the same way.
  bool should_stop(const std::vector<double>& series, const std::vector<std::vector<double>>& completed) const;
};

// Only medianstop (settings min_trials_required and start_step) is known; anything else is
// refused naming it, under spec.earlyStopping.
Result<MedianStop> make_median_stop(const jobs::AlgorithmSpec& early_stopping);

}  // namespace ringmaster::sweep
