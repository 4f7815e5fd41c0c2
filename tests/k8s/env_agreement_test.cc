// Issue 21 item 1: `ringmaster run` and `render` give every replica the same operator environment,
// variable by variable, for every TFJob, PyTorchJob, JAXJob, XGBoostJob, PaddleJob and (OpenMPI)
// MPIJob among the examples and fixtures (and a few shapes they lack: Worker-only, elastic). Addresses differ by design (127.0.0.1 and free ports
// locally, pod and Service names on a cluster) and are compared with host and port blanked.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <regex>
#include <set>

#include "jobs/loader.h"
#include "jobs/operator_env.h"
#include "k8s/render.h"
#include "launcher/plan.h"

using namespace ringmaster;
namespace fs = std::filesystem;

namespace {

// Injected by neither operator (ours, or the container's own), or set only for a local run: mpirun
// as root and oversubscribed on this host, and the MPICH/Intel launcher first on PATH.
bool ours(const std::string& name) {
  return name.rfind("RINGMASTER_", 0) == 0 || name == "CUDA_VISIBLE_DEVICES" || name == "PATH" ||
         name.rfind("CUDA_MPS_", 0) == 0 || name.rfind("OMPI_ALLOW_RUN_AS_ROOT", 0) == 0 ||
         name == "OMPI_MCA_rmaps_base_oversubscribe";
}

std::string blank_addresses(std::string v) {
  // A Service's DNS name, or the rendezvous Service render adds for an elastic job (locally the
  // launcher serves it at 127.0.0.1).
  static const std::regex svc(R"([a-z0-9-]+\.[a-z0-9-]+\.svc|^[a-z0-9-]+-rendezvous(?=:))"), local(R"(127\.0\.0\.1)"),
      port(R"(HOST:[0-9]+)");
  v = std::regex_replace(v, svc, "HOST");
  v = std::regex_replace(v, local, "HOST");
  return std::regex_replace(v, port, "HOST:PORT");
}

using Env = std::map<std::string, std::string>;

// name -> env of each replica, from the local plan and from the rendered Pods.
std::pair<std::map<std::string, Env>, std::map<std::string, Env>> both(const jobs::TrainingJob& original) {
  std::map<std::string, Env> local, rendered;
  // Fixtures written for a cluster may rely on the image's entrypoint, which a local run cannot;
  // the environment does not depend on the command.
  jobs::TrainingJob job = original;
  for (auto& spec : job.replicas)
    for (auto& c : spec.template_.containers)
      if (c.command.empty()) c.command = {"true"};
  int port = 40000;
  // GPUs, so the GPU fixtures plan here too (GPU variables are ours, not compared).
  std::vector<launcher::Gpu> gpus;
  for (int i = 0; i < 8; ++i) gpus.push_back({i, "GPU-" + std::to_string(i), "test", 16384});
  auto plan = launcher::plan_job(job, {"tok", "/tmp/hostfile", [&port] { return ++port; }, 4, gpus, {}, {}});
  EXPECT_TRUE(plan.is_ok()) << plan.status().message();
  if (!plan.is_ok()) return {};
  std::set<std::string> pod_names;
  for (const auto& r : plan->replicas) pod_names.insert(r.name);
  for (const auto& r : plan->replicas)
    for (const auto& [k, v] : r.env) local[r.name][k] = v;
  k8s::RenderOptions o;
  o.token = "tok";
  auto objects = k8s::render_job(job, o);
  EXPECT_TRUE(objects.is_ok()) << objects.status().message();
  if (!objects.is_ok()) return {};
  for (const auto& obj : *objects) {
    const std::string kind = obj["kind"].as<std::string>();
    if (kind != "Pod" && kind != "Job") continue;
    // An elastic job's rendezvous Pod is not a replica (locally the launcher serves it).
    if (obj["metadata"]["labels"]["training.kubeflow.org/replica-type"].as<std::string>("") == "rendezvous") continue;
    // An MPIJob's launcher is a batch Job "<job>-launcher"; locally it is replica Launcher 0.
    const std::string name = obj["metadata"]["name"].as<std::string>() + (kind == "Job" ? "-0" : "");
    const YAML::Node pod_spec = kind == "Job" ? obj["spec"]["template"]["spec"] : obj["spec"];
    // As the kubelet reads them: a reference to the pod's IP (a local replica's is 127.0.0.1), and
    // "$(NAME)" expanded against the variables before it.
    for (const auto& c : pod_spec["containers"])
      for (const auto& e : c["env"]) {
        Env& env = rendered[name];
        auto lookup = [&env](std::string_view n) -> std::optional<std::string> {
          auto it = env.find(std::string(n));
          return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
        };
        if (e["value"]) env[e["name"].as<std::string>()] = launcher::expand_env_refs(e["value"].as<std::string>(), lookup);
        else if (e["valueFrom"] && e["valueFrom"]["fieldRef"] &&
                 e["valueFrom"]["fieldRef"]["fieldPath"].as<std::string>("") == "status.podIP")
          env[e["name"].as<std::string>()] = "127.0.0.1";
      }
  }
  // Pod names are the replicas' names; a MASTER_ADDR naming a pod is an address too.
  for (auto* side : {&local, &rendered})
    for (auto& [name, env] : *side)
      for (auto& [k, v] : env) {
        v = blank_addresses(v);
        for (const auto& pod : pod_names)
          for (auto at = v.find(pod); at != std::string::npos; at = v.find(pod, at)) v.replace(at, pod.size(), "HOST");
        const auto ends = [&](std::string_view suffix) {
          return k.size() >= suffix.size() && k.compare(k.size() - suffix.size(), suffix.size(), suffix) == 0;
        };
        if (ends("_PORT")) v = "PORT";                    // MASTER_PORT, COORDINATOR_PORT
        if (ends("_ADDR") || ends("_ADDRESS")) v = "HOST";  // MASTER_ADDR, COORDINATOR_ADDRESS
        if (ends("HOST_FILE") || k == "OMPI_MCA_orte_default_hostfile") v = "HOSTFILE";  // /etc/mpi or the job dir
        v = blank_addresses(v);  // "HOST:23456" left by the pod-name pass
      }
  return {local, rendered};
}

void expect_agreement(const jobs::TrainingJob& job, const std::string& what) {
  auto [local, rendered] = both(job);
  ASSERT_EQ(local.size(), rendered.size()) << what;
  for (const auto& [name, renv] : rendered) {
    ASSERT_TRUE(local.count(name)) << what << ": no local replica " << name;
    const Env& lenv = local.at(name);
    for (const auto& [k, v] : renv) {
      if (ours(k)) continue;
      ASSERT_TRUE(lenv.count(k)) << what << ": " << name << ": " << k << " is rendered but not given locally";
      EXPECT_EQ(lenv.at(k), v) << what << ": " << name << ": " << k;
    }
    for (const auto& [k, v] : lenv)
      if (!ours(k)) {
        EXPECT_TRUE(renv.count(k)) << what << ": " << name << ": " << k << " is given locally only";
      }
  }
}

}  // namespace

TEST(EnvAgreement, EveryTrainingOperatorJobOfTheExamplesAndFixtures) {
  int jobs_checked = 0;
  std::set<jobs::JobKind> kinds;
  for (const char* dir : {"examples", "tests/fixtures/good", "tests/fixtures/render", "tests/fixtures/run"}) {
    const fs::path d = fs::path(RINGMASTER_SOURCE_DIR) / dir;
    if (!fs::is_directory(d)) continue;
    for (const auto& f : fs::directory_iterator(d)) {
      if (f.path().extension() != ".yaml") continue;
      auto loaded = jobs::load_file(f.path().string());
      for (const auto& doc : loaded.documents) {
        const auto* job = std::get_if<jobs::TrainingJob>(&doc.object);
        // The seed's v1alpha2 MPIJob starts its ranks through kubectl exec: another contract.
        if (!job || job->kind == jobs::JobKind::kBatchJob || job->api_version == "kubeflow.org/v1alpha2") continue;
        if (job->kind == jobs::JobKind::kMPIJob && job->mpi_implementation != "OpenMPI") continue;  // needs MPICH here
        kinds.insert(job->kind);
        expect_agreement(*job, f.path().filename().string() + " " + job->metadata.name);
        ++jobs_checked;
      }
    }
  }
  EXPECT_GE(jobs_checked, 5);
  EXPECT_EQ(kinds.size(), 6u) << "TFJob, PyTorchJob, JAXJob, XGBoostJob, PaddleJob and MPIJob each among them";
}

TEST(EnvAgreement, WorkerOnlyAndElasticPyTorchJobs) {
  const std::string base = R"(apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata: {name: el}
spec:
  EXTRA
  pytorchReplicaSpecs:
    Worker:
      replicas: 3
      template: {spec: {containers: [{name: pytorch, image: i, command: [x]}]}}
)";
  for (const std::string extra :
       {"runPolicy: {}", "elasticPolicy: {minReplicas: 2, maxReplicas: 4, maxRestarts: 3, rdzvId: abc}",
        "elasticPolicy: {rdzvHost: rdzv.example, rdzvPort: 29400, rdzvBackend: etcd, rdzvConf: [{key: a, value: b}]}"}) {
    std::string y = base;
    y.replace(y.find("EXTRA"), 5, extra);
    auto loaded = jobs::load_string(y, "t.yaml");
    ASSERT_TRUE(loaded.ok()) << loaded.diagnostics.sorted().at(0).to_string();
    const auto& job = std::get<jobs::TrainingJob>(loaded.documents.at(0).object);
    expect_agreement(job, extra);
    auto [local, rendered] = both(job);
    const Env& w1 = rendered.at("el-worker-1");
    EXPECT_FALSE(w1.count("MASTER_ADDR")) << "the operator sets MASTER_ADDR only with a Master";
    EXPECT_FALSE(w1.count("RANK"));
    EXPECT_EQ(w1.at("PYTHONUNBUFFERED"), "1");
  }
  // The elastic contract as training-operator v1.9's elastic.go writes it.
  auto loaded = jobs::load_string(
      base.substr(0, base.find("EXTRA")) + "elasticPolicy: {minReplicas: 2, maxReplicas: 4, maxRestarts: 3}" +
          base.substr(base.find("EXTRA") + 5),
      "t.yaml");
  ASSERT_TRUE(loaded.ok());
  const auto& job = std::get<jobs::TrainingJob>(loaded.documents.at(0).object);
  k8s::RenderOptions o;
  o.token = "tok";
  auto objects = k8s::render_job(job, o);
  ASSERT_TRUE(objects.is_ok());
  Env env;
  for (const auto& obj : *objects)
    if (obj["kind"].as<std::string>() == "Pod" && obj["metadata"]["name"].as<std::string>() == "el-worker-2")
      for (const auto& e : obj["spec"]["containers"][0]["env"])
        if (e["value"]) env[e["name"].as<std::string>()] = e["value"].as<std::string>();
  EXPECT_EQ(env["PET_RDZV_ENDPOINT"], "el-worker-0:23456") << "another program (torchrun) hosts it on worker 0";
  EXPECT_EQ(env["PET_RDZV_BACKEND"], "c10d");
  EXPECT_EQ(env["PET_NNODES"], "2:4");
  EXPECT_EQ(env["PET_MAX_RESTARTS"], "3");
}

// Workers that run ringmaster meet at a rendezvous that outlives each of them: render adds its Pod
// and Service, and points PET_RDZV_ENDPOINT there (jobs::ringmaster_serves_rendezvous).
TEST(EnvAgreement, AnElasticJobOfRingmasterWorkersGetsARendezvousPod) {
  auto loaded = jobs::load_string(R"(apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata: {name: el}
spec:
  elasticPolicy: {minReplicas: 2, maxReplicas: 3}
  pytorchReplicaSpecs:
    Worker:
      replicas: 3
      template: {spec: {containers: [{name: pytorch, image: img:1, command: [/usr/bin/ringmaster, train]}]}}
)",
                                  "t.yaml");
  ASSERT_TRUE(loaded.ok());
  const auto& job = std::get<jobs::TrainingJob>(loaded.documents.at(0).object);
  EXPECT_TRUE(jobs::ringmaster_serves_rendezvous(job));
  k8s::RenderOptions o;
  o.token = "tok";
  auto objects = k8s::render_job(job, o);
  ASSERT_TRUE(objects.is_ok());
  int rendezvous_objects = 0;
  for (const auto& obj : *objects) {
    const std::string name = obj["metadata"]["name"].as<std::string>();
    if (name == "el-rendezvous") {
      ++rendezvous_objects;
      if (obj["kind"].as<std::string>() == "Pod") {
        const YAML::Node c = obj["spec"]["containers"][0];
        EXPECT_EQ(c["image"].as<std::string>(), "img:1");
        EXPECT_EQ(c["command"][1].as<std::string>(), "rendezvous");
        EXPECT_EQ(c["command"][3].as<std::string>(), "0.0.0.0");
        EXPECT_EQ(c["command"][5].as<std::string>(), "29400");
      } else {
        EXPECT_EQ(obj["spec"]["ports"][0]["port"].as<int>(), 29400);
      }
    }
    if (name == "el-worker-2" && obj["kind"].as<std::string>() == "Pod")
      for (const auto& e : obj["spec"]["containers"][0]["env"])
        if (e["name"].as<std::string>() == "PET_RDZV_ENDPOINT") {
          EXPECT_EQ(e["value"].as<std::string>(), "el-rendezvous:29400");
        }
  }
  EXPECT_EQ(rendezvous_objects, 2) << "a Pod and a Service";
  expect_agreement(job, "elastic, ringmaster workers");
  // With a store of the user's (rdzvHost), none.
  jobs::TrainingJob own = job;
  own.elastic_policy->rdzv_host = "rdzv.example";
  EXPECT_FALSE(jobs::ringmaster_serves_rendezvous(own));
}
