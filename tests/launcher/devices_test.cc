// GPU detection parsing, whole and fractional placement, and the environment it produces.
#include <gtest/gtest.h>

#include "jobs/loader.h"
#include "launcher/devices.h"
#include "launcher/plan.h"

using namespace ringmaster;
using namespace ringmaster::launcher;

namespace {

std::vector<Gpu> gpus(int n) {
  std::vector<Gpu> out;
  for (int i = 0; i < n; ++i) out.push_back({i, "GPU-" + std::to_string(i), "NVIDIA H100", 81559});
  return out;
}

std::string env(const ReplicaLaunch& r, const std::string& name) {
  for (const auto& [k, v] : r.env)
    if (k == name) return v;
  return "<unset>";
}

Result<JobPlan> plan_text(const std::string& yaml, int n_gpus) {
  auto r = jobs::load_string(yaml, "t.yaml");
  EXPECT_TRUE(r.ok());
  auto next = std::make_shared<int>(40000);
  return plan_job(std::get<jobs::TrainingJob>(r.documents.at(0).object),
                  {"t", "/tmp/h", [next] { return ++*next; }, 2, gpus(n_gpus)});
}

}  // namespace

TEST(Devices, ParsesNvidiaSmiCsv) {
  auto g = parse_nvidia_smi("0, GPU-aaa, NVIDIA H100 80GB HBM3, 81559\n1, GPU-bbb, NVIDIA H100 80GB HBM3, 81559\nbad\n");
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[1].index, 1);
  EXPECT_EQ(g[1].uuid, "GPU-bbb");
  EXPECT_EQ(g[0].name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(g[0].memory_mib, 81559);
}

TEST(Devices, WholeGpusAreExclusiveAndRefusedWhenShort) {
  auto a = place_gpus({{"a", 1, 0}, {"b", 2, 0}}, gpus(3));
  ASSERT_TRUE(a.is_ok());
  EXPECT_EQ((*a)[0].devices, (std::vector<int>{0}));
  EXPECT_EQ((*a)[1].devices, (std::vector<int>{1, 2}));
  auto short_ = place_gpus({{"a", 1, 0}, {"b", 2, 0}}, gpus(2));
  ASSERT_FALSE(short_.is_ok());
  EXPECT_EQ(short_.status().message(),
            "replica b needs 2 GPU(s) but none is left: the job asks for 3 whole GPUs and this machine has 2");
}

TEST(Devices, FractionsArePackedLargestFirstOnGpusNobodyHoldsWhole) {
  // GPU 0 is held whole; first fit, largest first: the two halves fill GPU 1, the quarters GPU 2.
  auto a = place_gpus({{"w", 1, 0}, {"f1", 0, 0.25}, {"f2", 0, 0.5}, {"f3", 0, 0.25}, {"f4", 0, 0.5}}, gpus(3));
  ASSERT_TRUE(a.is_ok()) << a.status().message();
  EXPECT_EQ((*a)[0].devices, (std::vector<int>{0}));
  EXPECT_EQ((*a)[2].devices, (std::vector<int>{1}));
  EXPECT_EQ((*a)[4].devices, (std::vector<int>{1}));
  EXPECT_EQ((*a)[1].devices, (std::vector<int>{2}));
  EXPECT_EQ((*a)[3].devices, (std::vector<int>{2}));
  EXPECT_EQ((*a)[2].mps_percentage, 50);
  EXPECT_EQ((*a)[1].mps_percentage, 25);
  auto full = place_gpus({{"f1", 0, 0.75}, {"f2", 0, 0.5}}, gpus(1));
  ASSERT_FALSE(full.is_ok());
  EXPECT_EQ(full.status().message(),
            "replica f2 needs 0.5 of a GPU but no GPU has that much left (1 GPU(s), 0 held whole)");
}

TEST(Devices, PlanSetsCudaVisibleDevicesAndHidesGpusFromCpuReplicas) {
  const char* tf = R"(apiVersion: kubeflow.org/v1
kind: TFJob
metadata: {name: g}
spec:
  tfReplicaSpecs:
    PS:
      template: {spec: {containers: [{name: tensorflow, image: i, command: [sh]}]}}
    Worker:
      replicas: 2
      template:
        spec:
          containers: [{name: tensorflow, image: i, command: [sh], resources: {limits: {nvidia.com/gpu: 1}}}]
)";
  auto p = plan_text(tf, 2);
  ASSERT_TRUE(p.is_ok()) << p.status().message();
  EXPECT_EQ(env(p->replicas[0], "CUDA_VISIBLE_DEVICES"), "");  // the PS asked for none
  EXPECT_EQ(env(p->replicas[1], "CUDA_VISIBLE_DEVICES"), "0");
  EXPECT_EQ(env(p->replicas[2], "CUDA_VISIBLE_DEVICES"), "1");
  auto none = plan_text(tf, 1);
  ASSERT_FALSE(none.is_ok());
  EXPECT_NE(none.status().message().find("replica g-worker-1 needs 1 GPU(s) but none is left"), std::string::npos);
}

TEST(Devices, FractionAnnotationGivesMpsShareAndMpiLauncherGetsItsWorkersGpus) {
  const char* mpi = R"(apiVersion: kubeflow.org/v2beta1
kind: MPIJob
metadata: {name: m}
spec:
  mpiReplicaSpecs:
    Launcher:
      template: {spec: {containers: [{name: l, image: i, command: [mpirun]}]}}
    Worker:
      replicas: 2
      template:
        metadata: {annotations: {ringmaster.io/gpu-fraction: "0.5"}}
        spec: {containers: [{name: w, image: i}]}
)";
  auto p = plan_text(mpi, 1);
  ASSERT_TRUE(p.is_ok()) << p.status().message();
  EXPECT_EQ(env(p->replicas[1], "CUDA_VISIBLE_DEVICES"), "0");
  EXPECT_EQ(env(p->replicas[1], "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"), "50");
  EXPECT_EQ(env(p->replicas[0], "CUDA_VISIBLE_DEVICES"), "0");  // the launcher runs the ranks
}

TEST(Devices, NoGpusAndNoRequestsLeavesTheEnvironmentAlone) {
  const char* job = R"(apiVersion: batch/v1
kind: Job
metadata: {name: cpu}
spec: {template: {spec: {restartPolicy: Never, containers: [{name: m, image: i, command: [sh]}]}}}
)";
  auto p = plan_text(job, 0);
  ASSERT_TRUE(p.is_ok());
  EXPECT_EQ(env(p->replicas[0], "CUDA_VISIBLE_DEVICES"), "<unset>");
}
