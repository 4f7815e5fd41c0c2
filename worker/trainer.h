// The train loop every replica runs: data, model, optimizer, schedule, evaluation, metrics and
// checkpoints, configured by one typed TrainConfig (filled from `ringmaster train` flags).
//
// Live figures: --metrics-port serves, per rank, in the Prometheus text format:
//   ringmaster_train_samples_total, ringmaster_train_steps_total, ringmaster_train_samples_per_second
//   (the last epoch's, all ranks), ringmaster_train_{step,compute,allreduce_wait,data_wait}_seconds_sum
//   (with ringmaster_train_steps_total as their count), ringmaster_train_loss (last step),
//   ringmaster_train_epoch, ringmaster_train_test_accuracy. --timeline writes a Chrome trace.
//
// Output contract (stdout): one Katib-parseable line per epoch,
//   epoch=3 step=1407 loss=0.3312 accuracy=0.8791 test_loss=0.3561 train_accuracy=0.8801 lr=0.05 samples_per_sec=41234.5
// where loss/train_accuracy are over the epoch's training batches and accuracy/test_loss over the
// test set, then a final "summary:" line. When stdout is a terminal a progress bar is redrawn
// in place during the epoch. --metrics-file appends the same records as JSON lines.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "collectives/communicator.h"
#include "common/rng.h"
#include "common/status.h"
#include "worker/balance.h"
#include "worker/checkpoint.h"
#include "worker/dataset.h"
#include "worker/layers.h"
#include "worker/model.h"
#include "worker/optimizer.h"
#include "worker/parameter_service.h"
#include "worker/step_backend.h"
#include "worker/train_config.h"
#include "worker/train_summary.h"

namespace ringmaster::worker {

class RunReporter;
class ElasticGroup;

// The run, in three parts:
//   prepare()  data, model, optimizer, schedule and the starting state (fresh, resumed from
//              --checkpoint-dir, broadcast from rank 0 or pulled from the parameter servers, as
//              the step backend settles it), the per-rank split (--balance) and the reporter;
//   run()      epochs of steps, each taken by the StepBackend (step_backend.h), each epoch ended by
//              its figures over all ranks, an evaluation, the replicas' check and a checkpoint;
//   finish()   the timeline, the device's parameters back on the host, the summary.
// With an ElasticGroup the ranks are its current generation, and run() also commits the state in
// memory and recovers from membership changes (docs/elastic.md).
// run_training below is the three in order. Not thread-safe; one Trainer per run.
class Trainer {
 public:
  // elastic: the group this worker trains in (comm then comes from it and must be null).
  Trainer(const TrainConfig& config, std::FILE* out, collectives::Communicator* comm, ParameterService* ps,
          ElasticGroup* elastic = nullptr);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  Status prepare();
  Status run();
  Result<TrainSummary> finish();

 private:
  Status load_data();
  Status build_model();
  Status settle_start();
  void log_start() const;
  Status plan_balance();
  Status open_loaders();
  // Elastic: joins the group's next generation and takes the state of the member that completed
  // the most steps; checks for joiners at commit points; recovers from a lost member.
  Status join_generation();
  Status adopt_generation();
  Status commit();
  Status recover(Status cause);
  Status run_epoch();
  Status take_step(const Batch& batch, std::chrono::steady_clock::time_point wait_start,
                   std::chrono::steady_clock::time_point data_ready);
  Status end_step(const Batch& batch, const LossResult& loss);
  Status fold_device_sums();
  Status end_epoch();
  Status evaluate_and_check(std::optional<uint64_t>& checksum);
  Status checkpoint();
  Status rebalance();

  const TrainConfig config_;
  std::FILE* out_;
  collectives::Communicator* comm_;
  ParameterService* ps_;
  ElasticGroup* elastic_;
  bool in_group_ = false;           // elastic: adopted a generation's state at least once
  int restarts_ = 0;                // membership changes so far
  int64_t commits_ = 0;             // elastic: commits made, and the time they took
  double commit_seconds_ = 0.0;
  int world_ = 1, rank_ = 0;
  bool leader_ = true, evaluating_ = false;
  std::chrono::steady_clock::time_point start_;
  Dataset train_data_, test_data_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Optimizer> optimizer_;
  int64_t steps_per_epoch_ = 0, max_steps_ = 0, run_until_ = 0;
  LrSchedule schedule_;
  TrainState state_;
  TrainSummary summary_;
  std::unique_ptr<StepBackend> backend_;
  std::unique_ptr<RunReporter> reporter_;
  std::unique_ptr<BatchLoader> loader_, test_loader_;
  std::vector<int64_t> rank_batches_;  // empty: --batch-size on every rank
  std::unique_ptr<Balancer> balancer_;
  Rng dropout_rng_;
  Context ctx_{true, &dropout_rng_, nullptr};
  double lr_ = 0.0, train_seconds_ = 0.0;
  int64_t trained_samples_ = 0;  // all ranks
  EvalSums eval_;
};

// Runs training to the end. Fails with a Status naming the cause: bad configuration, a missing
// or corrupt data set, an unusable checkpoint, a non-finite loss (kAborted), or a failed
// collective (a peer died or timed out).
//
// With a communicator of N > 1 ranks this is synchronous data-parallel training: rank 0's
// parameters, optimizer state and position (fresh or resumed from its checkpoint) are broadcast
// to all; every rank trains on its shard of each epoch's permutation with --batch-size samples
// per step; gradients are averaged in buckets while backward runs; every rank takes the same
// step (with --balance the ranks' batches differ in size and their gradients are weighted by
// it, so the update is still the one of the uniform split). Evaluation is sharded and its sums reduced. Only rank 0 prints, writes --metrics-file
// and checkpoints; after every epoch all ranks check that their parameters are bit-identical.
//
// With a ParameterService (--strategy ps) instead, the servers hold the parameters and apply the
// optimizer: each worker trains on its shard (DistributedSampler over the service's workers),
// pushes its gradients and trains on the parameters it gets back. Worker 0 evaluates on the whole
// test set, prints and checkpoints; a restarted worker continues from the steps it had pushed.
//
// With an ElasticGroup (elastic.h) instead, the ranks are the group's current generation: every
// --commit-every steps each keeps its state in memory; when a member is lost (a failed collective)
// or a worker waits to join, the members meet in the next generation, take the newest commit and
// go on with the same global batch (--batch-size x MAX) split over however many they are.
Result<TrainSummary> run_training(const TrainConfig& config, std::FILE* out,
                                  collectives::Communicator* comm = nullptr, ParameterService* ps = nullptr,
                                  ElasticGroup* elastic = nullptr);

// Fails (kInternal, naming the ranks and checksums) unless `params` is bit-identical on every
// rank of `comm`. Returns this rank's checksum (FNV-1a over the bytes).
Result<uint64_t> check_replicas_agree(collectives::Communicator& comm, std::span<const float> params);

}  // namespace ringmaster::worker
