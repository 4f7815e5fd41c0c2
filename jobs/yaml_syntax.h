// Private to jobs/: a syntax check of YAML text with libyaml (the C reference parser, fuzzed for years
// in OSS-Fuzz) before yaml-cpp builds the tree. yaml-cpp 0.7 (Debian 12) loops forever, growing memory,
// on some malformed input that our fuzzer found (tests/fuzz/regressions/); libyaml rejects the same
// input at once with a position. Thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "jobs/diagnostics.h"

namespace ringmaster::jobs {

struct YamlSyntaxError {
  SourcePos pos;
  std::string message;
  bool too_deep = false;  // valid YAML, but nested deeper than the limit
};

// nullopt when libyaml parses every document of `text` without error and no mapping or sequence
// is nested more than `max_depth` deep. The depth is counted on the event stream, so deep nesting
// is refused after `max_depth` levels have been read, in time linear in the input (libyaml's
// scanner and yaml-cpp's builder both slow down with the square of the depth).
std::optional<YamlSyntaxError> check_yaml_syntax(std::string_view text, std::size_t max_depth);

}  // namespace ringmaster::jobs
