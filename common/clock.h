// Clock: the seam around steady time for time-dependent semantics (restart back-off, deadlines,
// phase durations), so tests drive them with a FakeClock instead of sleeping.
//
//   SteadyClock  std::chrono::steady_clock; stateless, thread-safe
//   FakeClock    starts at an arbitrary fixed point and moves only by advance(); thread-safe
//
// Code that takes a `const Clock*` treats nullptr as the steady clock (see clock_or_steady).
#pragma once

#include <atomic>
#include <chrono>

namespace ringmaster {

class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;
  virtual ~Clock() = default;
  virtual time_point now() const = 0;
};

class SteadyClock final : public Clock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
};

class FakeClock final : public Clock {
 public:
  time_point now() const override { return time_point(duration(ticks_.load())); }
  void advance(duration d) { ticks_.fetch_add(d.count()); }

 private:
  std::atomic<duration::rep> ticks_{duration(std::chrono::hours(1)).count()};
};

// `clock`, or the process's steady clock when it is null.
inline const Clock& clock_or_steady(const Clock* clock) {
  static const SteadyClock steady;  // stateless: not global state in any sense that matters
  return clock ? *clock : steady;
}

}  // namespace ringmaster
