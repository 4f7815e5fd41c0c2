// The environment each replica gets, from the examples and small inline jobs, against the
// operators' contracts (DESIGN.md; training-operator and mpi-operator sources).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "jobs/loader.h"
#include "launcher/plan.h"

using namespace ringmaster;
using namespace ringmaster::launcher;

namespace {

jobs::TrainingJob load(const std::string& file) {
  auto r = jobs::load_file(std::string(RINGMASTER_SOURCE_DIR) + "/" + file);
  EXPECT_TRUE(r.ok());
  return std::get<jobs::TrainingJob>(r.documents.at(0).object);
}

jobs::TrainingJob load_text(const std::string& yaml) {
  auto r = jobs::load_string(yaml, "t.yaml");
  EXPECT_TRUE(r.ok());
  return std::get<jobs::TrainingJob>(r.documents.at(0).object);
}

PlanOptions options() {
  auto next = std::make_shared<int>(30000);
  return {"tok-123", "/tmp/job/hostfile", [next] { return ++*next; }, 2, {}, {}, {}};
}

std::string env(const ReplicaLaunch& r, const std::string& name) {
  for (const auto& [k, v] : r.env)
    if (k == name) return v;
  return "<unset>";
}

const ReplicaLaunch& find(const JobPlan& p, const std::string& name) {
  for (const auto& r : p.replicas)
    if (r.name == name) return r;
  throw std::runtime_error("no replica " + name);
}

}  // namespace

TEST(Plan, TfJobGetsTfConfigWithEveryReplicaOnLocalPorts) {
  auto plan = plan_job(load("examples/fashion-mnist-tfjob-ps.yaml"), options());
  ASSERT_TRUE(plan.is_ok()) << plan.status().message();
  ASSERT_EQ(plan->replicas.size(), 5u);  // chief, 2 ps, 2 workers
  const auto& w1 = find(*plan, "fashion-mnist-ps-worker-1");
  auto tf = nlohmann::json::parse(env(w1, "TF_CONFIG"));
  EXPECT_EQ(tf["task"]["type"], "worker");
  EXPECT_EQ(tf["task"]["index"], 1);
  EXPECT_EQ(tf["environment"], "cloud");
  EXPECT_EQ(tf["cluster"]["ps"].size(), 2u);
  EXPECT_EQ(tf["cluster"]["worker"].size(), 2u);
  EXPECT_EQ(tf["cluster"]["chief"].size(), 1u);
  EXPECT_TRUE(tf["cluster"]["ps"][0].get<std::string>().starts_with("127.0.0.1:"));
  // Every replica sees the same cluster, with distinct ports.
  EXPECT_EQ(nlohmann::json::parse(env(find(*plan, "fashion-mnist-ps-ps-0"), "TF_CONFIG"))["cluster"], tf["cluster"]);
  EXPECT_NE(tf["cluster"]["ps"][0], tf["cluster"]["ps"][1]);
  EXPECT_EQ(env(w1, "RINGMASTER_JOB_TOKEN"), "tok-123");
  EXPECT_EQ(env(w1, "RINGMASTER_JOB_NAME"), "fashion-mnist-ps");
  EXPECT_EQ(w1.argv.at(0), "ringmaster");
  EXPECT_EQ(w1.restart_policy, jobs::RestartPolicy::kOnFailure);
}

TEST(Plan, SingleReplicaTfJobHasNoTfConfigAndEvaluatorIsOutsideTheCluster) {
  const char* one = R"(apiVersion: kubeflow.org/v1
kind: TFJob
metadata: {name: solo}
spec:
  tfReplicaSpecs:
    Worker:
      template: {spec: {containers: [{name: tensorflow, image: i, command: [sh, -c, "true"]}]}}
)";
  auto plan = plan_job(load_text(one), options());
  ASSERT_TRUE(plan.is_ok());
  EXPECT_EQ(env(plan->replicas.at(0), "TF_CONFIG"), "<unset>");
  const char* eval = R"(apiVersion: kubeflow.org/v1
kind: TFJob
metadata: {name: ev}
spec:
  tfReplicaSpecs:
    Worker:
      replicas: 2
      template: {spec: {containers: [{name: tensorflow, image: i, command: [sh, -c, "true"]}]}}
    Evaluator:
      template: {spec: {containers: [{name: tensorflow, image: i, command: [sh, -c, "true"]}]}}
)";
  auto p2 = plan_job(load_text(eval), options());
  ASSERT_TRUE(p2.is_ok());
  auto tf = nlohmann::json::parse(env(find(*p2, "ev-evaluator-0"), "TF_CONFIG"));
  EXPECT_FALSE(tf["cluster"].contains("evaluator"));
  EXPECT_EQ(tf["task"]["type"], "evaluator");
}

TEST(Plan, PyTorchJobGetsMasterAddressRanksAndPetCopies) {
  auto plan = plan_job(load("examples/fashion-mnist-pytorchjob.yaml"), options());
  ASSERT_TRUE(plan.is_ok()) << plan.status().message();
  const auto& master = find(*plan, "fashion-mnist-ddp-master-0");
  const auto& w0 = find(*plan, "fashion-mnist-ddp-worker-0");
  EXPECT_EQ(env(master, "RANK"), "0");
  EXPECT_EQ(env(w0, "RANK"), "1");
  EXPECT_EQ(env(w0, "MASTER_ADDR"), "127.0.0.1");
  EXPECT_EQ(env(w0, "MASTER_PORT"), env(master, "MASTER_PORT"));
  EXPECT_EQ(env(w0, "PET_MASTER_PORT"), env(master, "MASTER_PORT"));
  EXPECT_EQ(env(w0, "WORLD_SIZE"), std::to_string(plan->replicas.size()));
  EXPECT_EQ(env(w0, "PET_NNODES"), std::to_string(plan->replicas.size()));
  EXPECT_EQ(env(w0, "PET_NODE_RANK"), "1");
  EXPECT_EQ(env(w0, "PYTHONUNBUFFERED"), "1");  // training-operator v1.9 pytorch/envvar.go
  EXPECT_EQ(env(w0, "PET_NPROC_PER_NODE"), "auto");  // as written, as the operator passes it
}

TEST(Plan, MpiJobWritesAHostfileAndOnlyTheLauncherRuns) {
  auto plan = plan_job(load("examples/fashion-mnist-mpijob.yaml"), options());
  ASSERT_TRUE(plan.is_ok()) << plan.status().message();
  EXPECT_EQ(plan->hostfile, "localhost slots=2\n");
  EXPECT_EQ(plan->hostfile_path, "/tmp/job/hostfile");
  const auto& launcher = plan->replicas.at(0);
  EXPECT_EQ(launcher.type, "Launcher");
  EXPECT_FALSE(launcher.bookkeeping);
  EXPECT_EQ(launcher.argv.at(0), "mpirun");
  EXPECT_EQ(env(launcher, "OMPI_MCA_orte_default_hostfile"), "/tmp/job/hostfile");
  EXPECT_EQ(env(launcher, "OMPI_MCA_orte_keep_fqdn_hostnames"), "true");
  EXPECT_EQ(env(launcher, "K_MPI_JOB_ROLE"), "launcher");
  EXPECT_EQ(env(launcher, "OMPI_ALLOW_RUN_AS_ROOT"), "1");
  EXPECT_EQ(env(launcher, "OMPI_MCA_rmaps_base_oversubscribe"), "<unset>");  // 2 slots on 2 cpus
  for (std::size_t i = 1; i < plan->replicas.size(); ++i) {
    EXPECT_TRUE(plan->replicas[i].bookkeeping);
    EXPECT_EQ(env(plan->replicas[i], "K_MPI_JOB_ROLE"), "worker");
  }
}

TEST(Plan, WhatCannotRunLocallyIsRefusedByName) {
  const char* secret = R"(apiVersion: batch/v1
kind: Job
metadata: {name: sec}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: main
          image: i
          command: [sh]
          env: [{name: PASSWORD, valueFrom: {secretKeyRef: {name: s, key: k}}}]
)";
  auto plan = plan_job(load_text(secret), options());
  ASSERT_FALSE(plan.is_ok());
  EXPECT_EQ(plan.status().message(),
            "replica Job container main: env PASSWORD uses valueFrom (a secret, config map or field reference), "
            "which a local run cannot resolve; give it a value");
  const char* no_command = R"(apiVersion: batch/v1
kind: Job
metadata: {name: nocmd}
spec:
  template: {spec: {restartPolicy: Never, containers: [{name: main, image: busybox}]}}
)";
  auto p2 = plan_job(load_text(no_command), options());
  ASSERT_FALSE(p2.is_ok());
  EXPECT_NE(p2.status().message().find("replica job-0: expected a command in its container"), std::string::npos)
      << p2.status().message();
}

// Issue 21 item 2: XGBoostJob (xgboost/xgboost.go SetPodEnv) and PaddleJob (paddlepaddle/envvar.go),
// exactly as the operator writes them, with local addresses.
TEST(Plan, XGBoostJobRanksTheMasterFirstAndListsWorkerAddresses) {
  auto plan = plan_job(load_text(R"(apiVersion: kubeflow.org/v1
kind: XGBoostJob
metadata: {name: xgb}
spec:
  xgbReplicaSpecs:
    Master:
      template: {spec: {containers: [{name: xgboost, image: i, command: [x]}]}}
    Worker:
      replicas: 2
      template: {spec: {containers: [{name: xgboost, image: i, command: [x]}]}}
)"),
                       options());
  ASSERT_TRUE(plan.is_ok()) << plan.status().message();
  const auto& m = find(*plan, "xgb-master-0");
  const auto& w1 = find(*plan, "xgb-worker-1");
  EXPECT_EQ(env(m, "RANK"), "0");
  EXPECT_EQ(env(w1, "RANK"), "2");
  EXPECT_EQ(env(w1, "WORLD_SIZE"), "3");
  EXPECT_EQ(env(w1, "MASTER_ADDR"), "127.0.0.1");
  EXPECT_EQ(env(w1, "MASTER_PORT"), env(m, "MASTER_PORT"));
  EXPECT_EQ(env(w1, "PYTHONUNBUFFERED"), "1");
  EXPECT_EQ(env(m, "WORKER_ADDRS"), "127.0.0.1,127.0.0.1");
  EXPECT_NE(env(m, "WORKER_PORT"), "<unset>");
}

TEST(Plan, XGBoostJobOfOneMasterHasNoWorkerVariables) {
  auto plan = plan_job(load_text(R"(apiVersion: kubeflow.org/v1
kind: XGBoostJob
metadata: {name: xgb}
spec:
  xgbReplicaSpecs:
    Master:
      template: {spec: {containers: [{name: xgboost, image: i, command: [x]}]}}
)"),
                       options());
  ASSERT_TRUE(plan.is_ok()) << plan.status().message();
  EXPECT_EQ(env(plan->replicas[0], "WORLD_SIZE"), "1");
  EXPECT_EQ(env(plan->replicas[0], "WORKER_ADDRS"), "<unset>");
}

TEST(Plan, PaddleJobRendezvousPublishesItsOwnIpAndTheOthersReachIt) {
  // Collective mode (no Master): worker 0 is the rendezvous.
  auto plan = plan_job(load_text(R"Y(apiVersion: kubeflow.org/v1
kind: PaddleJob
metadata: {name: pd}
spec:
  paddleReplicaSpecs:
    Worker:
      replicas: 3
      template: {spec: {containers: [{name: paddle, image: i, command: [x, "--master=$(PADDLE_MASTER)", "$$(kept)"]}]}}
)Y"),
                       options());
  ASSERT_TRUE(plan.is_ok()) << plan.status().message();
  const auto& w0 = find(*plan, "pd-worker-0");
  const auto& w2 = find(*plan, "pd-worker-2");
  EXPECT_EQ(env(w0, "POD_IP_DUMMY"), "127.0.0.1");
  const std::string master = env(w2, "PADDLE_MASTER");
  EXPECT_TRUE(master.starts_with("127.0.0.1:")) << master;
  EXPECT_EQ(env(w0, "PADDLE_MASTER"), master) << "$(POD_IP_DUMMY) expanded as the kubelet does";
  EXPECT_EQ(env(w2, "PADDLE_NNODES"), "3");
  EXPECT_EQ(env(w2, "PADDLE_JOB_ID"), "pd");
  EXPECT_EQ(env(w2, "PADDLE_TRAINER_NUM"), "<unset>");
  ASSERT_EQ(w2.argv.size(), 3u);
  EXPECT_EQ(w2.argv[1], "--master=" + master) << "args expanded against the environment";
  EXPECT_EQ(w2.argv[2], "$(kept)") << "$$ is a literal $";
}

TEST(Plan, PaddleJobWithAMasterIsParameterServerMode) {
  auto plan = plan_job(load("tests/fixtures/good/paddlejob-ps-elastic.yaml"), options());
  ASSERT_TRUE(plan.is_ok()) << plan.status().message();
  const auto& m = find(*plan, "paddle-ps-master-0");
  const auto& w0 = find(*plan, "paddle-ps-worker-0");
  EXPECT_EQ(env(m, "PADDLE_SERVER_NUM"), "1");
  EXPECT_EQ(env(w0, "PADDLE_TRAINER_NUM"), "1");
  EXPECT_EQ(env(w0, "POD_IP_DUMMY"), "<unset>") << "only the Master publishes its IP in PS mode";
  EXPECT_EQ(env(w0, "PADDLE_MASTER"), env(m, "PADDLE_MASTER"));
}

TEST(Plan, KubeletExpansionOfEnvReferences) {
  const std::map<std::string, std::string> vars = {{"A", "1"}, {"B", "two"}};
  auto lookup = [&](std::string_view n) -> std::optional<std::string> {
    auto it = vars.find(std::string(n));
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  EXPECT_EQ(expand_env_refs("$(A)-$(B)", lookup), "1-two");
  EXPECT_EQ(expand_env_refs("$(UNDEFINED)", lookup), "$(UNDEFINED)");
  EXPECT_EQ(expand_env_refs("$$(A)", lookup), "$(A)");
  EXPECT_EQ(expand_env_refs("a$b$", lookup), "a$b$");
  EXPECT_EQ(expand_env_refs("$(A", lookup), "$(A");
  EXPECT_EQ(expand_env_refs("$($(A)", lookup), "$($(A)");  // the name runs to the first ")", as in Go
  EXPECT_EQ(expand_env_refs("$()", lookup), "$()");
}

TEST(Plan, PodFieldReferencesResolveLocallyAndOthersAreRefused) {
  auto plan = plan_job(load_text(R"(apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata: {name: pt, namespace: team}
spec:
  pytorchReplicaSpecs:
    Master:
      template:
        spec:
          containers:
            - name: pytorch
              image: i
              command: [x]
              env:
                - {name: MY_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
                - {name: MY_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
                - {name: MY_NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
)"),
                       options());
  ASSERT_TRUE(plan.is_ok()) << plan.status().message();
  EXPECT_EQ(env(plan->replicas[0], "MY_IP"), "127.0.0.1");
  EXPECT_EQ(env(plan->replicas[0], "MY_NAME"), "pt-master-0");
  EXPECT_EQ(env(plan->replicas[0], "MY_NS"), "team");
  auto refused = plan_job(load_text(R"(apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata: {name: pt}
spec:
  pytorchReplicaSpecs:
    Master:
      template:
        spec:
          containers:
            - name: pytorch
              image: i
              command: [x]
              env: [{name: UID_, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}]
)"),
                          options());
  ASSERT_FALSE(refused.is_ok());
  EXPECT_NE(refused.status().message().find("env UID_ refers to the pod field metadata.uid"), std::string::npos)
      << refused.status().message();
}

// Issue 21 item 4: an MPIJob's hostfile and launcher env follow its mpiImplementation
// (mpi-operator v0.8 newConfigMap, newLauncherPodTemplate); locally Intel and MPICH also get
// their own `mpirun`/`mpiexec` first on the launcher's PATH.
TEST(Plan, MpichMpiJobGetsHydrasHostfileEnvAndLauncher) {
  auto job = load_text(R"(apiVersion: kubeflow.org/v2beta1
kind: MPIJob
metadata: {name: m}
spec:
  slotsPerWorker: 2
  mpiImplementation: MPICH
  mpiReplicaSpecs:
    Launcher:
      template: {spec: {containers: [{name: l, image: i, command: [mpirun, prog]}]}}
    Worker:
      replicas: 2
      template: {spec: {containers: [{name: w, image: i}]}}
)");
  auto plan = plan_job(job, options());
  if (!plan.is_ok() && plan.status().message().find("not on PATH") != std::string::npos)
    GTEST_SKIP() << plan.status().message();
  ASSERT_TRUE(plan.is_ok()) << plan.status().message();
  EXPECT_EQ(plan->hostfile, "localhost:4\n");
  const auto& l = find(*plan, "m-launcher-0");
  EXPECT_EQ(env(l, "HYDRA_HOST_FILE"), "/tmp/job/hostfile");
  EXPECT_EQ(env(l, "HYDRA_LAUNCH_EXTRA_ARGS"), "-o ConnectionAttempts=10");
  EXPECT_EQ(env(l, "K_MPI_JOB_ROLE"), "launcher");
  EXPECT_EQ(env(l, "OMPI_MCA_orte_default_hostfile"), "<unset>");
  EXPECT_TRUE(env(l, "PATH").starts_with("/tmp/job/mpi-bin:")) << env(l, "PATH");
  ASSERT_EQ(plan->program_shims.size(), 2u);
  EXPECT_EQ(plan->program_shims[0].first, "/tmp/job/mpi-bin/mpirun");
  EXPECT_NE(plan->program_shims[0].second.find("mpi"), std::string::npos);
}

TEST(Plan, OpenMpiJobGetsItsSlotsAndNoShims) {
  auto plan = plan_job(load("examples/fashion-mnist-mpijob.yaml"), options());
  ASSERT_TRUE(plan.is_ok()) << plan.status().message();
  EXPECT_TRUE(plan->hostfile.ends_with(" slots=2\n")) << plan->hostfile;
  EXPECT_TRUE(plan->program_shims.empty());
  const auto& l = plan->replicas.front();
  EXPECT_EQ(env(l, "OMPI_MCA_orte_set_default_slots"), "1");
  EXPECT_EQ(env(l, "OMPI_MCA_orte_default_hostfile"), "/tmp/job/hostfile");
  EXPECT_EQ(env(l, "HYDRA_HOST_FILE"), "<unset>");
}
