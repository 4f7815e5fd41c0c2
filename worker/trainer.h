// The train loop every replica runs: data, model, optimizer, schedule, evaluation, metrics and
// checkpoints, configured by one typed TrainConfig (filled from `ringmaster train` flags).
//
// Output contract (stdout): one Katib-parseable line per epoch,
//   epoch=3 step=1407 loss=0.3312 accuracy=0.8791 test_loss=0.3561 train_accuracy=0.8801 lr=0.05 samples_per_sec=41234.5
// where loss/train_accuracy are over the epoch's training batches and accuracy/test_loss over the
// test set, then a final "summary:" line. When stdout is a terminal a progress bar is redrawn
// in place during the epoch. --metrics-file appends the same records as JSON lines.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "common/status.h"
#include "worker/dataset.h"
#include "worker/optimizer.h"

namespace ringmaster::worker {

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
  int threads = 1;  // OpenBLAS threads
  uint64_t seed = 42;
  // Checkpoints
  std::string checkpoint_dir;
  int64_t checkpoint_every = 0;  // steps; 0: only at epoch ends and at the end
  int keep_checkpoints = 3;
  bool resume = false;
  // Reporting
  std::string metrics_file;
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
  double samples_per_second = 0.0;  // training steps only
  std::string resumed_from;         // checkpoint path, when resumed
};

// Runs training to the end. Fails with a Status naming the cause: bad configuration, a missing
// or corrupt data set, an unusable checkpoint, or a non-finite loss (kAborted).
Result<TrainSummary> run_training(const TrainConfig& config, std::FILE* out);

}  // namespace ringmaster::worker
