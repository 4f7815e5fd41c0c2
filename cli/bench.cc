// `ringmaster bench WORKLOAD`: benchmarks that print a table and a JSON line (see bench/).
#include <cstdio>

#include "bench/train_bench.h"
#include "cli/commands.h"

namespace ringmaster::cli {

void add_bench_command(CLI::App& app, BenchOptions& o) {
  CLI::App* cmd = app.add_subcommand("bench", "Run a benchmark: train (training step vs bare OpenBLAS sgemm)");
  cmd->add_option("workload", o.workload, "train")->required()->check(CLI::IsMember({"train"}));
  cmd->add_option("--models", o.models, "models to run (mlp specs or cnn specs)")->delimiter(',')->capture_default_str();
  cmd->add_option("--steps", o.steps, "timed steps per model (0: a default per model)");
  cmd->add_option("--threads", o.threads, "OpenBLAS threads")->capture_default_str();
  cmd->add_option("--data-dir", o.data_dir, "Fashion-MNIST directory (synthetic data when absent)")
      ->capture_default_str();
  cmd->add_flag("--child", o.child, "internal: run one model in this process and print its JSON line")
      ->group("");
}

int run_bench(const BenchOptions& o) {
  bench::TrainBenchOptions t;
  t.models = o.models;
  t.steps = o.steps;
  t.threads = o.threads;
  t.data_dir = o.data_dir;
  if (o.child) return bench::run_train_bench_child(t, stdout);
  return bench::run_train_bench(t, stdout);
}

}  // namespace ringmaster::cli
