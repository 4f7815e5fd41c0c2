// TrainSummary: what a finished run_training (trainer.h) reports back.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ringmaster::worker {

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
  int64_t parameters = 0;  // the model's trainable parameters
  // Per training step, averaged: waiting for the next batch, waiting for the gradient allreduce
  // (with parameter servers: the push and pull), and everything else (forward, backward, optimizer).
  double data_wait_ms = 0.0, allreduce_wait_ms = 0.0, compute_ms = 0.0;
  std::string resumed_from;         // checkpoint path, when resumed
  std::vector<int64_t> rank_batches;  // the final per-rank batch sizes (data-parallel)
};

}  // namespace ringmaster::worker
