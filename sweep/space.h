// A Katib Experiment's search space (spec.parameters) as numbers: random draws with Katib's
// parameter types and distributions, and the grid. Values are kept as the strings Katib hands to
// trials (a double as the shortest text that reads back the same, an int as an integer, a
// categorical or discrete value as written).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "jobs/model.h"
#include "common/rng.h"

namespace ringmaster::sweep {

// One value per parameter, in spec.parameters order.
using Assignment = std::vector<std::pair<std::string, std::string>>;

struct Dimension {
  std::string name;
  jobs::ParameterType type = jobs::ParameterType::kDouble;
  jobs::Distribution distribution = jobs::Distribution::kUniform;
  double min = 0, max = 0, step = 0;  // double and int (step 0: none given)
  std::vector<std::string> values;    // discrete and categorical
};

class SearchSpace {
 public:
  // Fails (kInvalidArgument, naming the parameter and field) for unparsable or inconsistent
  // bounds: min > max, a non-positive step, log distributions over non-positive ranges, an empty
  // list.
  static Result<SearchSpace> from(const std::vector<jobs::ParameterSpec>& parameters);

  const std::vector<Dimension>& dimensions() const { return dims_; }

  // A random draw. double: uniform on [min, max]; logUniform: uniform in log space; normal:
  // mean (min+max)/2 and standard deviation (max-min)/6 (99.7% inside), clipped to [min, max];
  // logNormal: the same in log space. With a step the value snaps to min + k*step. int: uniform
  // over the integers min..max (step-spaced). discrete and categorical: uniform over the list.
  Assignment sample(Rng& rng) const;

  // Every combination, the first parameter varying slowest (Katib's grid). double needs a step;
  // fails naming the parameter otherwise, or when the grid would exceed max_points.
  Result<std::vector<Assignment>> grid(std::size_t max_points = 1'000'000) const;

  // The unit cube the model-based algorithms search: one coordinate in [0, 1] per parameter.
  // double and int map linearly (in log space for logUniform and logNormal); a discrete or
  // categorical parameter with k values takes the k equal bins of [0, 1] in list order.
  // from_unit snaps to the step, rounds ints and clamps, so every point gives a valid assignment;
  // to_unit reads an assignment back (a value not in a list, or not a number, gives 0.5).
  std::vector<double> to_unit(const Assignment& a) const;
  Assignment from_unit(const std::vector<double>& u) const;
  // The number of values of a discrete or categorical parameter; 0 for double and int.
  std::size_t choices(std::size_t dim) const { return dims_[dim].values.size(); }

 private:
  std::vector<Dimension> dims_;
};

// A double as Katib prints it: the shortest decimal text that reads back as the same double.
std::string format_double(double v);

}  // namespace ringmaster::sweep
