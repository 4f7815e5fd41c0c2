// Katib's metricsFormat regular expressions, compiled as Katib compiles them: Go's regexp syntax
// (katib pkg/metricscollector/v1beta1/common and file-metricscollector: regexp.Compile /
// MustCompile), which RE2 shares. So a `{` that starts no repetition is a literal, \w \d \s are
// ASCII, there are no back-references or lookarounds; errors read as Go's, with the position.
// Used by the Experiment's validation (jobs/katib.cc) and by the metrics collector (sweep/).
// A compiled MetricsRegex is immutable and thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace re2 {
class RE2;
}

namespace ringmaster::jobs {

class MetricsRegex {
 public:
  // Fails with kInvalidArgument as Go words it ("error parsing regexp: invalid nested repetition
  // operator: `**`"), plus " (at character N)" where the part named starts, or when the expression
  // has fewer than two capture groups (name, value).
  static Result<MetricsRegex> compile(const std::string& pattern);
  // Every (group 1, group 2) of the non-overlapping matches in `line`, left to right, as Go's
  // FindAllStringSubmatch finds them.
  std::vector<std::pair<std::string_view, std::string_view>> find_all(std::string_view line) const;

 private:
  std::shared_ptr<const re2::RE2> re_;
};

}  // namespace ringmaster::jobs
