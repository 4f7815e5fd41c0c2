// The runner's semantics on a fake clock with fake processes (fake_processes.h), with injected
// faults: the kubelet's CrashLoopBackOff (issue 20: a replica failing at once was restarted ~93
// times a second), its reset after a long run, its report in status.json, events and metrics;
// activeDeadlineSeconds; a TFJob's chief deciding success and cleanPodPolicy; stop requests;
// suspension and runPolicy.suspend; a gang whose member cannot start; a replica that ignores
// SIGTERM. Nothing here sleeps: the whole file runs in milliseconds (runner_test.cc keeps the
// checks that need real processes: logs, exit codes and signals as the OS reports them).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>

#include <filesystem>
#include <functional>

#include "common/clock.h"
#include "common/files.h"
#include "jobs/loader.h"
#include "launcher/runner.h"
#include "tests/launcher/fake_processes.h"
#include "tests/worker/scratch_fixture.h"

using namespace ringmaster;
using namespace ringmaster::launcher;
using namespace std::chrono_literals;
using launcher::testing::FakeProcesses;

namespace {

// A fresh directory per test comes from the shared fixture (its output sink is unused here).
class RunnerSemantics : public ScratchFixture {
 protected:
  void SetUp() override {
    ScratchFixture::SetUp();
    t0_ = clock_.now();
  }

  // Runs a batch Job of one replica with `policy` and `extra` spec fields until it ends or the
  // fake clock reaches `until`.
  JobStatus run(FakeProcesses& processes, const std::string& policy, Clock::duration until,
                const std::string& extra = "", std::function<void(const JobStatus&)> on_change = {}) {
    const std::string yaml = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: b}\nspec:\n" + extra +
                             "  template:\n    spec:\n      restartPolicy: " + policy +
                             "\n      containers: [{name: main, image: i, command: [x]}]\n";
    return run_yaml(processes, yaml, [this, until] { return clock_.now() - t0_ >= until; }, {}, std::move(on_change));
  }
  // Runs the job in `yaml` until it ends or `stop` says so.
  JobStatus run_yaml(FakeProcesses& processes, const std::string& yaml, std::function<bool()> stop,
                     std::function<bool()> suspended = {}, std::function<void(const JobStatus&)> on_change = {}) {
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
    o.stop_requested = std::move(stop);
    o.suspended = std::move(suspended);
    o.on_change = std::move(on_change);
    JobRunner runner(job_, std::move(*plan), processes, o);
    return runner.run();
  }
  // Seconds from the first start to each later one.
  std::vector<double> start_times(const FakeProcesses& p) const {
    std::vector<double> out;
    for (const auto& st : p.starts) out.push_back(seconds(st.at));
    return out;
  }
  double seconds(Clock::time_point t) const { return std::chrono::duration<double>(t - t0_).count(); }
  nlohmann::json status_file() const {
    return nlohmann::json::parse(read_file((dir_ / "job" / "status.json").string()).value());
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
TEST_F(RunnerSemantics, RestartBackoffCrashLoopDoublesToFiveMinutes) {
  FakeProcesses p(clock_, [](const ProcessSpec&, int) { return FakeProcesses::Attempt{0s, 1}; });
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

TEST_F(RunnerSemantics, RestartBackoffStartsOverAfterTenMinutesOfRunning) {
  FakeProcesses p(clock_, [](const ProcessSpec&, int attempt) {
    return FakeProcesses::Attempt{attempt == 3 ? Clock::duration(11min) : Clock::duration(0s), 1};
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

TEST_F(RunnerSemantics, RestartBackoffAppearsInStatusEventsAndMetrics) {
  FakeProcesses p(clock_, [](const ProcessSpec&, int) { return FakeProcesses::Attempt{0s, 3}; });
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
TEST_F(RunnerSemantics, RestartBackoffSpreadsTheBackoffLimitOverMinutes) {
  FakeProcesses p(clock_, [](const ProcessSpec&, int) { return FakeProcesses::Attempt{0s, 1}; });
  JobStatus s = run(p, "OnFailure", 1h, "  backoffLimit: 3\n");
  EXPECT_EQ(s.reason, "BackoffLimitExceeded");
  EXPECT_EQ(s.restarts, 3);
  EXPECT_NEAR(std::chrono::duration<double>(clock_.now() - t0_).count(), 70, 1.0);
}

TEST_F(RunnerSemantics, ActiveDeadlineCountsOnTheClock) {
  FakeProcesses p(clock_, [](const ProcessSpec&, int) { return FakeProcesses::Attempt{10h, 0}; });
  JobStatus s = run(p, "Never", 1h, "  activeDeadlineSeconds: 90\n");
  EXPECT_EQ(s.reason, "DeadlineExceeded");
  EXPECT_NEAR(s.elapsed_seconds, 90, 0.1);
  EXPECT_EQ(s.replicas[0].phase, "Stopped");
}

// Issue 24, item 4: a failed state write is not dropped. Without its hostfile mpirun cannot place
// ranks, so the job fails at once, saying why, and nothing is started.
TEST_F(RunnerSemantics, AHostfileThatCannotBeWrittenFailsTheJobBeforeAnyStart) {
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
  FakeProcesses p(clock_, [](const ProcessSpec&, int) { return FakeProcesses::Attempt{0s, 0}; });
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

TEST_F(RunnerSemantics, ActiveDeadlineFailsTheJobAndStopsEverything) {
  FakeProcesses p(clock_, [](const ProcessSpec&, int) { return FakeProcesses::Attempt{}; });  // runs for ever
  JobStatus s = run(p, "Never", 1h, "  activeDeadlineSeconds: 1\n");
  EXPECT_EQ(s.phase, "Failed");
  EXPECT_EQ(s.reason, "DeadlineExceeded");
  EXPECT_EQ(s.message, "Job was active longer than specified deadline");
  EXPECT_EQ(s.replicas[0].phase, "Stopped");
  EXPECT_EQ(p.signals, (std::vector<std::pair<std::string, int>>{{"b-job-0", SIGTERM}}));
}

// The grace period: SIGTERM, then SIGKILL once `grace` (1 s here) has passed on the clock.
TEST_F(RunnerSemantics, AReplicaThatIgnoresSigtermIsKilledAfterTheGracePeriod) {
  FakeProcesses p(clock_, [](const ProcessSpec&, int) {
    FakeProcesses::Attempt a;
    a.ignores_sigterm = true;
    return a;
  });
  JobStatus s = run(p, "Never", 1h, "  activeDeadlineSeconds: 5\n");
  EXPECT_EQ(s.reason, "DeadlineExceeded");
  ASSERT_EQ(p.signals.size(), 2u);
  EXPECT_EQ(p.signals[0].second, SIGTERM);
  EXPECT_EQ(p.signals[1].second, SIGKILL);
  EXPECT_NEAR(seconds(clock_.now()), 6.0, 0.1);  // the deadline, then the grace period
  ASSERT_TRUE(s.replicas[0].last_exit.has_value());
  EXPECT_EQ(s.replicas[0].last_exit->signal, SIGKILL);
}

TEST_F(RunnerSemantics, TfJobSucceedsWithItsChiefAndStopsTheParameterServers) {
  FakeProcesses p(clock_, [](const ProcessSpec& spec, int) {
    return spec.name == "tfc-chief-0" ? FakeProcesses::Attempt{200ms, 0} : FakeProcesses::Attempt{};
  });
  const JobStatus s = run_yaml(p, R"(apiVersion: kubeflow.org/v1
kind: TFJob
metadata: {name: tfc}
spec:
  runPolicy: {cleanPodPolicy: Running}
  tfReplicaSpecs:
    Chief:
      template: {spec: {containers: [{name: tensorflow, image: i, command: [x]}]}}
    PS:
      replicas: 2
      template: {spec: {containers: [{name: tensorflow, image: i, command: [x]}]}}
)",
                               [this] { return clock_.now() - t0_ > 1h; });
  EXPECT_EQ(s.phase, "Succeeded") << s.message;
  EXPECT_NE(p.env_of("tfc-chief-0", "TF_CONFIG").find("\"type\":\"chief\""), std::string::npos);
  for (const auto& r : s.replicas) {
    if (r.type == "PS") {
      EXPECT_EQ(r.phase, "Stopped");
    }
  }
  EXPECT_NEAR(seconds(clock_.now()), 0.2, 0.1);
}

TEST_F(RunnerSemantics, CleanPodPolicyNoneLeavesReplicasRunningUntilTheyEndOrAreStopped) {
  // The chief succeeds at once; ps-0 ends by itself 0.5 s later with exit code 3 (and is not
  // restarted although its policy says OnFailure: the job has finished), ps-1 runs until the stop
  // request at 1.5 s.
  FakeProcesses p(clock_, [](const ProcessSpec& spec, int) {
    if (spec.name == "tfn-chief-0") return FakeProcesses::Attempt{0s, 0};
    if (spec.name == "tfn-ps-0") return FakeProcesses::Attempt{500ms, 3};
    return FakeProcesses::Attempt{};
  });
  bool ps0_ended_while_job_succeeded = false;
  const JobStatus s = run_yaml(p, R"Y(apiVersion: kubeflow.org/v1
kind: TFJob
metadata: {name: tfn}
spec:
  runPolicy: {cleanPodPolicy: None}
  tfReplicaSpecs:
    Chief:
      template: {spec: {containers: [{name: tensorflow, image: i, command: [x]}]}}
    PS:
      replicas: 2
      restartPolicy: OnFailure
      template: {spec: {containers: [{name: tensorflow, image: i, command: [x]}]}}
)Y",
                               [&] {
                                 if (clock_.now() - t0_ < 1500ms) return false;
                                 auto st = status_file();
                                 ps0_ended_while_job_succeeded = st["phase"] == "Succeeded" &&
                                                                 st["replicas"][1]["phase"] == "Failed" &&
                                                                 st["replicas"][2]["phase"] == "Running";
                                 return true;
                               });
  EXPECT_EQ(s.phase, "Succeeded") << s.message;
  EXPECT_TRUE(ps0_ended_while_job_succeeded);
  EXPECT_EQ(s.restarts, 0);
  EXPECT_EQ(p.started("tfn-ps-0"), 1);
  EXPECT_EQ(s.replicas[1].phase, "Failed");
  EXPECT_EQ(s.replicas[2].phase, "Stopped");
  EXPECT_EQ(s.left_running, (std::vector<std::string>{"tfn-ps-0", "tfn-ps-1"}));
  const std::string events = read_file((dir_ / "job" / "events.log").string()).value();
  EXPECT_NE(events.find("CleanPodPolicy None: tfn-ps-0, tfn-ps-1 left running"), std::string::npos) << events;
}

TEST_F(RunnerSemantics, StopRequestFailsTheJobWithTheReason) {
  FakeProcesses p(clock_, [](const ProcessSpec&, int) { return FakeProcesses::Attempt{}; });
  JobStatus s = run(p, "OnFailure", 2s);
  EXPECT_EQ(s.phase, "Failed");
  EXPECT_EQ(s.reason, "Stopped");
  EXPECT_EQ(s.replicas[0].phase, "Stopped");
  EXPECT_EQ(s.restarts, 0);  // stopped, not failed: nothing restarts
}

TEST_F(RunnerSemantics, SuspendStopsTheReplicasAndResumeStartsThemAgain) {
  // Each run of the replica lasts 1.5 s. Suspended from 0.3 s to 0.8 s, so the first run is cut
  // short and a second one completes at about 2.3 s: after the 2 s deadline counted from the
  // start, before it counted from the resume (2.8 s), which is what Kubernetes does.
  FakeProcesses p(clock_, [](const ProcessSpec&, int) { return FakeProcesses::Attempt{1500ms, 0}; });
  bool saw_suspended_without_process = false;
  const auto batch = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: b}\nspec:\n  activeDeadlineSeconds: 2\n"
                     "  template:\n    spec:\n      restartPolicy: Never\n"
                     "      containers: [{name: main, image: i, command: [x]}]\n";
  const JobStatus s = run_yaml(
      p, batch, [this] { return clock_.now() - t0_ > 1h; },
      [&] {
        const auto since = clock_.now() - t0_;
        const bool want = since > 300ms && since < 800ms;
        if (want && since > 650ms) {
          auto st = status_file();
          if (st["phase"] == "Suspended" && st["replicas"][0]["phase"] == "Pending") saw_suspended_without_process = true;
        }
        return want;
      });
  EXPECT_EQ(s.phase, "Succeeded") << s.reason << ": " << s.message;
  EXPECT_TRUE(saw_suspended_without_process);
  EXPECT_EQ(s.restarts, 0);  // a suspension is not a restart, and restartPolicy Never did not fail the job
  ASSERT_EQ(p.starts.size(), 2u);
  EXPECT_NEAR(seconds(p.starts[1].at), 0.8, 0.05);
  EXPECT_NEAR(seconds(clock_.now()), 2.3, 0.1);
  EXPECT_NE(std::find(s.conditions.begin(), s.conditions.end(), "Suspended"), s.conditions.end());
}

TEST_F(RunnerSemantics, RunPolicySuspendStartsNothingUntilResumed) {
  FakeProcesses p(clock_, [](const ProcessSpec&, int) { return FakeProcesses::Attempt{0s, 0}; });
  const auto batch = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: b}\nspec:\n  template:\n    spec:\n"
                     "      restartPolicy: Never\n      containers: [{name: main, image: i, command: [x]}]\n";
  const JobStatus s = run_yaml(p, batch, [this] { return clock_.now() - t0_ > 10min; }, [] { return true; });
  EXPECT_EQ(s.phase, "Failed");
  EXPECT_EQ(s.reason, "Stopped");
  EXPECT_TRUE(p.starts.empty());
  EXPECT_EQ(s.conditions.at(1), "Suspended");
}

// Fault injection: one replica of a gang cannot start (its binary is missing). The job fails at
// once, and the replicas that did start are stopped.
TEST_F(RunnerSemantics, GangStartFailureFailsTheJobAndStopsTheOthers) {
  FakeProcesses p(clock_, [](const ProcessSpec& spec, int) {
    FakeProcesses::Attempt a;
    a.fails_to_start = spec.name == "gang-worker-0";
    return a;
  });
  const JobStatus s = run_yaml(p, R"(apiVersion: kubeflow.org/v1
kind: TFJob
metadata: {name: gang}
spec:
  tfReplicaSpecs:
    PS:
      template: {spec: {containers: [{name: tensorflow, image: i, command: [x]}]}}
    Worker:
      template: {spec: {containers: [{name: tensorflow, image: i, command: [/no/such/binary]}]}}
)",
                               [this] { return clock_.now() - t0_ > 1h; });
  EXPECT_EQ(s.phase, "Failed");
  EXPECT_EQ(s.reason, "FailedToStart");
  EXPECT_NE(s.message.find("gang-worker-0 could not start: cannot start /no/such/binary"), std::string::npos)
      << s.message;
  EXPECT_EQ(s.replicas[0].phase, "Stopped");
  EXPECT_EQ(p.signals, (std::vector<std::pair<std::string, int>>{{"gang-ps-0", SIGTERM}}));
  EXPECT_LT(seconds(clock_.now()), 0.1);
}
