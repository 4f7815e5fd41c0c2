#include "worker/layers.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace ringmaster::worker {
namespace {

void require(bool ok, const std::string& layer, const Shape& input, const std::string& expected) {
  if (!ok) throw std::invalid_argument(layer + ": expected input " + expected + ", found " + shape_string(input));
}

void init_uniform(std::span<float> w, float bound, Rng& rng) {
  for (float& x : w) x = rng.uniform(-bound, bound);
}

// He (Kaiming) uniform: U(-sqrt(6/fan_in), sqrt(6/fan_in)); Glorot uniform: U(+-sqrt(6/(fan_in+fan_out))).
float init_bound(Init init, int64_t fan_in, int64_t fan_out) {
  return init == Init::kHe ? std::sqrt(6.0f / static_cast<float>(fan_in))
                           : std::sqrt(6.0f / static_cast<float>(fan_in + fan_out));
}

// A layer with a weight and a bias, bound in that order.
class WeightBiasLayer : public Layer {
 public:
  void bind(std::vector<std::span<float>> v, std::vector<std::span<float>> g) override {
    w_ = v[0].data();
    b_ = v[1].data();
    gw_ = g[0].data();
    gb_ = g[1].data();
  }

 protected:
  float *w_ = nullptr, *b_ = nullptr, *gw_ = nullptr, *gb_ = nullptr;
};

class Linear final : public WeightBiasLayer {
 public:
  Linear(int64_t in, int64_t out, Init init) : in_(in), out_(out), init_(init) {}
  std::string describe() const override {
    return "Linear(" + std::to_string(in_) + "->" + std::to_string(out_) + ")";
  }
  Shape output_shape(const Shape& input) const override {
    require(input.size() == 2 && input[1] == in_, describe(), input, "[N, " + std::to_string(in_) + "]");
    return {input[0], out_};
  }
  std::vector<ParamSpec> param_specs() const override { return {{"weight", {out_, in_}}, {"bias", {out_}}}; }
  void init(Rng& rng) override {
    init_uniform({w_, static_cast<std::size_t>(in_ * out_)}, init_bound(init_, in_, out_), rng);
    std::fill_n(b_, out_, 0.0f);
  }
  void forward(const Tensor& in, Tensor& out, Context& ctx) override {
    const int64_t n = in.dim(0);
    out.resize({n, out_});
    gemm(false, true, static_cast<int>(n), static_cast<int>(out_), static_cast<int>(in_), 1.0f, in.data(), w_, 0.0f,
         out.data(), ctx.gemm_log);
    float* y = out.data();
    for (int64_t i = 0; i < n; ++i, y += out_)
      for (int64_t j = 0; j < out_; ++j) y[j] += b_[j];
  }
  void backward(const Tensor& in, const Tensor& /*out*/, const Tensor& grad_out, Tensor* grad_in,
                Context& ctx) override {
    const int64_t n = in.dim(0);
    // dW [out, in] = dY^T [out, n] * X [n, in]
    gemm(true, false, static_cast<int>(out_), static_cast<int>(in_), static_cast<int>(n), 1.0f, grad_out.data(),
         in.data(), 0.0f, gw_, ctx.gemm_log);
    std::fill_n(gb_, out_, 0.0f);
    const float* dy = grad_out.data();
    for (int64_t i = 0; i < n; ++i, dy += out_)
      for (int64_t j = 0; j < out_; ++j) gb_[j] += dy[j];
    if (grad_in != nullptr) {
      grad_in->resize(in.shape());
      // dX [n, in] = dY [n, out] * W [out, in]
      gemm(false, false, static_cast<int>(n), static_cast<int>(in_), static_cast<int>(out_), 1.0f, grad_out.data(),
           w_, 0.0f, grad_in->data(), ctx.gemm_log);
    }
  }

 private:
  int64_t in_, out_;
  Init init_;
};

class Relu final : public Layer {
 public:
  std::string describe() const override { return "ReLU"; }
  Shape output_shape(const Shape& input) const override { return input; }
  void forward(const Tensor& in, Tensor& out, Context&) override {
    out.resize(in.shape());
    const float* __restrict x = in.data();
    float* __restrict y = out.data();
    for (int64_t i = 0, n = in.size(); i < n; ++i) y[i] = std::max(x[i], 0.0f);
  }
  void backward(const Tensor&, const Tensor& out, const Tensor& grad_out, Tensor* grad_in, Context&) override {
    if (grad_in == nullptr) return;
    grad_in->resize(out.shape());
    // Branch-free so it vectorizes: a branch on the sign mispredicts half the time.
    const float* __restrict y = out.data();
    const float* __restrict dy = grad_out.data();
    float* __restrict dx = grad_in->data();
    for (int64_t i = 0, n = out.size(); i < n; ++i) {
      const float g = dy[i];  // loaded unconditionally, so the select below becomes a vector blend
      dx[i] = y[i] > 0.0f ? g : 0.0f;
    }
  }
};

class Conv2d final : public WeightBiasLayer {
 public:
  Conv2d(int64_t ci, int64_t co, int64_t k, int64_t pad, Init init)
      : ci_(ci), co_(co), k_(k), pad_(pad), init_(init) {}
  std::string describe() const override {
    return "Conv2d(" + std::to_string(ci_) + "->" + std::to_string(co_) + ", " + std::to_string(k_) + "x" +
           std::to_string(k_) + ", pad " + std::to_string(pad_) + ")";
  }
  Shape output_shape(const Shape& input) const override {
    require(input.size() == 4 && input[1] == ci_ && input[2] + 2 * pad_ >= k_ && input[3] + 2 * pad_ >= k_,
            describe(), input, "[N, " + std::to_string(ci_) + ", H, W] with H, W >= kernel - 2*padding");
    return {input[0], co_, input[2] + 2 * pad_ - k_ + 1, input[3] + 2 * pad_ - k_ + 1};
  }
  std::vector<ParamSpec> param_specs() const override {
    return {{"weight", {co_, ci_, k_, k_}}, {"bias", {co_}}};
  }
  void init(Rng& rng) override {
    const int64_t fan_in = ci_ * k_ * k_, fan_out = co_ * k_ * k_;
    init_uniform({w_, static_cast<std::size_t>(co_ * fan_in)}, init_bound(init_, fan_in, fan_out), rng);
    std::fill_n(b_, co_, 0.0f);
  }
  void forward(const Tensor& in, Tensor& out, Context& ctx) override {
    const Shape os = output_shape(in.shape());
    out.resize(os);
    const int64_t n = in.dim(0), hw = os[2] * os[3], ckk = ci_ * k_ * k_;
    col_.resize({ckk, hw});
    for (int64_t s = 0; s < n; ++s) {
      im2col(in.data() + s * ci_ * in.dim(2) * in.dim(3), in.dim(2), in.dim(3), os[2], os[3]);
      float* y = out.data() + s * co_ * hw;
      gemm(false, false, static_cast<int>(co_), static_cast<int>(hw), static_cast<int>(ckk), 1.0f, w_, col_.data(),
           0.0f, y, ctx.gemm_log);
      for (int64_t c = 0; c < co_; ++c)
        for (int64_t p = 0; p < hw; ++p) y[c * hw + p] += b_[c];
    }
  }
  void backward(const Tensor& in, const Tensor& out, const Tensor& grad_out, Tensor* grad_in, Context& ctx) override {
    const int64_t n = in.dim(0), h = in.dim(2), w = in.dim(3), ho = out.dim(2), wo = out.dim(3);
    const int64_t hw = ho * wo, ckk = ci_ * k_ * k_;
    col_.resize({ckk, hw});
    std::fill_n(gb_, co_, 0.0f);
    if (grad_in != nullptr) {
      grad_in->resize(in.shape());
      dcol_.resize({ckk, hw});
    }
    for (int64_t s = 0; s < n; ++s) {
      const float* dy = grad_out.data() + s * co_ * hw;
      im2col(in.data() + s * ci_ * h * w, h, w, ho, wo);
      // dW [co, ckk] (+)= dY_s [co, hw] * col^T [hw, ckk]
      gemm(false, true, static_cast<int>(co_), static_cast<int>(ckk), static_cast<int>(hw), 1.0f, dy, col_.data(),
           s == 0 ? 0.0f : 1.0f, gw_, ctx.gemm_log);
      for (int64_t c = 0; c < co_; ++c) {
        float acc = 0.0f;
        for (int64_t p = 0; p < hw; ++p) acc += dy[c * hw + p];
        gb_[c] += acc;
      }
      if (grad_in != nullptr) {
        // dcol [ckk, hw] = W^T [ckk, co] * dY_s [co, hw]
        gemm(true, false, static_cast<int>(ckk), static_cast<int>(hw), static_cast<int>(co_), 1.0f, w_, dy, 0.0f,
             dcol_.data(), ctx.gemm_log);
        col2im(grad_in->data() + s * ci_ * h * w, h, w, ho, wo);
      }
    }
  }

 private:
  // col_[(c*k + ky)*k + kx][oy*wo + ox] = x[c][oy + ky - pad][ox + kx - pad] (0 outside).
  void im2col(const float* x, int64_t h, int64_t w, int64_t ho, int64_t wo) {
    float* col = col_.data();
    for (int64_t c = 0; c < ci_; ++c)
      for (int64_t ky = 0; ky < k_; ++ky)
        for (int64_t kx = 0; kx < k_; ++kx) {
          float* row = col + ((c * k_ + ky) * k_ + kx) * ho * wo;
          for (int64_t oy = 0; oy < ho; ++oy) {
            const int64_t iy = oy + ky - pad_;
            float* dst = row + oy * wo;
            if (iy < 0 || iy >= h) {
              std::fill_n(dst, wo, 0.0f);
              continue;
            }
            const float* src = x + (c * h + iy) * w;
            const int64_t lo = std::max<int64_t>(0, pad_ - kx), hi = std::min<int64_t>(wo, w + pad_ - kx);
            for (int64_t ox = 0; ox < lo; ++ox) dst[ox] = 0.0f;
            for (int64_t ox = lo; ox < hi; ++ox) dst[ox] = src[ox + kx - pad_];
            for (int64_t ox = std::max(hi, lo); ox < wo; ++ox) dst[ox] = 0.0f;
          }
        }
  }
  // The adjoint of im2col: scatters dcol_ back into dx (which it first zeroes).
  void col2im(float* dx, int64_t h, int64_t w, int64_t ho, int64_t wo) {
    std::fill_n(dx, ci_ * h * w, 0.0f);
    const float* col = dcol_.data();
    for (int64_t c = 0; c < ci_; ++c)
      for (int64_t ky = 0; ky < k_; ++ky)
        for (int64_t kx = 0; kx < k_; ++kx) {
          const float* row = col + ((c * k_ + ky) * k_ + kx) * ho * wo;
          for (int64_t oy = 0; oy < ho; ++oy) {
            const int64_t iy = oy + ky - pad_;
            if (iy < 0 || iy >= h) continue;
            float* dst = dx + (c * h + iy) * w;
            const float* src = row + oy * wo;
            const int64_t lo = std::max<int64_t>(0, pad_ - kx), hi = std::min<int64_t>(wo, w + pad_ - kx);
            for (int64_t ox = lo; ox < hi; ++ox) dst[ox + kx - pad_] += src[ox];
          }
        }
  }

  int64_t ci_, co_, k_, pad_;
  Init init_;
  Tensor col_, dcol_;
};

class MaxPool2d final : public Layer {
 public:
  explicit MaxPool2d(int64_t size) : size_(size) {}
  std::string describe() const override { return "MaxPool2d(" + std::to_string(size_) + ")"; }
  Shape output_shape(const Shape& input) const override {
    require(input.size() == 4 && input[2] >= size_ && input[3] >= size_, describe(), input,
            "[N, C, H, W] with H, W >= " + std::to_string(size_));
    return {input[0], input[1], input[2] / size_, input[3] / size_};
  }
  void forward(const Tensor& in, Tensor& out, Context&) override {
    const Shape os = output_shape(in.shape());
    out.resize(os);
    argmax_.resize(static_cast<std::size_t>(out.size()));
    const int64_t planes = os[0] * os[1], h = in.dim(2), w = in.dim(3), ho = os[2], wo = os[3];
    for (int64_t p = 0; p < planes; ++p) {
      const float* x = in.data() + p * h * w;
      float* y = out.data() + p * ho * wo;
      int32_t* idx = argmax_.data() + p * ho * wo;
      for (int64_t oy = 0; oy < ho; ++oy)
        for (int64_t ox = 0; ox < wo; ++ox) {
          int64_t best = (oy * size_) * w + ox * size_;
          for (int64_t dy = 0; dy < size_; ++dy)
            for (int64_t dx = 0; dx < size_; ++dx) {
              const int64_t i = (oy * size_ + dy) * w + ox * size_ + dx;
              if (x[i] > x[best]) best = i;
            }
          y[oy * wo + ox] = x[best];
          idx[oy * wo + ox] = static_cast<int32_t>(best);
        }
    }
  }
  void backward(const Tensor& in, const Tensor& out, const Tensor& grad_out, Tensor* grad_in, Context&) override {
    if (grad_in == nullptr) return;
    grad_in->resize(in.shape());
    grad_in->zero();
    const int64_t planes = out.dim(0) * out.dim(1), plane_in = in.dim(2) * in.dim(3), plane_out = out.dim(2) * out.dim(3);
    for (int64_t p = 0; p < planes; ++p) {
      float* dx = grad_in->data() + p * plane_in;
      const float* dy = grad_out.data() + p * plane_out;
      const int32_t* idx = argmax_.data() + p * plane_out;
      for (int64_t i = 0; i < plane_out; ++i) dx[idx[i]] += dy[i];
    }
  }

 private:
  int64_t size_;
  std::vector<int32_t> argmax_;
};

class Flatten final : public Layer {
 public:
  std::string describe() const override { return "Flatten"; }
  Shape output_shape(const Shape& input) const override {
    require(!input.empty(), describe(), input, "[N, ...]");
    int64_t f = 1;
    for (std::size_t i = 1; i < input.size(); ++i) f *= input[i];
    return {input[0], f};
  }
  void forward(const Tensor& in, Tensor& out, Context&) override {
    out.resize(output_shape(in.shape()));
    std::memcpy(out.data(), in.data(), static_cast<std::size_t>(in.size()) * sizeof(float));
  }
  void backward(const Tensor& in, const Tensor&, const Tensor& grad_out, Tensor* grad_in, Context&) override {
    if (grad_in == nullptr) return;
    grad_in->resize(in.shape());
    std::memcpy(grad_in->data(), grad_out.data(), static_cast<std::size_t>(in.size()) * sizeof(float));
  }
};

class Dropout final : public Layer {
 public:
  explicit Dropout(float p) : p_(p) {
    if (!(p >= 0.0f && p < 1.0f)) throw std::invalid_argument("Dropout: p must be in [0, 1), found " + std::to_string(p));
  }
  std::string describe() const override { return "Dropout(" + std::to_string(p_).substr(0, 4) + ")"; }
  Shape output_shape(const Shape& input) const override { return input; }
  void forward(const Tensor& in, Tensor& out, Context& ctx) override {
    out.resize(in.shape());
    if (!ctx.training || p_ == 0.0f) {
      std::memcpy(out.data(), in.data(), static_cast<std::size_t>(in.size()) * sizeof(float));
      return;
    }
    if (ctx.rng == nullptr) throw std::logic_error("Dropout: training forward needs ctx.rng");
    mask_.resize(in.shape());
    const float scale = 1.0f / (1.0f - p_);
    for (int64_t i = 0, n = in.size(); i < n; ++i) {
      mask_[i] = ctx.rng->uniform() >= p_ ? scale : 0.0f;
      out[i] = in[i] * mask_[i];
    }
  }
  void backward(const Tensor& in, const Tensor&, const Tensor& grad_out, Tensor* grad_in, Context&) override {
    if (grad_in == nullptr) return;
    grad_in->resize(in.shape());
    if (p_ == 0.0f) {
      std::memcpy(grad_in->data(), grad_out.data(), static_cast<std::size_t>(in.size()) * sizeof(float));
      return;
    }
    for (int64_t i = 0, n = in.size(); i < n; ++i) (*grad_in)[i] = grad_out[i] * mask_[i];
  }

 private:
  float p_;
  Tensor mask_;
};

}  // namespace

std::unique_ptr<Layer> make_linear(int64_t in_features, int64_t out_features, Init init) {
  return std::make_unique<Linear>(in_features, out_features, init);
}
std::unique_ptr<Layer> make_relu() { return std::make_unique<Relu>(); }
std::unique_ptr<Layer> make_conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t padding,
                                   Init init) {
  return std::make_unique<Conv2d>(in_channels, out_channels, kernel, padding, init);
}
std::unique_ptr<Layer> make_maxpool2d(int64_t size) { return std::make_unique<MaxPool2d>(size); }
std::unique_ptr<Layer> make_flatten() { return std::make_unique<Flatten>(); }
std::unique_ptr<Layer> make_dropout(float p) { return std::make_unique<Dropout>(p); }

}  // namespace ringmaster::worker
