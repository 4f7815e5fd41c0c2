// `ringmaster bench train`: how close the CPU training step comes to bare OpenBLAS sgemm.
//
// For each model it runs, in a fresh child process (so each peak RSS is its own), the real train
// step (prefetching loader, forward, loss, backward, SGD update) at batch 128, logs the GEMM calls
// one step makes, and replays exactly those calls with bare cblas_sgemm in the same process. It
// prints a table and one JSON line:
//   samples/s, GEMM GFLOP per step, achieved GFLOP/s of the step, sgemm GFLOP/s on the same shapes,
//   their ratio, peak RSS and the memory budget (data set + model + gradients + optimizer state +
//   one batch of activations and the loader's batches).
// Not a test: the figures are reported, not asserted.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace ringmaster::bench {

struct TrainBenchOptions {
  std::vector<std::string> models = {"mlp", "cnn"};
  int64_t steps = 0;  // timed steps; 0: 400 for MLPs, 40 for CNNs
  int64_t batch_size = 128;
  int threads = 1;
  std::string data_dir;  // Fashion-MNIST; synthetic data of the same size when absent
};

// Spawns one child per model and prints the table and the JSON line. Returns the exit status.
int run_train_bench(const TrainBenchOptions& options, std::FILE* out);
// Runs the first model of options in this process and prints its JSON record.
int run_train_bench_child(const TrainBenchOptions& options, std::FILE* out);

}  // namespace ringmaster::bench
