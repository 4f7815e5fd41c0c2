// The generated structural schema: every kind we load is there, and its checks behave as kubectl's strict mode.
#include <gtest/gtest.h>

#include "jobs/schema.h"

using namespace ringmaster::jobs;

namespace {
std::string check(const std::string& yaml, const std::string& api, const std::string& kind, SchemaCheckOptions o = {}) {
  Diagnostics d;
  auto root = root_schema(api, kind);
  EXPECT_TRUE(root.has_value());
  check_schema(YAML::Load(yaml), *root, "", "s.yaml", o, d);
  std::string out;
  for (const auto& x : d.sorted()) out += x.to_string() + "\n";
  return out;
}
}  // namespace

TEST(Schema, KnowsEveryLoadedKind) {
  auto kinds = known_kinds();
  EXPECT_EQ(kinds.size(), 15u);
  EXPECT_TRUE(root_schema("trainer.kubeflow.org/v1alpha1", "TrainJob"));
  EXPECT_TRUE(root_schema("trainer.kubeflow.org/v1alpha1", "OptimizationJob"));
  EXPECT_TRUE(root_schema("trainer.kubeflow.org/v1alpha1", "ClusterTrainingRuntime"));
  EXPECT_TRUE(root_schema("kubeflow.org/v1", "JAXJob"));
  EXPECT_TRUE(root_schema("kubeflow.org/v1", "XGBoostJob"));
  EXPECT_TRUE(root_schema("kubeflow.org/v1", "PaddleJob"));
  EXPECT_TRUE(root_schema("kubeflow.org/v1", "TFJob"));
  EXPECT_TRUE(root_schema("kubeflow.org/v2beta1", "MPIJob"));
  EXPECT_TRUE(root_schema("kubeflow.org/v1alpha2", "MPIJob"));
  EXPECT_TRUE(root_schema("kubeflow.org/v1alpha3", "Experiment"));
  EXPECT_TRUE(root_schema("batch/v1", "Job"));
  EXPECT_FALSE(root_schema("kubeflow.org/v1", "Experiment"));
  auto spec = field_schema(*root_schema("kubeflow.org/v1", "TFJob"), "spec");
  ASSERT_TRUE(spec);
  EXPECT_TRUE(field_schema(*spec, "tfReplicaSpecs"));
  EXPECT_FALSE(field_schema(*spec, "pytorchReplicaSpecs"));
}

TEST(Schema, RequiredFieldsAndTypes) {
  EXPECT_EQ(check("apiVersion: batch/v1\nkind: Job\nspec:\n  template:\n    spec:\n      containers:\n        - image: x\n",
                  "batch/v1", "Job"),
            "s.yaml:7:11: error: spec.template.spec.containers[0].name: required field is missing\n");
  EXPECT_EQ(check("spec:\n  template: {}\n  suspend: yes\n", "batch/v1", "Job"),
            "s.yaml:3:12: error: spec.suspend: expected true or false, found string \"yes\"\n");
}

TEST(Schema, QuantitiesAndIntOrString) {
  EXPECT_EQ(check("spec:\n  template:\n    spec:\n      containers:\n        - name: c\n          resources:\n            limits: "
                  "{cpu: 2, memory: 1Gi, nvidia.com/gpu: \"1\"}\n          ports: [{containerPort: 80}]\n",
                  "batch/v1", "Job"),
            "");
}

TEST(Schema, PlaceholdersAllowedOnlyWhenAsked) {
  std::string y = "spec:\n  template: {}\n  parallelism: ${trialParameters.n}\n";
  EXPECT_NE(check(y, "batch/v1", "Job"), "");
  SchemaCheckOptions o;
  o.allow_placeholders = true;
  EXPECT_EQ(check(y, "batch/v1", "Job", o), "");
}

TEST(Schema, EnumFromCrd) {
  EXPECT_EQ(check("spec:\n  mpiReplicaSpecs: {}\n  mpiImplementation: MVAPICH\n", "kubeflow.org/v2beta1", "MPIJob"),
            "s.yaml:3:22: error: spec.mpiImplementation: expected one of OpenMPI, Intel, MPICH, found \"MVAPICH\"\n");
}
