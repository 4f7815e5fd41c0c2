// `ringmaster bench start`: what starting a ringmaster process costs (issue 23). For each of
//   --version                    the binary alone: dynamic loading, static initialisers
//   validate EXAMPLE             loading and checking a job file
//   train --steps 1              one training step on 256 synthetic samples (OpenBLAS, a model)
// it runs this binary `repeats` times and reports the median wall time and the median peak RSS
// (wait4's ru_maxrss). With `peer` (another ringmaster binary, e.g. the CPU-only build beside a
// CUDA-enabled one) it runs that too, alternating which goes first, and reports our ratio to it;
// issue 23's goal is at most 1.2x in time and RSS. Prints a table and one JSON line. Not a test.
#pragma once

#include <cstdio>
#include <string>

namespace ringmaster::bench {

struct StartBenchOptions {
  int repeats = 15;
  std::string peer;                                            // another ringmaster binary; empty: none
  std::string example = "examples/fashion-mnist-pytorchjob.yaml";  // what `validate` reads
};

int run_start_bench(const StartBenchOptions& options, std::FILE* out);

}  // namespace ringmaster::bench
