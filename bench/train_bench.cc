#include "bench/train_bench.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <tuple>

#include "bench/subprocess.h"
#include "common/process_stats.h"
#include "worker/blas.h"
#include "worker/dataset.h"
#include "worker/loss.h"
#include "worker/model.h"
#include "worker/optimizer.h"

namespace ringmaster::bench {
namespace {

using Clock = std::chrono::steady_clock;
using worker::GemmCall;

// Times the logged GEMM sequence with a library's bare sgemm: seconds per replay of the whole sequence.
double replay_gemms(const worker::GemmLog& log, worker::GemmLibrary library, double min_seconds) {
  using Key = std::tuple<bool, bool, int, int, int>;
  struct Buffers {
    worker::AlignedBuffer a, b, c;
  };
  std::map<Key, Buffers> buffers;
  for (const GemmCall& g : log) {
    Key key{g.trans_a, g.trans_b, g.m, g.n, g.k};
    if (buffers.count(key)) continue;
    Buffers& buf = buffers[key];
    buf.a = worker::AlignedBuffer(static_cast<std::size_t>(g.m) * static_cast<std::size_t>(g.k));
    buf.b = worker::AlignedBuffer(static_cast<std::size_t>(g.k) * static_cast<std::size_t>(g.n));
    buf.c = worker::AlignedBuffer(static_cast<std::size_t>(g.m) * static_cast<std::size_t>(g.n));
    for (auto* span : {&buf.a, &buf.b}) {
      float v = 0.001f;
      for (float& x : span->span()) x = (v = v * 1.0001f + 0.0001f);
    }
  }
  auto run = [&] {
    for (const GemmCall& g : log) {
      Buffers& buf = buffers[{g.trans_a, g.trans_b, g.m, g.n, g.k}];
      worker::gemm_with(library, g.trans_a, g.trans_b, g.m, g.n, g.k, 1.0f, buf.a.data(), buf.b.data(), g.beta,
                        buf.c.data());
    }
  };
  for (int i = 0; i < 3; ++i) run();
  int64_t reps = 0;
  const auto start = Clock::now();
  double elapsed = 0.0;
  do {
    run();
    ++reps;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < min_seconds || reps < 5);
  return elapsed / static_cast<double>(reps);
}

}  // namespace

int run_train_bench_child(const TrainBenchOptions& o, std::FILE* out) {
  const std::string spec = o.models.empty() ? "mlp" : o.models.front();
  worker::set_math_threads(o.threads);
  worker::Dataset data;
  auto loaded = worker::load_fashion_mnist(o.data_dir, worker::Split::kTrain);
  if (loaded) {
    data = std::move(*loaded);
  } else {
    data = worker::make_synthetic(60000, 1);
  }
  auto model_r = worker::Model::create(spec, data.sample_shape, data.num_classes);
  if (!model_r) {
    std::fprintf(stderr, "ringmaster bench train: %s\n", model_r.status().message().c_str());
    return 2;
  }
  worker::Model& model = **model_r;
  model.init(1);
  auto opt_r = worker::make_optimizer(worker::OptimizerConfig{}, model.param_count());
  worker::Optimizer& optimizer = **opt_r;
  const bool is_cnn = model.spec().starts_with("cnn");
  const int64_t steps = o.steps > 0 ? o.steps : (is_cnn ? 40 : 400);
  worker::BatchLoader loader(data, {o.batch_size, true, 1, 3});
  worker::Rng rng(2);
  worker::Context ctx{true, &rng, nullptr};
  worker::Tensor grad;
  int64_t epoch = 0;
  loader.start_epoch(epoch);
  auto step = [&] {
    const worker::Batch* b = loader.next();
    if (b == nullptr || static_cast<int64_t>(b->labels.size()) != o.batch_size) {  // full batches only
      loader.start_epoch(++epoch);
      b = loader.next();
    }
    const worker::Tensor& logits = model.forward(b->images, ctx);
    worker::softmax_cross_entropy(logits, b->labels, &grad);
    model.backward(b->images, grad, ctx);
    optimizer.step(model.params(), model.grads(), 0.01f);
  };
  for (int i = 0; i < (is_cnn ? 3 : 20); ++i) step();
  worker::GemmLog log;
  ctx.gemm_log = &log;
  step();
  ctx.gemm_log = nullptr;
  const auto start = Clock::now();
  for (int64_t i = 0; i < steps; ++i) step();
  const double step_s = std::chrono::duration<double>(Clock::now() - start).count() / static_cast<double>(steps);
  const double rss = peak_rss_mib();  // before the replays, whose buffers are the bench's, not training's
  const double sgemm_s = replay_gemms(log, worker::GemmLibrary::kOneDnn, is_cnn ? 2.0 : 1.0);
  const double openblas_s = replay_gemms(log, worker::GemmLibrary::kOpenBlas, is_cnn ? 2.0 : 1.0);
  double flops = 0.0;
  for (const GemmCall& g : log) flops += g.flops();

  const double mib = 1024.0 * 1024.0;
  const double data_mib = static_cast<double>(data.bytes()) / mib;
  const double model_mib = static_cast<double>(model.param_count()) * 4.0 / mib;
  double opt_floats = 0.0;
  for (const auto& entry : optimizer.state()) opt_floats += static_cast<double>(entry.second.size());
  const double state_mib = model_mib /* gradients */ + opt_floats * 4.0 / mib;
  const double act_mib = (static_cast<double>(model.activation_floats(o.batch_size)) +
                          3.0 * static_cast<double>(o.batch_size * data.sample_size())) * 4.0 / mib;
  const double budget = data_mib + model_mib + state_mib + act_mib;
  nlohmann::json r = {{"model", model.spec()},
                      {"batch", o.batch_size},
                      {"threads", o.threads},
                      {"steps", steps},
                      {"data", data.name.empty() ? "synthetic" : data.name},
                      {"step_ms", step_s * 1e3},
                      {"samples_per_sec", static_cast<double>(o.batch_size) / step_s},
                      {"gemm_gflop_per_step", flops / 1e9},
                      {"gemm_calls_per_step", log.size()},
                      {"train_gflops", flops / step_s / 1e9},
                      {"sgemm_gflops", flops / sgemm_s / 1e9},
                      {"ratio_to_sgemm", sgemm_s / step_s},
                      {"openblas_gflops", flops / openblas_s / 1e9},
                      {"peak_rss_mib", rss},
                      {"budget_mib", budget},
                      {"budget_parts_mib", {{"data", data_mib}, {"params", model_mib}, {"grads_and_optimizer", state_mib},
                                            {"activations_and_batches", act_mib}}},
                      {"rss_to_budget", rss / budget}};
  fmt::print(out, "{}\n", r.dump());
  return 0;
}

int run_train_bench(const TrainBenchOptions& o, std::FILE* out) {
  std::vector<nlohmann::json> results;
  for (const std::string& model : o.models) {
    auto text = run_capturing({self_exe(), "bench", "train", "--child", "--models", model, "--steps",
                               std::to_string(o.steps), "--threads", std::to_string(o.threads), "--data-dir",
                               o.data_dir});
    auto j = text ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json();
    if (!text || j.is_discarded()) {
      fmt::print(stderr, "ringmaster bench train: the run for {} failed: {}\n", model,
                 text ? "its output is not JSON" : text.status().message());
      return 1;
    }
    results.push_back(j);
  }
  fmt::print(out, "{:<22} {:>6} {:>10} {:>11} {:>10} {:>10} {:>8} {:>9} {:>9}\n", "model", "batch", "step ms",
             "samples/s", "step GF/s", "sgemm GF/s", "ratio", "RSS MiB", "budget");
  for (const auto& r : results)
    fmt::print(out, "{:<22} {:>6} {:>10.3f} {:>11.1f} {:>10.1f} {:>10.1f} {:>8.3f} {:>9.1f} {:>9.1f}\n",
               r["model"].get<std::string>(), r["batch"].get<int64_t>(), r["step_ms"].get<double>(),
               r["samples_per_sec"].get<double>(), r["train_gflops"].get<double>(), r["sgemm_gflops"].get<double>(),
               r["ratio_to_sgemm"].get<double>(), r["peak_rss_mib"].get<double>(), r["budget_mib"].get<double>());
  nlohmann::json line = {{"bench", "train"}, {"threads", o.threads}, {"results", results}};
  fmt::print(out, "{}\n", line.dump());
  return 0;
}

}  // namespace ringmaster::bench
