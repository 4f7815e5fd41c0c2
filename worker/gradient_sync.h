// Gradient averaging for data-parallel training, overlapped with backward (as Horovod's tensor
// fusion and PyTorch DDP's buckets).
//
//   GradientSync sync(comm, model.grads(), bucket_bytes);
//   sync.begin_step();
//   model.backward(x, dlogits, ctx, [&](int64_t from) { sync.ready_from(from); });
//   if (Status s = sync.finish(); !s) ...   // grads now hold the sum over ranks
//
// The gradient arena is cut into buckets of about `bucket_bytes` from its end: backward finishes
// the last layers first, so the last bucket is ready first. ready_from() starts an asynchronous
// allreduce (on the communicator's thread) for every bucket that lies wholly in the finished part;
// finish() starts the rest, waits for all of them and reports the first error. Every rank cuts the
// same buckets and starts them in the same order, so the calls match across ranks.
//
// The buckets are summed over ranks. For an average, scale the loss gradient by 1/world before
// backward (backward is linear in it, so every parameter gradient comes out scaled at no cost); a
// rank that trained on more samples than another takes a proportionally larger share instead.
//
// Not thread-safe: one training thread calls it. The buckets' memory belongs to the communicator
// thread between ready_from() and finish().
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

#include "collectives/communicator.h"
#include "common/status.h"

namespace ringmaster::worker {

class GradientSync {
 public:
  GradientSync(collectives::Communicator& comm, std::span<float> grads, std::size_t bucket_bytes);
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  // Starts a step: no bucket is in flight.
  void begin_step();
  // Gradients from element `from` to the end are final for this step.
  void ready_from(int64_t from);
  // Starts what is left, waits for every bucket and returns the first error (the communicator is
  // then broken; see communicator.h).
  Status finish();

  std::size_t bucket_count() const { return buckets_.size(); }

  // With timing on, each step records when every bucket ran on the communicator's thread (where
  // the backend reports it; else from its launch to when finish() saw it done), for the timeline.
  struct BucketTime {
    std::chrono::steady_clock::time_point start, end;
    std::size_t bytes = 0;
  };
  void enable_timing();
  // The last finished step's buckets, in the order they ran; valid until the next begin_step().
  const std::vector<BucketTime>& bucket_times() const { return times_; }
  // Time finish() spent blocked on the communicator, summed over steps.
  std::chrono::nanoseconds wait_time() const { return wait_; }

 private:
  struct Bucket {
    std::size_t begin = 0, end = 0;  // element range in the arena
  };
  void launch_until(std::size_t from);

  collectives::Communicator& comm_;
  std::span<float> grads_;
  std::vector<Bucket> buckets_;  // from the end of the arena to its start
  std::vector<collectives::Work> pending_;
  std::size_t launched_ = 0;  // buckets started this step
  std::chrono::nanoseconds wait_{0};
  bool timing_ = false;
  std::vector<BucketTime> times_;                // per bucket of the step
  std::atomic<std::size_t> observed_{0};         // buckets whose run the communicator reported
  std::atomic<bool> in_step_{false};
};

}  // namespace ringmaster::worker
