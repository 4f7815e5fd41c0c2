#include "worker/step_backend.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

namespace ringmaster::worker {
namespace {

using SteadyClock = std::chrono::steady_clock;

Status diverged(double loss, const TrainState& state, double lr) {
  return Status(StatusCode::kAborted,
                fmt::format("training diverged: the loss is {} at epoch {}, step {} (learning rate {:g}); "
                            "lower --lr or add --warmup-epochs",
                            loss, state.epoch + 1, state.global_step + 1, lr));
}

// The rank's own dropout stream after it received the starting state.
void derive_rank_stream(TrainState& state, int rank) {
  state.rng = Rng::derive(state.rng[0] ^ state.rng[3], static_cast<uint64_t>(rank)).state();
}

// What the three host backends share: forward and loss on the host model, the --slow-rank delay,
// and the optimizer step where the update is local.
class HostStep : public StepBackend {
 public:
  HostStep(const TrainConfig& config, Model& model, Optimizer& optimizer, int rank)
      : config_(config), model_(model), optimizer_(optimizer), rank_(rank) {}

  Status check(const TrainConfig&) const override { return Status::ok(); }
  Result<EvalSums> evaluate(BatchLoader& loader) override { return evaluate_on_host(model_, loader); }

 protected:
  // Forward and loss (the loss gradient in grad_logits_); refuses a non-finite loss.
  Status forward(const StepInput& in, StepRecord& r) {
    const Tensor& logits = model_.forward(in.batch.images, in.ctx);
    r.loss = softmax_cross_entropy(logits, in.batch.labels, &grad_logits_);
    r.forward_done = SteadyClock::now();
    if (!std::isfinite(r.loss.loss)) return diverged(r.loss.loss, in.state, in.lr);
    return Status::ok();
  }
  // --slow-rank: this rank takes slow_factor times its compute time so far.
  void slow_down(const StepRecord& r) const {
    if (rank_ == config_.slow_rank)
      std::this_thread::sleep_for((SteadyClock::now() - r.data_ready) * (config_.slow_factor - 1.0));
  }
  void optimize(double lr, StepRecord& r) {
    r.synced = SteadyClock::now();
    optimizer_.step(model_.params(), model_.grads(), static_cast<float>(lr));
    r.done = SteadyClock::now();
  }

  const TrainConfig& config_;
  Model& model_;
  Optimizer& optimizer_;
  const int rank_;
  Tensor grad_logits_;
};

class LocalStep final : public HostStep {
 public:
  using HostStep::HostStep;
  std::string unbalanced_because() const override { return "one rank, nothing to balance"; }
  Status start(TrainState&, int64_t) override { return Status::ok(); }
  Status step(const StepInput& in, StepRecord& r) override {
    if (Status s = forward(in, r); !s) return s;
    model_.backward(in.batch.images, grad_logits_, in.ctx);
    slow_down(r);
    r.backward_done = SteadyClock::now();
    optimize(in.lr, r);
    return Status::ok();
  }
};

class AllreduceStep final : public HostStep {
 public:
  AllreduceStep(const TrainConfig& config, Model& model, Optimizer& optimizer, collectives::Communicator& comm)
      : HostStep(config, model, optimizer, comm.rank()),
        comm_(comm),
        sync_(comm, model.grads(), static_cast<std::size_t>(config.bucket_bytes)) {
    if (!config.timeline.empty()) sync_.enable_timing();
  }
  std::string unbalanced_because() const override { return {}; }
  Status start(TrainState& state, int64_t) override { return broadcast_start(comm_, model_, optimizer_, state); }
  Status step(const StepInput& in, StepRecord& r) override {
    if (Status s = forward(in, r); !s) return s;
    // The loss is this batch's mean; the step's is the mean over the global batch, so this rank's
    // gradient weighs its share of it (1/world when the shards are even) and the allreduce sums.
    const float share = static_cast<float>(in.batch.labels.size()) / static_cast<float>(in.batch.global_count);
    for (float& g : grad_logits_.span()) g *= share;
    sync_.begin_step();
    model_.backward(in.batch.images, grad_logits_, in.ctx, [&](int64_t from) { sync_.ready_from(from); });
    slow_down(r);
    r.backward_done = SteadyClock::now();
    if (Status s = sync_.finish(); !s)
      return s.with_context(
          fmt::format("averaging gradients at epoch {}, step {}", in.state.epoch + 1, in.state.global_step + 1));
    optimize(in.lr, r);
    r.wait_name = "allreduce wait";
    r.buckets = sync_.bucket_times();
    return Status::ok();
  }
  std::chrono::nanoseconds wait_time() const override { return sync_.wait_time(); }
  std::string note() const override {
    return fmt::format(" ({} gradient buckets of up to {} KiB)", sync_.bucket_count(), config_.bucket_bytes / 1024);
  }

 private:
  collectives::Communicator& comm_;
  GradientSync sync_;
};

class ParameterServerStep final : public HostStep {
 public:
  ParameterServerStep(const TrainConfig& config, Model& model, Optimizer& optimizer, ParameterService& ps)
      : HostStep(config, model, optimizer, ps.worker()), ps_(ps) {}
  std::string unbalanced_because() const override {
    return "not used with parameter servers (every worker pushes at its own pace)";
  }
  // The servers hold the parameters: seeded by the first worker to arrive (fresh, or the chief's
  // resumed checkpoint), restored from their own checkpoints after a restart. A restarted worker
  // continues from the steps it had pushed.
  Status start(TrainState& state, int64_t steps_per_epoch) override {
    auto pushed = ps_.start(model_.params(), model_.param_infos(), config_.optimizer);
    if (!pushed) return pushed.status().with_context("joining the parameter servers");
    if (*pushed > state.global_step) {
      state.global_step = *pushed;
      state.epoch = *pushed / steps_per_epoch;
      state.batch_in_epoch = *pushed % steps_per_epoch;
      state.epoch_loss_sum = 0.0;
      state.epoch_samples = state.epoch_correct = 0;
      spdlog::info("worker {}: continuing after step {} (epoch {}, batch {})", rank_, *pushed, state.epoch + 1,
                   state.batch_in_epoch);
    }
    if (rank_ != 0) derive_rank_stream(state, rank_);
    return Status::ok();
  }
  Status step(const StepInput& in, StepRecord& r) override {
    if (Status s = forward(in, r); !s) return s;
    model_.backward(in.batch.images, grad_logits_, in.ctx);
    slow_down(r);
    r.backward_done = SteadyClock::now();
    // The servers apply the optimizer; the answer is the parameters of the next step.
    if (Status s = ps_.push_pull(model_.grads(), static_cast<float>(in.lr), in.state.global_step, model_.params()); !s)
      return s.with_context(
          fmt::format("worker {} at epoch {}, step {}", rank_, in.state.epoch + 1, in.state.global_step + 1));
    r.synced = r.done = SteadyClock::now();
    wait_ += r.synced - r.backward_done;
    r.wait_name = "push+pull";
    return Status::ok();
  }
  std::chrono::nanoseconds wait_time() const override { return wait_; }
  const char* wait_name() const override { return "push_pull"; }

 private:
  ParameterService& ps_;
  std::chrono::nanoseconds wait_{0};
};

// --device cuda: the steps run on the GPU from the state settled on the host (fresh, resumed or
// rank 0's); the engine sums gradients over `comm` itself.
class DeviceStep final : public StepBackend {
 public:
  DeviceStep(const TrainConfig& config, Model& model, Optimizer& optimizer, collectives::Communicator* comm)
      : config_(config), model_(model), optimizer_(optimizer), comm_(comm), rank_(comm ? comm->rank() : 0) {}

  Status check(const TrainConfig& c) const override {
    if (c.slow_rank >= 0) return invalid_argument("--slow-rank: not supported with --device cuda");
    if (c.balance.kind != BalanceSpec::Kind::kNone && comm_ && comm_->size() > 1)
      return invalid_argument(fmt::format("--balance {}: not supported with --device cuda yet", name_of(c.balance)));
    return Status::ok();
  }
  std::string unbalanced_because() const override { return "one rank, nothing to balance"; }
  Status start(TrainState& state, int64_t) override {
    if (comm_ && comm_->size() > 1)
      if (Status s = broadcast_start(*comm_, model_, optimizer_, state); !s) return s;
    DeviceConfig dc;
    dc.precision = config_.precision;
    dc.graphs = config_.cuda_graphs;
    dc.device = config_.gpu;
    dc.local_rank = config_.local_rank;
    dc.dropout = config_.dropout;
    dc.bucket_bytes = config_.bucket_bytes;
    auto e = make_cuda_engine(model_, config_.optimizer, dc, comm_);
    if (!e) return e.status();
    engine_ = std::move(*e);
    if (Status s = engine_->upload(model_, optimizer_); !s) return s.with_context("copying the model to the GPU");
    spdlog::info("rank {}: training on {}", rank_, engine_->describe());
    return Status::ok();
  }
  // Enqueued, not waited for: the loss and accuracy are read at the epoch's end.
  Status step(const StepInput& in, StepRecord& r) override {
    const float share = static_cast<float>(in.batch.labels.size()) / static_cast<float>(in.batch.global_count);
    const uint64_t seed = Rng::derive(in.state.seed + static_cast<uint64_t>(rank_),
                                      static_cast<uint64_t>(in.state.global_step))
                              .next();
    if (Status s = engine_->train_step(in.batch, share, static_cast<float>(in.lr), seed); !s)
      return s.with_context(fmt::format("GPU step at epoch {}, step {}", in.state.epoch + 1, in.state.global_step + 1));
    r.on_device = true;
    r.forward_done = r.backward_done = r.synced = r.done = SteadyClock::now();
    return Status::ok();
  }
  Result<EvalSums> take_train_sums() override {
    auto sums = engine_->take_train_sums();
    if (!sums) return sums.status().with_context("reading the training loss from the GPU");
    return EvalSums{sums->loss_sum, sums->correct, sums->count};
  }
  Result<EvalSums> evaluate(BatchLoader& loader) override {
    auto e = engine_->evaluate(loader);
    if (!e) return e.status().with_context("evaluating on the GPU");
    return EvalSums{e->loss_sum, e->correct, e->count};
  }
  Status to_host() override {
    if (Status s = engine_->download(model_, optimizer_); !s) return s.with_context("copying the model from the GPU");
    return Status::ok();
  }
  Status finish() override {
    if (Status s = to_host(); !s) return s;
    spdlog::info("rank {}: {}", rank_, engine_->stats());
    return Status::ok();
  }

 private:
  const TrainConfig& config_;
  Model& model_;
  Optimizer& optimizer_;
  collectives::Communicator* comm_;
  const int rank_;
  std::unique_ptr<DeviceEngine> engine_;
};

}  // namespace

EvalSums evaluate_on_host(Model& model, BatchLoader& loader) {
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

Status broadcast_state(collectives::Communicator& comm, int root, const std::string& encoded, Model& model,
                       Optimizer& optimizer, TrainState& state) {
  using collectives::DataType;
  int64_t length = comm.rank() == root ? static_cast<int64_t>(encoded.size()) : 0;
  if (Status s = comm.broadcast(&length, 1, DataType::kInt64, root); !s)
    return s.with_context(fmt::format("sending rank {}'s state", root));
  std::vector<int64_t> words(static_cast<std::size_t>((length + 7) / 8));
  if (comm.rank() == root && length > 0) std::memcpy(words.data(), encoded.data(), encoded.size());
  if (Status s = comm.broadcast(words.data(), words.size(), DataType::kInt64, root); !s)
    return s.with_context(fmt::format("sending rank {}'s state", root));
  if (comm.rank() == root) return Status::ok();
  const std::string_view received(reinterpret_cast<const char*>(words.data()), static_cast<std::size_t>(length));
  if (Status s = decode_checkpoint(received, fmt::format("rank {}'s state", root), model, optimizer, state); !s)
    return s;
  // This rank's share of the epoch in progress starts now, with its own dropout stream.
  state.epoch_loss_sum = 0.0;
  state.epoch_samples = state.epoch_correct = 0;
  derive_rank_stream(state, comm.rank());
  return Status::ok();
}

Status broadcast_start(collectives::Communicator& comm, Model& model, Optimizer& optimizer, TrainState& state) {
  const std::string encoded = comm.rank() == 0 ? encode_checkpoint(model, optimizer, state) : std::string();
  return broadcast_state(comm, 0, encoded, model, optimizer, state);
}

Result<std::unique_ptr<StepBackend>> make_step_backend(const TrainConfig& config, Model& model, Optimizer& optimizer,
                                                       collectives::Communicator* comm, ParameterService* ps) {
  if (comm && ps) return invalid_argument("run_training: a communicator or a parameter service, not both");
  std::unique_ptr<StepBackend> backend;
  if (config.device == Device::kCuda) {
    if (ps) return invalid_argument("--device cuda: --strategy ps is not supported on the GPU yet; use allreduce");
    backend = std::make_unique<DeviceStep>(config, model, optimizer, comm);
  } else if (ps) {
    backend = std::make_unique<ParameterServerStep>(config, model, optimizer, *ps);
  } else if (comm && comm->size() > 1) {
    backend = std::make_unique<AllreduceStep>(config, model, optimizer, *comm);
  } else {
    backend = std::make_unique<LocalStep>(config, model, optimizer, 0);
  }
  if (Status s = backend->check(config); !s) return s;
  return backend;
}

}  // namespace ringmaster::worker
