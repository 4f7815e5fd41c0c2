// Softmax cross-entropy over logits [N, C] with integer labels, averaged over the batch.
// Not thread-safe (keeps the gradient buffer).
#pragma once

#include <cstdint>
#include <span>

#include "worker/tensor.h"

namespace ringmaster::worker {

struct LossResult {
  double loss = 0.0;    // mean over the batch (nan/inf when the logits are)
  int64_t correct = 0;  // argmax(logits) == label
};

// Computes the mean loss and, when grad is not null, d(mean loss)/d(logits) = (softmax - onehot)/N.
// REQUIRES: labels.size() == logits.dim(0), every label in [0, C).
LossResult softmax_cross_entropy(const Tensor& logits, std::span<const int32_t> labels, Tensor* grad);

}  // namespace ringmaster::worker
