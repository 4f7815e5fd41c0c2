#include "worker/trainer.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "common/process_stats.h"
#include "worker/balance.h"
#include "worker/blas.h"
#include "worker/checkpoint.h"
#include "common/metrics.h"
#include "worker/device.h"
#include "worker/gradient_sync.h"
#include "worker/loss.h"
#include "worker/model.h"
#include "worker/parameter_service.h"
#include "worker/timeline.h"

namespace ringmaster::worker {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct EvalSums {
  double loss_sum = 0.0, correct = 0.0, count = 0.0;
  double loss() const { return count > 0 ? loss_sum / count : 0.0; }
  double accuracy() const { return count > 0 ? correct / count : 0.0; }
};

EvalSums evaluate(Model& model, BatchLoader& loader) {
  Context ctx;
  loader.start_epoch(0);
  EvalSums e;
  while (const Batch* b = loader.next()) {
    const Tensor& logits = model.forward(b->images, ctx);
    const LossResult r = softmax_cross_entropy(logits, b->labels, nullptr);
    const auto count = static_cast<double>(b->labels.size());
    e.loss_sum += r.loss * count;
    e.correct += static_cast<double>(r.correct);
    e.count += count;
  }
  return e;
}

// What --metrics-port serves, updated by the training thread and read per scrape.
class LiveMetrics {
 public:
  explicit LiveMetrics(int rank) : rank_(std::to_string(rank)) {}
  void step(int64_t samples, double step_s, double compute_s, double wait_s, double data_s, double loss) {
    std::lock_guard lock(mu_);
    samples_ += samples;
    ++steps_;
    step_s_ += step_s, compute_s_ += compute_s, wait_s_ += wait_s, data_s_ += data_s;
    loss_ = loss;
  }
  void epoch(int64_t epoch, double samples_per_second, double test_accuracy) {
    std::lock_guard lock(mu_);
    epoch_ = epoch, sps_ = samples_per_second, accuracy_ = test_accuracy;
  }
  std::string render() const {
    std::lock_guard lock(mu_);
    PrometheusText t;
    const PrometheusText::Labels l = {{"rank", rank_}};
    auto one = [&](const char* name, const char* type, const char* help, double v) {
      t.family(name, type, help);
      t.sample(name, l, v);
    };
    one("ringmaster_train_samples_total", "counter", "Training samples this rank has processed", static_cast<double>(samples_));
    one("ringmaster_train_steps_total", "counter", "Optimizer steps this rank has taken", static_cast<double>(steps_));
    one("ringmaster_train_samples_per_second", "gauge", "Training throughput of all ranks over the last epoch", sps_);
    one("ringmaster_train_step_seconds_sum", "counter", "Seconds in training steps", step_s_);
    one("ringmaster_train_compute_seconds_sum", "counter", "Seconds in forward, backward and the optimizer", compute_s_);
    one("ringmaster_train_allreduce_wait_seconds_sum", "counter", "Seconds blocked on the gradient allreduce", wait_s_);
    one("ringmaster_train_data_wait_seconds_sum", "counter", "Seconds waiting for the next batch", data_s_);
    one("ringmaster_train_loss", "gauge", "Training loss of the last step (this rank's batch)", loss_);
    one("ringmaster_train_epoch", "gauge", "Epochs completed", static_cast<double>(epoch_));
    one("ringmaster_train_test_accuracy", "gauge", "Test accuracy after the last epoch", accuracy_);
    return t.str();
  }

 private:
  mutable std::mutex mu_;
  std::string rank_;
  int64_t samples_ = 0, steps_ = 0, epoch_ = 0;                            // GUARDED_BY(mu_)
  double step_s_ = 0, compute_s_ = 0, wait_s_ = 0, data_s_ = 0, loss_ = 0;  // GUARDED_BY(mu_)
  double sps_ = 0, accuracy_ = 0;                                          // GUARDED_BY(mu_)
};

// Sums doubles over ranks in place (a no-op without a communicator).
Status sum_over_ranks(collectives::Communicator* comm, std::span<double> values, const char* what) {
  if (comm == nullptr || comm->size() == 1) return Status::ok();
  Status s = comm->allreduce(values.data(), values.data(), values.size(), collectives::DataType::kFloat64,
                             collectives::ReduceOp::kSum);
  return s ? s : s.with_context(what);
}

// Rank 0's model, optimizer state and position, sent to every rank as one encoded checkpoint (so
// the receiving side checks it exactly as it checks a file).
Status broadcast_state(collectives::Communicator& comm, Model& model, Optimizer& optimizer, TrainState& state) {
  using collectives::DataType;
  std::string bytes;
  int64_t length = 0;
  if (comm.rank() == 0) {
    bytes = encode_checkpoint(model, optimizer, state);
    length = static_cast<int64_t>(bytes.size());
  }
  if (Status s = comm.broadcast(&length, 1, DataType::kInt64, 0); !s)
    return s.with_context("sending rank 0's initial state");
  std::vector<int64_t> words(static_cast<std::size_t>((length + 7) / 8));
  if (comm.rank() == 0 && length > 0) std::memcpy(words.data(), bytes.data(), bytes.size());
  if (Status s = comm.broadcast(words.data(), words.size(), DataType::kInt64, 0); !s)
    return s.with_context("sending rank 0's initial state");
  if (comm.rank() == 0) return Status::ok();
  const std::string_view received(reinterpret_cast<const char*>(words.data()), static_cast<std::size_t>(length));
  return decode_checkpoint(received, "rank 0's initial state", model, optimizer, state);
}

// Appends JSON lines and makes each durable before training goes on.
class MetricsFile {
 public:
  Status open(const std::string& path) {
    if (path.empty()) return Status::ok();
    file_ = std::fopen(path.c_str(), "a");
    if (!file_) return invalid_argument(fmt::format("--metrics-file {}: cannot open for appending", path));
    return Status::ok();
  }
  ~MetricsFile() {
    if (file_) std::fclose(file_);
  }
  void write(const nlohmann::json& record) {
    if (!file_) return;
    const std::string line = record.dump() + "\n";
    std::fwrite(line.data(), 1, line.size(), file_);
    std::fflush(file_);
    ::fsync(::fileno(file_));
  }

 private:
  std::FILE* file_ = nullptr;
};

}  // namespace

Status validate(const TrainConfig& c) {
  if (c.dataset != "fashion-mnist" && c.dataset != "synthetic")
    return invalid_argument(fmt::format("--dataset: expected fashion-mnist or synthetic, found \"{}\"", c.dataset));
  if (c.epochs <= 0 && c.steps <= 0)
    return invalid_argument(fmt::format("--epochs: expected > 0 (or --steps > 0), found {}", c.epochs));
  if (c.stop_at_step < 0)
    return invalid_argument(fmt::format("--stop-at-step: expected >= 0, found {}", c.stop_at_step));
  if (c.steps < 0) return invalid_argument(fmt::format("--steps: expected >= 0, found {}", c.steps));
  if (c.metrics_port < -1 || c.metrics_port > 65535)
    return invalid_argument(fmt::format("--metrics-port: expected a port in 0-65535, found {}", c.metrics_port));
  if (c.batch_size <= 0 || c.batch_size > 1'000'000)
    return invalid_argument(fmt::format("--batch-size: expected 1 to 1000000, found {}", c.batch_size));
  if (c.threads <= 0 || c.threads > 1024)
    return invalid_argument(fmt::format("--threads: expected 1 to 1024, found {}", c.threads));
  if (c.train_limit < 0 || c.test_limit < 0)
    return invalid_argument("--train-limit/--test-limit: expected >= 0");
  if (c.synthetic_samples <= 0)
    return invalid_argument(fmt::format("--synthetic-samples: expected > 0, found {}", c.synthetic_samples));
  if (c.lr < 0.0 || !std::isfinite(c.lr)) return invalid_argument(fmt::format("--lr: expected > 0, found {}", c.lr));
  if (c.warmup_epochs < 0.0) return invalid_argument(fmt::format("--warmup-epochs: expected >= 0, found {}", c.warmup_epochs));
  if (c.checkpoint_every < 0)
    return invalid_argument(fmt::format("--checkpoint-every: expected >= 0, found {}", c.checkpoint_every));
  if (c.keep_checkpoints < 1)
    return invalid_argument(fmt::format("--keep-checkpoints: expected >= 1, found {}", c.keep_checkpoints));
  if (c.bucket_bytes < 1024)
    return invalid_argument(fmt::format("--bucket-kib: expected >= 1, found {} bytes", c.bucket_bytes));
  if (auto b = parse_balance(c.balance); !b) return b.status();
  if (c.balance_warmup_steps < 1)
    return invalid_argument(fmt::format("--balance-warmup-steps: expected >= 1, found {}", c.balance_warmup_steps));
  if (!(c.slow_factor >= 1.0) || !std::isfinite(c.slow_factor))
    return invalid_argument(fmt::format("--slow-rank: expected a factor >= 1, found {}", c.slow_factor));
  if (c.resume && c.checkpoint_dir.empty()) return invalid_argument("--resume: needs --checkpoint-dir, found none");
  if (c.device != "cpu" && c.device != "cuda")
    return invalid_argument(fmt::format("--device: expected cpu or cuda, found \"{}\"", c.device));
  if (c.precision != "fp32" && c.precision != "tf32" && c.precision != "bf16")
    return invalid_argument(fmt::format("--precision: expected fp32, tf32 or bf16, found \"{}\"", c.precision));
  if (c.device == "cpu" && c.precision != "fp32")
    return invalid_argument(fmt::format("--precision {}: only with --device cuda (the CPU path is float32)", c.precision));
  if (c.gpu < -1) return invalid_argument(fmt::format("--gpu: expected a device index >= 0, found {}", c.gpu));
  if (c.progress != "auto" && c.progress != "bar" && c.progress != "lines")
    return invalid_argument(fmt::format("--progress: expected auto, bar or lines, found \"{}\"", c.progress));
  return Status::ok();
}

Result<uint64_t> check_replicas_agree(collectives::Communicator& comm, std::span<const float> params) {
  uint64_t h = 1469598103934665603ULL;
  const auto* p = reinterpret_cast<const unsigned char*>(params.data());
  for (std::size_t i = 0; i < params.size_bytes(); ++i) h = (h ^ p[i]) * 1099511628211ULL;
  std::vector<int64_t> all(static_cast<std::size_t>(comm.size()));
  const auto mine = static_cast<int64_t>(h);
  if (Status s = comm.allgather(&mine, all.data(), 1, collectives::DataType::kInt64); !s)
    return s.with_context("comparing parameter checksums");
  for (std::size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0])
      return internal_error(fmt::format("replicas diverged: rank 0's parameters have checksum {:016x}, rank {}'s "
                                        "{:016x}; data-parallel ranks must hold identical parameters",
                                        static_cast<uint64_t>(all[0]), r, static_cast<uint64_t>(all[r])));
  return h;
}

Result<TrainSummary> run_training(const TrainConfig& c, std::FILE* out, collectives::Communicator* comm,
                                  ParameterService* ps) {
  if (auto s = validate(c); !s) return s;
  if (comm && ps) return invalid_argument("run_training: a communicator or a parameter service, not both");
  const auto start = Clock::now();
  const int world = comm ? comm->size() : ps ? ps->workers() : 1;
  const int rank = comm ? comm->rank() : ps ? ps->worker() : 0;
  const bool leader = rank == 0;
  set_math_threads(c.threads);

  // Data.
  Dataset train_data, test_data;
  if (c.dataset == "synthetic") {
    train_data = make_synthetic(c.train_limit > 0 ? c.train_limit : c.synthetic_samples, c.seed);
    test_data = make_synthetic(c.test_limit > 0 ? c.test_limit : std::max<int64_t>(1, c.synthetic_samples / 6),
                               c.seed + 1);
  } else {
    auto tr = load_fashion_mnist(c.data_dir, Split::kTrain, c.train_limit);
    if (!tr) return tr.status();
    train_data = std::move(*tr);
    if (c.evaluate) {
      auto te = load_fashion_mnist(c.data_dir, Split::kTest, c.test_limit);
      if (!te) return te.status();
      test_data = std::move(*te);
    }
  }

  // Model and optimizer.
  auto model_r = Model::create(c.model, train_data.sample_shape, train_data.num_classes, c.dropout);
  if (!model_r) return model_r.status();
  Model& model = **model_r;
  auto opt_r = make_optimizer(c.optimizer, model.param_count());
  if (!opt_r) return opt_r.status();
  Optimizer& optimizer = **opt_r;

  const int64_t shard_samples = (train_data.count + world - 1) / world;  // padded, as the loader
  const int64_t steps_per_epoch = (shard_samples + c.batch_size - 1) / c.batch_size;
  const int64_t max_steps = c.steps > 0 ? c.steps : c.epochs * steps_per_epoch;
  LrSchedule schedule;
  schedule.kind = c.lr_schedule;
  schedule.base_lr = c.lr > 0.0 ? c.lr : (c.optimizer.name == "adam" ? 0.001 : 0.05);
  if (c.scale_lr) schedule.base_lr *= world;
  schedule.warmup_steps = static_cast<int64_t>(std::llround(c.warmup_epochs * static_cast<double>(steps_per_epoch)));
  schedule.step_size = static_cast<int64_t>(std::llround(c.lr_step_epochs * static_cast<double>(steps_per_epoch)));
  schedule.gamma = c.lr_gamma;
  schedule.total_steps = max_steps;
  schedule.min_lr = c.min_lr;
  if (auto s = validate(schedule); !s) return s;

  TrainState state;
  state.seed = c.seed;
  model.init(c.seed);
  state.rng = Rng::derive(c.seed, 1ULL << 40).state();
  TrainSummary summary;
  if (c.resume && leader) {
    auto r = resume_from(c.checkpoint_dir, model, optimizer, state);
    if (!r) return r.status();
    for (const auto& why : r->rejected) spdlog::warn("skipping checkpoint: {}", why);
    if (r->path.empty()) {
      spdlog::info("--resume: no checkpoint in {} yet; starting from scratch", c.checkpoint_dir);
    } else {
      spdlog::info("resumed from {} (epoch {}, batch {}, step {})", r->path, state.epoch + 1, state.batch_in_epoch,
                   state.global_step);
      if (state.seed != c.seed)
        spdlog::warn("--seed {} differs from the checkpoint's seed {}; continuing with the checkpoint's", c.seed,
                     state.seed);
      summary.resumed_from = r->path;
    }
  }
  if (ps) {
    // The servers hold the parameters: seeded by the first worker to arrive (fresh, or the
    // chief's resumed checkpoint), restored from their own checkpoints after a restart. A
    // restarted worker continues from the steps it had pushed.
    auto pushed = ps->start(model.params(), model.param_infos(), c.optimizer);
    if (!pushed) return pushed.status().with_context("joining the parameter servers");
    if (*pushed > state.global_step) {
      state.global_step = *pushed;
      state.epoch = *pushed / steps_per_epoch;
      state.batch_in_epoch = *pushed % steps_per_epoch;
      state.epoch_loss_sum = 0.0;
      state.epoch_samples = state.epoch_correct = 0;
      spdlog::info("worker {}: continuing after step {} (epoch {}, batch {})", rank, *pushed, state.epoch + 1,
                   state.batch_in_epoch);
    }
    if (!leader) state.rng = Rng::derive(state.rng[0] ^ state.rng[3], static_cast<uint64_t>(rank)).state();
  } else if (world > 1) {
    if (Status s = broadcast_state(*comm, model, optimizer, state); !s) return s;
    if (!leader) {  // this rank's share of the epoch in progress starts now; its own dropout stream
      state.epoch_loss_sum = 0.0;
      state.epoch_samples = state.epoch_correct = 0;
      state.rng = Rng::derive(state.rng[0] ^ state.rng[3], static_cast<uint64_t>(rank)).state();
    }
  }
  if (leader)
    spdlog::info("model {} ({} parameters), {} on {} training samples, {} steps per epoch, compute threads {}{}",
                 model.spec(), model.param_count(), optimizer.name(), train_data.count, steps_per_epoch, c.threads,
                 ps ? fmt::format(", worker {} of {} with {}", rank, world, ps->describe())
                 : world > 1 ? fmt::format(", {} ranks over {} ({} samples each per step)", world, comm->backend(),
                                           c.batch_size)
                             : std::string());
  // Per-rank batch sizes (--balance).
  const BalanceSpec balance = *parse_balance(c.balance);
  std::vector<int64_t> rank_batches;  // empty: --batch-size on every rank
  std::unique_ptr<Balancer> balancer;
  if (ps && balance.kind != BalanceSpec::Kind::kNone) {
    spdlog::info("--balance {}: not used with parameter servers (every worker pushes at its own pace)", c.balance);
  } else if (world > 1 && balance.kind == BalanceSpec::Kind::kFixed) {
    int64_t sum = 0;
    for (int64_t b : balance.batches) sum += b;
    if (static_cast<int>(balance.batches.size()) != world || sum != c.batch_size * world)
      return invalid_argument(fmt::format("--balance {}: expected {} batch sizes (one per rank) adding up to {} ({} "
                                          "ranks x --batch-size {}), found {} adding up to {}",
                                          c.balance, world, c.batch_size * world, world, c.batch_size,
                                          balance.batches.size(), sum));
    rank_batches = balance.batches;
  } else if (world > 1 && balance.kind == BalanceSpec::Kind::kAuto) {
    balancer = std::make_unique<Balancer>(world, c.batch_size * world,
                                          std::vector<int64_t>(static_cast<std::size_t>(world), c.batch_size));
  } else if (world == 1 && balance.kind != BalanceSpec::Kind::kNone) {
    spdlog::info("--balance {}: one rank, nothing to balance", c.balance);
  }
  // --device cuda: the steps run on the GPU from the state settled above (fresh, resumed or rank 0's).
  std::unique_ptr<DeviceEngine> engine;
  if (c.device == "cuda") {
    if (ps) return invalid_argument("--device cuda: --strategy ps is not supported on the GPU yet; use allreduce");
    if (balance.kind != BalanceSpec::Kind::kNone && world > 1)
      return invalid_argument(fmt::format("--balance {}: not supported with --device cuda yet", c.balance));
    if (c.slow_rank >= 0) return invalid_argument("--slow-rank: not supported with --device cuda");
    DeviceConfig dc;
    dc.precision = c.precision;
    dc.graphs = c.cuda_graphs;
    dc.device = c.gpu;
    dc.local_rank = c.local_rank;
    dc.dropout = c.dropout;
    dc.bucket_bytes = c.bucket_bytes;
    auto e = make_cuda_engine(model, c.optimizer, dc, comm);
    if (!e) return e.status();
    engine = std::move(*e);
    if (Status s = engine->upload(model, optimizer); !s) return s.with_context("copying the model to the GPU");
    spdlog::info("rank {}: training on {}", rank, engine->describe());
  }
  // The data order is a function of the run's seed and the epoch, so a resumed run replays it;
  // each rank reads its shard of it.
  BatchLoader loader(train_data, {c.batch_size, true, state.seed, 3, rank, world, true});
  loader.set_shard_batches(rank_batches);
  if (leader && !rank_batches.empty()) spdlog::info("per-rank batch sizes {}", join_batches(rank_batches));
  // --balance auto: share the measured speeds and apply the new split from the next batch on.
  auto rebalance = [&]() -> Status {
    auto next = balancer->decide(*comm);
    if (!next) return next.status();
    if (!*next) return Status::ok();
    rank_batches = **next;
    loader.set_shard_batches(rank_batches);
    if (leader) {
      std::vector<std::string> speeds;
      for (double v : balancer->speeds()) speeds.push_back(fmt::format("{:.0f}", v));
      spdlog::info("balance: per-rank batch sizes now {} (measured samples per compute second: {})",
                   join_batches(rank_batches), fmt::join(speeds, ", "));
    }
    return Status::ok();
  };
  std::unique_ptr<GradientSync> sync;  // CPU path (the engine sums its own gradients)
  if (comm && world > 1 && !engine) sync = std::make_unique<GradientSync>(*comm, model.grads(), static_cast<std::size_t>(c.bucket_bytes));
  std::unique_ptr<Timeline> timeline;
  if (!c.timeline.empty()) {
    timeline = std::make_unique<Timeline>(rank, start);
    if (sync) sync->enable_timing();
  }
  std::unique_ptr<LiveMetrics> live;
  std::unique_ptr<MetricsServer> metrics_server;
  if (c.metrics_port >= 0) {
    live = std::make_unique<LiveMetrics>(rank);
    const int port = c.metrics_port > 0 ? c.metrics_port + rank : 0;
    auto server = MetricsServer::start(c.metrics_address, port, [&live] { return live->render(); });
    if (!server) return server.status().with_context(fmt::format("--metrics-port (rank {} listens on {})", rank, port));
    metrics_server = std::move(*server);
    spdlog::info("rank {}: metrics at http://{}:{}/metrics", rank, c.metrics_address, metrics_server->port());
  }

  MetricsFile metrics;
  if (leader)
    if (auto s = metrics.open(c.metrics_file); !s) return s;
  std::unique_ptr<BatchLoader> test_loader;
  // With parameter servers only worker 0 evaluates, on the whole test set; otherwise every rank
  // evaluates its shard and the sums are reduced.
  const bool evaluating = c.evaluate && (!ps || leader);
  if (evaluating)
    test_loader = std::make_unique<BatchLoader>(
        test_data, BatchLoader::Options{c.batch_size, false, 0, 3, ps ? 0 : rank, ps ? 1 : world, false});
  std::chrono::nanoseconds ps_wait{0};

  const bool bar = leader && (c.progress == "bar" || (c.progress == "auto" && ::isatty(::fileno(out))));
  Rng dropout_rng;
  dropout_rng.set_state(state.rng);
  Context ctx{true, &dropout_rng, nullptr};
  Tensor grad_logits;
  double train_seconds = 0.0;
  int64_t trained_samples = 0;  // all ranks
  int64_t timed_steps = 0;
  std::chrono::nanoseconds data_wait{0};
  EvalSums eval;
  // The engine sums the loss and accuracy on the device: folded into the state here.
  auto fold_device_sums = [&]() -> Status {
    if (!engine) return Status::ok();
    auto sums = engine->take_train_sums();
    if (!sums) return sums.status().with_context("reading the training loss from the GPU");
    state.epoch_loss_sum += sums->loss_sum;
    state.epoch_correct += static_cast<int64_t>(std::llround(sums->correct));
    if (!std::isfinite(sums->loss_sum))
      return Status(StatusCode::kAborted,
                    fmt::format("training diverged: the loss is {} in epoch {} (by step {}); lower --lr or add "
                                "--warmup-epochs",
                                sums->loss_sum, state.epoch + 1, state.global_step));
    return Status::ok();
  };
  auto checkpoint = [&]() -> Status {
    if (c.checkpoint_dir.empty() || !leader) return Status::ok();
    if (engine)
      if (Status s = engine->download(model, optimizer); !s) return s.with_context("copying the model from the GPU");
    state.rng = dropout_rng.state();
    return save_checkpoint(c.checkpoint_dir, model, optimizer, state, c.keep_checkpoints);
  };

  const int64_t run_until = c.stop_at_step > 0 ? std::min(max_steps, c.stop_at_step) : max_steps;
  while (state.global_step < run_until) {
    loader.start_epoch(state.epoch, state.batch_in_epoch);
    const auto epoch_start = Clock::now();
    int64_t epoch_trained = 0;
    auto last_draw = epoch_start - std::chrono::seconds(1);  // draw the bar at the first step
    // Every step's bookkeeping, both paths: position, the epoch's sums (r: the CPU's loss; the
    // engine's are folded from the device) and --checkpoint-every.
    auto end_step = [&](const Batch& b, const LossResult& r) -> Status {
      const auto n = static_cast<int64_t>(b.labels.size());
      ++state.global_step;
      state.batch_in_epoch = b.index + 1;
      state.epoch_loss_sum += r.loss * static_cast<double>(n);
      state.epoch_samples += n;
      state.epoch_correct += r.correct;
      epoch_trained += n;
      if (c.checkpoint_every > 0 && state.global_step % c.checkpoint_every == 0 &&
          state.batch_in_epoch < steps_per_epoch) {
        if (Status s = fold_device_sums(); !s) return s;
        return checkpoint();
      }
      return Status::ok();
    };
    double lr = schedule.at(state.global_step);
    while (state.global_step < run_until) {
      const auto wait_start = Clock::now();
      const Batch* b = loader.next();
      const auto data_ready = Clock::now();
      data_wait += data_ready - wait_start;
      if (b == nullptr) break;
      lr = schedule.at(state.global_step);
      if (engine) {
        // Enqueued, not waited for: the loss and accuracy are read at the epoch's end.
        const float share = static_cast<float>(b->labels.size()) / static_cast<float>(b->global_count);
        const uint64_t seed = Rng::derive(state.seed + static_cast<uint64_t>(rank), static_cast<uint64_t>(state.global_step)).next();
        if (Status s = engine->train_step(*b, share, static_cast<float>(lr), seed); !s)
          return s.with_context(fmt::format("GPU step at epoch {}, step {}", state.epoch + 1, state.global_step + 1));
        const auto step_done = Clock::now();
        ++timed_steps;
        if (timeline)
          timeline->span(Timeline::Row::kCompute, "step (enqueued)", data_ready, step_done,
                         fmt::format("\"step\":{}", state.global_step + 1));
        if (live) {
          auto sec = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
          live->step(static_cast<int64_t>(b->labels.size()), sec(step_done - wait_start), sec(step_done - data_ready),
                     0.0, sec(data_ready - wait_start), summary.loss);
        }
        if (Status s = end_step(*b, LossResult{}); !s) return s;  // its loss is on the device
        continue;
      }
      const Tensor& logits = model.forward(b->images, ctx);
      const LossResult r = softmax_cross_entropy(logits, b->labels, &grad_logits);
      const auto forward_done = Clock::now();
      auto backward_done = forward_done;
      if (!std::isfinite(r.loss))
        return Status(StatusCode::kAborted,
                      fmt::format("training diverged: the loss is {} at epoch {}, step {} (learning rate {:g}); "
                                  "lower --lr or add --warmup-epochs",
                                  r.loss, state.epoch + 1, state.global_step + 1, lr));
      if (sync) {
        // The loss is this batch's mean; the step's is the mean over the global batch, so this
        // rank's gradient weighs its share of it (1/world when the shards are even) and the
        // allreduce sums.
        const float share = static_cast<float>(b->labels.size()) / static_cast<float>(b->global_count);
        for (float& g : grad_logits.span()) g *= share;
        sync->begin_step();
        model.backward(b->images, grad_logits, ctx, [&](int64_t from) { sync->ready_from(from); });
        if (rank == c.slow_rank)
          std::this_thread::sleep_for((Clock::now() - data_ready) * (c.slow_factor - 1.0));
        backward_done = Clock::now();
        if (balancer)
          balancer->record(static_cast<int64_t>(b->labels.size()),
                           std::chrono::duration<double>(backward_done - data_ready).count());
        if (Status s = sync->finish(); !s)
          return s.with_context(fmt::format("averaging gradients at epoch {}, step {}", state.epoch + 1,
                                            state.global_step + 1));
      } else {
        model.backward(b->images, grad_logits, ctx);
        if (rank == c.slow_rank)
          std::this_thread::sleep_for((Clock::now() - data_ready) * (c.slow_factor - 1.0));
        backward_done = Clock::now();
        if (ps) {
          // The servers apply the optimizer; the answer is the parameters of the next step.
          if (Status s = ps->push_pull(model.grads(), static_cast<float>(lr), state.global_step, model.params()); !s)
            return s.with_context(fmt::format("worker {} at epoch {}, step {}", rank, state.epoch + 1,
                                              state.global_step + 1));
          ps_wait += Clock::now() - backward_done;
        }
      }
      const auto synced = Clock::now();
      if (!ps) optimizer.step(model.params(), model.grads(), static_cast<float>(lr));
      const auto step_done = Clock::now();
      ++timed_steps;
      if (timeline) {
        const std::string step = fmt::format("\"step\":{}", state.global_step + 1);
        timeline->span(Timeline::Row::kData, "next batch", wait_start, data_ready, step);
        timeline->span(Timeline::Row::kCompute, "forward", data_ready, forward_done, step);
        timeline->span(Timeline::Row::kCompute, "backward", forward_done, backward_done, step);
        if (ps) timeline->span(Timeline::Row::kWait, "push+pull", backward_done, synced, step);
        if (sync) {
          timeline->span(Timeline::Row::kWait, "allreduce wait", backward_done, synced, step);
          int k = 0;
          for (const auto& bt : sync->bucket_times())
            timeline->span(Timeline::Row::kAllreduce, "bucket", bt.start, bt.end,
                           fmt::format("{},\"bucket\":{},\"bytes\":{}", step, k++, bt.bytes));
        }
        timeline->span(Timeline::Row::kCompute, "optimizer", synced, step_done, step);
      }
      if (live) {
        auto sec = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
        live->step(static_cast<int64_t>(b->labels.size()), sec(step_done - wait_start),
                   sec(step_done - data_ready) - sec(synced - backward_done), sec(synced - backward_done),
                   sec(data_ready - wait_start), r.loss);
      }
      if (Status s = end_step(*b, r); !s) return s;
      if (balancer && balancer->decisions() == 0 && balancer->recorded_steps() >= c.balance_warmup_steps) {
        // The end of the warm-up: the new split starts with the epoch's next batch.
        if (Status s = rebalance(); !s) return s;
        loader.start_epoch(state.epoch, state.batch_in_epoch);
      }
      if (bar && seconds_since(last_draw) > 0.1) {
        last_draw = Clock::now();
        const int width = 30;
        const auto done = static_cast<int>(width * state.batch_in_epoch / steps_per_epoch);
        fmt::print(out, "\repoch {} [{}{}] {}/{} loss {:.4f} {:.0f} samples/s\033[K", state.epoch + 1,
                   std::string(static_cast<std::size_t>(done), '='), std::string(static_cast<std::size_t>(width - done), ' '),
                   state.batch_in_epoch, steps_per_epoch, state.epoch_loss_sum / static_cast<double>(state.epoch_samples),
                   static_cast<double>(epoch_trained * world) / seconds_since(epoch_start));
        std::fflush(out);
      }
    }
    if (Status s = fold_device_sums(); !s) return s;  // waits for the epoch's last step
    const double epoch_seconds = seconds_since(epoch_start);
    train_seconds += epoch_seconds;
    if (bar) fmt::print(out, "\r\033[K");
    // The epoch's figures over all ranks.
    std::array<double, 4> sums = {state.epoch_loss_sum, static_cast<double>(state.epoch_samples),
                                  static_cast<double>(state.epoch_correct), static_cast<double>(epoch_trained)};
    if (Status s = sum_over_ranks(comm, sums, "summing the epoch's training metrics"); !s) return s;
    trained_samples += static_cast<int64_t>(sums[3]);
    if (evaluating && engine) {
      auto e = engine->evaluate(*test_loader);
      if (!e) return e.status().with_context("evaluating on the GPU");
      eval = {e->loss_sum, e->correct, e->count};
    } else if (evaluating) {
      eval = evaluate(model, *test_loader);
    }
    if (evaluating) {
      std::array<double, 3> e = {eval.loss_sum, eval.correct, eval.count};
      if (Status s = sum_over_ranks(comm, e, "summing the evaluation"); !s) return s;
      eval = {e[0], e[1], e[2]};
    }
    std::optional<uint64_t> checksum;
    if (comm && world > 1) {
      if (engine)
        if (Status s = engine->download(model, optimizer); !s) return s.with_context("copying the model from the GPU");
      auto agreed = check_replicas_agree(*comm, model.params());
      if (!agreed) return agreed.status().with_context(fmt::format("after epoch {}", state.epoch + 1));
      checksum = *agreed;
    }
    const double loss = sums[1] > 0 ? sums[0] / sums[1] : 0.0;
    const double train_acc = sums[1] > 0 ? sums[2] / sums[1] : 0.0;
    const double sps = epoch_seconds > 0 ? sums[3] / epoch_seconds : 0.0;
    state.best_accuracy = std::max(state.best_accuracy, eval.accuracy());
    if (live) live->epoch(state.epoch + (state.batch_in_epoch >= steps_per_epoch ? 1 : 0), sps, eval.accuracy());
    if (leader) {
      std::string line = fmt::format("epoch={} step={} loss={:.4f}", state.epoch + 1, state.global_step, loss);
      if (c.evaluate) line += fmt::format(" accuracy={:.4f} test_loss={:.4f}", eval.accuracy(), eval.loss());
      line += fmt::format(" train_accuracy={:.4f} lr={:.6g} samples_per_sec={:.1f}", train_acc, lr, sps);
      fmt::print(out, "{}\n", line);
      std::fflush(out);
      nlohmann::json record = {{"epoch", state.epoch + 1}, {"step", state.global_step}, {"loss", loss},
                               {"train_accuracy", train_acc}, {"lr", lr}, {"samples_per_sec", sps},
                               {"elapsed_sec", seconds_since(start)}};
      if (c.evaluate) record["accuracy"] = eval.accuracy(), record["test_loss"] = eval.loss();
      if (checksum) record["param_checksum"] = fmt::format("{:016x}", *checksum), record["ranks"] = world;
      metrics.write(record);
    }
    summary.loss = loss;
    if (state.batch_in_epoch >= steps_per_epoch) {  // the epoch is complete
      ++state.epoch;
      state.batch_in_epoch = 0;
      state.epoch_loss_sum = 0.0;
      state.epoch_samples = state.epoch_correct = 0;
      ++summary.epochs_completed;
    }
    if (auto s = checkpoint(); !s) return s;
    if (balancer && balancer->recorded_steps() >= c.balance_warmup_steps && state.global_step < run_until)
      if (Status s = rebalance(); !s) return s;
  }

  if (timeline && (comm || leader)) {
    if (Status s = timeline->write(c.timeline, comm); !s) return s.with_context("writing --timeline " + c.timeline);
    if (leader) spdlog::info("timeline: {} events per rank{} in {}", timeline->events(), world > 1 ? " (rank 0)" : "", c.timeline);
  }
  if (engine) {
    if (Status s = engine->download(model, optimizer); !s) return s.with_context("copying the model from the GPU");
    spdlog::info("rank {}: {}", rank, engine->stats());
  }
  summary.global_step = state.global_step;
  summary.accuracy = eval.accuracy();
  summary.test_loss = eval.loss();
  summary.best_accuracy = state.best_accuracy;
  summary.wall_seconds = seconds_since(start);
  summary.samples_per_second = train_seconds > 0 ? static_cast<double>(trained_samples) / train_seconds : 0.0;
  summary.world_size = world;
  if (world > 1)
    summary.rank_batches =
        rank_batches.empty() ? std::vector<int64_t>(static_cast<std::size_t>(world), c.batch_size) : rank_batches;
  if (timed_steps > 0) {
    const double steps = static_cast<double>(timed_steps);
    const double wait_ms =
        sync ? std::chrono::duration<double, std::milli>(sync->wait_time()).count() / steps
             : std::chrono::duration<double, std::milli>(ps_wait).count() / steps;
    summary.data_wait_ms = std::chrono::duration<double, std::milli>(data_wait).count() / steps;
    summary.allreduce_wait_ms = wait_ms;
    summary.compute_ms = std::max(0.0, train_seconds * 1e3 / steps - summary.data_wait_ms - wait_ms);
  }
  if (!leader) return summary;
  fmt::print(out,
             "summary: model={} epochs={} steps={} accuracy={:.4f} best_accuracy={:.4f} test_loss={:.4f} "
             "wall_sec={:.1f} samples_per_sec={:.1f} peak_rss_mib={:.1f} ranks={}\n",
             model.spec(), state.epoch, state.global_step, summary.accuracy, summary.best_accuracy, summary.test_loss,
             summary.wall_seconds, summary.samples_per_second, peak_rss_mib(), world);
  fmt::print(out, "step time: compute={:.2f}ms {}={:.2f}ms data_wait={:.2f}ms{}{}\n", summary.compute_ms,
             ps ? "push_pull" : "allreduce_wait", summary.allreduce_wait_ms, summary.data_wait_ms,
             sync ? fmt::format(" ({} gradient buckets of up to {} KiB)", sync->bucket_count(), c.bucket_bytes / 1024)
                  : std::string(),
             balance.kind != BalanceSpec::Kind::kNone && world > 1
                 ? fmt::format(" rank_batches={}", join_batches(summary.rank_batches))
                 : std::string());
  std::fflush(out);
  metrics.write({{"summary", true}, {"model", model.spec()}, {"epochs", state.epoch}, {"steps", state.global_step},
                 {"accuracy", summary.accuracy}, {"best_accuracy", summary.best_accuracy},
                 {"test_loss", summary.test_loss}, {"wall_sec", summary.wall_seconds},
                 {"samples_per_sec", summary.samples_per_second}, {"peak_rss_mib", peak_rss_mib()},
                 {"ranks", world}, {"compute_ms", summary.compute_ms},
                 {"allreduce_wait_ms", summary.allreduce_wait_ms}, {"data_wait_ms", summary.data_wait_ms}});
  return summary;
}

}  // namespace ringmaster::worker
