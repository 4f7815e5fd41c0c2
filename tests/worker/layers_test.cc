// Every layer's backward against central finite differences of its forward, and Conv2d's forward
// against a direct float64 convolution.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "worker/layers.h"
#include "worker/loss.h"

using namespace ringmaster::worker;
using ringmaster::Rng;

namespace {

struct Bound {
  std::vector<float> values, grads;
};

// Binds fresh parameter storage to a layer and initializes it.
Bound bind_params(Layer& layer, uint64_t seed) {
  Bound b;
  int64_t total = 0;
  for (const auto& p : layer.param_specs()) total += shape_size(p.shape);
  b.values.assign(static_cast<std::size_t>(total), 0.0f);
  b.grads.assign(static_cast<std::size_t>(total), 0.0f);
  std::vector<std::span<float>> v, g;
  std::size_t off = 0;
  for (const auto& p : layer.param_specs()) {
    const auto n = static_cast<std::size_t>(shape_size(p.shape));
    v.push_back(std::span<float>(b.values).subspan(off, n));
    g.push_back(std::span<float>(b.grads).subspan(off, n));
    off += n;
  }
  layer.bind(v, g);
  Rng rng(seed);
  layer.init(rng);
  // Non-zero biases so their gradients matter.
  for (float& x : b.values)
    if (x == 0.0f) x = rng.uniform(-0.5f, 0.5f);
  return b;
}

// L = sum(forward(x) * r), accumulated in double.
double probe(Layer& layer, const Tensor& x, const Tensor& r, Rng::State rng_state, bool training) {
  Rng rng;
  rng.set_state(rng_state);
  Context ctx{training, &rng, nullptr};
  Tensor y;
  layer.forward(x, y, ctx);
  double s = 0.0;
  for (int64_t i = 0; i < y.size(); ++i) s += static_cast<double>(y[i]) * static_cast<double>(r[i]);
  return s;
}

void expect_close(double analytic, double numeric, const std::string& what) {
  const double tol = 2e-3 + 1e-2 * std::max(std::abs(analytic), std::abs(numeric));
  EXPECT_NEAR(analytic, numeric, tol) << what;
}

// Checks d(sum(y*r))/dx and /dparams from backward() against central differences.
void check_gradients(Layer& layer, Tensor x, float h = 1e-2f, bool training = true) {
  Bound params = bind_params(layer, 7);
  Rng data_rng(11);
  const Shape out_shape = layer.output_shape(x.shape());
  Tensor r(out_shape);
  for (int64_t i = 0; i < r.size(); ++i) r[i] = data_rng.uniform(-1.0f, 1.0f);
  const Rng::State mask_state = Rng(99).state();

  Rng rng;
  rng.set_state(mask_state);
  Context ctx{training, &rng, nullptr};
  Tensor y, dx;
  layer.forward(x, y, ctx);
  layer.backward(x, y, r, &dx, ctx);
  ASSERT_EQ(dx.shape(), x.shape());
  const std::vector<float> analytic_params = params.grads;

  for (int64_t i = 0; i < x.size(); ++i) {
    const float keep = x[i];
    x[i] = keep + h;
    const double plus = probe(layer, x, r, mask_state, training);
    x[i] = keep - h;
    const double minus = probe(layer, x, r, mask_state, training);
    x[i] = keep;
    expect_close(dx[i], (plus - minus) / (2.0 * h), layer.describe() + " d/dx[" + std::to_string(i) + "]");
  }
  for (std::size_t i = 0; i < params.values.size(); ++i) {
    const float keep = params.values[i];
    params.values[i] = keep + h;
    const double plus = probe(layer, x, r, mask_state, training);
    params.values[i] = keep - h;
    const double minus = probe(layer, x, r, mask_state, training);
    params.values[i] = keep;
    expect_close(analytic_params[i], (plus - minus) / (2.0 * h),
                 layer.describe() + " d/dparam[" + std::to_string(i) + "]");
  }
}

// Values spread away from zero and from each other, so ReLU and max pooling have no kink within h.
Tensor spread_input(const Shape& shape, uint64_t seed) {
  Tensor x(shape);
  Rng rng(seed);
  std::vector<int64_t> perm(static_cast<std::size_t>(x.size()));
  for (std::size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<int64_t>(i);
  for (std::size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[rng.below(i)]);
  for (int64_t i = 0; i < x.size(); ++i) {
    const float v = 0.1f + 0.05f * static_cast<float>(perm[static_cast<std::size_t>(i)]);
    x[i] = (perm[static_cast<std::size_t>(i)] % 2 ? v : -v) / 4.0f;
  }
  return x;
}

Tensor random_input(const Shape& shape, uint64_t seed) {
  Tensor x(shape);
  Rng rng(seed);
  for (int64_t i = 0; i < x.size(); ++i) x[i] = rng.uniform(-1.0f, 1.0f);
  return x;
}

}  // namespace

TEST(Layers, LinearGradients) {
  auto layer = make_linear(7, 5, Init::kHe);
  check_gradients(*layer, random_input({3, 7}, 1));
}

TEST(Layers, ReluGradients) {
  auto layer = make_relu();
  check_gradients(*layer, spread_input({4, 9}, 2), 1e-3f);
}

TEST(Layers, Conv2dGradientsWithPadding) {
  auto layer = make_conv2d(2, 3, 3, 1, Init::kHe);
  check_gradients(*layer, random_input({2, 2, 5, 4}, 3));
}

TEST(Layers, Conv2dGradientsFiveByFive) {
  auto layer = make_conv2d(1, 2, 5, 2, Init::kHe);
  check_gradients(*layer, random_input({1, 1, 6, 6}, 4));
}

TEST(Layers, MaxPoolGradients) {
  auto layer = make_maxpool2d(2);
  check_gradients(*layer, spread_input({2, 2, 4, 5}, 5), 1e-3f);  // odd width: last column dropped
}

TEST(Layers, FlattenGradients) {
  auto layer = make_flatten();
  check_gradients(*layer, random_input({2, 3, 2, 2}, 6));
  EXPECT_EQ(layer->output_shape({2, 3, 2, 2}), (Shape{2, 12}));
}

TEST(Layers, DropoutGradientsWithAFixedMask) {
  auto layer = make_dropout(0.5f);
  check_gradients(*layer, random_input({4, 16}, 7));
}

TEST(Layers, DropoutKeepsExpectationAndIsIdentityInEval) {
  auto layer = make_dropout(0.25f);
  Tensor x(Shape{1, 100000});
  x.fill(1.0f);
  Rng rng(3);
  Context train{true, &rng, nullptr}, eval{false, nullptr, nullptr};
  Tensor y;
  layer->forward(x, y, train);
  double sum = 0.0;
  int64_t zeros = 0;
  for (int64_t i = 0; i < y.size(); ++i) sum += y[i], zeros += y[i] == 0.0f;
  EXPECT_NEAR(sum / static_cast<double>(y.size()), 1.0, 0.01);
  EXPECT_NEAR(static_cast<double>(zeros) / static_cast<double>(y.size()), 0.25, 0.01);
  layer->forward(x, y, eval);
  for (int64_t i = 0; i < y.size(); ++i) ASSERT_EQ(y[i], 1.0f);
}

TEST(Layers, Conv2dForwardMatchesDirectFloat64Convolution) {
  const int64_t n = 2, ci = 3, co = 4, h = 7, w = 6, k = 5, pad = 2;
  auto layer = make_conv2d(ci, co, k, pad, Init::kHe);
  Bound params = bind_params(*layer, 5);
  Tensor x = random_input({n, ci, h, w}, 8);
  Tensor y;
  Context ctx;
  layer->forward(x, y, ctx);
  ASSERT_EQ(y.shape(), (Shape{n, co, h, w}));
  const float* weight = params.values.data();
  const float* bias = weight + co * ci * k * k;
  for (int64_t s = 0; s < n; ++s)
    for (int64_t o = 0; o < co; ++o)
      for (int64_t oy = 0; oy < h; ++oy)
        for (int64_t ox = 0; ox < w; ++ox) {
          double acc = bias[o];
          for (int64_t c = 0; c < ci; ++c)
            for (int64_t ky = 0; ky < k; ++ky)
              for (int64_t kx = 0; kx < k; ++kx) {
                const int64_t iy = oy + ky - pad, ix = ox + kx - pad;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                acc += static_cast<double>(weight[((o * ci + c) * k + ky) * k + kx]) *
                       static_cast<double>(x[((s * ci + c) * h + iy) * w + ix]);
              }
          ASSERT_NEAR(y[((s * co + o) * h + oy) * w + ox], acc, 1e-4) << s << " " << o << " " << oy << " " << ox;
        }
}

TEST(Layers, LinearRejectsWrongInputShape) {
  auto layer = make_linear(4, 2, Init::kGlorot);
  EXPECT_EQ(layer->accepts({3, 5}).message(), "Linear(4->2): expected input [N, 4], found [3, 5]");
  EXPECT_TRUE(layer->accepts({3, 4}).is_ok());
  EXPECT_EQ(layer->output_shape({3, 4}), (Shape{3, 2}));
}

TEST(Loss, UniformLogitsGiveLogOfClassCount) {
  Tensor logits(Shape{2, 10});
  std::vector<int32_t> labels = {3, 7};
  Tensor grad;
  LossResult r = softmax_cross_entropy(logits, labels, &grad);
  EXPECT_NEAR(r.loss, std::log(10.0), 1e-6);
  EXPECT_NEAR(grad[3], (0.1 - 1.0) / 2.0, 1e-6);
  EXPECT_NEAR(grad[0], 0.1 / 2.0, 1e-6);
}

TEST(Loss, GradientMatchesFiniteDifferences) {
  Tensor logits = random_input({3, 5}, 9);
  for (int64_t i = 0; i < logits.size(); ++i) logits[i] *= 3.0f;
  std::vector<int32_t> labels = {0, 4, 2};
  Tensor grad;
  softmax_cross_entropy(logits, labels, &grad);
  const float h = 1e-2f;
  for (int64_t i = 0; i < logits.size(); ++i) {
    const float keep = logits[i];
    logits[i] = keep + h;
    const double plus = softmax_cross_entropy(logits, labels, nullptr).loss;
    logits[i] = keep - h;
    const double minus = softmax_cross_entropy(logits, labels, nullptr).loss;
    logits[i] = keep;
    EXPECT_NEAR(grad[i], (plus - minus) / (2.0 * h), 1e-4) << i;
  }
}

TEST(Loss, LargeLogitsStayFiniteAndCountCorrect) {
  Tensor logits(Shape{1, 3});
  logits[0] = 1000.0f;
  logits[1] = -1000.0f;
  logits[2] = 999.0f;
  std::vector<int32_t> labels = {0};
  LossResult r = softmax_cross_entropy(logits, labels, nullptr);
  EXPECT_TRUE(std::isfinite(r.loss));
  EXPECT_EQ(r.correct, 1);
}

TEST(Tensor, StorageIsAlignedAndResizeKeepsCapacity) {
  Tensor t(Shape{3, 5});
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 64, 0u);
  EXPECT_EQ(t.size(), 15);
  for (int64_t i = 0; i < t.size(); ++i) EXPECT_EQ(t[i], 0.0f);
  float* before = t.data();
  t.resize({2, 5});
  EXPECT_EQ(t.data(), before);
  EXPECT_EQ(t.shape(), (Shape{2, 5}));
  t.resize({4, 5});
  EXPECT_EQ(t.size(), 20);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 64, 0u);
  Tensor copy = t;
  EXPECT_NE(copy.data(), t.data());
  EXPECT_EQ(copy.shape(), t.shape());
}
