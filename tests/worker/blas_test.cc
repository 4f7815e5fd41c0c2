// The CPU math seam (worker/blas.h): both GEMM libraries against a float64 reference, the thread
// count reaching OpenMP on every computing thread, and the convolution's results at one and two
// threads and across batch sizes (one oneDNN plan per input shape).
#include <gtest/gtest.h>
#include <omp.h>

#include <thread>

#include "worker/blas.h"
#include "worker/layers.h"
#include "worker/onednn.h"

using namespace ringmaster::worker;

namespace {

std::vector<float> ramp(std::size_t n, float seed) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::sin(seed + 0.37f * static_cast<float>(i));
  return v;
}

// Restores one thread (the process default) when a test ends.
struct ThreadsGuard {
  ~ThreadsGuard() { set_math_threads(1); }
};

}  // namespace

TEST(Blas, BothLibrariesComputeTheSameGemmForEveryTransposition) {
  const int m = 7, n = 5, k = 9;
  for (GemmLibrary lib : {GemmLibrary::kOneDnn, GemmLibrary::kOpenBlas})
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        const auto a = ramp(m * k, 1.0f), b = ramp(k * n, 2.0f);
        std::vector<float> c = ramp(m * n, 3.0f);
        const std::vector<float> c0 = c;
        gemm_with(lib, ta, tb, m, n, k, 2.0f, a.data(), b.data(), 0.5f, c.data());
        for (int i = 0; i < m; ++i)
          for (int j = 0; j < n; ++j) {
            double acc = 0.0;
            for (int p = 0; p < k; ++p)
              acc += static_cast<double>(ta ? a[p * m + i] : a[i * k + p]) *
                     static_cast<double>(tb ? b[j * k + p] : b[p * n + j]);
            EXPECT_NEAR(c[i * n + j], 2.0 * acc + 0.5 * c0[i * n + j], 1e-4)
                << gemm_library_name(lib) << " ta=" << ta << " tb=" << tb << " at " << i << "," << j;
          }
      }
}

TEST(Blas, GemmLogsTheCallsItMakes) {
  GemmLog log;
  std::vector<float> a(6, 1.0f), b(6, 1.0f), c(4);
  gemm(false, true, 2, 2, 3, 1.0f, a.data(), b.data(), 0.0f, c.data(), &log);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].m, 2);
  EXPECT_TRUE(log[0].trans_b);
  EXPECT_EQ(c[0], 3.0f);
  EXPECT_DOUBLE_EQ(log[0].flops(), 24.0);
}

TEST(Blas, TheThreadCountReachesOpenMpOnEveryComputingThread) {
  ThreadsGuard guard;
  // 3: not the core count of a 2-core machine, which a thread that never adopted would report.
  set_math_threads(3);
  EXPECT_EQ(math_threads(), 3);
  adopt_math_threads();  // loads oneDNN when this test runs alone (the library is loaded on first use)
  EXPECT_EQ(omp_get_max_threads(), 3);
  int seen = 0;
  std::thread([&] {
    adopt_math_threads();
    seen = omp_get_max_threads();
  }).join();
  EXPECT_EQ(seen, 3);
  set_math_threads(1);
  std::thread([&] {
    std::vector<float> a(4, 1.0f), c(4);
    gemm(false, false, 2, 2, 2, 1.0f, a.data(), a.data(), 0.0f, c.data());  // gemm adopts the count itself
    seen = omp_get_max_threads();
  }).join();
  EXPECT_EQ(seen, 1);
  EXPECT_EQ(omp_get_max_threads(), 1);
}

namespace {

struct ConvRun {
  Tensor y, dx;
  std::vector<float> dparams;
};

ConvRun run_conv(Layer& conv, std::vector<float>& values, const Tensor& x) {
  ConvRun r;
  r.dparams.assign(values.size(), 0.0f);
  std::vector<std::span<float>> v = {std::span<float>(values).first(values.size() - 8),
                                     std::span<float>(values).last(8)};
  std::vector<std::span<float>> g = {std::span<float>(r.dparams).first(values.size() - 8),
                                     std::span<float>(r.dparams).last(8)};
  conv.bind(v, g);
  Context ctx{true, nullptr, nullptr};
  conv.forward(x, r.y, ctx);
  Tensor dy(r.y.shape());
  for (int64_t i = 0; i < dy.size(); ++i) dy[i] = std::cos(0.1f * static_cast<float>(i));
  conv.backward(x, r.y, dy, &r.dx, ctx);
  return r;
}

Tensor input(int64_t n) {
  Tensor x(Shape{n, 3, 9, 9});
  for (int64_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.3f * static_cast<float>(i));
  return x;
}

}  // namespace

TEST(Blas, ConvolutionIsRepeatableAndAgreesAcrossThreadCountsAndBatchSizes) {
  ThreadsGuard guard;
  auto conv = make_conv2d(3, 8, 5, 2, Init::kHe);
  std::vector<float> values = ramp(8 * 3 * 5 * 5 + 8, 4.0f);
  const ConvRun one = run_conv(*conv, values, input(4));
  // Bit-identical when repeated at the same thread count: resumed runs rely on it.
  const ConvRun again = run_conv(*conv, values, input(4));
  for (int64_t i = 0; i < one.y.size(); ++i) ASSERT_EQ(one.y[i], again.y[i]) << i;
  for (int64_t i = 0; i < one.dx.size(); ++i) ASSERT_EQ(one.dx[i], again.dx[i]) << i;
  EXPECT_EQ(one.dparams, again.dparams);
  // Another batch size (a second plan), then the first again: the first sample's output is the same.
  const ConvRun small = run_conv(*conv, values, input(1));
  for (int64_t i = 0; i < small.y.size(); ++i) ASSERT_NEAR(small.y[i], one.y[i], 1e-5) << i;
  const ConvRun back = run_conv(*conv, values, input(4));
  EXPECT_EQ(back.dparams, one.dparams);
  // More batch sizes than the layer keeps plans for (it evicts the oldest): still the same results.
  for (int64_t n : {2, 3, 5, 6, 7}) run_conv(*conv, values, input(n));
  EXPECT_EQ(run_conv(*conv, values, input(4)).dparams, one.dparams);
  // Two threads: the same sums in another order.
  set_math_threads(2);
  const ConvRun two = run_conv(*conv, values, input(4));
  for (int64_t i = 0; i < one.y.size(); ++i) ASSERT_NEAR(two.y[i], one.y[i], 1e-4) << i;
  for (int64_t i = 0; i < one.dx.size(); ++i) ASSERT_NEAR(two.dx[i], one.dx[i], 1e-4) << i;
  for (std::size_t i = 0; i < one.dparams.size(); ++i)
    ASSERT_NEAR(two.dparams[i], one.dparams[i], 1e-3 * (1.0 + std::abs(one.dparams[i]))) << i;
}

TEST(Blas, OneDnnIsLoadedOnlyWhenFirstUsed) {
  ThreadsGuard guard;
  // ctest runs each test in its own process; run together with others, one may have loaded it.
  if (onednn::loaded()) GTEST_SKIP() << "oneDNN was loaded by an earlier test in this process";
  set_math_threads(2);  // what `train --threads 2` does before it computes
  EXPECT_FALSE(onednn::loaded());
  std::vector<float> a(4, 1.0f), c(4);
  gemm(false, false, 2, 2, 2, 1.0f, a.data(), a.data(), 0.0f, c.data());
  EXPECT_TRUE(onednn::loaded());
  EXPECT_EQ(c[0], 2.0f);
}
