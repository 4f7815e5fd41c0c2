// `ringmaster bench launch`: what the local launcher costs. In one run, each measured `repeats`
// times (median and minimum reported):
//   start      `ringmaster run` of a PyTorchJob of 8 replicas: time until the first and until the
//              last replica is running (each writes its start time)
//   trainjob   `ringmaster run` of a 4-node TrainJob on Trainer's torch-distributed runtime: the
//              same two times, through the JobSet it resolves to
//   restart    a replica that exits 1 under OnFailure: time from its exit to its restart running
//   mpijob     an MPIJob whose launcher runs `mpirun -np 4 true` through `ringmaster run`, against
//              the same mpirun command run bare, alternating; the goal is <= 1.1x bare's wall time
// Prints a table and one JSON line. Not a test: figures are reported.
#pragma once

#include <cstdio>
#include <string>

namespace ringmaster::bench {

struct LaunchBenchOptions {
  int replicas = 8;   // start
  int ranks = 4;      // mpijob
  int trainjob_nodes = 4;
  int repeats = 7;
  std::string work_dir;  // empty: a fresh directory under /tmp, removed afterwards
};

int run_launch_bench(const LaunchBenchOptions& options, std::FILE* out);

}  // namespace ringmaster::bench
