// Checkpoints: the model's parameters, the optimizer's state and where training stands, in one
// file written atomically (temp file, fsync, rename) with a CRC-32 over its whole content.
//
// Layout: "RMCKPT01" | u64 metadata length | metadata JSON | float32 buffers | u32 CRC-32 (all
// little-endian). The JSON names the model spec, every parameter's shape, the optimizer and the
// byte size of each buffer, so a checkpoint from another model or optimizer is refused with a
// message that says which shape differs. Files are named ckpt-<global step, 10 digits>.rmck.
// Functions here are thread-compatible (no shared state).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "worker/model.h"
#include "worker/optimizer.h"
#include "common/rng.h"

namespace ringmaster::worker {

// Where training stands; enough to continue bit-identically.
struct TrainState {
  int64_t epoch = 0;           // epoch in progress (0-based)
  int64_t batch_in_epoch = 0;  // next batch of that epoch
  int64_t global_step = 0;     // optimizer steps taken
  uint64_t seed = 0;           // data order and dropout seed of the run
  Rng::State rng{};            // dropout generator
  double epoch_loss_sum = 0.0;  // running sums of the epoch in progress, for its metric line
  int64_t epoch_samples = 0;
  int64_t epoch_correct = 0;
  double best_accuracy = 0.0;
};

std::string encode_checkpoint(const Model& model, Optimizer& optimizer, const TrainState& state);

// Checks everything (magic, CRC, metadata, model spec and shapes, optimizer, sizes) before it
// changes anything; on success overwrites the model's parameters, the optimizer's state and
// *state. `path` only names the file in messages.
Status decode_checkpoint(std::string_view bytes, const std::string& path, Model& model, Optimizer& optimizer,
                         TrainState& state);

// "DIR/ckpt-0000001234.rmck"
std::string checkpoint_path(const std::string& dir, int64_t global_step);
// Checkpoint files in dir, newest (highest step) first. A missing directory has none.
std::vector<std::string> list_checkpoints(const std::string& dir);

// Writes a checkpoint for state.global_step atomically and deletes all but the newest `keep`.
Status save_checkpoint(const std::string& dir, const Model& model, Optimizer& optimizer, const TrainState& state,
                       int keep);

struct ResumeResult {
  std::string path;                   // the checkpoint used; empty when the directory had none
  std::vector<std::string> rejected;  // "path: why" for each newer checkpoint that could not be used
};
// Loads the newest usable checkpoint in dir, falling back to older ones when the newest is
// corrupt or belongs to another model. Fails (kDataLoss or kInvalidArgument) when checkpoints
// exist but none is usable, listing why each was refused.
Result<ResumeResult> resume_from(const std::string& dir, Model& model, Optimizer& optimizer, TrainState& state);

}  // namespace ringmaster::worker
