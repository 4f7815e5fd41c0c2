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
};

// nullopt when libyaml parses every document of `text` without error.
std::optional<YamlSyntaxError> check_yaml_syntax(std::string_view text);

}  // namespace ringmaster::jobs
