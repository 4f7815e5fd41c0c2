// Optimizers over one flat parameter buffer and learning-rate schedules.
//
// SGD: v = mu*v + g + wd*w; w -= lr * (nesterov ? g + wd*w + mu*v : v)   (PyTorch's formulation)
// Adam: m = b1*m + (1-b1)*g', v = b2*v + (1-b2)*g'^2 with g' = g + wd*w (L2, as torch.optim.Adam);
//       w -= lr * mhat / (sqrt(vhat) + eps) with bias-corrected mhat, vhat.
// The state (buffers and step count) is exposed for checkpoints. Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace ringmaster::worker {

struct OptimizerConfig {
  std::string name = "sgd";  // sgd | adam
  float momentum = 0.9f;     // sgd
  bool nesterov = false;     // sgd
  float weight_decay = 0.0f;
  float beta1 = 0.9f, beta2 = 0.999f, epsilon = 1e-8f;  // adam
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual std::string name() const = 0;
  // One update of params from grads with learning rate lr. REQUIRES: equal sizes, as at creation.
  virtual void step(std::span<float> params, std::span<const float> grads, float lr) = 0;
  // Named state buffers ("momentum", "adam.m", "adam.v"), each the size of the parameters.
  virtual std::vector<std::pair<std::string, std::span<float>>> state() = 0;
  int64_t step_count() const { return steps_; }
  void set_step_count(int64_t steps) { steps_ = steps; }

 protected:
  int64_t steps_ = 0;
};

// Fails with kInvalidArgument for an unknown name or out-of-range hyperparameters.
Result<std::unique_ptr<Optimizer>> make_optimizer(const OptimizerConfig& config, int64_t param_count);

struct LrSchedule {
  std::string kind = "constant";  // constant | step | cosine
  double base_lr = 0.05;
  int64_t warmup_steps = 0;  // linear from base_lr/warmup_steps to base_lr
  int64_t step_size = 0;     // step: multiply by gamma every step_size steps (after warm-up)
  double gamma = 0.1;
  int64_t total_steps = 0;   // cosine: decays to min_lr at total_steps
  double min_lr = 0.0;

  // Learning rate for the 0-based global step.
  double at(int64_t step) const;
};

// Fails with kInvalidArgument when the schedule is inconsistent (unknown kind, step without a size).
Status validate(const LrSchedule& schedule);

}  // namespace ringmaster::worker
