// Defaults and webhook rules of every kind, one behaviour per test, from inline YAML.
#include <gtest/gtest.h>

#include "jobs/loader.h"

using namespace ringmaster::jobs;

namespace {

LoadResult load(const std::string& yaml, LoadOptions o = {}) { return load_string(yaml, "t.yaml", o); }

std::string messages(const LoadResult& r) {
  std::string out;
  for (const auto& d : r.diagnostics.sorted()) out += d.to_string() + "\n";
  return out;
}

const TrainingJob& job_of(const LoadResult& r) { return std::get<TrainingJob>(r.documents.at(0).object); }

const char* kTfJob = R"(apiVersion: kubeflow.org/v1
kind: TFJob
metadata: {name: tf}
spec:
  tfReplicaSpecs:
    worker:
      template:
        spec:
          containers: [{name: tensorflow, image: img}]
)";

}  // namespace

TEST(TFJob, DefaultsAsTheTrainingOperator) {
  auto r = load(kTfJob);
  ASSERT_TRUE(r.ok()) << messages(r);
  const auto& j = job_of(r);
  ASSERT_EQ(j.replicas.size(), 1u);
  EXPECT_EQ(j.replicas[0].type, "Worker");  // case-normalized
  EXPECT_EQ(j.replicas[0].replicas, 1);
  EXPECT_EQ(j.replicas[0].restart_policy, RestartPolicy::kNever);
  EXPECT_EQ(j.run_policy.clean_pod_policy, CleanPodPolicy::kNone);
  EXPECT_EQ(j.success_policy, "");
  EXPECT_EQ(j.metadata.namespace_, "default");
  const auto& c = j.replicas[0].template_.containers[0];
  ASSERT_EQ(c.ports.size(), 1u);
  EXPECT_EQ(c.ports[0].name, "tfjob-port");
  EXPECT_EQ(c.ports[0].port, 2222);
  const YAML::Node& n = r.documents[0].normalized;
  EXPECT_EQ(n["spec"]["tfReplicaSpecs"]["Worker"]["replicas"].as<int>(), 1);
  EXPECT_EQ(n["spec"]["tfReplicaSpecs"]["Worker"]["restartPolicy"].as<std::string>(), "Never");
  EXPECT_FALSE(n["spec"]["tfReplicaSpecs"]["worker"].IsDefined());
  EXPECT_EQ(n["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"].as<int>(), 2222);
  EXPECT_EQ(n["spec"]["runPolicy"]["cleanPodPolicy"].as<std::string>(), "None");
  EXPECT_EQ(n["spec"]["successPolicy"].as<std::string>(), "");
}

TEST(TFJob, ExistingPortIsKept) {
  std::string y = kTfJob;
  y.replace(y.find("image: img}"), 11, "image: img, ports: [{name: tfjob-port, containerPort: 3333}]}");
  auto r = load(y);
  ASSERT_TRUE(r.ok()) << messages(r);
  ASSERT_EQ(job_of(r).replicas[0].template_.containers[0].ports.size(), 1u);
  EXPECT_EQ(job_of(r).replicas[0].template_.containers[0].ports[0].port, 3333);
}

TEST(TFJob, CanonicalReplicaOrder) {
  auto r = load(R"(apiVersion: kubeflow.org/v1
kind: TFJob
metadata: {name: tf}
spec:
  successPolicy: AllWorkers
  tfReplicaSpecs:
    Evaluator: {template: {spec: {containers: [{name: tensorflow, image: i}]}}}
    Worker: {replicas: 3, restartPolicy: ExitCode, template: {spec: {containers: [{name: tensorflow, image: i}]}}}
    ps: {replicas: 2, template: {spec: {containers: [{name: tensorflow, image: i}]}}}
    CHIEF: {template: {spec: {containers: [{name: tensorflow, image: i}]}}}
)");
  ASSERT_TRUE(r.ok()) << messages(r);
  const auto& j = job_of(r);
  std::vector<std::string> types;
  for (const auto& s : j.replicas) types.push_back(s.type);
  EXPECT_EQ(types, (std::vector<std::string>{"Chief", "PS", "Worker", "Evaluator"}));
  EXPECT_EQ(j.replica("Worker")->restart_policy, RestartPolicy::kExitCode);
  EXPECT_EQ(j.total_replicas(), 7);
  EXPECT_EQ(j.success_policy, "AllWorkers");
}

TEST(PyTorchJob, DefaultsAsTheTrainingOperator) {
  auto r = load(R"(apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata: {name: pt}
spec:
  pytorchReplicaSpecs:
    Master: {template: {spec: {containers: [{name: pytorch, image: i}]}}}
    Worker: {replicas: 3, template: {spec: {containers: [{name: pytorch, image: i}]}}}
)");
  ASSERT_TRUE(r.ok()) << messages(r);
  const auto& j = job_of(r);
  EXPECT_EQ(j.replica("Master")->replicas, 1);
  EXPECT_EQ(j.replica("Master")->restart_policy, RestartPolicy::kOnFailure);
  EXPECT_EQ(j.replica("Worker")->restart_policy, RestartPolicy::kOnFailure);
  EXPECT_EQ(j.replica("Worker")->template_.containers[0].ports[0].port, 23456);
  EXPECT_EQ(j.replica("Worker")->template_.containers[0].ports[0].name, "pytorchjob-port");
  EXPECT_EQ(j.nproc_per_node, "auto");
  EXPECT_EQ(r.documents[0].normalized["spec"]["nprocPerNode"].as<std::string>(), "auto");
}

TEST(PyTorchJob, ElasticPolicyMinMaxFromEachOther) {
  auto r = load(R"(apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata: {name: pt}
spec:
  elasticPolicy: {maxReplicas: 4}
  pytorchReplicaSpecs:
    Worker: {replicas: 2, template: {spec: {containers: [{name: pytorch, image: i}]}}}
)");
  ASSERT_TRUE(r.ok()) << messages(r);
  ASSERT_TRUE(job_of(r).elastic_policy);
  EXPECT_EQ(job_of(r).elastic_policy->min_replicas, 4);
  EXPECT_EQ(job_of(r).elastic_policy->max_replicas, 4);
}

TEST(PyTorchJob, UnknownReplicaTypeRefused) {
  auto r = load(R"(apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata: {name: pt}
spec:
  pytorchReplicaSpecs:
    Chief: {template: {spec: {containers: [{name: pytorch, image: i}]}}}
)");
  EXPECT_EQ(messages(r),
            "t.yaml:6:5: error: spec.pytorchReplicaSpecs.Chief: expected a replica type, one of Master, Worker (any case), "
            "found \"Chief\"\n");
}

const char* kMpiJob = R"(apiVersion: kubeflow.org/v2beta1
kind: MPIJob
metadata: {name: mpi}
spec:
  mpiReplicaSpecs:
    Launcher: {template: {spec: {containers: [{name: l, image: i}]}}}
    Worker: {replicas: 2, template: {spec: {containers: [{name: w, image: i}]}}}
)";

TEST(MPIJob, DefaultsAsTheMpiOperator) {
  auto r = load(kMpiJob);
  ASSERT_TRUE(r.ok()) << messages(r);
  const auto& j = job_of(r);
  EXPECT_EQ(j.slots_per_worker, 1);
  EXPECT_EQ(j.mpi_implementation, "OpenMPI");
  EXPECT_FALSE(j.run_launcher_as_worker);
  EXPECT_EQ(j.ssh_auth_mount_path, "/root/.ssh");
  EXPECT_EQ(j.replica("Launcher")->replicas, 1);
  EXPECT_EQ(j.replica("Launcher")->restart_policy, RestartPolicy::kOnFailure);
  EXPECT_EQ(j.replica("Worker")->restart_policy, RestartPolicy::kNever);
  EXPECT_EQ(j.run_policy.clean_pod_policy, CleanPodPolicy::kNone);
  const YAML::Node& n = r.documents[0].normalized["spec"];
  EXPECT_EQ(n["slotsPerWorker"].as<int>(), 1);
  EXPECT_EQ(n["mpiImplementation"].as<std::string>(), "OpenMPI");
  EXPECT_EQ(n["launcherCreationPolicy"].as<std::string>(), "AtStartup");
  // MPIJob gets no default port: workers are reached over ssh.
  EXPECT_TRUE(j.replica("Worker")->template_.containers[0].ports.empty());
}

TEST(MPIJob, WorkerReplicasMustBePositive) {
  std::string y = kMpiJob;
  y.replace(y.find("replicas: 2"), 11, "replicas: 0");
  EXPECT_EQ(messages(load(y)), "t.yaml:7:24: error: spec.mpiReplicaSpecs.Worker.replicas: expected at least 1, found 0\n");
}

TEST(MPIJob, LauncherRequired) {
  auto r = load(R"(apiVersion: kubeflow.org/v2beta1
kind: MPIJob
metadata: {name: mpi}
spec:
  mpiReplicaSpecs:
    Worker: {replicas: 2, template: {spec: {containers: [{name: w, image: i}]}}}
)");
  EXPECT_EQ(messages(r), "t.yaml:6:5: error: spec.mpiReplicaSpecs.Launcher: expected a Launcher replica spec, found none\n");
}

TEST(MPIJob, LongNameOverflowsWorkerHostName) {
  std::string y = kMpiJob;
  y.replace(y.find("name: mpi}"), 10, "name: " + std::string(60, 'a') + "}");
  auto r = load(y);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(messages(r).find("which gives \"" + std::string(60, 'a') + "-worker-1\""), std::string::npos) << messages(r);
}

TEST(MPIJob, V1alpha2SeedFormLoads) {
  auto r = load_file(std::string(RINGMASTER_SOURCE_DIR) + "/tests/fixtures/good/mpijob-v1alpha2-seed.yaml");
  ASSERT_TRUE(r.ok()) << messages(r);
  const auto& j = job_of(r);
  EXPECT_EQ(j.api_version, "kubeflow.org/v1alpha2");
  EXPECT_EQ(j.run_policy.clean_pod_policy, CleanPodPolicy::kRunning);
  EXPECT_EQ(j.replica("Worker")->replicas, 2);
  EXPECT_EQ(j.replica("Worker")->template_.containers[0].limits.at("nvidia.com/gpu"), "1");
  EXPECT_EQ(j.replica("Launcher")->template_.containers[0].command.at(0), "mpirun");
}

TEST(BatchJob, DefaultsAsKubernetes) {
  auto r = load(R"(apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec:
  template:
    spec:
      restartPolicy: OnFailure
      containers: [{name: c, image: i, command: [echo, hi]}]
)");
  ASSERT_TRUE(r.ok()) << messages(r);
  const auto& j = job_of(r);
  EXPECT_EQ(j.kind, JobKind::kBatchJob);
  EXPECT_EQ(j.run_policy.backoff_limit, 6);
  EXPECT_EQ(j.completions, 1);
  EXPECT_EQ(j.replicas.at(0).restart_policy, RestartPolicy::kOnFailure);
}

TEST(BatchJob, RestartPolicyRequired) {
  auto r = load(R"(apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec:
  template:
    spec:
      containers: [{name: c, image: i}]
)");
  EXPECT_EQ(messages(r), "t.yaml:7:7: error: spec.template.spec.restartPolicy: expected Never or OnFailure, found none\n");
}

TEST(RunPolicy, AllFieldsRead) {
  std::string y = kTfJob;
  y.replace(y.find("spec:\n  tfReplicaSpecs"), 5,
            "spec:\n  runPolicy:\n    cleanPodPolicy: All\n    ttlSecondsAfterFinished: 60\n    activeDeadlineSeconds: 600\n"
            "    backoffLimit: 4\n    suspend: true\n    schedulingPolicy: {minAvailable: 2, queue: q1, priorityClass: high}");
  auto r = load(y);
  ASSERT_TRUE(r.ok()) << messages(r);
  const RunPolicy& p = job_of(r).run_policy;
  EXPECT_EQ(p.clean_pod_policy, CleanPodPolicy::kAll);
  EXPECT_EQ(p.ttl_seconds_after_finished, 60);
  EXPECT_EQ(p.active_deadline_seconds, 600);
  EXPECT_EQ(p.backoff_limit, 4);
  EXPECT_TRUE(p.suspend);
  ASSERT_TRUE(p.scheduling_policy);
  EXPECT_EQ(p.scheduling_policy->min_available, 2);
  EXPECT_EQ(p.scheduling_policy->queue, "q1");
}

TEST(Strictness, WarnModeTurnsUnknownFieldsIntoWarnings) {
  std::string y = kTfJob;
  y.replace(y.find("worker:"), 7, "worker:\n      replica: 3");
  LoadOptions o;
  o.strict = false;
  auto r = load(y, o);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(messages(r), "t.yaml:7:7: warning: spec.tfReplicaSpecs.worker.replica: unknown field \"replica\", did you mean \"replicas\"?\n");
  EXPECT_FALSE(load(y).ok());
}

TEST(Limits, DeepNestingIsRefused) {
  // Deeper than our limit: refused before any recursive check runs.
  std::string y = "apiVersion: kubeflow.org/v1\nkind: TFJob\nmetadata: {name: x, labels: " + std::string(150, '[') +
                  std::string(150, ']') + "}\n";
  auto r = load(y);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(messages(r).find("nested at most 100 levels"), std::string::npos) << messages(r);
}

// Issue 20 item 4 (deep_nesting_refused_while_parsing): 100,000 levels took 15-47 s (quadratic in
// the depth) and ended with "bad file". Now the parse stops at level 101 (the mapping `a:` is level
// 1, so the 100th bracket), where the message points.
TEST(Limits, DeepNestingRefusedWhileParsing) {
  for (const std::string& deep : {"a: " + std::string(100000, '[') + std::string(100000, ']') + "\n",
                                  "a: " + std::string(100000, '{')}) {
    auto r = load(deep);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(messages(r), "t.yaml:1:103: error: expected YAML nested at most 100 levels deep (the loader's fixed "
                           "limit; job objects nest about 15), found deeper nesting\n");
  }
  std::string block = "a:\n";
  for (int i = 1; i < 300; ++i) block += std::string(2 * i, ' ') + "b:\n";
  EXPECT_NE(messages(load(block)).find("t.yaml:101:201: error: expected YAML nested at most 100 levels"),
            std::string::npos);
}

// Issue 20 item 4 (many_replicas_refused): 100,000 replicas validated, and render then grew to 4.6 GB.
TEST(Limits, ManyReplicasRefused) {
  const std::string job = R"(apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata: {name: huge}
spec:
  pytorchReplicaSpecs:
    Master: {template: {spec: {containers: [{name: pytorch, image: i}]}}}
    Worker:
      replicas: N
      template: {spec: {containers: [{name: pytorch, image: i}]}}
)";
  auto with = [&](const std::string& n) { return job.substr(0, job.find('N')) + n + job.substr(job.find('N') + 1); };
  EXPECT_EQ(messages(load(with("100000"))),
            "t.yaml:8:17: error: spec.pytorchReplicaSpecs.Worker.replicas: expected at most 10000 replicas of one type "
            "(ringmaster's limit for one job; --max-replicas raises it), found 100000\n");
  EXPECT_EQ(messages(load(with("10000"))),
            "t.yaml:6:5: error: spec.pytorchReplicaSpecs: expected at most 10000 replicas in all (ringmaster's limit "
            "for one job; --max-replicas raises it), found 10001\n");
  EXPECT_TRUE(load(with("9999")).ok());
  LoadOptions more;
  more.max_replicas = 200000;
  EXPECT_TRUE(load(with("100000"), more).ok());
  const std::string batch = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: b}\nspec:\n  parallelism: 20000\n"
                            "  template: {spec: {restartPolicy: Never, containers: [{name: m, image: i}]}}\n";
  EXPECT_NE(messages(load(batch)).find("t.yaml:5:16: error: spec.parallelism: expected at most 10000 replicas"),
            std::string::npos)
      << messages(load(batch));
}

// Issue 20 item 6 (port_range): the API server allows containerPort 1-65535 and hostPort 0-65535.
TEST(Limits, PortsOutsideTheirRangeAreRefused) {
  std::string y = std::string(kTfJob);
  y.replace(y.find("image: img}"), 11,
            "image: img, ports: [{containerPort: -1}, {containerPort: 65536}, {containerPort: 1, hostPort: 70000}, "
            "{containerPort: 65535, hostPort: 0}]}");
  const std::string m = messages(load(y));
  EXPECT_NE(m.find("containers[0].ports[0].containerPort: expected a port number between 1 and 65535, found -1"),
            std::string::npos) << m;
  EXPECT_NE(m.find("containers[0].ports[1].containerPort: expected a port number between 1 and 65535, found 65536"),
            std::string::npos) << m;
  EXPECT_NE(m.find("containers[0].ports[2].hostPort: expected a port number between 1 and 65535 (or 0 for none), "
                   "found 70000"), std::string::npos) << m;
  EXPECT_EQ(m.find("ports[3]"), std::string::npos) << m;
}

TEST(Limits, AliasExpansionIsBounded) {
  // A billion-laughs document: 9 levels of 10 aliases each expand to 10^9 nodes.
  std::string y = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    std::string prev = "*a" + std::to_string(i - 1);
    y += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) y += (k ? ", " : "") + prev;
    y += "]\n";
  }
  auto r = load(y);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(messages(r).find("YAML nodes (aliases expanded)"), std::string::npos) << messages(r);
}

TEST(Limits, BinaryAndOversizedInputRefused) {
  EXPECT_EQ(messages(load(std::string("kind: \0\x01", 8))), "t.yaml: error: expected YAML text, found binary data (a NUL byte)\n");
  LoadOptions o;
  o.max_file_bytes = 16;
  EXPECT_EQ(messages(load(kTfJob, o)).substr(0, 36), "t.yaml: error: expected at most 16 b");
}

TEST(Limits, InvalidUtf8Refused) {
  EXPECT_EQ(messages(load("kind: TFJob\nmetadata: {name: \"a\xff\"}\n")),
            "t.yaml:2:20: error: expected UTF-8 text, found an invalid byte\n");
  EXPECT_EQ(messages(load("a: \xc0\xaf\n")), "t.yaml:1:4: error: expected UTF-8 text, found an invalid byte\n");  // overlong
  EXPECT_NE(messages(load("a: \"caf\xc3\xa9\"\n")).find("apiVersion"), std::string::npos);  // valid UTF-8 passes
}

TEST(Limits, WrongShapesAreReportedNotThrown) {
  // Regressions found by the fuzzer: scalars where the defaulting writes into mappings.
  EXPECT_EQ(messages(load("apiVersion: batch/v1\nkind: Job\nmetadata: x\nspec: {template: {spec: {restartPolicy: Never, containers: [{name: c}]}}}\n")),
            "t.yaml:3:11: error: metadata: expected a mapping, found string \"x\"\n"
            "t.yaml:3:11: error: metadata.name: expected a job name, found none\n");
  auto r = load("apiVersion: kubeflow.org/v1\nkind: TFJob\nmetadata: {name: a}\nspec:\n  runPolicy: 5\n  tfReplicaSpecs:\n"
                "    Worker: {template: {spec: {containers: [x]}}}\n");
  EXPECT_EQ(messages(r),
            "t.yaml:5:14: error: spec.runPolicy: expected a mapping, found integer 5\n"
            "t.yaml:7:44: error: spec.tfReplicaSpecs.Worker.template.spec.containers: expected a container named \"tensorflow\" in replica type Worker (the operator's default container), found \"\"\n"
            "t.yaml:7:45: error: spec.tfReplicaSpecs.Worker.template.spec.containers[0]: expected a mapping, found string \"x\"\n"
            "t.yaml:7:45: error: spec.tfReplicaSpecs.Worker.template.spec.containers[0].image: expected a container image, found none\n");
}

TEST(Limits, YamlCppHangInputIsRejectedBySyntaxCheck) {
  // Found by the fuzzer: yaml-cpp 0.7 loops forever on this; libyaml's check rejects it first.
  auto r = load_file(std::string(RINGMASTER_SOURCE_DIR) + "/tests/fuzz/regressions/yaml-cpp-hang.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(messages(r).find(":4:34: error: expected valid YAML, found a syntax error"), std::string::npos) << messages(r);
}

TEST(Limits, YamlCppHangOnTaggedMultilinePlainScalarIsRejected) {
  // Found by the fuzzer: valid YAML that yaml-cpp 0.7 loops on forever; refused before it is parsed.
  auto r = load_file(std::string(RINGMASTER_SOURCE_DIR) + "/tests/fuzz/regressions/yaml-cpp-hang-tagged-multiline.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(messages(r).find(":1:1: error: expected valid YAML, found a syntax error: a tagged plain scalar spans "
                             "several lines; quote the value or put it on one line"),
            std::string::npos)
      << messages(r);
  auto r2 = load_file(std::string(RINGMASTER_SOURCE_DIR) + "/tests/fuzz/regressions/yaml-cpp-hang-tagged-comma.yaml");
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(messages(r2).find("a tagged plain scalar spans several lines"), std::string::npos) << messages(r2);
  // The same value quoted, or untagged, loads as usual (as a scalar document, which is not an object).
  EXPECT_EQ(messages(load("! 'c c \"lp\",2'\n")).find("syntax error"), std::string::npos);
  EXPECT_EQ(messages(load("c c\n\"lp\",2\n")).find("syntax error"), std::string::npos);
}

TEST(Limits, AnAnchorNameRunningIntoAnotherCharacterIsRejected) {
  // Found by the fuzzer: libyaml reads `&k?ind",` as anchor k and then `?ind",`; yaml-cpp 0.7 takes
  // the whole as the anchor's name and loops forever. Refused before yaml-cpp parses it.
  auto r = load_file(std::string(RINGMASTER_SOURCE_DIR) + "/tests/fuzz/regressions/yaml-cpp-hang-anchor-name-question-mark.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(messages(r).find(":1:1: error: expected valid YAML, found a syntax error: expected a space or a line break "
                             "after &k, found '?' (an anchor's or alias's name is letters, digits, '-' and '_')"),
            std::string::npos)
      << messages(r);
  EXPECT_NE(messages(load("a: &x 1\nb: *x:\n")).find("after *x, found ':'"), std::string::npos);
  // Anchors and aliases as job files use them load as usual.
  for (const char* ok : {"a: &x {k: 1}\nb: *x\n", "a: &x 1\nb: [*x, *x]\nc: {d: *x}\n", "base: &b\n  k: 1\nm:\n  <<: *b\n",
                         "a: &x-y_1 [1]\n", "- &x 1\n- *x\n"})
    EXPECT_EQ(messages(load(ok)).find("syntax error"), std::string::npos) << ok << messages(load(ok));
}

TEST(Limits, LoneCarriageReturnIsALineBreakForBothParsers) {
  // Found by the fuzzer: libyaml ends the comment at the lone CR, yaml-cpp 0.7 did not and looped
  // forever on the rest. Line breaks are normalized first, so both read a scalar document.
  auto r = load_file(std::string(RINGMASTER_SOURCE_DIR) + "/tests/fuzz/regressions/yaml-cpp-hang-lone-cr-in-comment.yaml");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(messages(load("#\rp\n\"\",\n")).find("syntax error"), std::string::npos);
  // CR LF files load as LF files do, with the same positions.
  const std::string crlf = "apiVersion: kubeflow.org/v1\r\nkind: TFJob\r\nmetadata: {name: a}\r\nspec:\r\n  runPolicy: 5\r\n";
  std::string lf = crlf;
  for (std::size_t p; (p = lf.find('\r')) != std::string::npos;) lf.erase(p, 1);
  EXPECT_EQ(messages(load(crlf)), messages(load(lf)));
  EXPECT_NE(messages(load(crlf)).find("t.yaml:5:14: error: spec.runPolicy"), std::string::npos) << messages(load(crlf));
}

TEST(Limits, EmptyAndScalarDocuments) {
  EXPECT_EQ(messages(load("")), "t.yaml: error: expected at least one object, found an empty file\n");
  EXPECT_EQ(messages(load("42\n")),
            "t.yaml:1:1: error: expected a Kubernetes object (a mapping with apiVersion and kind), found integer 42\n");
  EXPECT_EQ(messages(load("kind: TFJob\n")), "t.yaml:1:1: error: apiVersion: expected an apiVersion, found none\n");
}

TEST(Files, MissingFileIsNotInvalidInput) {
  auto r = load_file("/nonexistent/job.yaml");
  EXPECT_TRUE(r.file_unreadable);
  EXPECT_FALSE(r.ok());
}

// ---- Katib Experiment ------------------------------------------------------------------------

const char* kExperiment = R"(apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata: {name: exp}
spec:
  objective: {type: minimize, objectiveMetricName: loss, additionalMetricNames: [accuracy]}
  algorithm: {algorithmName: tpe}
  earlyStopping: {algorithmName: medianstop}
  parameters:
    - {name: lr, parameterType: double, feasibleSpace: {min: "0.01", max: "0.1"}}
    - {name: opt, parameterType: categorical, feasibleSpace: {list: [sgd, adam]}}
  trialTemplate:
    primaryContainerName: pytorch
    trialParameters:
      - {name: learningRate, reference: lr}
      - {name: optimizer, reference: opt}
      - {name: trialName, reference: "${trialSpec.Name}"}
    trialSpec:
      apiVersion: kubeflow.org/v1
      kind: PyTorchJob
      spec:
        pytorchReplicaSpecs:
          Master:
            template:
              spec:
                containers:
                  - name: pytorch
                    image: i
                    command: [train, "--lr=${trialParameters.learningRate}", "--opt=${trialParameters.optimizer}",
                              "--name=${trialParameters.trialName}"]
)";

TEST(Experiment, DefaultsAsKatib) {
  auto r = load(kExperiment);
  ASSERT_TRUE(r.ok()) << messages(r);
  const auto& e = std::get<Experiment>(r.documents[0].object);
  EXPECT_EQ(e.parallel_trial_count, 3);
  EXPECT_EQ(e.resume_policy, "Never");
  EXPECT_EQ(e.metrics_collector.kind, "StdOut");
  ASSERT_EQ(e.objective.metric_strategies.size(), 2u);
  EXPECT_EQ(e.objective.metric_strategies[0], std::make_pair(std::string("loss"), MetricStrategy::kMin));
  EXPECT_EQ(e.objective.metric_strategies[1], std::make_pair(std::string("accuracy"), MetricStrategy::kMin));
  ASSERT_TRUE(e.early_stopping);
  EXPECT_EQ(e.early_stopping->settings,
            (std::vector<std::pair<std::string, std::string>>{{"min_trials_required", "3"}, {"start_step", "4"}}));
  EXPECT_EQ(e.parameters[0].feasible_space.distribution, Distribution::kUniform);
  EXPECT_EQ(e.trial_template.success_condition, R"(status.conditions.#(type=="Succeeded")#|#(status=="True")#)");
  EXPECT_EQ(e.trial_template.primary_pod_labels.at("training.kubeflow.org/job-role"), "master");
  EXPECT_EQ(e.trial_template.trial_parameters.size(), 3u);
  const YAML::Node& n = r.documents[0].normalized["spec"];
  EXPECT_EQ(n["parallelTrialCount"].as<int>(), 3);
  EXPECT_EQ(n["parameters"][0]["feasibleSpace"]["distribution"].as<std::string>(), "uniform");
}

TEST(Experiment, MultiObjectiveAnnotationsAreReadAndChecked) {
  auto with = [](const std::string& annotations) {
    std::string y = kExperiment;
    y.replace(y.find("metadata: {name: exp}"), 21, "metadata:\n  name: exp\n  annotations:\n" + annotations);
    return y;
  };
  auto r = load(with("    ringmaster.io/objectives: \"latency_ms:minimize, accuracy:Maximize\"\n"
                     "    ringmaster.io/hypervolume-reference: \"2, 100, 0.5\"\n"));
  ASSERT_TRUE(r.ok()) << messages(r);
  const auto& e = std::get<Experiment>(r.documents[0].object);
  ASSERT_EQ(e.objective.more.size(), 2u);
  EXPECT_EQ(e.objective.more[0].metric, "latency_ms");
  EXPECT_EQ(e.objective.more[0].type, ObjectiveType::kMinimize);
  EXPECT_EQ(e.objective.more[1].metric, "accuracy");
  EXPECT_EQ(e.objective.more[1].type, ObjectiveType::kMaximize);
  EXPECT_EQ(e.objective.hypervolume_reference, (std::vector<double>{2, 100, 0.5}));
  EXPECT_EQ(messages(load(with("    ringmaster.io/objectives: \"latency_ms:fastest\"\n"))),
            "t.yaml:6:31: error: metadata.annotations[ringmaster.io/objectives]: expected objectives as "
            "METRIC:minimize or METRIC:maximize, separated by commas, found \"latency_ms:fastest\"\n");
  EXPECT_EQ(messages(load(with("    ringmaster.io/objectives: \"loss:minimize\"\n"))),
            "t.yaml:6:31: error: metadata.annotations[ringmaster.io/objectives]: expected each objective once (the "
            "first is the main objective's), found \"loss\" twice\n");
  EXPECT_EQ(messages(load(with("    ringmaster.io/objectives: \"latency_ms:minimize\"\n"
                               "    ringmaster.io/hypervolume-reference: \"2\"\n"))),
            "t.yaml:7:42: error: metadata.annotations[ringmaster.io/hypervolume-reference]: expected one value per "
            "objective (2), found 1\n");
}

// ---- Trainer OptimizationJob --------------------------------------------------------------------

const char* kOptimizationJob = R"(apiVersion: trainer.kubeflow.org/v1alpha1
kind: OptimizationJob
metadata: {name: tune}
spec:
  objectives:
    - {metric: accuracy, direction: Maximize}
  parameters:
    - name: lr
      searchSpace: {logUniform: {min: "0.001", max: "0.1"}}
    - name: width
      searchSpace: {uniform: {min: "16", max: "256", type: Int}}
    - name: opt
      searchSpace: {categorical: {choices: [sgd, adam]}}
  numTrials: 4
  parallelTrials: 2
  trainJobTemplate:
    spec:
      runtimeRef: {name: torch-distributed}
      trainer: {command: [train]}
)";

TEST(OptimizationJob, LoadsAsTheExperimentTheDriverRuns) {
  auto r = load(kOptimizationJob);
  ASSERT_TRUE(r.ok()) << messages(r);
  const auto& e = std::get<Experiment>(r.documents[0].object);
  EXPECT_EQ(e.kind, "OptimizationJob");
  EXPECT_EQ(e.objective.objective_metric_name, "accuracy");
  EXPECT_EQ(e.objective.type, ObjectiveType::kMaximize);
  EXPECT_EQ(e.objective.metric_strategies[0].second, MetricStrategy::kLatest);  // trainerStatus holds the latest
  ASSERT_EQ(e.parameters.size(), 3u);
  EXPECT_EQ(e.parameters[0].type, ParameterType::kDouble);
  EXPECT_EQ(e.parameters[0].feasible_space.distribution, Distribution::kLogUniform);
  EXPECT_EQ(e.parameters[1].type, ParameterType::kInt);
  EXPECT_EQ(e.parameters[2].type, ParameterType::kCategorical);
  EXPECT_EQ(e.algorithm.name, "random");
  EXPECT_EQ(e.max_trial_count, 4);
  EXPECT_EQ(e.parallel_trial_count, 2);
  EXPECT_EQ(e.metrics_collector.kind, "TrainerStatus");
  const YAML::Node& n = r.documents[0].normalized["spec"];
  EXPECT_TRUE(n["searchAlgorithm"]["random"].IsMap());  // the CRD's default
  EXPECT_EQ(n["parameters"][0]["searchSpace"]["logUniform"]["type"].as<std::string>(), "Float");
}

TEST(OptimizationJob, TheCrdsRulesAreCheckedWithItsMessagesAndPositions) {
  auto error_of = [](const std::string& from, const std::string& to) {
    std::string y = kOptimizationJob;
    const auto at = y.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    y.replace(at, from.size(), to);
    return messages(load(y));
  };
  EXPECT_EQ(error_of("parallelTrials: 2", "parallelTrials: 5"),
            "t.yaml:15:19: error: spec: parallelTrials cannot exceed numTrials\n");
  EXPECT_EQ(error_of("{logUniform: {min: \"0.001\"", "{logUniform: {min: \"0\""),
            "t.yaml:9:39: error: spec.parameters[0].searchSpace.logUniform: min must be strictly greater than 0\n");
  EXPECT_EQ(error_of("{uniform: {min: \"16\"", "{uniform: {min: \"300\""),
            "t.yaml:11:36: error: spec.parameters[1].searchSpace.uniform: min must be strictly less than max\n");
  EXPECT_EQ(error_of("max: \"256\", type: Int", "max: \"256.5\", type: Int"),
            "t.yaml:11:47: error: spec.parameters[1].searchSpace.uniform.max: expected an integer for type Int, found "
            "\"256.5\"\n");
  EXPECT_EQ(error_of("{categorical: {choices: [sgd, adam]}}", "{categorical: {choices: [sgd]}, uniform: {min: \"0\", max: \"1\"}}"),
            "t.yaml:13:20: error: spec.parameters[2].searchSpace: exactly one of the fields in [uniform logUniform "
            "categorical] must be set\n");
  EXPECT_EQ(error_of("  numTrials: 4", "  searchAlgorithm: {grid: {}}\n  numTrials: 4"),
            "t.yaml:8:7: error: spec: Grid search requires all parameters to be Categorical; Uniform and LogUniform are "
            "not supported.\n");
  EXPECT_EQ(error_of("    spec:\n      runtimeRef", "    metadata: {name: fixed}\n    spec:\n      runtimeRef"),
            "t.yaml:17:22: error: spec.trainJobTemplate.metadata: name and namespace cannot be set in a template.\n");
  EXPECT_EQ(error_of("    - {metric: accuracy, direction: Maximize}", "    - {metric: accuracy}\n    - {metric: loss}"),
            "t.yaml:7:7: error: spec.objectives: expected at most 1 item (the CRD's maxItems; more objectives through "
            "metadata.annotations[ringmaster.io/objectives], docs/multi-objective.md), found 2\n");
  // The structural schema, from the CRD: unknown fields with a hint.
  EXPECT_NE(error_of("  numTrials: 4", "  numTrial: 4").find("t.yaml:14:3: error: spec.numTrial: unknown field"),
            std::string::npos);
}

TEST(OptimizationJob, OurAlgorithmAnnotationReplacesTheSearchAlgorithm) {
  std::string y = kOptimizationJob;
  y.replace(y.find("metadata: {name: tune}"), 22,
            "metadata:\n  name: tune\n  annotations:\n    ringmaster.io/algorithm: tpe\n"
            "    ringmaster.io/algorithm-settings: \"n_startup_trials=2, gamma=0.3\"\n");
  auto r = load(y);
  ASSERT_TRUE(r.ok()) << messages(r);
  const auto& e = std::get<Experiment>(r.documents[0].object);
  EXPECT_EQ(e.algorithm.name, "tpe");
  EXPECT_EQ(e.algorithm.settings,
            (std::vector<std::pair<std::string, std::string>>{{"n_startup_trials", "2"}, {"gamma", "0.3"}}));
  std::string typo = y;
  typo.replace(typo.find("algorithm: tpe"), 14, "algorithm: tpee");
  EXPECT_NE(messages(load(typo)).find("t.yaml:6:30: error: metadata.annotations[ringmaster.io/algorithm]: expected one of "
                                      "random, grid, tpe"),
            std::string::npos)
      << messages(load(typo));
  y.replace(y.find("n_startup_trials=2"), 18, "n_startup_trials");
  EXPECT_EQ(messages(load(y)),
            "t.yaml:7:39: error: metadata.annotations[ringmaster.io/algorithm-settings]: expected settings as "
            "name=value, separated by commas, found \"n_startup_trials\"\n");
}

TEST(Experiment, FileCollectorDefaultsAndChecks) {
  std::string y = kExperiment;
  y += "  metricsCollectorSpec:\n    collector: {kind: File}\n    source: {fileSystemPath: {path: metrics.txt}}\n";
  EXPECT_EQ(messages(load(y)),
            "t.yaml:32:30: error: spec.metricsCollectorSpec.source.fileSystemPath.path: expected the absolute path of the "
            "metrics file, found \"metrics.txt\"\n");
  y.replace(y.find("path: metrics.txt"), 17, "path: /var/log/m.txt");
  auto r = load(y);
  ASSERT_TRUE(r.ok()) << messages(r);
  const auto& e = std::get<Experiment>(r.documents[0].object);
  EXPECT_EQ(e.metrics_collector.file_format, "TEXT");
}

TEST(Experiment, MetricsFormatNeedsTwoGroups) {
  std::string y = kExperiment;
  y += "  metricsCollectorSpec:\n    source: {filter: {metricsFormat: [\"(\\\\w+)=.*\"]}}\n";
  EXPECT_EQ(messages(load(y)),
            "t.yaml:31:39: error: spec.metricsCollectorSpec.source.filter.metricsFormat[0]: expected a regular expression "
            "(Go syntax) with two capture groups (name, value), found \"(\\\\w+)=.*\": it has 1 capture group(s), where "
            "two (name and value) are needed\n");
}

TEST(Experiment, V1alpha3SeedFormLoads) {
  auto r = load_file(std::string(RINGMASTER_SOURCE_DIR) + "/tests/fixtures/good/experiment-v1alpha3-nasrl-seed.yaml");
  ASSERT_TRUE(r.ok()) << messages(r);
  const auto& e = std::get<Experiment>(r.documents[0].object);
  EXPECT_EQ(e.algorithm.name, "nasrl");
  EXPECT_EQ(e.max_trial_count, 12);
  EXPECT_NE(e.trial_template.raw_template.find("{{.Trial}}"), std::string::npos);
}

TEST(Experiment, V1alpha3TemplateActionsChecked) {
  auto r = load(R"(apiVersion: kubeflow.org/v1alpha3
kind: Experiment
metadata: {name: e}
spec:
  objective: {type: maximize, objectiveMetricName: acc}
  algorithm: {algorithmName: random}
  parameters: [{name: lr, parameterType: double, feasibleSpace: {min: "0.1", max: "1"}}]
  trialTemplate:
    goTemplate:
      rawTemplate: "name: {{.Trail}}\n{{- range .HyperParameters}}x{{.Value}}"
)");
  EXPECT_EQ(messages(r),
            "t.yaml:10:20: error: spec.trialTemplate.goTemplate.rawTemplate: expected template actions on .Trial, .Experiment, "
            ".NameSpace or .HyperParameters (with .Name and .Value), found {{.Trail}}\n"
            "t.yaml:10:20: error: spec.trialTemplate.goTemplate.rawTemplate: expected every with/range/if to be closed by "
            "{{end}}, found 1 unclosed\n");
}

// Issue 21 item 5: Katib 0.9 and 0.10 had resumePolicy in v1alpha3 (Never, LongRunning).
TEST(Experiment, V1alpha3ResumePolicy) {
  const std::string y = R"(apiVersion: kubeflow.org/v1alpha3
kind: Experiment
metadata: {name: e}
spec:
  objective: {type: maximize, objectiveMetricName: acc}
  algorithm: {algorithmName: random}
  resumePolicy: POLICY
  parameters: [{name: lr, parameterType: double, feasibleSpace: {min: "0.1", max: "1"}}]
  trialTemplate:
    goTemplate:
      rawTemplate: "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{.Trial}}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: m\n        image: i\n"
)";
  auto with = [&](const std::string& p) { return y.substr(0, y.find("POLICY")) + p + y.substr(y.find("POLICY") + 6); };
  auto r = load(with("LongRunning"));
  ASSERT_TRUE(r.ok()) << messages(r);
  EXPECT_EQ(std::get<Experiment>(r.documents[0].object).resume_policy, "LongRunning");
  EXPECT_NE(messages(load(with("FromVolume"))).find("t.yaml:7:17: error: spec.resumePolicy: expected one of Never, LongRunning"),
            std::string::npos)
      << messages(load(with("FromVolume")));
}

// Issue 21 item 6: the kind hint only in the same API group and for a near-miss of the name.
TEST(Kinds, HintOnlyForTheSameGroupAndANearName) {
  auto msg = [](const std::string& api, const std::string& kind) {
    return messages(load("apiVersion: " + api + "\nkind: " + kind + "\nmetadata: {name: x}\n"));
  };
  EXPECT_EQ(msg("kubeflow.org/v1", "JAXJob").find("did you mean"), std::string::npos) << msg("kubeflow.org/v1", "JAXJob");
  EXPECT_EQ(msg("kubeflow.org/v1", "PaddleJob").find("did you mean"), std::string::npos);
  EXPECT_EQ(msg("argoproj.io/v1alpha1", "Workflow").find("did you mean"), std::string::npos);
  EXPECT_NE(msg("kubeflow.org/v1", "PytorchJob").find("(did you mean kubeflow.org/v1 PyTorchJob?)"), std::string::npos);
  EXPECT_NE(msg("kubeflow.org/v1beta2", "TFJob").find("(did you mean kubeflow.org/v1 TFJob?)"), std::string::npos);
  EXPECT_EQ(msg("batch/v1", "TFJob").find("did you mean"), std::string::npos);  // another group
}

TEST(Experiment, ParametersOrNasConfigRequired) {
  std::string y = kExperiment;
  auto start = y.find("  parameters:");
  auto end = y.find("  trialTemplate:");
  y.erase(start, end - start);
  auto r = load(y);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(messages(r).find("spec.parameters: expected spec.parameters or spec.nasConfig, found neither"), std::string::npos)
      << messages(r);
}

// Issue 21 item 2: JAXJob as training-operator v1.9 defaults and validates it (jax_defaults.go,
// webhooks/jax).
TEST(JAXJob, DefaultsAsTheTrainingOperator) {
  auto r = load(R"(apiVersion: kubeflow.org/v1
kind: JAXJob
metadata: {name: jx}
spec:
  jaxReplicaSpecs:
    worker:
      template: {spec: {containers: [{name: jax, image: i}]}}
)");
  ASSERT_TRUE(r.ok()) << messages(r);
  const auto& j = job_of(r);
  EXPECT_EQ(j.kind, JobKind::kJAXJob);
  ASSERT_EQ(j.replicas.size(), 1u);
  EXPECT_EQ(j.replicas[0].type, "Worker");
  EXPECT_EQ(j.replicas[0].replicas, 1);
  EXPECT_EQ(j.replicas[0].restart_policy, RestartPolicy::kNever);
  EXPECT_EQ(j.run_policy.clean_pod_policy, CleanPodPolicy::kNone);
  const auto& ports = j.replicas[0].template_.containers[0].ports;
  ASSERT_EQ(ports.size(), 1u);
  EXPECT_EQ(ports[0].name, "jaxjob-port");
  EXPECT_EQ(ports[0].port, 6666);
}

TEST(JAXJob, OnlyWorkersAndAContainerNamedJax) {
  const std::string m = messages(load(R"(apiVersion: kubeflow.org/v1
kind: JAXJob
metadata: {name: jx}
spec:
  jaxReplicaSpecs:
    Master:
      template: {spec: {containers: [{name: jax, image: i}]}}
    Worker:
      template: {spec: {containers: [{name: main, image: i}]}}
)"));
  EXPECT_NE(m.find("spec.jaxReplicaSpecs.Master: expected a replica type, one of Worker"), std::string::npos) << m;
  EXPECT_NE(m.find("spec.jaxReplicaSpecs.Worker.template.spec.containers: expected a container named \"jax\" in replica "
                   "type Worker (the operator's default container), found \"main\""),
            std::string::npos)
      << m;
}

// Issue 21 item 2: XGBoostJob and PaddleJob as training-operator v1.9 defaults them
// (xgboost_defaults.go, paddlepaddle_defautls.go); the webhook rules are in the bad fixtures.
TEST(XGBoostJob, DefaultsAsTheTrainingOperator) {
  auto r = load(R"(apiVersion: kubeflow.org/v1
kind: XGBoostJob
metadata: {name: xgb}
spec:
  xgbReplicaSpecs:
    master:
      template: {spec: {containers: [{name: xgboost, image: i}]}}
    Worker:
      replicas: 3
      template: {spec: {containers: [{name: xgboost, image: i}]}}
)");
  ASSERT_TRUE(r.ok()) << messages(r);
  const auto& j = job_of(r);
  EXPECT_EQ(j.kind, JobKind::kXGBoostJob);
  ASSERT_EQ(j.replicas.size(), 2u);
  EXPECT_EQ(j.replicas[0].type, "Master");
  EXPECT_EQ(j.replicas[0].replicas, 1);
  EXPECT_EQ(j.replicas[0].restart_policy, RestartPolicy::kNever);
  EXPECT_EQ(j.replicas[1].replicas, 3);
  EXPECT_EQ(j.run_policy.clean_pod_policy, CleanPodPolicy::kNone);
  const auto& ports = j.replicas[1].template_.containers[0].ports;
  ASSERT_EQ(ports.size(), 1u);
  EXPECT_EQ(ports[0].name, "xgboostjob-port");
  EXPECT_EQ(ports[0].port, 9999);
}

TEST(PaddleJob, DefaultsAsTheTrainingOperatorWithTheElasticPolicy) {
  auto r = load(R"(apiVersion: kubeflow.org/v1
kind: PaddleJob
metadata: {name: pd}
spec:
  elasticPolicy: {}
  paddleReplicaSpecs:
    Worker:
      replicas: 4
      template: {spec: {containers: [{name: paddle, image: i, env: [{name: IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}]}]}}
)");
  ASSERT_TRUE(r.ok()) << messages(r);
  const auto& j = job_of(r);
  EXPECT_EQ(j.kind, JobKind::kPaddleJob);
  ASSERT_EQ(j.replicas.size(), 1u);
  EXPECT_EQ(j.replicas[0].restart_policy, RestartPolicy::kOnFailure);
  const auto& c = j.replicas[0].template_.containers[0];
  ASSERT_EQ(c.ports.size(), 1u);
  EXPECT_EQ(c.ports[0].name, "master");
  EXPECT_EQ(c.ports[0].port, 36543);
  ASSERT_EQ(c.env.size(), 1u);
  EXPECT_EQ(c.env[0].field_path, "status.podIP");
  // min and max replicas from the Workers when neither is given (setPaddleElasticPolicy)
  ASSERT_TRUE(j.elastic_policy.has_value());
  EXPECT_EQ(j.elastic_policy->min_replicas, 4);
  EXPECT_EQ(j.elastic_policy->max_replicas, 4);
}

// webhooks/pytorch validateSpec: an elasticPolicy needs Workers; elasticPolicy.nProcPerNode is
// deprecated (a warning) and refused beside spec.nprocPerNode.
TEST(PyTorchJob, ElasticPolicyNeedsWorkersAndNProcPerNodeIsDeprecated) {
  const std::string no_workers = messages(load(R"(apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata: {name: e}
spec:
  elasticPolicy: {maxReplicas: 2}
  pytorchReplicaSpecs:
    Master:
      template: {spec: {containers: [{name: pytorch, image: i}]}}
)"));
  EXPECT_NE(no_workers.find("spec.pytorchReplicaSpecs.Worker: expected a Worker replica spec (an elasticPolicy needs "
                            "Workers), found none"),
            std::string::npos)
      << no_workers;
  auto deprecated = load(R"(apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata: {name: e}
spec:
  elasticPolicy: {nProcPerNode: 2}
  pytorchReplicaSpecs:
    Worker:
      template: {spec: {containers: [{name: pytorch, image: i}]}}
)");
  EXPECT_TRUE(deprecated.ok()) << messages(deprecated);
  EXPECT_NE(messages(deprecated).find("spec.elasticPolicy.nProcPerNode: deprecated: use spec.nprocPerNode instead"),
            std::string::npos)
      << messages(deprecated);
}
