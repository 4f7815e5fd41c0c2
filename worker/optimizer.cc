#include "worker/optimizer.h"

#include "worker/tensor.h"

#include <fmt/format.h>

#include <cmath>

namespace ringmaster::worker {
namespace {

class Sgd final : public Optimizer {
 public:
  Sgd(const OptimizerConfig& c, int64_t n) : c_(c), velocity_(c.momentum > 0 ? static_cast<std::size_t>(n) : 0) {}
  std::string name() const override { return "sgd"; }
  void step(std::span<float> w, std::span<const float> g, float lr) override {
    const std::size_t n = w.size();
    const float mu = c_.momentum, wd = c_.weight_decay;
    float* __restrict wp = w.data();
    const float* __restrict gp = g.data();
    if (mu == 0.0f) {
      for (std::size_t i = 0; i < n; ++i) wp[i] -= lr * (gp[i] + wd * wp[i]);
    } else {
      float* __restrict v = velocity_.data();
      if (c_.nesterov) {
        for (std::size_t i = 0; i < n; ++i) {
          const float d = gp[i] + wd * wp[i];
          v[i] = mu * v[i] + d;
          wp[i] -= lr * (d + mu * v[i]);
        }
      } else {
        for (std::size_t i = 0; i < n; ++i) {
          v[i] = mu * v[i] + gp[i] + wd * wp[i];
          wp[i] -= lr * v[i];
        }
      }
    }
    ++steps_;
  }
  std::vector<std::pair<std::string, std::span<float>>> state() override {
    if (velocity_.size() == 0) return {};
    return {{"sgd.momentum", velocity_.span()}};
  }

 private:
  OptimizerConfig c_;
  AlignedBuffer velocity_;
};

class Adam final : public Optimizer {
 public:
  Adam(const OptimizerConfig& c, int64_t n)
      : c_(c), m_(static_cast<std::size_t>(n)), v_(static_cast<std::size_t>(n)) {}
  std::string name() const override { return "adam"; }
  void step(std::span<float> w, std::span<const float> g, float lr) override {
    ++steps_;
    const float b1 = c_.beta1, b2 = c_.beta2, eps = c_.epsilon, wd = c_.weight_decay;
    const double t = static_cast<double>(steps_);
    const float c1 = static_cast<float>(1.0 / (1.0 - std::pow(static_cast<double>(b1), t)));
    const float c2 = static_cast<float>(1.0 / (1.0 - std::pow(static_cast<double>(b2), t)));
    float* __restrict wp = w.data();
    const float* __restrict gp = g.data();
    float* __restrict m = m_.data();
    float* __restrict v = v_.data();
    for (std::size_t i = 0, n = w.size(); i < n; ++i) {
      const float d = gp[i] + wd * wp[i];
      m[i] = b1 * m[i] + (1.0f - b1) * d;
      v[i] = b2 * v[i] + (1.0f - b2) * d * d;
      wp[i] -= lr * (m[i] * c1) / (std::sqrt(v[i] * c2) + eps);
    }
  }
  std::vector<std::pair<std::string, std::span<float>>> state() override {
    return {{"adam.m", m_.span()}, {"adam.v", v_.span()}};
  }

 private:
  OptimizerConfig c_;
  AlignedBuffer m_, v_;
};

}  // namespace

Result<std::unique_ptr<Optimizer>> make_optimizer(const OptimizerConfig& c, int64_t param_count) {
  if (!(c.weight_decay >= 0.0f && std::isfinite(c.weight_decay)))
    return invalid_argument(fmt::format("--weight-decay: expected a finite value >= 0, found {}", c.weight_decay));
  if (c.name == "sgd") {
    if (!(c.momentum >= 0.0f && c.momentum < 1.0f))
      return invalid_argument(fmt::format("--momentum: expected a value in [0, 1), found {}", c.momentum));
    if (c.nesterov && c.momentum == 0.0f)
      return invalid_argument("--nesterov: needs --momentum > 0, found --momentum 0");
    return std::unique_ptr<Optimizer>(std::make_unique<Sgd>(c, param_count));
  }
  if (c.name == "adam") {
    if (!(c.beta1 >= 0.0f && c.beta1 < 1.0f) || !(c.beta2 >= 0.0f && c.beta2 < 1.0f))
      return invalid_argument(fmt::format("--adam-beta1/--adam-beta2: expected values in [0, 1), found {} and {}",
                                          c.beta1, c.beta2));
    if (!(c.epsilon > 0.0f))
      return invalid_argument(fmt::format("--adam-epsilon: expected a value > 0, found {}", c.epsilon));
    return std::unique_ptr<Optimizer>(std::make_unique<Adam>(c, param_count));
  }
  return invalid_argument(fmt::format("--optimizer: expected sgd or adam, found \"{}\"", c.name));
}

double LrSchedule::at(int64_t step) const {
  if (warmup_steps > 0 && step < warmup_steps)
    return base_lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  const int64_t s = step - warmup_steps;
  if (kind == "step") return base_lr * std::pow(gamma, static_cast<double>(s / std::max<int64_t>(1, step_size)));
  if (kind == "cosine") {
    const int64_t span = std::max<int64_t>(1, total_steps - warmup_steps);
    const double progress = std::min(1.0, static_cast<double>(s) / static_cast<double>(span));
    return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + std::cos(3.141592653589793 * progress));
  }
  return base_lr;
}

Status validate(const LrSchedule& s) {
  if (!(s.base_lr > 0.0 && std::isfinite(s.base_lr)))
    return invalid_argument(fmt::format("--lr: expected a finite value > 0, found {}", s.base_lr));
  if (s.warmup_steps < 0) return invalid_argument(fmt::format("--warmup: expected >= 0, found {}", s.warmup_steps));
  if (s.kind == "constant") return Status::ok();
  if (s.kind == "step") {
    if (s.step_size <= 0)
      return invalid_argument(fmt::format("--lr-step-epochs: expected > 0 with --lr-schedule step, found {}",
                                          s.step_size));
    if (!(s.gamma > 0.0 && s.gamma <= 1.0))
      return invalid_argument(fmt::format("--lr-gamma: expected a value in (0, 1], found {}", s.gamma));
    return Status::ok();
  }
  if (s.kind == "cosine") {
    if (!(s.min_lr >= 0.0 && s.min_lr < s.base_lr))
      return invalid_argument(fmt::format("--min-lr: expected a value in [0, --lr), found {}", s.min_lr));
    return Status::ok();
  }
  return invalid_argument(fmt::format("--lr-schedule: expected constant, step or cosine, found \"{}\"", s.kind));
}

}  // namespace ringmaster::worker
