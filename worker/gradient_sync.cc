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

GradientSync::~GradientSync() {
  if (timing_) comm_.set_async_observer({});
}

void GradientSync::enable_timing() {
  timing_ = true;
  times_.assign(buckets_.size(), {});
  for (std::size_t i = 0; i < buckets_.size(); ++i) times_[i].bytes = (buckets_[i].end - buckets_[i].begin) * sizeof(float);
  // Runs on the communicator's thread, in the order the buckets were started; what it writes is
  // read after finish() has waited for every bucket.
  comm_.set_async_observer([this](bool started) {
    if (!in_step_.load(std::memory_order_acquire)) return;  // a synchronous call of the backend's
    const std::size_t k = observed_.load(std::memory_order_relaxed);
    if (k >= times_.size()) return;
    if (started) {
      times_[k].start = std::chrono::steady_clock::now();
    } else {
      times_[k].end = std::chrono::steady_clock::now();
      observed_.store(k + 1, std::memory_order_release);
    }
  });
}

void GradientSync::begin_step() {
  pending_.clear();
  launched_ = 0;
  if (timing_) {
    observed_.store(0, std::memory_order_relaxed);
    in_step_.store(true, std::memory_order_release);
  }
}

void GradientSync::launch_until(std::size_t from) {
  while (launched_ < buckets_.size() && buckets_[launched_].begin >= from) {
    const Bucket& b = buckets_[launched_++];
    float* data = grads_.data() + b.begin;
    const std::size_t n = b.end - b.begin;
    if (timing_) times_[launched_ - 1].start = std::chrono::steady_clock::now();  // until the backend says
    pending_.push_back(comm_.allreduce_async(data, data, n, DataType::kFloat32, ReduceOp::kSum));
  }
}

void GradientSync::ready_from(int64_t from) { launch_until(static_cast<std::size_t>(std::max<int64_t>(0, from))); }

Status GradientSync::finish() {
  launch_until(0);
  const auto start = std::chrono::steady_clock::now();
  Status first = Status::ok();
  for (std::size_t i = 0; i < pending_.size(); ++i) {
    Status s = pending_[i].get();
    if (!s && first.is_ok()) first = s;
    // A backend that does not report its runs: the bucket's span ends when it was seen done.
    if (timing_ && i >= observed_.load(std::memory_order_acquire)) times_[i].end = std::chrono::steady_clock::now();
  }
  pending_.clear();
  in_step_.store(false, std::memory_order_release);
  wait_ += std::chrono::steady_clock::now() - start;
  return first;
}

}  // namespace ringmaster::worker
