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
  return {"tok-123", "/tmp/job/hostfile", [next] { return ++*next; }, 2, {}, {}};
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
