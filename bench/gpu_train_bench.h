// `ringmaster bench train --device cuda`: the CUDA training step against PyTorch eager on the same
// GPU, in the same run.
//
// For each model and batch size it trains (our engine, in this process) on Fashion-MNIST for a
// warm-up and then `steps` timed steps, and reports samples/s, the GEMM TFLOP/s the step achieves,
// the rate bare cuBLAS reaches on exactly the step's GEMM shapes (timed right after), and the
// samples/s of bench/torch_train.py (the same network, optimizer and batch feeding in PyTorch
// eager; its own process) with our ratio to it. Then 1, 2 and 4 processes train the CNN on the same
// GPU (CUDA_MPS_ACTIVE_THREAD_PERCENTAGE = 100/N, gradients through shared memory), and their
// aggregate samples/s is compared with one process's. Prints a table and one JSON line.
// Not a test: figures are reported, not asserted. Fails clearly where there is no GPU.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace ringmaster::bench {

struct GpuTrainBenchOptions {
  std::vector<std::string> models = {"mlp", "cnn"};
  std::vector<int64_t> batches = {128, 1024};
  int64_t steps = 0;  // timed steps; 0: enough for about two seconds at batch 128 (400 mlp, 200 cnn)
  std::string precision = "fp32";
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  std::string python = "python3";                      // runs the PyTorch peer
  std::string peer_script = "bench/torch_train.py";    // relative to the working directory
  std::vector<int> share_processes = {1, 2, 4};        // empty: no sharing table
};

int run_gpu_train_bench(const GpuTrainBenchOptions& options, std::FILE* out);

}  // namespace ringmaster::bench
