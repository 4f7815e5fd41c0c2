// Layers of a feed-forward network on float32 tensors in NCHW / [batch, features] layout.
//
// A Layer owns no parameter storage: the Model allocates one flat arena for all parameters and one
// for all gradients (so the optimizer, checkpoints and allreduce each see a single buffer) and
// binds spans of them to each layer. forward() writes the layer's output; backward() overwrites
// (does not accumulate) the parameter gradients with d(loss)/d(param) and, when grad_in is not
// null, writes d(loss)/d(input). Layers keep scratch buffers (im2col, pooling indices, dropout
// masks), so one Layer must not run two batches at once; distinct layers are independent.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "worker/blas.h"
#include "common/rng.h"
#include "common/status.h"
#include "worker/tensor.h"

namespace ringmaster::worker {

// What a forward/backward pass needs besides tensors.
struct Context {
  bool training = false;      // dropout active only when true
  Rng* rng = nullptr;         // dropout masks; REQUIRES: not null when training with dropout
  GemmLog* gemm_log = nullptr;  // when set, every GEMM call is appended (benchmark)
};

struct ParamSpec {
  std::string name;  // "weight" or "bias"
  Shape shape;
};

class Layer {
 public:
  virtual ~Layer() = default;
  // "Linear(784->512)"
  virtual std::string describe() const = 0;
  // Whether an input shape (its first dimension the batch) fits the layer; kInvalidArgument
  // naming the layer, what it expected and what it found.
  virtual Status accepts(const Shape& input) const = 0;
  // The output shape. REQUIRES: accepts(input).
  virtual Shape output_shape(const Shape& input) const = 0;
  virtual std::vector<ParamSpec> param_specs() const { return {}; }
  // Binds storage for each ParamSpec, in order. Called once by the Model before use.
  virtual void bind(std::vector<std::span<float>> /*values*/, std::vector<std::span<float>> /*grads*/) {}
  // Initializes the bound parameters (He for layers followed by ReLU, Glorot otherwise).
  virtual void init(Rng& /*rng*/) {}
  virtual void forward(const Tensor& in, Tensor& out, Context& ctx) = 0;
  // REQUIRES: the last forward() of this layer ran on `in` and produced `out`, with ctx.training.
  virtual void backward(const Tensor& in, const Tensor& out, const Tensor& grad_out, Tensor* grad_in,
                        Context& ctx) = 0;
};

enum class Init { kHe, kGlorot };

// y = x W^T + b with W [out, in].
std::unique_ptr<Layer> make_linear(int64_t in_features, int64_t out_features, Init init);
std::unique_ptr<Layer> make_relu();
// 2-D convolution, stride 1, square kernel, zero padding, on oneDNN's convolution primitives.
std::unique_ptr<Layer> make_conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t padding,
                                   Init init);
// Max pooling with a square window of `size` and stride `size` (floor of H/size).
std::unique_ptr<Layer> make_maxpool2d(int64_t size);
// [N, ...] -> [N, prod(...)]
std::unique_ptr<Layer> make_flatten();
// Inverted dropout: drops with probability p while training and scales the rest by 1/(1-p).
std::unique_ptr<Layer> make_dropout(float p);

}  // namespace ringmaster::worker
