// Model: a sequential network built from a spec string, with all parameters in one flat arena and
// all gradients in another (one buffer for the optimizer, checkpoints and allreduce).
//
// Specs (the --model flag):
//   mlp                     784-512-256-10 (Flatten, then Linear+ReLU per hidden width)
//   mlp:784-128-10          any widths; the first must be the input size, the last the class count
//   cnn                     cnn:32-64-128 (see below)
//   cnn:C1-C2-F             Conv5x5(1->C1, pad 2)+ReLU+MaxPool2, Conv5x5(C1->C2, pad 2)+ReLU+MaxPool2,
//                           Flatten, Linear(C2*7*7->F)+ReLU, Linear(F->classes)
// With dropout p > 0 a Dropout layer follows every hidden ReLU of the fully connected part.
// Not thread-safe: a Model runs one batch at a time (it keeps activations between forward and
// backward).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "worker/layers.h"
#include "worker/tensor.h"

namespace ringmaster::worker {

struct ParamInfo {
  std::string name;  // "fc1.weight", "conv2.bias"
  Shape shape;
  int64_t offset = 0;  // into params() / grads()
};

class Model {
 public:
  // Builds the model for samples of `sample_shape` (e.g. {1, 28, 28}) and `num_classes` outputs.
  // Fails with kInvalidArgument naming the spec and what was expected.
  static Result<std::unique_ptr<Model>> create(const std::string& spec, const Shape& sample_shape,
                                               int64_t num_classes, float dropout = 0.0f);

  // Canonical spec, e.g. "mlp:784-512-256-10"; equal specs mean equal parameter shapes.
  const std::string& spec() const { return spec_; }
  // The shape of one sample, as given to create() (e.g. {1, 28, 28}).
  const Shape& sample_shape() const { return sample_shape_; }
  // One line per layer with output shapes and parameter counts.
  std::string describe() const;
  // Initializes every parameter from `seed` (He for ReLU layers, Glorot for the last).
  void init(uint64_t seed);

  // Runs the network on x [N, sample_shape...]; the logits [N, classes] stay valid until the next
  // forward().
  const Tensor& forward(const Tensor& x, Context& ctx);
  // Called during backward() each time a layer's parameter gradients are final: grads() from
  // element `from` to the end will not change again in this backward pass (layers run last to
  // first, and the arena holds them first to last). Data-parallel training starts reducing those
  // while the earlier layers are still being computed.
  using GradsReady = std::function<void(int64_t from)>;
  // Fills grads() with d(loss)/d(params) given d(loss)/d(logits).
  // REQUIRES: the last forward() ran on x with ctx.training.
  void backward(const Tensor& x, const Tensor& grad_logits, Context& ctx, const GradsReady& ready = {});

  std::span<float> params() { return params_.span(); }
  std::span<const float> params() const { return params_.span(); }
  std::span<float> grads() { return grads_.span(); }
  const std::vector<ParamInfo>& param_infos() const { return infos_; }
  int64_t param_count() const { return static_cast<int64_t>(params_.size()); }
  // Floats held per batch of `batch` samples in activations and gradient buffers.
  int64_t activation_floats(int64_t batch) const;

 private:
  Model() = default;
  Result<std::string> add_mlp(const std::string& spec, const std::string& args, int64_t features, int64_t num_classes,
                              float dropout);
  Result<std::string> add_cnn(const std::string& spec, const std::string& args, int64_t num_classes, float dropout);
  void add(std::string name, std::unique_ptr<Layer> layer);
  Status lay_out();

  std::string spec_;
  Shape sample_shape_;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<std::string> layer_names_;
  std::vector<ParamInfo> infos_;
  std::vector<int64_t> layer_param_begin_;  // per layer: arena offset of its first parameter
  std::size_t first_trainable_ = 0;
  AlignedBuffer params_, grads_;
  std::vector<Tensor> acts_;   // acts_[i] = output of layer i
  Tensor grad_buf_[2];         // ping-pong gradients w.r.t. layer outputs
};

}  // namespace ringmaster::worker
