#include "worker/loss.h"

#include <cmath>
#include <stdexcept>

namespace ringmaster::worker {

LossResult softmax_cross_entropy(const Tensor& logits, std::span<const int32_t> labels, Tensor* grad) {
  const int64_t n = logits.dim(0), c = logits.dim(1);
  if (static_cast<int64_t>(labels.size()) != n) throw std::invalid_argument("softmax_cross_entropy: label count");
  if (grad) grad->resize(logits.shape());
  LossResult r;
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const float* z = logits.data() + i * c;
    const int32_t y = labels[static_cast<std::size_t>(i)];
    int64_t best = 0;
    float zmax = z[0];
    for (int64_t j = 1; j < c; ++j)
      if (z[j] > zmax) zmax = z[j], best = j;
    if (best == y) ++r.correct;
    double sum = 0.0;
    for (int64_t j = 0; j < c; ++j) sum += std::exp(static_cast<double>(z[j] - zmax));
    const double log_sum = std::log(sum);
    total += log_sum - static_cast<double>(z[y] - zmax);
    if (grad) {
      float* g = grad->data() + i * c;
      const double inv_n = 1.0 / static_cast<double>(n);
      for (int64_t j = 0; j < c; ++j) {
        const double p = std::exp(static_cast<double>(z[j] - zmax) - log_sum);
        g[j] = static_cast<float>((p - (j == y ? 1.0 : 0.0)) * inv_n);
      }
    }
  }
  r.loss = n > 0 ? total / static_cast<double>(n) : 0.0;
  return r;
}

}  // namespace ringmaster::worker
