// Katib's metrics collection from a trial's output: the StdOut collector's regular expressions
// (the default, or the Experiment's metricsFormat) and the metric strategies that turn a series
// of reported values into the trial's observation.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "jobs/katib_regex.h"
#include "jobs/model.h"

namespace ringmaster::sweep {

// Katib's default StdOut filter: "name=value" pairs anywhere in a line.
inline constexpr const char* kDefaultMetricsFormat = R"(([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?))";

class MetricsParser {
 public:
  // `formats` empty: the default. Each must have two capture groups (name, value); fails naming
  // the bad expression otherwise. Only `names` are kept (the objective and additional metrics).
  static Result<MetricsParser> create(const std::vector<std::string>& formats, std::vector<std::string> names);
  // The File collector's JSON format: each line is one JSON object whose keys are metric names
  // and whose values are numbers or numeric strings ("timestamp" and other keys are ignored).
  static MetricsParser json(std::vector<std::string> names);
  // Appends every (name, value) of the kept names found in the line, in order. A JSON parser
  // skips a line that is not a JSON object.
  void feed(std::string_view line);
  // All values reported for `name`, in order.
  const std::vector<double>& values(const std::string& name) const;
  // The observation under a strategy; nullopt when the metric never appeared.
  std::optional<double> observe(const std::string& name, jobs::MetricStrategy strategy) const;

 private:
  void add(const std::string& name, std::string_view text);

  bool json_ = false;
  std::vector<jobs::MetricsRegex> formats_;  // Go syntax, as Katib compiles them
  std::vector<std::string> names_;
  std::map<std::string, std::vector<double>> values_;
};

}  // namespace ringmaster::sweep
