// `ringmaster bench scaling`: data-parallel throughput of real `ringmaster train` processes at 1, 2
// (and, for information, 4 oversubscribed) workers doing the same total work (the same epochs of
// Fashion-MNIST, --batch-size per worker), with the accuracy each reaches, the time to a target
// accuracy and the per-step split into compute, allreduce wait and data wait. Prints a table and
// one JSON line. Not a test: figures are reported.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace ringmaster::bench {

struct ScalingBenchOptions {
  std::string model = "mlp";
  std::vector<int> workers = {1, 2, 4};
  int64_t epochs = 4;
  int64_t batch_size = 128;  // per worker
  std::string backend = "auto";  // --collectives of the workers
  int64_t bucket_kib = 0;        // 0: the trainer's default
  double target_accuracy = 0.88;
  std::vector<std::string> extra_args;  // appended to every worker's command (e.g. --scale-lr)
};

int run_scaling_bench(const ScalingBenchOptions& options, std::FILE* out);

}  // namespace ringmaster::bench
