#include "worker/gradient_sync.h"

#include <algorithm>

namespace ringmaster::worker {

using collectives::DataType;
using collectives::ReduceOp;

GradientSync::GradientSync(collectives::Communicator& comm, std::span<float> grads, std::size_t bucket_bytes)
    : comm_(comm), grads_(grads) {
  const std::size_t per_bucket = std::max<std::size_t>(1, bucket_bytes / sizeof(float));
  for (std::size_t end = grads.size(); end > 0;) {
    const std::size_t begin = end > per_bucket ? end - per_bucket : 0;
    buckets_.push_back({begin, end});
    end = begin;
  }
}

void GradientSync::begin_step() {
  pending_.clear();
  launched_ = 0;
}

void GradientSync::launch_until(std::size_t from) {
  while (launched_ < buckets_.size() && buckets_[launched_].begin >= from) {
    const Bucket& b = buckets_[launched_++];
    float* data = grads_.data() + b.begin;
    const std::size_t n = b.end - b.begin;
    pending_.push_back(comm_.allreduce_async(data, data, n, DataType::kFloat32, ReduceOp::kSum));
  }
}

void GradientSync::ready_from(int64_t from) { launch_until(static_cast<std::size_t>(std::max<int64_t>(0, from))); }

Status GradientSync::finish() {
  launch_until(0);
  const auto start = std::chrono::steady_clock::now();
  Status first = Status::ok();
  for (auto& w : pending_) {
    Status s = w.get();
    if (!s && first.is_ok()) first = s;
  }
  pending_.clear();
  wait_ += std::chrono::steady_clock::now() - start;
  return first;
}

}  // namespace ringmaster::worker
