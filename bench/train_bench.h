// `ringmaster bench train`: the CPU training step against PyTorch and against bare sgemm.
//
// For each thread count and model it runs, in a fresh child process (so each peak RSS is its own),
// the real train step (prefetching loader, forward, loss, backward, SGD update) at batch 128, logs
// the GEMMs one step makes (a convolution counts as the GEMM im2col would make of it: same FLOPs),
// and replays exactly those calls with bare sgemm of oneDNN and of OpenBLAS in the same process.
// Where python3 can import torch it also runs bench/torch_train.py --device cpu (the same network,
// optimizer and batch) with PyTorch's thread pools pinned to the same count. It prints a table and
// one JSON line: samples/s, PyTorch's samples/s and our ratio to it, GEMM GFLOP/s of the step and of
// both bare sgemms, the step's ratio to oneDNN's, peak RSS and the memory budget (data set + model +
// gradients + optimizer state + one batch of activations and the loader's batches).
// Not a test: the figures are reported, not asserted.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace ringmaster::bench {

struct TrainBenchOptions {
  std::vector<std::string> models = {"mlp", "cnn", "cnn:32-64-1024"};
  int64_t steps = 0;  // timed steps; 0: 400 for MLPs, 40 for CNNs
  int64_t batch_size = 128;
  std::vector<int> threads = {1, 2};  // a child per count (the child runs the first)
  std::string data_dir;  // Fashion-MNIST; synthetic data of the same size when absent
  std::string python = "python3";                    // runs the PyTorch peer
  std::string peer_script = "bench/torch_train.py";  // relative to the working directory; empty: no peer
};

// Spawns one child per model and prints the table and the JSON line. Returns the exit status.
int run_train_bench(const TrainBenchOptions& options, std::FILE* out);
// Runs the first model of options at the first thread count in this process and prints its JSON record.
int run_train_bench_child(const TrainBenchOptions& options, std::FILE* out);

}  // namespace ringmaster::bench
