#include "bench/scaling_bench.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench/subprocess.h"

namespace ringmaster::bench {
namespace {

struct RunResult {
  bool ok = false;
  std::string error;
  double samples_per_sec = 0, accuracy = 0, wall_sec = 0;
  double seconds_to_target = -1;  // elapsed at the first epoch reaching the target; -1: never
  double compute_ms = 0, allreduce_wait_ms = 0, data_wait_ms = 0;
};

// Runs `workers` processes of `ringmaster train --strategy allreduce` joined through our own
// rendezvous (RANK/WORLD_SIZE/MASTER_*), as a PyTorchJob's replicas are, and reads rank 0's
// metrics file.
RunResult run_workers(const ScalingBenchOptions& o, int workers, const std::string& dir) {
  const std::string metrics = fmt::format("{}/metrics-{}.jsonl", dir, workers);
  std::filesystem::remove(metrics);
  std::vector<std::string> argv = {self_exe(), "--log-level", "warn", "train", "--strategy", "allreduce", "--model", o.model,
                                   "--epochs", std::to_string(o.epochs), "--batch-size", std::to_string(o.batch_size),
                                   "--progress", "lines", "--collectives", o.backend};
  if (o.bucket_kib > 0) argv.insert(argv.end(), {"--bucket-kib", std::to_string(o.bucket_kib)});
  argv.insert(argv.end(), o.extra_args.begin(), o.extra_args.end());
  argv.insert(argv.end(), {"--metrics-file", metrics});  // only rank 0 writes it
  std::vector<Result<std::string>> outputs;
  if (o.backend == "mpi") {  // MPI_Allreduce needs ranks that mpirun started
    std::vector<std::string> mpi = mpirun_argv(workers);
    mpi.insert(mpi.end(), argv.begin(), argv.end());
    outputs.push_back(run_capturing(mpi));
  } else {
    outputs = run_local_ranks(argv, workers, {{"RINGMASTER_JOB_TOKEN", "bench-scaling"}});
  }
  RunResult res;
  for (std::size_t r = 0; r < outputs.size(); ++r)
    if (!outputs[r]) {
      res.error = fmt::format("rank {}: {}", r, outputs[r].status().message());
      return res;
    }
  std::ifstream in(metrics);
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;
    if (j.contains("summary")) {
      res.ok = true;
      res.samples_per_sec = j.value("samples_per_sec", 0.0);
      res.accuracy = j.value("accuracy", 0.0);
      res.wall_sec = j.value("wall_sec", 0.0);
      res.compute_ms = j.value("compute_ms", 0.0);
      res.allreduce_wait_ms = j.value("allreduce_wait_ms", 0.0);
      res.data_wait_ms = j.value("data_wait_ms", 0.0);
    } else if (res.seconds_to_target < 0 && j.value("accuracy", 0.0) >= o.target_accuracy) {
      res.seconds_to_target = j.value("elapsed_sec", -1.0);
    }
  }
  if (!res.ok) res.error = "no summary record in " + metrics;
  return res;
}

}  // namespace

int run_scaling_bench(const ScalingBenchOptions& o, std::FILE* out) {
  const std::string dir = fmt::format("{}/ringmaster-bench-scaling-{}",
                                      std::filesystem::temp_directory_path().string(), ::getpid());
  std::filesystem::create_directories(dir);
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  fmt::print(out,
             "data-parallel scaling: {} for {} epochs, --batch-size {} per worker{}, collectives {}, {} cores; "
             "time to accuracy {:.2f}\n",
             o.model, o.epochs, o.batch_size, o.extra_args.empty() ? "" : " " + fmt::format("{}", fmt::join(o.extra_args, " ")),
             o.backend, cores, o.target_accuracy);
  fmt::print(out, "{:>7} | {:>10} {:>7} | {:>8} {:>9} {:>9} | {:>10} {:>9} {:>9}\n", "workers", "samples/s", "speedup",
             "accuracy", "to target", "wall s", "compute ms", "allreduce", "data ms");
  nlohmann::json rows = nlohmann::json::array();
  double base = 0, base_accuracy = 0;
  nlohmann::json ratios = nlohmann::json::object();
  for (int w : o.workers) {
    const RunResult r = run_workers(o, w, dir);
    if (!r.ok) {
      fmt::print(out, "{:>7} | failed: {}\n", w, r.error);
      rows.push_back({{"workers", w}, {"error", r.error}});
      continue;
    }
    if (w == 1) base = r.samples_per_sec, base_accuracy = r.accuracy;
    const double speedup = base > 0 ? r.samples_per_sec / base : 0.0;
    const std::string note = static_cast<unsigned>(w) > cores ? " (oversubscribed)" : "";
    fmt::print(out, "{:>7} | {:>10.0f} {:>7} | {:>8.4f} {:>9} {:>9.1f} | {:>10.2f} {:>9.2f} {:>9.2f}{}\n", w,
               r.samples_per_sec, base > 0 ? fmt::format("{:.2f}", speedup) : std::string("-"), r.accuracy,
               r.seconds_to_target < 0 ? std::string("never") : fmt::format("{:.1f} s", r.seconds_to_target),
               r.wall_sec, r.compute_ms, r.allreduce_wait_ms, r.data_wait_ms, note);
    rows.push_back({{"workers", w}, {"samples_per_sec", r.samples_per_sec}, {"speedup", speedup},
                    {"accuracy", r.accuracy}, {"seconds_to_target", r.seconds_to_target}, {"wall_sec", r.wall_sec},
                    {"compute_ms", r.compute_ms}, {"allreduce_wait_ms", r.allreduce_wait_ms},
                    {"data_wait_ms", r.data_wait_ms}, {"oversubscribed", static_cast<unsigned>(w) > cores}});
    if (w > 1 && base > 0) {
      ratios[fmt::format("throughput_{}_vs_1", w)] = speedup;
      ratios[fmt::format("accuracy_points_{}_minus_1", w)] = (r.accuracy - base_accuracy) * 100;
    }
  }
  std::filesystem::remove_all(dir);
  fmt::print(out, "ratios: ");
  for (auto& [k, v] : ratios.items()) fmt::print(out, "{}={:.2f} ", k, v.get<double>());
  fmt::print(out, "\n{}\n",
             nlohmann::json{{"bench", "scaling"}, {"model", o.model}, {"epochs", o.epochs},
                            {"batch_size_per_worker", o.batch_size}, {"collectives", o.backend}, {"train_args", o.extra_args}, {"rows", rows},
                            {"ratios", ratios}}
                 .dump());
  return 0;
}

}  // namespace ringmaster::bench
