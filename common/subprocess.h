// Running a short-lived command to its end and capturing what it prints (kubectl, and the
// benchmarks' children). Thread-safe: everything the child needs is built before fork.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace ringmaster {

struct CommandSpec {
  std::vector<std::string> argv;  // argv[0] is searched in PATH
  std::vector<std::pair<std::string, std::string>> env;  // replace or add to this process's environment
  std::string input;              // written to the command's stdin (then closed); empty: /dev/null
  enum class Stderr { kCapture, kInherit, kDiscard } stderr_mode = Stderr::kCapture;
  bool inherit_stdout = false;    // the command prints to our stdout (CommandOutput::out stays empty)
};

struct CommandOutput {
  int exit_code = 0;  // 128 + signal when it was killed; 127 when it could not be executed
  std::string out, err;
  bool ok() const { return exit_code == 0; }
};

// Fails only when the command could not be started at all (pipe/fork failed); a command that is
// not found exits 127 with "<argv0>: not found ..." in `err`.
Result<CommandOutput> run_command(const CommandSpec& spec);

}  // namespace ringmaster
