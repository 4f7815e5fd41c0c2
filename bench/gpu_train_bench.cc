#include "bench/gpu_train_bench.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <regex>

#include "bench/subprocess.h"
#include "worker/dataset.h"
#include "worker/device.h"
#include "worker/model.h"
#include "worker/optimizer.h"

namespace ringmaster::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Row {
  std::string model;
  int64_t batch = 0;
  double samples_per_sec = 0.0, gemm_tflops = 0.0, cublas_tflops = 0.0, torch_samples_per_sec = 0.0;
  std::string torch_note;
};

Result<Row> measure_ours(const std::string& spec, int64_t batch, int64_t steps, const std::string& precision,
                         const worker::Dataset& data) {
  auto model = worker::Model::create(spec, data.sample_shape, data.num_classes);
  if (!model) return model.status();
  (*model)->init(1);
  worker::OptimizerConfig oc;
  auto opt = worker::make_optimizer(oc, (*model)->param_count());
  if (!opt) return opt.status();
  auto arithmetic = worker::parse_precision(precision);
  if (!arithmetic) return arithmetic.status();
  worker::DeviceConfig dc;
  dc.precision = *arithmetic;
  auto engine = worker::make_cuda_engine(**model, oc, dc, nullptr);
  if (!engine) return engine.status();
  if (Status s = (*engine)->upload(**model, **opt); !s) return s;
  worker::BatchLoader loader(data, {batch, true, 1, 4, 0, 1, true});
  int64_t epoch = 0;
  auto next = [&]() -> const worker::Batch* {
    for (;;) {
      const worker::Batch* b = loader.next();
      if (b != nullptr && static_cast<int64_t>(b->labels.size()) == batch) return b;  // full batches only
      if (b == nullptr) loader.start_epoch(++epoch);
    }
  };
  loader.start_epoch(0);
  for (int i = 0; i < 30; ++i)
    if (Status s = (*engine)->train_step(*next(), 1.0f, 0.05f, 0); !s) return s;
  if (Status s = (*engine)->synchronize(); !s) return s;
  const auto start = Clock::now();
  for (int64_t i = 0; i < steps; ++i)
    if (Status s = (*engine)->train_step(*next(), 1.0f, 0.05f, 0); !s) return s;
  if (Status s = (*engine)->synchronize(); !s) return s;
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  Row row;
  row.model = (*model)->spec();
  row.batch = batch;
  row.samples_per_sec = static_cast<double>(steps * batch) / seconds;
  const worker::GemmLog log = (*engine)->gemm_log(batch);
  double flops = 0.0;
  for (const auto& g : log) flops += g.flops();
  row.gemm_tflops = flops * static_cast<double>(steps) / seconds / 1e12;
  auto gemm_s = worker::cuda_gemm_seconds(log, *arithmetic, 0, 50);
  if (!gemm_s) return gemm_s.status();
  row.cublas_tflops = flops / *gemm_s / 1e12;
  return row;
}

void measure_peer(const GpuTrainBenchOptions& o, Row& row, int64_t steps) {
  // RINGMASTER_PEER_LD_LIBRARY_PATH: the peer's library path where ours would mislead PyTorch (a
  // bundle of our libraries on a lent machine, scripts/gpu-bundle).
  Env env;
  if (const char* p = std::getenv("RINGMASTER_PEER_LD_LIBRARY_PATH")) env.emplace_back("LD_LIBRARY_PATH", p);
  auto rate = run_peer_samples_per_sec({o.python, o.peer_script, "--model", row.model, "--batch",
                                        std::to_string(row.batch), "--steps", std::to_string(steps), "--precision",
                                        o.precision, "--data-dir", o.data_dir},
                                       env);
  if (rate)
    row.torch_samples_per_sec = *rate;
  else
    row.torch_note = rate.status().message();
}

// Aggregate samples/s of `procs` processes training the CNN for one epoch on GPU 0.
Result<double> measure_sharing(int procs, const std::string& precision) {
  const std::vector<std::string> argv = {self_exe(), "train", "--device", "cuda", "--gpu", "0", "--strategy",
                                         "allreduce", "--model", "cnn", "--epochs", "1", "--no-eval",
                                         "--batch-size", "128", "--precision", precision, "--progress", "lines"};
  const Env env = {{"RINGMASTER_JOB_TOKEN", "bench-gpu-share"},
                   {"CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", std::to_string(100 / procs)}};
  std::vector<Result<std::string>> outs;
  if (procs == 1) {
    auto one = run_capturing(argv, env, true);
    outs.push_back(std::move(one));
  } else {
    outs = run_local_ranks(argv, procs, env);
  }
  for (int r = 0; r < procs; ++r)
    if (!outs[static_cast<std::size_t>(r)]) return outs[static_cast<std::size_t>(r)].status().with_context(fmt::format("rank {}", r));
  static const std::regex kSps(R"(summary:.* samples_per_sec=([0-9.]+))");
  std::smatch m;
  const std::string& text = *outs[0];
  if (!std::regex_search(text, m, kSps)) return internal_error("no summary line from rank 0");
  return std::stod(m[1]);
}

}  // namespace

int run_gpu_train_bench(const GpuTrainBenchOptions& o, std::FILE* out) {
  auto gpus = worker::cuda_device_count();
  if (!gpus) {
    std::fprintf(stderr, "ringmaster bench train: %s\n", gpus.status().message().c_str());
    return 2;
  }
  auto data = worker::load_fashion_mnist(o.data_dir, worker::Split::kTrain);
  if (!data) {
    std::fprintf(stderr, "ringmaster bench train: %s\n", data.status().message().c_str());
    return 2;
  }
  std::vector<Row> rows;
  for (const std::string& spec : o.models)
    for (int64_t batch : o.batches) {
      const int64_t steps = o.steps > 0 ? o.steps : (spec.rfind("cnn", 0) == 0 ? 200 : 400);
      auto row = measure_ours(spec, batch, steps, o.precision, *data);
      if (!row) {
        std::fprintf(stderr, "ringmaster bench train: %s at batch %lld: %s\n", spec.c_str(),
                     static_cast<long long>(batch), row.status().message().c_str());
        return 1;
      }
      measure_peer(o, *row, steps);
      rows.push_back(*row);
    }
  fmt::print(out, "GPU training step ({}), ringmaster vs PyTorch eager on the same GPU\n", o.precision);
  fmt::print(out, "{:<20} {:>6} {:>14} {:>12} {:>14} {:>10} {:>14} {:>10}\n", "model", "batch", "samples/s",
             "GEMM TFLOP/s", "cuBLAS TFLOP/s", "of cuBLAS", "torch samp/s", "vs torch");
  nlohmann::json j = {{"bench", "train-cuda"}, {"precision", o.precision}, {"rows", nlohmann::json::array()}};
  for (const Row& r : rows) {
    const double vs = r.torch_samples_per_sec > 0 ? r.samples_per_sec / r.torch_samples_per_sec : 0.0;
    fmt::print(out, "{:<20} {:>6} {:>14.0f} {:>12.2f} {:>14.2f} {:>9.0f}% {:>14} {:>10}\n", r.model, r.batch,
               r.samples_per_sec, r.gemm_tflops, r.cublas_tflops, 100.0 * r.gemm_tflops / r.cublas_tflops,
               r.torch_samples_per_sec > 0 ? fmt::format("{:.0f}", r.torch_samples_per_sec) : "n/a",
               vs > 0 ? fmt::format("{:.2f}x", vs) : "n/a");
    if (!r.torch_note.empty()) fmt::print(out, "  torch: {}\n", r.torch_note);
    j["rows"].push_back({{"model", r.model}, {"batch", r.batch}, {"samples_per_sec", r.samples_per_sec},
                         {"gemm_tflops", r.gemm_tflops}, {"cublas_tflops", r.cublas_tflops},
                         {"torch_samples_per_sec", r.torch_samples_per_sec}, {"vs_torch", vs}});
  }
  if (!o.share_processes.empty()) {
    fmt::print(out, "\nprocesses sharing GPU 0 (cnn, batch 128 each, gradients through shared memory)\n");
    fmt::print(out, "{:>9} {:>22} {:>12}\n", "processes", "aggregate samples/s", "vs one");
    double one = 0.0;
    j["sharing"] = nlohmann::json::array();
    for (int procs : o.share_processes) {
      auto sps = measure_sharing(procs, o.precision);
      if (!sps) {
        fmt::print(out, "{:>9} failed: {}\n", procs, sps.status().message());
        continue;
      }
      if (procs == 1) one = *sps;
      fmt::print(out, "{:>9} {:>22.0f} {:>12}\n", procs, *sps, one > 0 ? fmt::format("{:.2f}x", *sps / one) : "n/a");
      j["sharing"].push_back({{"processes", procs}, {"samples_per_sec", *sps}, {"vs_one", one > 0 ? *sps / one : 0.0}});
    }
  }
  fmt::print(out, "{}\n", j.dump());
  return 0;
}

}  // namespace ringmaster::bench
