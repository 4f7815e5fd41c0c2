// `ringmaster bench allreduce`: nccl-tests-style allreduce figures for our backends with OpenMPI's
// MPI_Allreduce measured in the same run as the peer (once over TCP, `--mca btl self,tcp`, once on
// its default shared-memory path), plus this machine's loopback TCP limit (two sockets streaming
// both ways at once). Prints a table and one JSON line. Not a test: figures are reported.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace ringmaster::bench {

struct AllreduceBenchOptions {
  int ranks = 2;
  std::vector<std::string> backends = {"tcp", "shm", "mpi", "openmpi-tcp", "openmpi-shm"};
  int64_t min_bytes = 4096;
  int64_t max_bytes = 64 << 20;
  double seconds_per_size = 0.3;  // timed iterations per size run at least this long
};

// Spawns the ranks of every backend and prints the comparison.
int run_allreduce_bench(const AllreduceBenchOptions& options, std::FILE* out);
// One rank: `backend` is tcp, shm, mpi (our Communicator) or raw-mpi (bare MPI_Allreduce). Rank 0
// prints one JSON line of {bytes, seconds} per size.
int run_allreduce_bench_rank(const AllreduceBenchOptions& options, const std::string& backend, std::FILE* out);

}  // namespace ringmaster::bench
