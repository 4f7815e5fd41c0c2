// StepBackend: how one training step is taken, the part of training that differs between
//   local      one process: forward, backward, optimizer
//   allreduce  data-parallel ranks of a collectives::Communicator: gradients summed in buckets while
//              backward runs (gradient_sync.h), every rank takes the same optimizer step
//   ps         a ParameterService: gradients pushed, the servers apply the optimizer, the next
//              parameters pulled
//   device     a DeviceEngine (--device cuda): the whole step enqueued on the GPU
// The Trainer (trainer.cc) owns everything else — data, schedule, position, evaluation's
// reduction, checkpoints — and asks the backend the few questions whose answers differ: which
// configurations it refuses (check), how the starting state is settled (start), where the loss
// sums and the parameters live (take_train_sums, to_host), and what its wait is called.
// A backend is driven by one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "collectives/communicator.h"
#include "common/status.h"
#include "worker/checkpoint.h"
#include "worker/dataset.h"
#include "worker/device.h"
#include "worker/gradient_sync.h"
#include "worker/layers.h"
#include "worker/loss.h"
#include "worker/model.h"
#include "worker/optimizer.h"
#include "worker/parameter_service.h"
#include "worker/train_config.h"

namespace ringmaster::worker {

// Loss and accuracy summed over samples (an evaluation, or the device's training sums).
struct EvalSums {
  double loss_sum = 0.0, correct = 0.0, count = 0.0;
  double loss() const { return count > 0 ? loss_sum / count : 0.0; }
  double accuracy() const { return count > 0 ? correct / count : 0.0; }
};

// Loss and accuracy of every batch of the loader's epoch 0 on the host model, without dropout.
EvalSums evaluate_on_host(Model& model, BatchLoader& loader);

// One step as it happened, for the reporter (run_reporter.h) and the balancer.
struct StepRecord {
  using TimePoint = std::chrono::steady_clock::time_point;
  int64_t samples = 0;
  LossResult loss;           // this rank's batch; unset when on_device
  bool on_device = false;    // enqueued: the loss is read at the epoch's end
  TimePoint wait_start, data_ready, forward_done, backward_done, synced, done;
  const char* wait_name = nullptr;  // the timeline's name for backward_done..synced, if any
  std::span<const GradientSync::BucketTime> buckets;  // the allreduce's, with timing on
  double compute_seconds() const { return std::chrono::duration<double>(backward_done - data_ready).count(); }
};

// What a step needs besides the batch.
struct StepInput {
  const Batch& batch;
  double lr;
  const TrainState& state;  // before this step (global_step is the step's 0-based index)
  Context& ctx;             // the training context (dropout generator)
};

class StepBackend {
 public:
  virtual ~StepBackend() = default;
  // The combinations of `config` this backend cannot run, as kInvalidArgument naming the flag.
  virtual Status check(const TrainConfig& config) const = 0;
  // Why --balance does nothing here (logged when it is given); empty: it splits batches.
  virtual std::string unbalanced_because() const = 0;
  // Settles the starting state (fresh, or rank 0's resumed one): shared with the other ranks,
  // replaced by the servers', copied to the device.
  virtual Status start(TrainState& state, int64_t steps_per_epoch) = 0;
  // Takes one step; fills everything in `record` but `samples` and `wait_start`.
  virtual Status step(const StepInput& in, StepRecord& record) = 0;
  // The loss sums the device keeps since the last call (zero where each step's loss is on the host).
  virtual Result<EvalSums> take_train_sums() { return EvalSums{}; }
  // Evaluates the model as this backend holds it.
  virtual Result<EvalSums> evaluate(BatchLoader& loader) = 0;
  // Makes the host Model and Optimizer current (before a checkpoint or a replica check).
  virtual Status to_host() { return Status::ok(); }
  // After the last step.
  virtual Status finish() { return Status::ok(); }
  // Time blocked on other processes, summed over steps, and its name on the summary line.
  virtual std::chrono::nanoseconds wait_time() const { return {}; }
  virtual const char* wait_name() const { return "allreduce_wait"; }
  // Appended to the summary's step-time line: " (12 gradient buckets of up to 1024 KiB)".
  virtual std::string note() const { return {}; }
};

// The backend `config` asks for: device for --device cuda, else ps with a parameter service,
// allreduce with a communicator of more than one rank, else local. Model and optimizer outlive it.
// Fails as check() does, or when the device cannot be set up.
Result<std::unique_ptr<StepBackend>> make_step_backend(const TrainConfig& config, Model& model, Optimizer& optimizer,
                                                       collectives::Communicator* comm, ParameterService* ps);

// Rank 0's model, optimizer state and position to every rank of `comm`, as one encoded
// checkpoint (so the receiving side checks it exactly as it checks a file); the other ranks then
// start their share of the epoch in progress with empty sums and their own dropout stream.
Status broadcast_start(collectives::Communicator& comm, Model& model, Optimizer& optimizer, TrainState& state);
// The same from rank `root`, whose state is `encoded` (an encoded checkpoint; ignored elsewhere).
Status broadcast_state(collectives::Communicator& comm, int root, const std::string& encoded, Model& model,
                       Optimizer& optimizer, TrainState& state);

}  // namespace ringmaster::worker
