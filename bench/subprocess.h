// Internal to bench/: runs one benchmark child (usually this binary again) and captures its stdout.
// Safe to call from several threads at once (nothing but async-signal-safe calls after fork).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace ringmaster::bench {

// argv[0] is searched in PATH; env entries replace or add to this process's environment.
// Fails when the child cannot start or exits non-zero, saying which. With discard_stderr the
// child's stderr goes to /dev/null instead of ours.
Result<std::string> run_capturing(const std::vector<std::string>& argv,
                                  const std::vector<std::pair<std::string, std::string>>& env = {},
                                  bool discard_stderr = false);

// The path of this binary, for running a copy of it as a child.
std::string self_exe();

// The Python that runs the PyTorch peers: Debian's /usr/bin/python3 (where python3-torch installs)
// when it exists, else python3 from PATH.
std::string peer_python();

using Env = std::vector<std::pair<std::string, std::string>>;

// Runs a peer benchmark (bench/torch_train.py) and reads samples_per_sec from the JSON line it
// prints last: the rate, or why not (the child's failure, or "unreadable output: ...").
Result<double> run_peer_samples_per_sec(const std::vector<std::string>& argv, const Env& env);

// `mpirun` as the benchmarks start it: `ranks` ranks on this host, as root, unbound, and
// oversubscribed only when there are more ranks than cores (an oversubscribed OpenMPI yields while
// it polls, which slows it down). Append mpirun options and the program.
std::vector<std::string> mpirun_argv(int ranks);

// Runs argv as `ranks` processes on this host that join as a PyTorchJob's replicas do (RANK,
// WORLD_SIZE, MASTER_ADDR=127.0.0.1 and a free MASTER_PORT, plus `env`), and returns each rank's
// captured stdout or failure, indexed by rank.
std::vector<Result<std::string>> run_local_ranks(const std::vector<std::string>& argv, int ranks, const Env& env);

}  // namespace ringmaster::bench
