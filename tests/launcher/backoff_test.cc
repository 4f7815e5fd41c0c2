// Time-dependent semantics of JobRunner on a fake clock: the kubelet's CrashLoopBackOff (issue 20:
// a replica failing at once was restarted ~93 times a second), its reset after a long run, its
// report in status.json, events and metrics, and activeDeadlineSeconds. Nothing here sleeps.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>

#include <filesystem>
#include <functional>

#include "common/clock.h"
#include "common/files.h"
#include "jobs/loader.h"
#include "launcher/runner.h"
#include "tests/worker/scratch_fixture.h"

using namespace ringmaster;
using namespace ringmaster::launcher;
using namespace std::chrono_literals;

namespace {

// Replicas that are scripts on a fake clock: each start of a replica runs for what `script` says
// for that attempt and then exits with its code; wait() is where time passes.
class ScriptedProcesses : public Processes {
 public:
  struct Attempt {
    Clock::duration lasts;
    int code = 1;
  };
  ScriptedProcesses(FakeClock& clock, std::function<Attempt(const std::string&, int)> script)
      : clock_(clock), script_(std::move(script)) {}

  Result<int> start(const ProcessSpec& spec) override {
    int attempt = 0;
    for (const auto& [name, at] : starts) attempt += name == spec.name;
    starts.emplace_back(spec.name, clock_.now());
    const Attempt a = script_(spec.name, attempt);
    procs_.push_back({clock_.now() + a.lasts, a.code, 0});
    return static_cast<int>(procs_.size()) - 1;
  }
  std::optional<ExitStatus> poll(int h) override {
    const Proc& p = procs_.at(static_cast<std::size_t>(h));
    if (p.killed) return ExitStatus{0, p.killed, ""};
    if (clock_.now() >= p.ends) return ExitStatus{p.code, 0, ""};
    return std::nullopt;
  }
  void signal(int h, int sig) override { procs_.at(static_cast<std::size_t>(h)).killed = sig; }
  void wait(std::chrono::milliseconds timeout) override { clock_.advance(timeout); }

  std::vector<std::pair<std::string, Clock::time_point>> starts;

 private:
  struct Proc {
    Clock::time_point ends;
    int code;
    int killed;
  };
  FakeClock& clock_;
  std::function<Attempt(const std::string&, int)> script_;
  std::vector<Proc> procs_;
};

// A fresh directory per test comes from the shared fixture (its output sink is unused here).
class BackoffTest : public ScratchFixture {
 protected:
  void SetUp() override {
    ScratchFixture::SetUp();
    t0_ = clock_.now();
  }

  // Runs a batch Job of one replica with `policy` and `extra` spec fields until it ends or the
  // fake clock reaches `until`.
  JobStatus run(ScriptedProcesses& processes, const std::string& policy, Clock::duration until,
                const std::string& extra = "", std::function<void(const JobStatus&)> on_change = {}) {
    const std::string yaml = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: b}\nspec:\n" + extra +
                             "  template:\n    spec:\n      restartPolicy: " + policy +
                             "\n      containers: [{name: main, image: i, command: [x]}]\n";
    auto loaded = jobs::load_string(yaml, "t.yaml");
    EXPECT_TRUE(loaded.ok());
    job_ = std::get<jobs::TrainingJob>(loaded.documents.at(0).object);
    int port = 31000;
    auto plan = plan_job(job_, {"tok", (dir_ / "hostfile").string(), [&port] { return ++port; }, 2, {}, {}, {}});
    EXPECT_TRUE(plan.is_ok());
    RunOptions o;
    o.job_dir = (dir_ / "job").string();
    o.clock = &clock_;
    o.poll_interval = 20ms;
    o.grace = 1s;
    o.stop_requested = [this, until] { return clock_.now() - t0_ >= until; };
    o.on_change = std::move(on_change);
    JobRunner runner(job_, std::move(*plan), processes, o);
    return runner.run();
  }
  // Seconds from the first start to each later one.
  std::vector<double> start_times(const ScriptedProcesses& p) const {
    std::vector<double> out;
    for (const auto& [name, at] : p.starts) out.push_back(std::chrono::duration<double>(at - t0_).count());
    return out;
  }

  FakeClock clock_;
  Clock::time_point t0_;
  jobs::TrainingJob job_;
};

}  // namespace

TEST(NextBackoff, DoublesFromTenSecondsToFiveMinutesAndStartsOverAfterTenMinutesOfRunning) {
  const RestartBackoff b;  // the kubelet's 10 s and 300 s
  const Clock::time_point t{};
  EXPECT_EQ(next_backoff(b, {}, t, t), 10s);
  EXPECT_EQ(next_backoff(b, 10s, t, t + 1s), 20s);
  EXPECT_EQ(next_backoff(b, 160s, t, t), 300s);
  EXPECT_EQ(next_backoff(b, 300s, t, t), 300s);
  EXPECT_EQ(next_backoff(b, 300s, t, t + 600s), 300s);  // 2 x max is the limit, not yet past it
  EXPECT_EQ(next_backoff(b, 300s, t, t + 601s), 10s);
  EXPECT_EQ(next_backoff({0ms, 300s}, 40s, t, t), Clock::duration::zero());  // back-off turned off
  EXPECT_EQ(next_backoff({2s, 1s}, 2s, t, t), 2s);  // a maximum below the initial delay is the initial
}

// Issue 20, item 1: 2781 restarts in 30 s before; the kubelet restarts after 10, 30, 70 s ...
TEST_F(BackoffTest, RestartBackoffCrashLoopDoublesToFiveMinutes) {
  ScriptedProcesses p(clock_, [](const std::string&, int) { return ScriptedProcesses::Attempt{0s, 1}; });
  JobStatus s = run(p, "OnFailure", 30min, "  backoffLimit: 100\n");  // batch/v1 defaults it to 6
  EXPECT_EQ(s.reason, "Stopped");
  const auto t = start_times(p);
  ASSERT_GE(t.size(), 9u);
  const double expected_gaps[] = {10, 20, 40, 80, 160, 300, 300, 300};
  for (std::size_t i = 0; i < 8; ++i) EXPECT_NEAR(t[i + 1] - t[i], expected_gaps[i], 0.1) << "restart " << i + 1;
  int in_first_30s = 0;
  for (double x : t) in_first_30s += x > 0 && x <= 30.1;
  EXPECT_EQ(in_first_30s, 2);  // at 10 s and 30 s
  EXPECT_EQ(s.restarts, static_cast<int>(t.size()) - 1);
  // One event line per exit, start and back-off: a few dozen lines, not thousands.
  const std::string events = read_file((dir_ / "job" / "events.log").string()).value();
  EXPECT_NE(events.find("BackOff back-off 300s restarting failed replica b-job-0 (it ended with exit code 1)"),
            std::string::npos);
  EXPECT_LT(std::count(events.begin(), events.end(), '\n'), 60);
}

TEST_F(BackoffTest, RestartBackoffStartsOverAfterTenMinutesOfRunning) {
  ScriptedProcesses p(clock_, [](const std::string&, int attempt) {
    return ScriptedProcesses::Attempt{attempt == 3 ? Clock::duration(11min) : Clock::duration(0s), 1};
  });
  run(p, "OnFailure", 15min, "  backoffLimit: 100\n");
  const auto t = start_times(p);
  ASSERT_GE(t.size(), 6u);
  EXPECT_NEAR(t[1] - t[0], 10, 0.1);
  EXPECT_NEAR(t[2] - t[1], 20, 0.1);
  EXPECT_NEAR(t[3] - t[2], 40, 0.1);
  EXPECT_NEAR(t[4] - t[3], 11 * 60 + 10, 0.1);  // ran 11 minutes: back to 10 s
  EXPECT_NEAR(t[5] - t[4], 20, 0.1);
}

TEST_F(BackoffTest, RestartBackoffAppearsInStatusEventsAndMetrics) {
  ScriptedProcesses p(clock_, [](const std::string&, int) { return ScriptedProcesses::Attempt{0s, 3}; });
  std::vector<std::string> messages;
  std::string metrics_in_backoff;
  nlohmann::json file_in_backoff;
  run(p, "OnFailure", 12s, "", [&](const JobStatus& s) {
    messages.push_back(s.phase + ": " + s.message);
    if (s.replicas[0].backing_off() && s.replicas[0].restarts == 1) {
      metrics_in_backoff = job_metrics_text(s, clock_.now());
      file_in_backoff = nlohmann::json::parse(read_file((dir_ / "job" / "status.json").string()).value());
    }
  });
  EXPECT_NE(std::find(messages.begin(), messages.end(),
                      "Restarting: back-off 10s restarting failed replica b-job-0 (it ended with exit code 3)"),
            messages.end());
  EXPECT_NE(std::find(messages.begin(), messages.end(), "Running: "), messages.end());  // restarted at 10 s
  EXPECT_NE(std::find(messages.begin(), messages.end(),
                      "Restarting: back-off 20s restarting failed replica b-job-0 (it ended with exit code 3)"),
            messages.end());
  ASSERT_FALSE(metrics_in_backoff.empty());
  EXPECT_NE(metrics_in_backoff.find(
                "ringmaster_replica_waiting{job=\"b\",replica=\"b-job-0\",reason=\"CrashLoopBackOff\"} 1"),
            std::string::npos)
      << metrics_in_backoff;
  EXPECT_NE(metrics_in_backoff.find("ringmaster_replica_backoff_seconds{job=\"b\",replica=\"b-job-0\"} 20"),
            std::string::npos);
  EXPECT_NE(metrics_in_backoff.find("ringmaster_job_phase{job=\"b\",phase=\"Restarting\"} 1"), std::string::npos);
  EXPECT_EQ(file_in_backoff["phase"], "Restarting");
  EXPECT_EQ(file_in_backoff["reason"], "CrashLoopBackOff");
  EXPECT_EQ(file_in_backoff["replicas"][0]["phase"], "CrashLoopBackOff");
  EXPECT_EQ(file_in_backoff["replicas"][0]["backoffSeconds"], 20.0);
  EXPECT_TRUE(file_in_backoff["replicas"][0].contains("restartAt"));
  EXPECT_EQ(file_in_backoff["replicaStatuses"]["Job"]["active"], 1);  // a pod in CrashLoopBackOff is Running
}

// Before: "the whole budget is spent in 0.13 s". Now three restarts take 10 + 20 + 40 s.
TEST_F(BackoffTest, RestartBackoffSpreadsTheBackoffLimitOverMinutes) {
  ScriptedProcesses p(clock_, [](const std::string&, int) { return ScriptedProcesses::Attempt{0s, 1}; });
  JobStatus s = run(p, "OnFailure", 1h, "  backoffLimit: 3\n");
  EXPECT_EQ(s.reason, "BackoffLimitExceeded");
  EXPECT_EQ(s.restarts, 3);
  EXPECT_NEAR(std::chrono::duration<double>(clock_.now() - t0_).count(), 70, 1.0);
}

TEST_F(BackoffTest, ActiveDeadlineCountsOnTheClock) {
  ScriptedProcesses p(clock_, [](const std::string&, int) { return ScriptedProcesses::Attempt{10h, 0}; });
  JobStatus s = run(p, "Never", 1h, "  activeDeadlineSeconds: 90\n");
  EXPECT_EQ(s.reason, "DeadlineExceeded");
  EXPECT_NEAR(s.elapsed_seconds, 90, 0.1);
  EXPECT_EQ(s.replicas[0].phase, "Stopped");
}

// Issue 24, item 4: a failed state write is not dropped. Without its hostfile mpirun cannot place
// ranks, so the job fails at once, saying why, and nothing is started.
TEST_F(BackoffTest, AHostfileThatCannotBeWrittenFailsTheJobBeforeAnyStart) {
  auto loaded = jobs::load_string(
      "apiVersion: batch/v1\nkind: Job\nmetadata: {name: b}\nspec:\n  template:\n    spec:\n      restartPolicy: "
      "Never\n      containers: [{name: main, image: i, command: [x]}]\n",
      "t.yaml");
  ASSERT_TRUE(loaded.ok());
  job_ = std::get<jobs::TrainingJob>(loaded.documents.at(0).object);
  int port = 31000;
  const std::string unwritable = (dir_ / "no-such-dir" / "hostfile").string();
  auto plan = plan_job(job_, {"tok", unwritable, [&port] { return ++port; }, 2, {}, {}, {}});
  ASSERT_TRUE(plan.is_ok());
  plan->hostfile_path = unwritable;  // as an MPIJob's plan has
  plan->hostfile = "localhost slots=1\n";
  ScriptedProcesses p(clock_, [](const std::string&, int) { return ScriptedProcesses::Attempt{0s, 0}; });
  RunOptions o;
  o.job_dir = (dir_ / "job").string();
  o.clock = &clock_;
  JobRunner runner(job_, std::move(*plan), p, o);
  const JobStatus s = runner.run();
  EXPECT_EQ(s.phase, "Failed");
  EXPECT_EQ(s.reason, "HostfileNotWritten");
  EXPECT_NE(s.message.find(unwritable), std::string::npos) << s.message;
  EXPECT_TRUE(p.starts.empty());
}
