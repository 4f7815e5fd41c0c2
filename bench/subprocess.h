// Internal to bench/: runs one benchmark child (usually this binary again) and captures its stdout.
// Safe to call from several threads at once (nothing but async-signal-safe calls after fork).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace ringmaster::bench {

// argv[0] is searched in PATH; env entries replace or add to this process's environment.
// Fails when the child cannot start or exits non-zero, saying which.
Result<std::string> run_capturing(const std::vector<std::string>& argv,
                                  const std::vector<std::pair<std::string, std::string>>& env = {});

// The path of this binary, for running a copy of it as a child.
std::string self_exe();

}  // namespace ringmaster::bench
