#include "worker/layers.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "worker/onednn.h"

namespace ringmaster::worker {
namespace {

Status require(bool ok, const std::string& layer, const Shape& input, const std::string& expected) {
  if (ok) return Status::ok();
  return invalid_argument(layer + ": expected input " + expected + ", found " + shape_string(input));
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
  Status accepts(const Shape& input) const override {
    return require(input.size() == 2 && input[1] == in_, describe(), input, "[N, " + std::to_string(in_) + "]");
  }
  Shape output_shape(const Shape& input) const override { return {input[0], out_}; }
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
  Status accepts(const Shape&) const override { return Status::ok(); }
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

// Convolution on oneDNN's primitives (forward, backward-data, backward-weights), in the layouts
// oneDNN picks for this processor (format "any": nChw16c activations and blocked weights on
// AVX-512); the layer's tensors stay NCHW and its parameters OIHW, reordered in and out. One plan
// per input shape (training and evaluation batches differ), built on first use, a few kept.
class Conv2d final : public WeightBiasLayer {
 public:
  Conv2d(int64_t ci, int64_t co, int64_t k, int64_t pad, Init init)
      : ci_(ci), co_(co), k_(k), pad_(pad), init_(init) {}
  std::string describe() const override {
    return "Conv2d(" + std::to_string(ci_) + "->" + std::to_string(co_) + ", " + std::to_string(k_) + "x" +
           std::to_string(k_) + ", pad " + std::to_string(pad_) + ")";
  }
  Status accepts(const Shape& input) const override {
    return require(input.size() == 4 && input[1] == ci_ && input[2] + 2 * pad_ >= k_ && input[3] + 2 * pad_ >= k_,
                   describe(), input, "[N, " + std::to_string(ci_) + ", H, W] with H, W >= kernel - 2*padding");
  }
  Shape output_shape(const Shape& input) const override {
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
    Plan& p = plan(in.shape(), os);
    log_gemm(ctx, false, false, co_, in.dim(0) * os[2] * os[3], ci_ * k_ * k_);
    dnnl::stream& s = onednn::stream();
    dnnl::memory& dst = p.dst.out(out.data());
    p.fwd.execute(s, {{DNNL_ARG_SRC, p.src.in(in.data())},
                      {DNNL_ARG_WEIGHTS, p.weights.in(w_)},
                      {DNNL_ARG_BIAS, p.bias.in(b_)},
                      {DNNL_ARG_DST, dst}});
    p.dst.out_done();
  }
  void backward(const Tensor& in, const Tensor& out, const Tensor& grad_out, Tensor* grad_in, Context& ctx) override {
    Plan& p = plan(in.shape(), out.shape());
    const int64_t pixels = in.dim(0) * out.dim(2) * out.dim(3), ckk = ci_ * k_ * k_;
    dnnl::stream& s = onednn::stream();
    if (!p.bwd_weights) make_backward(p);
    // dW, db. The forward's staged input is this batch's (the layer contract: backward follows
    // the forward of the same input), so it is reused where the layouts agree.
    log_gemm(ctx, false, true, co_, ckk, pixels);
    dnnl::memory& src = p.src_w.staged() && p.src_w.wanted() == p.src.wanted() && p.src.staged()
                            ? p.src.staging()
                            : p.src_w.in(in.data());
    dnnl::memory& dy = p.dy_w.in(grad_out.data());
    dnnl::memory& dw = p.dweights.out(gw_);
    p.bwd_weights.execute(s, {{DNNL_ARG_SRC, src},
                              {DNNL_ARG_DIFF_DST, dy},
                              {DNNL_ARG_DIFF_WEIGHTS, dw},
                              {DNNL_ARG_DIFF_BIAS, p.dbias.out(gb_)}});
    p.dweights.out_done();
    p.dbias.out_done();
    if (grad_in == nullptr) return;
    grad_in->resize(in.shape());
    log_gemm(ctx, true, false, ckk, pixels, co_);
    if (!p.bwd_data) make_backward_data(p);
    dnnl::memory& dy_d = p.dy_d.wanted() == p.dy_w.wanted() && p.dy_w.staged() ? p.dy_w.staging()
                                                                                  : p.dy_d.in(grad_out.data());
    dnnl::memory& wd = p.weights_d.wanted() == p.weights.wanted() && p.weights.staged() ? p.weights.staging()
                                                                                          : p.weights_d.in(w_);
    dnnl::memory& dx = p.dsrc.out(grad_in->data());
    p.bwd_data.execute(s, {{DNNL_ARG_DIFF_DST, dy_d}, {DNNL_ARG_WEIGHTS, wd}, {DNNL_ARG_DIFF_SRC, dx}});
    p.dsrc.out_done();
  }

 private:
  using md = dnnl::memory::desc;
  using tag = dnnl::memory::format_tag;
  static constexpr auto f32 = dnnl::memory::data_type::f32;

  struct Plan {
    Shape input;
    uint64_t last_use = 0;
    md src_user, weights_user, bias_user, dst_user;
    dnnl::convolution_forward::primitive_desc fwd_pd;
    dnnl::convolution_forward fwd;
    onednn::Operand src, weights, bias, dst;
    dnnl::convolution_backward_weights bwd_weights;
    onednn::Operand src_w, dy_w, dweights, dbias;
    dnnl::convolution_backward_data bwd_data;
    onednn::Operand dy_d, weights_d, dsrc;
  };

  // The bench counts a convolution as the GEMM that im2col would make of it (same FLOPs).
  static void log_gemm(Context& ctx, bool ta, bool tb, int64_t m, int64_t n, int64_t k) {
    if (ctx.gemm_log != nullptr)
      ctx.gemm_log->push_back({ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 0.0f});
  }

  dnnl::memory::dims strides() const { return {1, 1}; }
  dnnl::memory::dims padding() const { return {pad_, pad_}; }

  // The plan for this input shape. At most kMaxPlans are kept (the least recently used goes): the
  // batch size changes (the last batch of an epoch, evaluation, --balance auto re-splitting every
  // epoch), and each plan holds staging buffers the size of its activations.
  static constexpr std::size_t kMaxPlans = 4;
  Plan& plan(const Shape& in, const Shape& out) {
    ++uses_;
    for (auto& existing : plans_)
      if (existing->input == in) {
        existing->last_use = uses_;
        return *existing;
      }
    if (plans_.size() >= kMaxPlans)
      plans_.erase(std::min_element(plans_.begin(), plans_.end(),
                                    [](const auto& a, const auto& b) { return a->last_use < b->last_use; }));
    auto p = std::make_unique<Plan>();
    p->input = in;
    p->src_user = md({in[0], in[1], in[2], in[3]}, f32, tag::nchw);
    p->weights_user = md({co_, ci_, k_, k_}, f32, tag::oihw);
    p->bias_user = md({co_}, f32, tag::x);
    p->dst_user = md({out[0], out[1], out[2], out[3]}, f32, tag::nchw);
    const dnnl::convolution_forward::desc d(
        dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, any(p->src_user),
        any(p->weights_user), p->bias_user, any(p->dst_user), strides(), padding(), padding());
    p->fwd_pd = dnnl::convolution_forward::primitive_desc(d, onednn::engine());
    p->fwd = dnnl::convolution_forward(p->fwd_pd);
    p->src = onednn::Operand(p->src_user, p->fwd_pd.src_desc());
    p->weights = onednn::Operand(p->weights_user, p->fwd_pd.weights_desc());
    p->bias = onednn::Operand(p->bias_user, p->fwd_pd.bias_desc());
    p->dst = onednn::Operand(p->dst_user, p->fwd_pd.dst_desc());
    p->last_use = uses_;
    plans_.push_back(std::move(p));
    return *plans_.back();
  }
  void make_backward(Plan& p) {
    const dnnl::convolution_backward_weights::desc d(dnnl::algorithm::convolution_direct, any(p.src_user),
                                                     any(p.weights_user), p.bias_user, any(p.dst_user), strides(),
                                                     padding(), padding());
    const dnnl::convolution_backward_weights::primitive_desc pd(d, onednn::engine(), p.fwd_pd);
    p.bwd_weights = dnnl::convolution_backward_weights(pd);
    p.src_w = onednn::Operand(p.src_user, pd.src_desc());
    p.dy_w = onednn::Operand(p.dst_user, pd.diff_dst_desc());
    p.dweights = onednn::Operand(p.weights_user, pd.diff_weights_desc());
    p.dbias = onednn::Operand(p.bias_user, pd.diff_bias_desc());
  }
  void make_backward_data(Plan& p) {
    const dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, any(p.src_user),
                                                  any(p.weights_user), any(p.dst_user), strides(), padding(),
                                                  padding());
    const dnnl::convolution_backward_data::primitive_desc pd(d, onednn::engine(), p.fwd_pd);
    p.bwd_data = dnnl::convolution_backward_data(pd);
    p.dy_d = onednn::Operand(p.dst_user, pd.diff_dst_desc());
    p.weights_d = onednn::Operand(p.weights_user, pd.weights_desc());
    p.dsrc = onednn::Operand(p.src_user, pd.diff_src_desc());
  }
  static md any(const md& plain) { return md(plain.dims(), f32, tag::any); }

  int64_t ci_, co_, k_, pad_;
  Init init_;
  std::vector<std::unique_ptr<Plan>> plans_;
  uint64_t uses_ = 0;
};

class MaxPool2d final : public Layer {
 public:
  explicit MaxPool2d(int64_t size) : size_(size) {}
  std::string describe() const override { return "MaxPool2d(" + std::to_string(size_) + ")"; }
  Status accepts(const Shape& input) const override {
    return require(input.size() == 4 && input[2] >= size_ && input[3] >= size_, describe(), input,
                   "[N, C, H, W] with H, W >= " + std::to_string(size_));
  }
  Shape output_shape(const Shape& input) const override {
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
      if (size_ == 2) {
        pool2(x, w, ho, wo, y, idx);
        continue;
      }
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
  // The 2x2 window (the CNN's), branch-free so it vectorizes; ties go to the first element in
  // row-major order, as in the general loop (strictly greater replaces).
  static void pool2(const float* x, int64_t w, int64_t ho, int64_t wo, float* y, int32_t* idx) {
    for (int64_t oy = 0; oy < ho; ++oy) {
      const float* __restrict r0 = x + 2 * oy * w;
      const float* __restrict r1 = r0 + w;
      float* __restrict yo = y + oy * wo;
      int32_t* __restrict io = idx + oy * wo;
      const auto base = static_cast<int32_t>(2 * oy * w), row = static_cast<int32_t>(w);
      for (int64_t ox = 0; ox < wo; ++ox) {
        const float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
        const auto col = static_cast<int32_t>(2 * ox);
        float m = a;
        int32_t i = base + col;
        i = b > m ? base + col + 1 : i;
        m = b > m ? b : m;
        i = c > m ? base + row + col : i;
        m = c > m ? c : m;
        i = d > m ? base + row + col + 1 : i;
        m = d > m ? d : m;
        yo[ox] = m;
        io[ox] = i;
      }
    }
  }

  int64_t size_;
  std::vector<int32_t> argmax_;
};

class Flatten final : public Layer {
 public:
  std::string describe() const override { return "Flatten"; }
  Status accepts(const Shape& input) const override { return require(!input.empty(), describe(), input, "[N, ...]"); }
  Shape output_shape(const Shape& input) const override {
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
  Status accepts(const Shape&) const override { return Status::ok(); }
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
