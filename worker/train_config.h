// TrainConfig: everything `ringmaster train` is told, typed. The CLI (cli/train.cc) parses each
// flag once, with the parse_* functions here, into enums and specs; the train loop (trainer.h)
// and its step backends (step_backend.h) only read them. validate() checks the ranges and the
// combinations no backend could serve.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "worker/balance.h"
#include "worker/dataset.h"
#include "worker/device.h"
#include "worker/optimizer.h"

namespace ringmaster::worker {

// Measured with `ringmaster bench scaling` (docs/performance.md).
inline constexpr int64_t kDefaultBucketBytes = 1 << 20;

enum class DataSource { kFashionMnist, kSynthetic };
enum class Device { kCpu, kCuda };  // never a silent fallback to the CPU (device.h)
// auto: a bar redrawn in place when stdout is a terminal, else one line per epoch.
enum class Progress { kAuto, kBar, kLines };

// Each fails with kInvalidArgument naming the flag, what was expected and what was found.
Result<DataSource> parse_data_source(std::string_view text);  // fashion-mnist | synthetic
Result<Device> parse_device(std::string_view text);            // cpu | cuda
Result<Progress> parse_progress(std::string_view text);        // auto | bar | lines
std::string_view name_of(DataSource source);
std::string_view name_of(Device device);
std::string_view name_of(Progress progress);

struct TrainConfig {
  // Model
  std::string model = "mlp";
  float dropout = 0.0f;
  // Data
  DataSource dataset = DataSource::kFashionMnist;
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
  // > 0: train this many epochs past the newest checkpoint in checkpoint_dir (from scratch when it
  // holds none): the run's length becomes the checkpoint's step plus N epochs, and the
  // learning-rate schedule spans that. Each of a Population Based Training trial's generations
  // (sweep/pbt.h) is one such run; --lr, --momentum and the like may differ from the checkpoint's.
  int64_t extra_epochs = 0;
  int64_t batch_size = 128;
  // Optimization
  OptimizerConfig optimizer;
  double lr = 0.0;  // 0: the optimizer's default (sgd 0.05, adam 0.001)
  std::string lr_schedule = "cosine";  // constant | step | cosine (checked by validate(LrSchedule))
  double warmup_epochs = 0.0;
  double lr_step_epochs = 0.0;
  double lr_gamma = 0.1;
  double min_lr = 0.0;
  // Machine
  Device device = Device::kCpu;
  Precision precision = Precision::kFp32;  // cuda GEMMs
  bool cuda_graphs = true;                 // cuda: capture each step in a CUDA graph (a world of one)
  int gpu = -1;                            // cuda: device index; -1: local_rank modulo the visible GPUs
  int local_rank = 0;                      // this process's rank on its host (LOCAL_RANK)
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
  // Per-rank batch sizes (balance.h): none (--batch-size each), auto (by each rank's measured
  // compute speed, after balance_warmup_steps and again after every epoch), or fixed sizes adding
  // up to ranks x batch_size. The update is the uniform one whatever the split.
  BalanceSpec balance;
  int64_t balance_warmup_steps = 20;
  // Elastic training (with an ElasticGroup; elastic.h): every commit_every steps the members agree
  // whether a worker waits to join; a change goes on from the newest step a member completed; at
  // most max_restarts membership changes, as torchrun counts them.
  int64_t commit_every = 20;
  int max_restarts = 10;
  // Testing aid standing in for a slower device: rank slow_rank sleeps (slow_factor - 1) times its
  // forward + backward time every step.
  int slow_rank = -1;
  double slow_factor = 1.0;
  // Reporting
  std::string metrics_file;
  // Also a record of the steps since the last one, every this many seconds (0: epoch records
  // only): the dashboard's per-step curves and live step-time split.
  double metrics_step_seconds = 0.0;
  std::string timeline;             // Chrome trace of every rank's steps (timeline.h), written by rank 0
  int metrics_port = -1;            // Prometheus endpoint: -1 none, 0 a free port, else PORT + rank
  std::string metrics_address = "127.0.0.1";
  bool evaluate = true;
  Progress progress = Progress::kAuto;
};

// Checks ranges and combinations; messages name the flag, what was expected and what was found.
// What one step backend refuses (--device cuda with --slow-rank, say) it says itself
// (StepBackend::check).
Status validate(const TrainConfig& config);

}  // namespace ringmaster::worker
