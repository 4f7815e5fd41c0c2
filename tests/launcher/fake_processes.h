// FakeProcesses: the launcher's Processes seam (launcher/process.h) on a FakeClock, for the
// runner's semantics with injected faults and no real time: restarts, back-off, deadlines, success
// and clean-pod policies, suspension, a command that cannot start, a replica that ignores SIGTERM.
// In the spirit of LevelDB's fault-injection Env.
//
// A script says, for each start of a replica (its name and the how-many-th start it is), what that
// run does: how long it lasts (kForever: until signalled), how it ends, or that it cannot start.
// wait() is where time passes: it advances the clock by its timeout, so a runner loop polling every
// 20 ms covers a minute of job time in 3,000 iterations and a few milliseconds.
#pragma once

#include <signal.h>

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "launcher/process.h"

namespace ringmaster::launcher::testing {

class FakeProcesses final : public Processes {
 public:
  static constexpr Clock::duration kForever = std::chrono::hours(24 * 365);
  struct Attempt {
    Clock::duration lasts = kForever;
    int code = 0;                 // its exit code when it ends by itself
    int signal = 0;               // or the signal that killed it (a crash, an OOM kill)
    bool fails_to_start = false;  // start() fails, as for a missing binary
    bool ignores_sigterm = false;  // only SIGKILL ends it
  };
  using Script = std::function<Attempt(const ProcessSpec& spec, int attempt)>;

  FakeProcesses(FakeClock& clock, Script script) : clock_(clock), script_(std::move(script)) {}

  Result<int> start(const ProcessSpec& spec) override {
    int attempt = 0;
    for (const auto& s : starts) attempt += s.spec.name == spec.name;
    const Attempt a = script_(spec, attempt);
    if (a.fails_to_start) return invalid_argument("cannot start " + (spec.argv.empty() ? "" : spec.argv[0]));
    starts.push_back({spec, clock_.now()});
    procs_.push_back({clock_.now() + a.lasts, a, 0});
    return static_cast<int>(procs_.size()) - 1;
  }
  std::optional<ExitStatus> poll(int h) override {
    const Proc& p = procs_.at(static_cast<std::size_t>(h));
    if (p.killed) return ExitStatus{0, p.killed, ""};
    if (clock_.now() >= p.ends) return ExitStatus{p.attempt.code, p.attempt.signal, ""};
    return std::nullopt;
  }
  void signal(int h, int sig) override {
    Proc& p = procs_.at(static_cast<std::size_t>(h));
    signals.emplace_back(starts.at(static_cast<std::size_t>(h)).spec.name, sig);
    if (p.killed || clock_.now() >= p.ends) return;
    if (sig == SIGKILL || !p.attempt.ignores_sigterm) p.killed = sig;
  }
  void wait(std::chrono::milliseconds timeout) override { clock_.advance(timeout); }

  // Starts of `name` so far.
  int started(const std::string& name) const {
    int n = 0;
    for (const auto& s : starts) n += s.spec.name == name;
    return n;
  }
  // The value of `var` in the environment `name` was first started with ("" when unset).
  std::string env_of(const std::string& name, const std::string& var) const {
    for (const auto& s : starts)
      if (s.spec.name == name)
        for (const auto& [k, v] : s.spec.env)
          if (k == var) return v;
    return "";
  }

  struct Start {
    ProcessSpec spec;
    Clock::time_point at;
  };
  std::vector<Start> starts;                           // in order
  std::vector<std::pair<std::string, int>> signals;  // (replica, signal), in order

 private:
  struct Proc {
    Clock::time_point ends;
    Attempt attempt;
    int killed;
  };
  FakeClock& clock_;
  Script script_;
  std::vector<Proc> procs_;
};

}  // namespace ringmaster::launcher::testing
