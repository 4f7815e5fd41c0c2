// Deadline: a point in steady time after which a blocking operation must give up. Every wait in
// ringmaster takes one, so a dead peer produces an error, never a hang. Value type, thread-safe.
#pragma once

#include <algorithm>
#include <chrono>

namespace ringmaster {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  static Deadline after(std::chrono::milliseconds ms) { return Deadline(Clock::now() + ms); }
  static Deadline never() { return Deadline(Clock::time_point::max()); }

  bool expired() const { return Clock::now() >= at_; }
  // Milliseconds left, clamped to [0, INT_MAX]: a poll() timeout.
  int remaining_ms() const {
    if (at_ == Clock::time_point::max()) return 1 << 30;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(at_ - Clock::now()).count();
    return static_cast<int>(std::clamp<long long>(left + 1, 0, 1 << 30));
  }
  Clock::time_point time_point() const { return at_; }

 private:
  explicit Deadline(Clock::time_point at) : at_(at) {}
  Clock::time_point at_;
};

}  // namespace ringmaster
