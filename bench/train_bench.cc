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
  const int threads = o.threads.empty() ? 1 : o.threads.front();
  worker::set_math_threads(threads);
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
  Rng rng(2);
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
                      {"threads", threads},
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

namespace {

// bench/torch_train.py --device cpu at `threads`: samples/s, or 0 with a note in *note.
double torch_samples_per_sec(const TrainBenchOptions& o, const std::string& model, int threads, std::string* note) {
  const std::string t = std::to_string(threads);
  // Both of torch's pools pinned before it loads: Debian's torch computes on OpenBLAS's own pthread
  // pool (OPENBLAS_NUM_THREADS), its other kernels on OpenMP (OMP_NUM_THREADS); the script also
  // sets torch.set_num_threads and refuses to run when the two variables disagree with it.
  const Env env = {{"OPENBLAS_NUM_THREADS", t}, {"OMP_NUM_THREADS", t}, {"MKL_NUM_THREADS", t}};
  const bool cnn = model.starts_with("cnn");
  auto rate = run_peer_samples_per_sec({o.python, o.peer_script, "--device", "cpu", "--threads", t, "--model", model,
                                        "--batch", std::to_string(o.batch_size), "--steps", cnn ? "30" : "300",
                                        "--warmup", cnn ? "3" : "20", "--data-dir", o.data_dir},
                                       env);
  if (!rate) *note = rate.status().message();
  return rate ? *rate : 0.0;
}

}  // namespace

int run_train_bench(const TrainBenchOptions& o, std::FILE* out) {
  std::vector<nlohmann::json> results;
  const bool have_torch = !o.peer_script.empty() && static_cast<bool>(run_capturing({o.python, "-c", "import torch"}, {}, true));
  for (const int threads : o.threads) {
    for (const std::string& model : o.models) {
      auto text = run_capturing({self_exe(), "bench", "train", "--child", "--models", model, "--steps",
                                 std::to_string(o.steps), "--threads", std::to_string(threads), "--data-dir",
                                 o.data_dir});
      auto j = text ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json();
      if (!text || j.is_discarded()) {
        fmt::print(stderr, "ringmaster bench train: the run for {} failed: {}\n", model,
                   text ? "its output is not JSON" : text.status().message());
        return 1;
      }
      if (have_torch) {
        std::string note;
        const double peer = torch_samples_per_sec(o, model, threads, &note);
        j["torch_samples_per_sec"] = peer;
        if (peer > 0) j["vs_torch"] = j["samples_per_sec"].get<double>() / peer;
        if (!note.empty()) j["torch_note"] = note;
      }
      results.push_back(j);
    }
  }
  fmt::print(out, "{:<20} {:>3} {:>9} {:>10} {:>10} {:>8} {:>9} {:>9} {:>9} {:>6} {:>8} {:>7}\n", "model", "thr",
             "step ms", "samples/s", "PyTorch", "vs torch", "step GF/s", "oneDNN GF", "OpenBLAS", "ratio",
             "RSS MiB", "budget");
  for (const auto& r : results) {
    const double peer = r.value("torch_samples_per_sec", 0.0);
    fmt::print(out, "{:<20} {:>3} {:>9.3f} {:>10.1f} {:>10} {:>8} {:>9.1f} {:>9.1f} {:>9.1f} {:>6.3f} {:>8.1f} {:>7.1f}\n",
               r["model"].get<std::string>(), r["threads"].get<int>(), r["step_ms"].get<double>(),
               r["samples_per_sec"].get<double>(), peer > 0 ? fmt::format("{:.1f}", peer) : "-",
               peer > 0 ? fmt::format("{:.2f}x", r["vs_torch"].get<double>()) : "-", r["train_gflops"].get<double>(),
               r["sgemm_gflops"].get<double>(), r["openblas_gflops"].get<double>(), r["ratio_to_sgemm"].get<double>(),
               r["peak_rss_mib"].get<double>(), r["budget_mib"].get<double>());
  }
  if (!have_torch) fmt::print(out, "(no PyTorch column: {} cannot import torch)\n", o.python);
  for (const auto& failed : results)
    if (failed.contains("torch_note"))
      fmt::print(out, "PyTorch peer for {} at {} threads failed: {}\n", failed["model"].get<std::string>(),
                 failed["threads"].get<int>(), failed["torch_note"].get<std::string>());
  nlohmann::json line = {{"bench", "train"}, {"math", worker::math_config()}, {"results", results}};
  fmt::print(out, "{}\n", line.dump());
  return 0;
}

}  // namespace ringmaster::bench
