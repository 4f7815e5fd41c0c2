// The runner with real processes (small sh scripts): logs and state files, exit codes and signals
// as the OS reports them, restart policies and backoffLimit end to end, a binary that does not
// exist, TrainJob step ordering. The time-dependent semantics (deadlines, back-off, suspension,
// clean-pod policy, stops) run on a fake clock in runner_semantics_test.cc.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "common/files.h"
#include "jobs/loader.h"
#include "jobs/trainer.h"
#include "launcher/runner.h"

using namespace ringmaster;
using namespace ringmaster::launcher;
namespace fs = std::filesystem;

namespace {

class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("rm_run_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  JobStatus run(const std::string& yaml, std::function<bool()> stop = {}, std::function<bool()> suspended = {}) {
    auto loaded = jobs::load_string(yaml, "t.yaml");
    EXPECT_TRUE(loaded.ok());
    job_ = std::get<jobs::TrainingJob>(loaded.documents.at(0).object);
    int port = 31000;
    auto plan = plan_job(job_, {"tok", (dir_ / "hostfile").string(), [&port] { return ++port; }, 2, gpus_, {}, {}});
    EXPECT_TRUE(plan.is_ok()) << plan.status().message();
    auto processes = real_processes();
    RunOptions o;
    o.job_dir = (dir_ / "job").string();
    o.poll_interval = std::chrono::milliseconds(5);
    o.grace = std::chrono::milliseconds(500);
    o.backoff.initial = std::chrono::milliseconds(0);  // restart at once: back-off is backoff_test.cc's
    o.stop_requested = std::move(stop);
    o.suspended = std::move(suspended);
    JobRunner runner(job_, std::move(*plan), *processes, o);
    return runner.run();
  }
  // A batch Job running `script` with the given restart policy and spec extras.
  std::string batch(const std::string& script, const std::string& policy, const std::string& extra = "") {
    return "apiVersion: batch/v1\nkind: Job\nmetadata: {name: b}\nspec:\n" + extra +
           "  template:\n    spec:\n      restartPolicy: " + policy +
           "\n      containers:\n        - name: main\n          image: i\n          workingDir: " + dir_.string() +
           "\n          command: [sh, -c, '" + script + "']\n";
  }
  // A TrainJob on the TrainingRuntime beside it in `yaml`, run as the JobSet it resolves to.
  JobStatus run_trainjob(const std::string& yaml) {
    auto loaded = jobs::load_string(yaml, "t.yaml");
    EXPECT_TRUE(loaded.ok());
    for (const auto& d : loaded.diagnostics.sorted()) ADD_FAILURE() << d.to_string();
    std::vector<jobs::TrainingRuntime> runtimes;
    const jobs::TrainJob* tj = nullptr;
    for (const auto& d : loaded.documents) {
      if (const auto* r = std::get_if<jobs::TrainingRuntime>(&d.object)) runtimes.push_back(*r);
      if (const auto* t = std::get_if<jobs::TrainJob>(&d.object)) tj = t;
    }
    if (tj == nullptr) {
      ADD_FAILURE() << "no TrainJob";
      return {};
    }
    auto resolved = jobs::resolve_trainjob(*tj, runtimes);
    EXPECT_TRUE(resolved.is_ok()) << resolved.status().message();
    if (!resolved) return {};
    auto job = jobs::trainjob_as_job(*tj, *resolved);
    EXPECT_TRUE(job.is_ok()) << job.status().message();
    if (!job) return {};
    job_ = std::move(*job);
    int port = 32000;
    auto plan = plan_job(job_, {"tok", (dir_ / "hostfile").string(), [&port] { return ++port; }, 2, {}, {}, (dir_ / "job").string()});
    EXPECT_TRUE(plan.is_ok()) << plan.status().message();
    if (!plan) return {};
    plan_ = *plan;
    auto processes = real_processes();
    RunOptions o;
    o.job_dir = (dir_ / "job").string();
    o.poll_interval = std::chrono::milliseconds(5);
    o.grace = std::chrono::milliseconds(500);
    o.backoff.initial = std::chrono::milliseconds(0);
    JobRunner runner(job_, std::move(*plan), *processes, o);
    return runner.run();
  }
  // A TrainingRuntime whose JobSet spec holds `jobset_extra` (failurePolicy, startupPolicy) and one
  // replicatedJob per (name, replicas, job spec extra, script), and a TrainJob on it.
  struct Step {
    std::string name;
    int replicas;
    std::string job_extra;  // e.g. "backoffLimit: 0"
    std::string script;
    std::string restart = "OnFailure";
  };
  std::string trainjob(const std::string& jobset_extra, const std::vector<Step>& steps) {
    std::string y = "apiVersion: trainer.kubeflow.org/v1alpha1\nkind: TrainingRuntime\nmetadata: {name: rt}\nspec:\n"
                    "  mlPolicy: {numNodes: 1}\n  template:\n    spec:\n";
    if (!jobset_extra.empty()) y += "      " + jobset_extra + "\n";
    y += "      replicatedJobs:\n";
    for (const auto& st : steps) {
      y += "        - name: " + st.name + "\n          replicas: " + std::to_string(st.replicas) +
           "\n          template:\n";
      if (st.name == "node") y += "            metadata: {labels: {trainer.kubeflow.org/trainjob-ancestor-step: trainer}}\n";
      y += "            spec:\n";
      if (!st.job_extra.empty()) y += "              " + st.job_extra + "\n";
      y += "              template:\n                spec:\n                  restartPolicy: " + st.restart +
           "\n                  containers: [{name: " + st.name + ", image: i, workingDir: " + dir_.string() +
           ", command: [sh, -c, '" + st.script +
           "'], env: [{name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]}]\n";
    }
    return y + "---\napiVersion: trainer.kubeflow.org/v1alpha1\nkind: TrainJob\nmetadata: {name: tj}\nspec:\n"
               "  runtimeRef: {name: rt, kind: TrainingRuntime}\n";
  }
  std::string events() {
    auto text = read_file((dir_ / "job" / "events.log").string());
    return text ? *text : "";
  }

  nlohmann::json status_file() { return nlohmann::json::parse(read_file((dir_ / "job" / "status.json").string()).value()); }

  fs::path dir_;
  std::vector<Gpu> gpus_;  // the machine's, as plan_job is told
  jobs::TrainingJob job_;
  JobPlan plan_;
};

// Fails (exit 1) until it has run `n` times, counting in a file of the working directory.
std::string fails_until(int n) {
  return "c=$(cat count 2>/dev/null || echo 0); c=$((c+1)); echo $c > count; [ $c -ge " + std::to_string(n) + " ]";
}

}  // namespace

TEST_F(RunnerTest, SucceedingJobWritesStatusEventsAndLogs) {
  JobStatus s = run(batch("echo hello from $RINGMASTER_JOB_NAME", "Never"));
  EXPECT_EQ(s.phase, "Succeeded");
  EXPECT_EQ(s.conditions, (std::vector<std::string>{"Created", "Running", "Succeeded"}));
  auto j = status_file();
  EXPECT_EQ(j["phase"], "Succeeded");
  EXPECT_EQ(j["replicaStatuses"]["Job"]["succeeded"], 1);
  EXPECT_EQ(read_file(s.replicas[0].log).value(), "hello from b\n");
  const std::string events = read_file((dir_ / "job" / "events.log").string()).value();
  EXPECT_NE(events.find("Created "), std::string::npos);
  EXPECT_NE(events.find("Succeeded/JobSucceeded"), std::string::npos);
}

TEST_F(RunnerTest, OnFailureRestartsUntilSuccess) {
  JobStatus s = run(batch(fails_until(3), "OnFailure"));
  EXPECT_EQ(s.phase, "Succeeded") << s.message;
  EXPECT_EQ(s.restarts, 2);
  EXPECT_EQ(s.replicas[0].restarts, 2);
  EXPECT_TRUE(fs::exists(dir_ / "job" / "logs" / "b-job-0-2.log"));  // one log per restart
  EXPECT_NE(std::find(s.conditions.begin(), s.conditions.end(), "Restarting"), s.conditions.end());
}

TEST_F(RunnerTest, BackoffLimitStopsRestarting) {
  JobStatus s = run(batch("exit 1", "OnFailure", "  backoffLimit: 2\n"));
  EXPECT_EQ(s.phase, "Failed");
  EXPECT_EQ(s.reason, "BackoffLimitExceeded");
  EXPECT_EQ(s.restarts, 2);
  EXPECT_NE(s.message.find("Job has reached the specified backoff limit"), std::string::npos);
}

TEST_F(RunnerTest, NeverFailsTheJobOnTheFirstFailure) {
  JobStatus s = run(batch("exit 4", "Never"));
  EXPECT_EQ(s.phase, "Failed");
  EXPECT_EQ(s.reason, "ReplicaFailed");
  EXPECT_EQ(s.message, "replica b-job-0 failed with exit code 4");
  EXPECT_EQ(s.restarts, 0);
}

TEST_F(RunnerTest, ExitCodeRestartsOnSignalsAndFailsOnPermanentCodes) {
  const char* tf = R"(apiVersion: kubeflow.org/v1
kind: TFJob
metadata: {name: ec}
spec:
  tfReplicaSpecs:
    Worker:
      restartPolicy: ExitCode
      template:
        spec:
          containers:
            - name: tensorflow
              image: i
              workingDir: DIR
              command: [sh, -c, 'if [ -e killed ]; then exit 3; fi; touch killed; kill -9 $$$$']
)";
  // The shell's $$ is written $$$$: the kubelet (and the launcher) reads $$ as an escaped $.
  std::string yaml = tf;
  yaml.replace(yaml.find("DIR"), 3, dir_.string());
  JobStatus s = run(yaml);
  EXPECT_EQ(s.phase, "Failed");
  EXPECT_EQ(s.reason, "ExitCodePermanent");
  EXPECT_EQ(s.restarts, 1);  // 137 (SIGKILL) was retried, 3 was not
  EXPECT_NE(s.message.find("exit code 3"), std::string::npos) << s.message;
}

TEST_F(RunnerTest, GangStartFailureFailsTheJobCleanly) {
  const char* tf = R"(apiVersion: kubeflow.org/v1
kind: TFJob
metadata: {name: gang}
spec:
  tfReplicaSpecs:
    PS:
      template: {spec: {containers: [{name: tensorflow, image: i, command: [sh, -c, 'sleep 30']}]}}
    Worker:
      template: {spec: {containers: [{name: tensorflow, image: i, command: [/no/such/binary]}]}}
)";
  JobStatus s = run(tf);
  EXPECT_EQ(s.phase, "Failed");
  EXPECT_EQ(s.reason, "FailedToStart");
  EXPECT_NE(s.message.find("gang-worker-0 could not start: cannot start /no/such/binary"), std::string::npos)
      << s.message;
  EXPECT_EQ(s.replicas[0].phase, "Stopped");  // the PS that did start was stopped
  EXPECT_TRUE(s.left_running.empty());  // under the default cleanPodPolicy None too: the gang never ran
}

// Issue 21 item 3: an elastic PyTorchJob without a Master succeeds once any Worker has (pytorch
// UpdateJobStatus), where a plain one waits for every Worker.
TEST_F(RunnerTest, ElasticPyTorchJobSucceedsWithAnyWorker) {
  const std::string job = R"(apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata: {name: el}
spec:
  EXTRA
  runPolicy: {cleanPodPolicy: All}
  pytorchReplicaSpecs:
    Worker:
      replicas: 2
      restartPolicy: Never
      template: {spec: {containers: [{name: pytorch, image: i, command: [sh, -c, 'test -n "$PET_RDZV_ENDPOINT" && mkdir first 2>/dev/null && exit 0; sleep 30']}]}}
)";
  auto with = [&](const std::string& extra) {
    std::string y = job;
    y.replace(y.find("EXTRA"), 5, extra);
    return y;
  };
  const auto t0 = std::chrono::steady_clock::now();
  JobStatus elastic = run(with("elasticPolicy: {minReplicas: 1, maxReplicas: 2}"));
  EXPECT_EQ(elastic.phase, "Succeeded") << elastic.message;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20)) << "did not wait for the sleeping worker";
}

// Issue 22: JobSet's failurePolicy, each child Job's backoffLimit and podFailurePolicy, and
// startupPolicy InOrder, as jobset v0.12's controller applies them (pkg/controllers/
// failure_policy.go, startup_policy.go) and batch/v1 counts pod failures.
TEST_F(RunnerTest, TrainJobWithoutFailurePolicyFailsAtTheFirstFailedChildJob) {
  const JobStatus s = run_trainjob(trainjob("", {{"node", 1, "backoffLimit: 0", "exit 3"}}));
  EXPECT_EQ(s.phase, "Failed");
  EXPECT_EQ(s.reason, "FailedJobs");
  EXPECT_NE(s.message.find("first failed job: tj-node-0"), std::string::npos) << s.message;
  EXPECT_EQ(events().find("RestartingJobSet"), std::string::npos);
  EXPECT_EQ(status_file()["trainJobConditions"][0]["reason"], "FailedJobs");
}

TEST_F(RunnerTest, EachChildJobCountsItsOwnBackoffLimit) {
  // Two child Jobs each fail once, with backoffLimit 1 each: both are retried (a job-wide count
  // would have failed the second), and the TrainJob completes.
  const JobStatus s = run_trainjob(trainjob("", {{"node", 2, "backoffLimit: 1", "mkdir tried-$POD 2>/dev/null && exit 1; echo $POD retried"}}));
  EXPECT_EQ(s.phase, "Succeeded") << s.message;
}

TEST_F(RunnerTest, FailurePolicyRulesPickTheActionByReasonAndTarget) {
  // podFailurePolicy FailJob on exit 42 fails the child Job with reason PodFailurePolicy; the rule
  // for that reason fails the JobSet although maxRestarts would allow restarts.
  const std::string rules =
      "failurePolicy: {maxRestarts: 3, rules: [{name: other, action: RestartJobSet, onJobFailureReasons: [BackoffLimitExceeded]}, "
      "{name: fail, action: FailJobSet, onJobFailureReasons: [PodFailurePolicy], targetReplicatedJobs: [node]}]}";
  const JobStatus fail = run_trainjob(trainjob(
      rules, {{"node", 1, "podFailurePolicy: {rules: [{action: FailJob, onExitCodes: {operator: In, values: [42]}}]}", "exit 42",
               "Never"}}));
  EXPECT_EQ(fail.phase, "Failed");
  EXPECT_EQ(fail.reason, "FailJobSetFailurePolicyAction");
  EXPECT_NE(fail.message.find("Container node for pod tj-node-0-0 failed with exit code 42 matching FailJob rule at index 0"),
            std::string::npos)
      << fail.message;
  EXPECT_EQ(events().find("RestartingJobSet"), std::string::npos);
}

TEST_F(RunnerTest, RestartJobSetAndIgnoreMaxRestartsRestartsBeyondMaxRestarts) {
  // maxRestarts 0: only the uncounted action can restart. (Trainer's CRD requires a rule's name,
  // which JobSet's own webhook would default.)
  const std::string script = "mkdir tried 2>/dev/null && exit 3; echo second run";
  const JobStatus s = run_trainjob(trainjob("failurePolicy: {maxRestarts: 0, rules: [{name: again, action: RestartJobSetAndIgnoreMaxRestarts}]}",
                                            {{"node", 1, "backoffLimit: 0", script}}));
  EXPECT_EQ(s.phase, "Succeeded") << s.message;
  EXPECT_NE(events().find("RestartingJobSet FailurePolicy_again"), std::string::npos) << events();
  fs::remove(dir_ / "tried");
  // A rule for another replicatedJob does not apply: the default RestartJobSet is at maxRestarts 0.
  const JobStatus t = run_trainjob(trainjob(
      "failurePolicy: {maxRestarts: 0, rules: [{name: init, action: RestartJobSetAndIgnoreMaxRestarts, targetReplicatedJobs: [init]}]}",
      {{"init", 1, "", "true"}, {"node", 1, "backoffLimit: 0", script}}));
  EXPECT_EQ(t.phase, "Failed");
  EXPECT_EQ(t.reason, "ReachedMaxRestarts");
}

TEST_F(RunnerTest, PodFailurePolicyIgnoreDoesNotCountTowardBackoffLimit) {
  // Exit 5 twice, then success, with backoffLimit 0: only the Ignore rule lets it through.
  const std::string script = "c=$(cat n 2>/dev/null || echo 0); c=$((c+1)); echo $c > n; [ $c -ge 3 ] || exit 5";
  const JobStatus s = run_trainjob(trainjob(
      "", {{"node", 1, "backoffLimit: 0\n              podFailurePolicy: {rules: [{action: Ignore, onExitCodes: {operator: In, values: [5]}}]}",
            script, "Never"}}));
  EXPECT_EQ(s.phase, "Succeeded") << s.message;
  EXPECT_EQ(s.restarts, 2);
}

TEST_F(RunnerTest, StartupPolicyInOrderWaitsForTheJobBefore) {
  const JobStatus s = run_trainjob(trainjob("startupPolicy: {startupPolicyOrder: InOrder}",
                                            {{"first", 1, "", "true"}, {"node", 1, "", "true"}}));
  EXPECT_EQ(s.phase, "Succeeded") << s.message;
  ASSERT_EQ(plan_.replicas.size(), 2u);
  EXPECT_TRUE(plan_.replicas[0].depends_on.empty());
  EXPECT_EQ(plan_.replicas[1].depends_on, (std::vector<std::pair<std::string, std::string>>{{"first", "Ready"}}));
  // The Prometheus endpoint reports the TrainJob as Trainer does: its condition and jobsStatus.
  const std::string metrics = job_metrics_text(s, std::chrono::steady_clock::now());
  EXPECT_NE(metrics.find("ringmaster_trainjob_condition{job=\"tj\",type=\"Complete\"} 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("ringmaster_trainjob_jobs{job=\"tj\",replicated_job=\"node\",state=\"succeeded\"} 1"),
            std::string::npos)
      << metrics;
}

// A TrainJob's volumes here (plan.h): the mount path in the command becomes the hostPath, which is
// left as it is (not made, not made private), and an emptyDir is the pod's own directory.
TEST_F(RunnerTest, TrainJobVolumesAreRewrittenToThisMachinesDirectories) {
  fs::create_directories(dir_ / "host");
  fs::permissions(dir_ / "host", fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                     fs::perms::others_read | fs::perms::others_exec);
  std::ofstream(dir_ / "host" / "f") << "from the host\n";
  const std::string yaml = R"(apiVersion: trainer.kubeflow.org/v1alpha1
kind: TrainingRuntime
metadata: {name: rt}
spec:
  mlPolicy: {numNodes: 1}
  template:
    spec:
      replicatedJobs:
        - name: node
          template:
            metadata: {labels: {trainer.kubeflow.org/trainjob-ancestor-step: trainer}}
            spec:
              template:
                spec:
                  containers:
                    - name: node
                      image: i
                      command: [sh, -c, 'cat /data/f > /scratch/copy && cat /scratch/copy']
                      volumeMounts: [{name: host, mountPath: /data}, {name: scratch, mountPath: /scratch}]
                  volumes: [{name: host, hostPath: {path: HOST}}, {name: scratch, emptyDir: {}}]
---
apiVersion: trainer.kubeflow.org/v1alpha1
kind: TrainJob
metadata: {name: tj}
spec:
  runtimeRef: {name: rt, kind: TrainingRuntime}
)";
  std::string y = yaml;
  y.replace(y.find("HOST"), 4, (dir_ / "host").string());
  const JobStatus s = run_trainjob(y);
  EXPECT_EQ(s.phase, "Succeeded") << s.message;
  EXPECT_EQ(read_file(s.replicas.at(0).log).value(), "from the host\n");
  EXPECT_TRUE(fs::exists(dir_ / "job" / "volumes" / "tj-node-0-0" / "scratch" / "copy"));
  EXPECT_EQ(fs::status(dir_ / "host").permissions() & fs::perms::others_read, fs::perms::others_read);
  EXPECT_EQ(std::find(plan_.directories.begin(), plan_.directories.end(), (dir_ / "host").string()), plan_.directories.end());
}

TEST_F(RunnerTest, StatusSaysWhichGpusEachReplicaSees) {
  gpus_ = {{0, "GPU-a", "NVIDIA H100", 81559}, {1, "GPU-b", "NVIDIA H100", 81559}};
  const std::string replica = "      restartPolicy: Never\n      template:\n        metadata: {annotations: {ANN}}\n"
                              "        spec:\n          containers:\n            - name: pytorch\n              image: i\n"
                              "              command: [sh, -c, 'true']\n              resources: {limits: {LIM}}\n";
  auto with = [&](std::string r, const std::string& ann, const std::string& lim) {
    r.replace(r.find("ANN"), 3, ann);
    r.replace(r.find("LIM"), 3, lim);
    return r;
  };
  JobStatus s = run("apiVersion: kubeflow.org/v1\nkind: PyTorchJob\nmetadata: {name: g}\nspec:\n  pytorchReplicaSpecs:\n"
                    "    Master:\n      replicas: 1\n" + with(replica, "", "nvidia.com/gpu: 1") +
                    "    Worker:\n      replicas: 2\n" + with(replica, "ringmaster.io/gpu-fraction: \"0.5\"", ""));
  EXPECT_EQ(s.phase, "Succeeded");
  const auto j = status_file();
  ASSERT_EQ(j["replicas"].size(), 3u);
  EXPECT_EQ(j["replicas"][0]["gpus"], "0") << "the Master's whole GPU";
  EXPECT_EQ(j["replicas"][1]["gpus"], "1 (50% of the SMs)") << "two halves share the other one";
  EXPECT_EQ(j["replicas"][2]["gpus"], "1 (50% of the SMs)");
}
