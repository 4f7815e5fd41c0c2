// Pareto dominance for multi-objective search (issue 28): every objective a loss, lower is better.
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <vector>

namespace ringmaster::sweep {

using Objectives = std::vector<double>;  // one loss per objective

// a dominates b: no worse in every objective, better in at least one.
bool dominates(const Objectives& a, const Objectives& b);

// Fast non-dominated sorting (Deb et al., NSGA-II, 2002): the index of each point's front, 0 for
// the Pareto front.
std::vector<int> pareto_ranks(const std::vector<Objectives>& points);

// The indices of the points on the Pareto front (rank 0), in input order.
std::vector<std::size_t> pareto_front(const std::vector<Objectives>& points);

// Crowding distance of each point within its own front (infinite at a front's ends).
std::vector<double> crowding_distances(const std::vector<Objectives>& points, const std::vector<int>& ranks);

// NSGA-II's crowded-comparison operator (Deb et al., 2002): a precedes b when it lies on a better
// front, or on the same front with a larger crowding distance. Ranks NSGA-II's population and
// MOTPE's good set (suggest.cc) alike.
class CrowdedComparison {
 public:
  explicit CrowdedComparison(const std::vector<Objectives>& points);
  bool operator()(std::size_t a, std::size_t b) const {
    return ranks_[a] != ranks_[b] ? ranks_[a] < ranks_[b] : crowd_[a] > crowd_[b];
  }
  // Every point's index, best first; ties keep their input order.
  std::vector<std::size_t> order() const;

 private:
  std::vector<int> ranks_;
  std::vector<double> crowd_;
};

// The area dominated by the points and bounded by `reference` (two objectives; points not better
// than the reference in both count nothing). 0 for no points.
double hypervolume_2d(const std::vector<Objectives>& points, const Objectives& reference);

}  // namespace ringmaster::sweep
