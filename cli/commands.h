// The subcommands of the ringmaster binary. Each has an options struct filled by CLI11, a function
// that registers it, and a function that runs it and returns the process exit status:
// 0 success, 2 invalid input (a job file with errors, a bad flag), 1 any other failure.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace ringmaster::cli {

struct ValidateOptions {
  std::vector<std::string> files;
  std::string output = "yaml";    // yaml | json
  std::string validate = "strict";  // strict | warn
  bool plan = false;
  bool quiet = false;
};
void add_validate_command(CLI::App& app, ValidateOptions& options);
int run_validate(const ValidateOptions& options);

}  // namespace ringmaster::cli
