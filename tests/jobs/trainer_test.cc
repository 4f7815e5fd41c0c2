// Issue 22 (first slice): Trainer v2's TrainJob and (Cluster)TrainingRuntime loaded with the CRDs'
// defaults, a TrainJob's runtime found (same file, then --runtimes, then the built-in copies of
// Trainer v2.3's default runtimes), and the JobSet Trainer builds from the two (torch mlPolicy).
#include <gtest/gtest.h>

#include <tuple>

#include "jobs/loader.h"
#include "jobs/operator_env.h"
#include "jobs/trainer.h"

using namespace ringmaster;
using namespace ringmaster::jobs;

namespace {

std::vector<Document> load(const std::string& yaml) {
  auto r = load_string(yaml, "t.yaml");
  EXPECT_TRUE(r.ok());
  for (const auto& d : r.diagnostics.sorted()) ADD_FAILURE() << d.to_string();
  return r.documents;
}

std::vector<TrainingRuntime> runtimes_of(const std::vector<Document>& docs) {
  std::vector<TrainingRuntime> out;
  for (const auto& d : docs)
    if (const auto* r = std::get_if<TrainingRuntime>(&d.object)) out.push_back(*r);
  return out;
}

std::string env_of(const YAML::Node& container, const std::string& name) {
  for (const auto& e : container["env"])
    if (e["name"].as<std::string>() == name)
      return e["value"] ? e["value"].as<std::string>() : "fieldRef:" + e["valueFrom"]["fieldRef"]["fieldPath"].as<std::string>();
  return "<unset>";
}

const char* kTrainJob = R"(apiVersion: trainer.kubeflow.org/v1alpha1
kind: TrainJob
metadata: {name: tj}
spec:
  runtimeRef: {name: torch-distributed}
  trainer:
    numNodes: 2
    image: ringmaster:0.1.0
    command: [ringmaster, train, --strategy=allreduce]
    env: [{name: EXTRA, value: "1"}]
    resourcesPerNode: {requests: {cpu: 2500m}}
)";

}  // namespace

TEST(TrainJob, RuntimeRefDefaultsAsTheCrd) {
  auto docs = load(kTrainJob);
  ASSERT_EQ(docs.size(), 1u);
  const auto& tj = std::get<TrainJob>(docs[0].object);
  EXPECT_EQ(tj.runtime_ref.name, "torch-distributed");
  EXPECT_EQ(tj.runtime_ref.api_group, "trainer.kubeflow.org");
  EXPECT_EQ(tj.runtime_ref.kind, "ClusterTrainingRuntime");
  EXPECT_EQ(docs[0].normalized["spec"]["runtimeRef"]["kind"].as<std::string>(), "ClusterTrainingRuntime");
}

TEST(TrainJob, TheBuiltInRuntimesAreTrainers) {
  std::set<std::string> names;
  for (const auto& r : builtin_runtimes()) names.insert(r.metadata.name + ":" + r.framework);
  EXPECT_EQ(names, (std::set<std::string>{"torch-distributed:torch", "deepspeed-distributed:mpi", "mlx-distributed:mpi",
                                          "jax-distributed:jax", "xgboost-distributed:xgboost"}));
}

TEST(TrainJob, TorchRuntimeGivesTheJobSetTrainerBuilds) {
  auto docs = load(kTrainJob);
  const auto& tj = std::get<TrainJob>(docs[0].object);
  auto runtime = find_runtime(tj, {});
  ASSERT_TRUE(runtime.is_ok()) << runtime.status().message();
  EXPECT_NE(runtime->origin.find("built in"), std::string::npos);
  auto js = resolve_jobset(tj, *runtime);
  ASSERT_TRUE(js.is_ok()) << js.status().message();
  EXPECT_EQ((*js)["kind"].as<std::string>(), "JobSet");
  EXPECT_EQ((*js)["metadata"]["name"].as<std::string>(), "tj");
  const YAML::Node rjob = (*js)["spec"]["replicatedJobs"][0];
  EXPECT_EQ(rjob["replicas"].as<int>(), 1);
  EXPECT_EQ(rjob["template"]["spec"]["parallelism"].as<int>(), 2);
  EXPECT_EQ(rjob["template"]["spec"]["completions"].as<int>(), 2);
  const YAML::Node node = rjob["template"]["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(node["image"].as<std::string>(), "ringmaster:0.1.0");
  EXPECT_EQ(node["command"][1].as<std::string>(), "train");
  EXPECT_EQ(env_of(node, "EXTRA"), "1");
  EXPECT_EQ(env_of(node, "PET_NNODES"), "2");
  EXPECT_EQ(env_of(node, "PET_NPROC_PER_NODE"), "3") << "auto without GPUs: the CPU request, rounded up";
  EXPECT_EQ(env_of(node, "PET_NODE_RANK"), "fieldRef:metadata.annotations['batch.kubernetes.io/job-completion-index']");
  EXPECT_EQ(env_of(node, "PET_MASTER_ADDR"), "tj-node-0-0.tj");
  EXPECT_EQ(env_of(node, "PET_MASTER_PORT"), "29500");
  EXPECT_EQ(node["ports"][0]["containerPort"].as<int>(), 29500);
  EXPECT_EQ(node["resources"]["requests"]["cpu"].as<std::string>(), "2500m");
}

TEST(TrainJob, ANullNumNodesIsUnsetAndTheRuntimesCountHolds) {
  // Found by the fuzzer (tests/fuzz/regressions/trainjob-numnodes-null-anchor.yaml: `numNodes: &3`,
  // an anchor on a null): resolving threw yaml-cpp's bad conversion.
  std::string yaml = kTrainJob;
  yaml.replace(yaml.find("numNodes: 2"), 11, "numNodes: &3");
  auto docs = load(yaml);
  const auto& tj = std::get<TrainJob>(docs[0].object);
  auto runtime = find_runtime(tj, {});
  ASSERT_TRUE(runtime.is_ok()) << runtime.status().message();
  auto js = resolve_jobset(tj, *runtime);
  ASSERT_TRUE(js.is_ok()) << js.status().message();
  EXPECT_EQ((*js)["spec"]["replicatedJobs"][0]["template"]["spec"]["parallelism"].as<int>(), 1);
}

TEST(TrainJob, ARuntimeInTheFileComesBeforeTheBuiltInOne) {
  auto docs = load(std::string(kTrainJob) + R"(---
apiVersion: trainer.kubeflow.org/v1alpha1
kind: ClusterTrainingRuntime
metadata: {name: torch-distributed}
spec:
  mlPolicy: {numNodes: 1, torch: {}}
  template:
    spec:
      replicatedJobs:
        - name: node
          template:
            metadata: {labels: {trainer.kubeflow.org/trainjob-ancestor-step: trainer}}
            spec: {template: {spec: {containers: [{name: node, image: mine}]}}}
)");
  ASSERT_EQ(docs.size(), 2u);
  auto runtime = find_runtime(std::get<TrainJob>(docs[0].object), runtimes_of(docs));
  ASSERT_TRUE(runtime.is_ok());
  EXPECT_EQ(runtime->origin, "t.yaml");
}

TEST(TrainJob, AMissingRuntimeListsTheOnesThatExist) {
  auto docs = load(R"(apiVersion: trainer.kubeflow.org/v1alpha1
kind: TrainJob
metadata: {name: tj, namespace: team}
spec:
  runtimeRef: {name: torch-distributd, kind: TrainingRuntime}
)");
  auto runtime = find_runtime(std::get<TrainJob>(docs[0].object), {});
  ASSERT_FALSE(runtime.is_ok());
  EXPECT_EQ(runtime.status().code(), StatusCode::kNotFound);
  const std::string m = runtime.status().message();
  EXPECT_NE(m.find("no TrainingRuntime torch-distributd in namespace team"), std::string::npos) << m;
  EXPECT_NE(m.find("ClusterTrainingRuntime torch-distributed (built in"), std::string::npos) << m;
}

TEST(TrainJob, ReservedEnvNamesAreRefusedAsTrainersWebhookDoes) {
  std::string y = kTrainJob;
  y.replace(y.find("EXTRA"), 5, "PET_NNODES");
  auto docs = load(y);
  const auto& tj = std::get<TrainJob>(docs[0].object);
  auto js = resolve_jobset(tj, *find_runtime(tj, {}));
  ASSERT_FALSE(js.is_ok());
  EXPECT_NE(js.status().message().find("spec.trainer.env: must not set what the torch runtime injects, found PET_NNODES"),
            std::string::npos)
      << js.status().message();
}

// ringmaster's elastic TrainJob (docs/elastic.md): PET_NNODES "MIN:MAX" is the one reserved
// variable a TrainJob may set, and only in that form.
TEST(TrainJob, PetNNodesMinMaxMakesAnElasticTrainJob) {
  auto with_env = [](const std::string& nnodes, int nodes) {
    std::string y = kTrainJob;
    const std::string extra = "{name: EXTRA, value: \"1\"}";
    y.replace(y.find(extra), extra.size(),
              "{name: PET_NNODES, value: \"" + nnodes + "\"}, {name: PET_MAX_RESTARTS, value: \"7\"}");
    y.replace(y.find("numNodes: 2"), 11, "numNodes: " + std::to_string(nodes));
    return y;
  };
  auto docs = load(with_env("2:4", 3));
  const auto& tj = std::get<TrainJob>(docs[0].object);
  auto resolved = resolve_trainjob(tj, {});
  ASSERT_TRUE(resolved.is_ok()) << resolved.status().message();
  for (const auto& rj : resolved->jobset["spec"]["replicatedJobs"]) {
    if (rj["name"].as<std::string>() != "node") continue;
    EXPECT_EQ(rj["replicas"].as<int>() * rj["template"]["spec"]["parallelism"].as<int>(), 3);
    const YAML::Node c = rj["template"]["spec"]["template"]["spec"]["containers"][0];
    EXPECT_EQ(env_of(c, "PET_NNODES"), "2:4");
    EXPECT_EQ(env_of(c, "PET_RDZV_ENDPOINT"), "tj-node-0-0.tj:29500");
    EXPECT_EQ(env_of(c, "PET_MASTER_ADDR"), "tj-node-0-0.tj");
  }
  auto job = trainjob_as_job(tj, *resolved);
  ASSERT_TRUE(job.is_ok()) << job.status().message();
  ASSERT_TRUE(job->elastic_policy.has_value());
  EXPECT_EQ(job->elastic_policy->min_replicas, 2);
  EXPECT_EQ(job->elastic_policy->max_replicas, 4);
  EXPECT_EQ(job->elastic_policy->max_restarts, 7);
  EXPECT_TRUE(ringmaster_serves_rendezvous(*job)) << "its nodes run ringmaster train";

  for (const auto& [nnodes, nodes, expected] :
       {std::tuple{std::string("3:2"), 2, std::string("spec.trainer.env PET_NNODES: expected MIN:MAX with 1 <= MIN <= MAX "
                                                      "(an elastic TrainJob), found \"3:2\"")},
        std::tuple{std::string("2:3"), 5, std::string("spec.trainer.numNodes: an elastic TrainJob (PET_NNODES=2:3) starts "
                                                      "between 2 and 3 nodes, found 5")}}) {
    auto bad_docs = load(with_env(nnodes, nodes));
    const auto& bad = std::get<TrainJob>(bad_docs[0].object);
    auto r = resolve_trainjob(bad, {});
    ASSERT_FALSE(r.is_ok()) << nnodes;
    EXPECT_NE(r.status().message().find(expected), std::string::npos) << r.status().message();
  }
}

namespace {

YAML::Node resolved(const std::string& runtime, const std::string& trainer) {
  auto docs = load("apiVersion: trainer.kubeflow.org/v1alpha1\nkind: TrainJob\nmetadata: {name: t}\nspec:\n  runtimeRef: {name: " +
                   runtime + "}\n  trainer: " + trainer + "\n");
  const auto& tj = std::get<TrainJob>(docs.at(0).object);
  auto js = resolve_jobset(tj, *find_runtime(tj, {}));
  EXPECT_TRUE(js.is_ok()) << js.status().message();
  return js.is_ok() ? *js : YAML::Node();
}

YAML::Node replicated_job(const YAML::Node& js, const std::string& name) {
  for (const auto& rj : js["spec"]["replicatedJobs"])
    if (rj["name"].as<std::string>() == name) return rj;
  return {};
}

YAML::Node node_container(const YAML::Node& rjob) { return rjob["template"]["spec"]["template"]["spec"]["containers"][0]; }

}  // namespace

// xgboost.go, jax.go EnforceMLPolicy.
TEST(TrainJob, XGBoostAndJaxRuntimesInjectTheirEnvironment) {
  YAML::Node x = node_container(replicated_job(resolved("xgboost-distributed", "{numNodes: 3, command: [x]}"), "node"));
  EXPECT_EQ(env_of(x, "DMLC_TRACKER_URI"), "t-node-0-0.t");
  EXPECT_EQ(env_of(x, "DMLC_TRACKER_PORT"), "29500");
  EXPECT_EQ(env_of(x, "DMLC_TASK_ID"), "fieldRef:metadata.annotations['batch.kubernetes.io/job-completion-index']");
  EXPECT_EQ(env_of(x, "DMLC_NUM_WORKER"), "3");
  YAML::Node j = node_container(replicated_job(resolved("jax-distributed", "{numNodes: 2, command: [x]}"), "node"));
  EXPECT_EQ(env_of(j, "JAX_NUM_PROCESSES"), "2");
  EXPECT_EQ(env_of(j, "JAX_COORDINATOR_ADDRESS"), "t-node-0-0.t:29500");
  EXPECT_EQ(env_of(j, "JAX_PROCESS_ID"), "fieldRef:metadata.annotations['batch.kubernetes.io/job-completion-index']");
}

// mpi.go EnforceMLPolicy on deepspeed-distributed (runLauncherAsNode): one node fewer than
// numNodes, ssh keys on every node container, the hostfile and OpenMPI's variables on the launcher.
TEST(TrainJob, MpiRuntimeCountsTheLauncherAsANodeAndWiresOpenMpi) {
  YAML::Node js = resolved("deepspeed-distributed", "{numNodes: 4, numProcPerNode: 2, command: [x]}");
  YAML::Node node = replicated_job(js, "node"), launcher = replicated_job(js, "launcher");
  EXPECT_EQ(node["template"]["spec"]["parallelism"].as<int>(), 3);
  EXPECT_EQ(launcher["template"]["spec"]["parallelism"].as<int>(), 1);
  YAML::Node lc = node_container(launcher);
  EXPECT_EQ(env_of(lc, "OMPI_MCA_orte_default_hostfile"), "/etc/mpi/hostfile");
  EXPECT_EQ(env_of(lc, "OMPI_MCA_orte_set_default_slots"), "2");
  EXPECT_EQ(env_of(node_container(node), "OMPI_MCA_orte_default_hostfile"), "<unset>");
  EXPECT_EQ(node_container(node)["volumeMounts"][0]["mountPath"].as<std::string>(), "/home/mpiuser/.ssh");
  EXPECT_EQ(launcher["template"]["spec"]["template"]["spec"]["volumes"][1]["configMap"]["name"].as<std::string>(),
            "t-mpi-hostfile");
}

// builder.go Initializer: the TrainJob's storageUri (and env) reach the initializer step's container.
TEST(TrainJob, InitializerStorageUriReachesTheInitializerContainer) {
  auto docs = load(R"(apiVersion: trainer.kubeflow.org/v1alpha1
kind: TrainingRuntime
metadata: {name: rt}
spec:
  mlPolicy: {numNodes: 1, torch: {}}
  template:
    spec:
      replicatedJobs:
        - name: dataset-initializer
          replicas: 3
          template:
            metadata: {labels: {trainer.kubeflow.org/trainjob-ancestor-step: dataset-initializer}}
            spec: {template: {spec: {containers: [{name: dataset-initializer, image: i}]}}}
        - name: node
          template:
            metadata: {labels: {trainer.kubeflow.org/trainjob-ancestor-step: trainer}}
            spec: {template: {spec: {containers: [{name: node, image: i}]}}}
---
apiVersion: trainer.kubeflow.org/v1alpha1
kind: TrainJob
metadata: {name: t}
spec:
  runtimeRef: {name: rt, kind: TrainingRuntime}
  initializer:
    dataset: {storageUri: "hf://tatsu-lab/alpaca", env: [{name: HF_TOKEN_FILE, value: /t}], secretRef: {name: hf}}
)");
  const auto& tj = std::get<TrainJob>(docs.at(1).object);
  auto js = resolve_jobset(tj, *find_runtime(tj, runtimes_of(docs)));
  ASSERT_TRUE(js.is_ok()) << js.status().message();
  YAML::Node init = replicated_job(*js, "dataset-initializer");
  EXPECT_EQ(init["replicas"].as<int>(), 1);
  YAML::Node c = node_container(init);
  EXPECT_EQ(env_of(c, "STORAGE_URI"), "hf://tatsu-lab/alpaca");
  EXPECT_EQ(env_of(c, "HF_TOKEN_FILE"), "/t");
  EXPECT_EQ(c["envFrom"][0]["secretRef"]["name"].as<std::string>(), "hf");
}

// JobSet's webhook rules for the policies ringmaster runs (jobset v0.12 validateFailurePolicy) and
// batch/v1's for podFailurePolicy: refused when the runtime is resolved, naming the field.
TEST(TrainJob, JobSetPolicyValidation) {
  auto resolve_with = [](const std::string& jobset_extra, const std::string& job_extra, const std::string& restart) {
    const std::string y = "apiVersion: trainer.kubeflow.org/v1alpha1\nkind: TrainingRuntime\nmetadata: {name: rt}\nspec:\n"
                          "  mlPolicy: {numNodes: 1}\n  template:\n    spec:\n      " + jobset_extra +
                          "\n      replicatedJobs:\n        - name: node\n          template:\n"
                          "            metadata: {labels: {trainer.kubeflow.org/trainjob-ancestor-step: trainer}}\n"
                          "            spec:\n              " + job_extra +
                          "\n              template: {spec: {restartPolicy: " + restart +
                          ", containers: [{name: node, image: i}]}}\n---\n"
                          "apiVersion: trainer.kubeflow.org/v1alpha1\nkind: TrainJob\nmetadata: {name: tj}\nspec:\n"
                          "  runtimeRef: {name: rt, kind: TrainingRuntime}\n";
    auto docs = load(y);
    const auto& tj = std::get<TrainJob>(docs.at(1).object);
    auto r = resolve_trainjob(tj, runtimes_of(docs));
    return r ? std::string("ok") : r.status().message();
  };
  EXPECT_EQ(resolve_with("failurePolicy: {rules: [{name: a, action: FailJobSet, targetReplicatedJobs: [node]}]}",
                         "podFailurePolicy: {rules: [{action: Ignore, onExitCodes: {operator: NotIn, values: [0]}}]}", "Never"),
            "ok");
  const std::string restart_job = resolve_with("failurePolicy: {rules: [{name: a, action: RestartJob}]}", "backoffLimit: 1", "Never");
  EXPECT_NE(restart_job.find("spec.failurePolicy.rules[0].action: RestartJob failure policy actions are not allowed when "
                             "the RestartJob feature gate is disabled"),
            std::string::npos)
      << restart_job;
  const std::string target = resolve_with("failurePolicy: {rules: [{name: a, action: FailJobSet, targetReplicatedJobs: [launcher]}]}",
                                          "backoffLimit: 1", "Never");
  EXPECT_NE(target.find("targetReplicatedJobs: 'launcher' is not one of the replicatedJobs (node)"), std::string::npos) << target;
  const std::string dup = resolve_with(
      "failurePolicy: {rules: [{name: a, action: FailJobSet}, {name: a, action: RestartJobSet}]}", "backoffLimit: 1", "Never");
  EXPECT_NE(dup.find("rules[1].name: rule names must be unique, found 'a' twice"), std::string::npos) << dup;
  const std::string never = resolve_with("failurePolicy: {maxRestarts: 1}",
                                         "podFailurePolicy: {rules: [{action: FailJob, onExitCodes: {operator: In, values: [42]}}]}",
                                         "OnFailure");
  EXPECT_NE(never.find("replicatedJob node: spec.podFailurePolicy: only allowed with the pod template's restartPolicy "
                       "Never, found OnFailure"),
            std::string::npos)
      << never;
}

// Trainer v2.3's runtimePatches (core/trainingruntime.go mergeRuntimePatches: a strategic merge
// patch per manager, in order) and its jobset plugin's checks of them.
TEST(TrainJob, RuntimePatchesMergeAsAStrategicMergePatch) {
  const std::string base = R"(apiVersion: trainer.kubeflow.org/v1alpha1
kind: TrainJob
metadata: {name: tj}
spec:
  runtimeRef: {name: torch-distributed}
  trainer: {numNodes: 2, command: [ringmaster, train]}
  runtimePatches:
)";
  const auto docs = load(base + R"(    - manager: example.io/a
      trainingRuntimeSpec:
        template:
          metadata: {labels: {team: a}}
          spec:
            replicatedJobs:
              - name: node
                template:
                  spec:
                    template:
                      spec:
                        serviceAccountName: sa1
                        nodeSelector: {a: "1"}
                        tolerations: [{key: t1, operator: Exists}]
                        volumes: [{name: data, emptyDir: {}}]
                        containers: [{name: node, volumeMounts: [{name: data, mountPath: /data}]}]
    - manager: example.io/b
      trainingRuntimeSpec:
        template:
          spec:
            replicatedJobs:
              - name: node
                template:
                  spec:
                    template:
                      spec:
                        serviceAccountName: sa2
                        nodeSelector: {b: "2"}
                        tolerations: [{key: t2, operator: Exists}]
)");
  const auto& tj = std::get<TrainJob>(docs.at(0).object);
  auto r = resolve_trainjob(tj, {});
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  const YAML::Node pod = r->jobset["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"];
  EXPECT_EQ(pod["serviceAccountName"].as<std::string>(), "sa2");  // the later manager's scalar
  EXPECT_EQ(pod["nodeSelector"]["a"].as<std::string>(), "1");      // maps merge
  EXPECT_EQ(pod["nodeSelector"]["b"].as<std::string>(), "2");
  ASSERT_EQ(pod["tolerations"].size(), 1u);  // a list without a merge key is replaced
  EXPECT_EQ(pod["tolerations"][0]["key"].as<std::string>(), "t2");
  EXPECT_EQ(pod["volumes"][0]["name"].as<std::string>(), "data");
  const YAML::Node node = pod["containers"][0];  // merged by name: the runtime's container, mounted
  EXPECT_EQ(node["volumeMounts"][0]["mountPath"].as<std::string>(), "/data");
  EXPECT_EQ(node["command"][0].as<std::string>(), "ringmaster");
  EXPECT_EQ(env_of(node, "PET_NNODES"), "2");
  EXPECT_EQ(r->jobset["metadata"]["labels"]["team"].as<std::string>(), "a");

  auto refused = [&](const std::string& patch) {
    const auto d = load(base + patch);
    auto res = resolve_trainjob(std::get<TrainJob>(d.at(0).object), {});
    return res ? std::string("resolved") : res.status().message();
  };
  const std::string env = refused(R"(    - manager: example.io/a
      trainingRuntimeSpec: {template: {spec: {replicatedJobs: [{name: node, template: {spec: {template: {spec: {containers: [{name: node, env: [{name: X, value: "1"}]}]}}}}}]}}}
)");
  EXPECT_NE(env.find("spec.runtimePatches[0]: replicatedJob node: container node: must not have env"), std::string::npos) << env;
  const std::string job = refused(R"(    - manager: example.io/a
      trainingRuntimeSpec: {template: {spec: {replicatedJobs: [{name: launcher}]}}}
)");
  EXPECT_NE(job.find("replicatedJob 'launcher' is not in the runtime's job template"), std::string::npos) << job;
  const std::string manager = refused("    - manager: me\n");
  EXPECT_NE(manager.find("spec.runtimePatches[0].manager: expected a domain-prefixed path"), std::string::npos) << manager;
}

// plugins/volcano and plugins/coscheduling: the PodGroup Trainer makes beside the JobSet, and the
// pods' annotation or label that names it.
TEST(TrainJob, PodGroupPolicyGivesTrainersPodGroup) {
  auto group = [](const std::string& policy) {
    const std::string y = "apiVersion: trainer.kubeflow.org/v1alpha1\nkind: TrainingRuntime\nmetadata: {name: rt}\nspec:\n"
                          "  mlPolicy: {numNodes: 1, torch: {}}\n  podGroupPolicy: " + policy +
                          "\n  template:\n    metadata: {annotations: {scheduling.volcano.sh/queue-name: research}}\n"
                          "    spec:\n      replicatedJobs:\n"
                          "        - name: init\n          template:\n            spec:\n              template: {spec: "
                          "{containers: [{name: init, image: i, resources: {requests: {cpu: 500m, memory: 512Mi}}}]}}\n"
                          "        - name: node\n          template:\n"
                          "            metadata: {labels: {trainer.kubeflow.org/trainjob-ancestor-step: trainer}}\n"
                          "            spec:\n              template: {spec: {priorityClassName: high, containers: [{name: node, image: i}]}}\n"
                          "---\napiVersion: trainer.kubeflow.org/v1alpha1\nkind: TrainJob\nmetadata: {name: tj}\nspec:\n"
                          "  runtimeRef: {name: rt, kind: TrainingRuntime}\n"
                          "  trainer: {numNodes: 3, resourcesPerNode: {requests: {cpu: 1500m, memory: 1Gi, nvidia.com/gpu: 1}}}\n";
    auto docs = load(y);
    auto r = resolve_trainjob(std::get<TrainJob>(docs.at(1).object), runtimes_of(docs));
    EXPECT_TRUE(r.is_ok()) << r.status().message();
    return r ? *r : ResolvedTrainJob{};
  };
  const ResolvedTrainJob v = group("{volcano: {}}");
  ASSERT_TRUE(v.pod_group.IsMap());
  EXPECT_EQ(v.pod_group["apiVersion"].as<std::string>(), "scheduling.volcano.sh/v1beta1");
  EXPECT_EQ(v.pod_group["metadata"]["name"].as<std::string>(), "tj");
  EXPECT_EQ(v.pod_group["spec"]["minMember"].as<int>(), 4);  // 1 init + 3 nodes
  EXPECT_EQ(v.pod_group["spec"]["minResources"]["cpu"].as<std::string>(), "5");  // 0.5 + 3 x 1.5
  EXPECT_EQ(v.pod_group["spec"]["minResources"]["memory"].as<std::string>(), "3584Mi");
  EXPECT_EQ(v.pod_group["spec"]["minResources"]["nvidia.com/gpu"].as<std::string>(), "3");
  EXPECT_EQ(v.pod_group["spec"]["queue"].as<std::string>(), "research");
  EXPECT_EQ(v.pod_group["spec"]["priorityClassName"].as<std::string>(), "high");
  for (const auto& rjob : v.jobset["spec"]["replicatedJobs"])
    EXPECT_EQ(rjob["template"]["spec"]["template"]["metadata"]["annotations"]["scheduling.k8s.io/group-name"].as<std::string>(), "tj");
  const ResolvedTrainJob c = group("{coscheduling: {}}");
  EXPECT_EQ(c.pod_group["apiVersion"].as<std::string>(), "scheduling.x-k8s.io/v1alpha1");
  EXPECT_EQ(c.pod_group["spec"]["scheduleTimeoutSeconds"].as<int>(), 60);
  EXPECT_FALSE(c.pod_group["spec"]["queue"]);
  EXPECT_EQ(c.jobset["spec"]["replicatedJobs"][1]["template"]["spec"]["template"]["metadata"]["labels"]["scheduling.x-k8s.io/pod-group"].as<std::string>(), "tj");
  EXPECT_TRUE(group("null").pod_group.IsNull() || !group("null").pod_group.IsDefined());
}
