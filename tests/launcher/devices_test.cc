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

Result<JobPlan> plan_text(const std::string& yaml, int n_gpus, std::vector<int> cpus = {}) {
  auto r = jobs::load_string(yaml, "t.yaml");
  EXPECT_TRUE(r.ok());
  auto next = std::make_shared<int>(40000);
  return plan_job(std::get<jobs::TrainingJob>(r.documents.at(0).object),
                  {"t", "/tmp/h", [next] { return ++*next; }, 2, gpus(n_gpus), cpus, {}});
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

TEST(Devices, CpuQuantitiesAreParsedAsKubernetesWritesThem) {
  EXPECT_DOUBLE_EQ(parse_cpu_quantity("2").value(), 2.0);
  EXPECT_DOUBLE_EQ(parse_cpu_quantity("1.5").value(), 1.5);
  EXPECT_DOUBLE_EQ(parse_cpu_quantity("500m").value(), 0.5);
  for (const char* bad : {"", "m", "two", "1.2.3", "-1", "1Gi", "."}) {
    auto r = parse_cpu_quantity(bad);
    ASSERT_FALSE(r.is_ok()) << bad;
    EXPECT_NE(r.status().message().find("expected a CPU quantity"), std::string::npos) << r.status().message();
  }
  EXPECT_EQ(cpu_list_string({0, 1, 2, 3, 6}), "0-3,6");
  EXPECT_EQ(cpu_list_string({5}), "5");
  EXPECT_EQ(cpu_list_string({}), "");
}

TEST(Devices, CpuLimitsGetCoresOfTheirOwnAndTheRestShareWhatIsLeft) {
  const CpuPlacement p = place_cpus({{"a", 2}, {"b", 0}, {"c", 0.5}}, {0, 1, 2, 3, 4, 5});
  EXPECT_TRUE(p.note.empty());
  EXPECT_EQ(p.cpus[0], (std::vector<int>{0, 1}));
  EXPECT_EQ(p.cpus[2], (std::vector<int>{2}));  // 500m still needs a core of its own
  EXPECT_EQ(p.cpus[1], (std::vector<int>{3, 4, 5}));
  // Every core taken: the unlimited replica may run anywhere.
  const CpuPlacement full = place_cpus({{"a", 1}, {"b", 0}, {"c", 1}}, {4, 7});
  EXPECT_EQ(full.cpus[0], (std::vector<int>{4}));
  EXPECT_EQ(full.cpus[2], (std::vector<int>{7}));
  EXPECT_EQ(full.cpus[1], (std::vector<int>{4, 7}));
}

TEST(Devices, CpuLimitsBeyondTheMachinePinNothingAndSayWhy) {
  const CpuPlacement p = place_cpus({{"a", 2}, {"b", 2}}, {0, 1, 2});
  EXPECT_TRUE(p.cpus[0].empty());
  EXPECT_TRUE(p.cpus[1].empty());
  EXPECT_EQ(p.note, "the cpu limits add up to 4 cores but this machine gives 3: no replica is pinned");
  // No limits at all: nothing pinned, nothing to say.
  const CpuPlacement none = place_cpus({{"a", 0}}, {0, 1});
  EXPECT_TRUE(none.cpus[0].empty());
  EXPECT_TRUE(none.note.empty());
}

TEST(Devices, MpiLauncherRunsOnItsWorkersCpus) {
  const char* mpi = R"(apiVersion: kubeflow.org/v2beta1
kind: MPIJob
metadata: {name: m}
spec:
  mpiReplicaSpecs:
    Launcher:
      template: {spec: {containers: [{name: l, image: i, command: [mpirun, "true"]}]}}
    Worker:
      replicas: 2
      template: {spec: {containers: [{name: w, image: i, resources: {limits: {cpu: "1"}}}]}}
)";
  auto plan = plan_text(mpi, 0, {0, 1, 2, 3});
  ASSERT_TRUE(plan.is_ok()) << plan.status().message();
  EXPECT_EQ(plan->replicas[1].cpus, (std::vector<int>{0}));
  EXPECT_EQ(plan->replicas[2].cpus, (std::vector<int>{1}));
  EXPECT_EQ(plan->replicas[0].cpus, (std::vector<int>{0, 1}));
  // A bad quantity names the replica and the field.
  std::string bad = mpi;
  bad.replace(bad.find("cpu: \"1\""), 8, "cpu: \"lots\"");
  auto r = plan_text(bad, 0, {0, 1});
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().message(),
            "replica Worker: resources.limits.cpu: expected a CPU quantity such as \"2\", \"1.5\" or \"500m\", found \"lots\"");
}
