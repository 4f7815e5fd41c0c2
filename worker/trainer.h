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

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "collectives/communicator.h"
#include "common/status.h"
#include "worker/dataset.h"
#include "worker/optimizer.h"
#include "worker/parameter_service.h"

namespace ringmaster::worker {

// Measured with `ringmaster bench scaling` (docs/performance.md).
inline constexpr int64_t kDefaultBucketBytes = 1 << 20;

struct TrainConfig {
  // Model
  std::string model = "mlp";
  float dropout = 0.0f;
  // Data
  std::string dataset = "fashion-mnist";  // fashion-mnist | synthetic
  std::string data_dir = kFashionMnistDir;
  int64_t train_limit = 0;  // > 0: use only the first N training samples
  int64_t test_limit = 0;   // > 0: evaluate on the first N test samples
  int64_t synthetic_samples = 60000;
  // Length
  int64_t epochs = 10;
  int64_t steps = 0;  // > 0: stop after this many global steps instead
  // > 0: leave this process after global step N (with a checkpoint) without changing the run's
  // length or schedule; a later --resume continues as if never interrupted.
  int64_t stop_at_step = 0;
  int64_t batch_size = 128;
  // Optimization
  OptimizerConfig optimizer;
  double lr = 0.0;  // 0: the optimizer's default (sgd 0.05, adam 0.001)
  std::string lr_schedule = "cosine";
  double warmup_epochs = 0.0;
  double lr_step_epochs = 0.0;
  double lr_gamma = 0.1;
  double min_lr = 0.0;
  // Machine
  std::string device = "cpu";      // cpu | cuda (device.h; never a silent fallback to the CPU)
  std::string precision = "fp32";  // cuda GEMMs: fp32 | tf32 | bf16
  bool cuda_graphs = true;         // cuda: capture each step in a CUDA graph (a world of one)
  int gpu = -1;                    // cuda: device index; -1: local_rank modulo the visible GPUs
  int local_rank = 0;              // this process's rank on its host (LOCAL_RANK)
  int threads = 1;  // compute threads (oneDNN and OpenBLAS; worker/blas.h)
  uint64_t seed = 42;
  // Checkpoints
  std::string checkpoint_dir;
  int64_t checkpoint_every = 0;  // steps; 0: only at epoch ends and at the end
  int keep_checkpoints = 3;
  bool resume = false;
  // Data-parallel (with a communicator of more than one rank; see run_training)
  int64_t bucket_bytes = kDefaultBucketBytes;  // gradient bucket size (gradient_sync.h)
  bool scale_lr = false;  // multiply the learning rate by the number of ranks (use with warm-up)
  // Per-rank batch sizes (balance.h): "none" (--batch-size each), "auto" (by each rank's measured
  // compute speed, after balance_warmup_steps and again after every epoch), or "B0,B1,..." adding
  // up to ranks x batch_size. The update is the uniform one whatever the split.
  std::string balance = "none";
  int64_t balance_warmup_steps = 20;
  // Testing aid standing in for a slower device: rank slow_rank sleeps (slow_factor - 1) times its
  // forward + backward time every step.
  int slow_rank = -1;
  double slow_factor = 1.0;
  // Reporting
  std::string metrics_file;
  std::string timeline;             // Chrome trace of every rank's steps (timeline.h), written by rank 0
  int metrics_port = -1;            // Prometheus endpoint: -1 none, 0 a free port, else PORT + rank
  std::string metrics_address = "127.0.0.1";
  bool evaluate = true;
  std::string progress = "auto";  // auto | bar | lines
};

// Checks ranges and combinations; messages name the flag, what was expected and what was found.
Status validate(const TrainConfig& config);

struct TrainSummary {
  int64_t epochs_completed = 0;
  int64_t global_step = 0;
  double loss = 0.0;       // last epoch's training loss
  double accuracy = 0.0;   // last evaluation's test accuracy
  double test_loss = 0.0;
  double best_accuracy = 0.0;
  double wall_seconds = 0.0;
  double samples_per_second = 0.0;  // training steps only (all ranks; with parameter servers this worker's)
  int world_size = 1;
  // Per training step, averaged: waiting for the next batch, waiting for the gradient allreduce
  // (with parameter servers: the push and pull), and everything else (forward, backward, optimizer).
  double data_wait_ms = 0.0, allreduce_wait_ms = 0.0, compute_ms = 0.0;
  std::string resumed_from;         // checkpoint path, when resumed
  std::vector<int64_t> rank_batches;  // the final per-rank batch sizes (data-parallel)
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
Result<TrainSummary> run_training(const TrainConfig& config, std::FILE* out,
                                  collectives::Communicator* comm = nullptr, ParameterService* ps = nullptr);

// Fails (kInternal, naming the ranks and checksums) unless `params` is bit-identical on every
// rank of `comm`. Returns this rank's checksum (FNV-1a over the bytes).
Result<uint64_t> check_replicas_agree(collectives::Communicator& comm, std::span<const float> params);

}  // namespace ringmaster::worker
