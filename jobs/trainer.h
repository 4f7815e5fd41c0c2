// Kubeflow Trainer v2 (trainer.kubeflow.org/v1alpha1, Trainer v2.3.0): a TrainJob names a
// TrainingRuntime or ClusterTrainingRuntime, and Trainer's framework merges the two into one JobSet
// (jobset.x-k8s.io/v1alpha2). This module loads the three kinds (jobs/loader.h calls it), finds a
// TrainJob's runtime, and resolves the JobSet as Trainer v2.3 builds it:
//   pkg/runtime/core/trainingruntime.go  newRuntimeInfo: the runtime's JobSet template, the trainer
//       replicatedJob's count from mlPolicy.numNodes (or trainer.numNodes), resourcesPerNode merged
//       into the `node` container, label/annotation propagation
//   pkg/runtime/framework/plugins/jobset/{jobset,builder}.go  Build: trainer image/command/args/env
//       on the `node` container of the replicatedJob labelled trainjob-ancestor-step=trainer,
//       replicas 1, the TrainJob's suspend
//   plugins/jobset SyncParallelCount: every replicatedJob's pod count as parallelism/completions
//   plugins/torch/torch.go  EnforceMLPolicy: PET_NNODES, PET_NPROC_PER_NODE ("auto" becomes the
//       CPU count of a node without GPUs), PET_NODE_RANK from the Job's completion index,
//       PET_MASTER_ADDR <job>-node-0-0.<job>, PET_MASTER_PORT 29500, container port 29500
//   plugins/xgboost: DMLC_TRACKER_URI/_PORT (node 0, 29500), DMLC_TASK_ID (completion index),
//       DMLC_NUM_WORKER (nodes x GPUs per node, at least 1 each)
//   plugins/jax: JAX_NUM_PROCESSES, JAX_PROCESS_ID (completion index), JAX_COORDINATOR_ADDRESS
//   plugins/mpi (OpenMPI): the `node` job one smaller when the launcher is a node, the ssh Secret
//       volume on every node container, the hostfile ConfigMap at /etc/mpi and OMPI_MCA_* (slots =
//       numProcPerNode) on the launcher
//   each plugin's Validate: the names it injects are refused in trainer.env
//   builder.go Initializer: STORAGE_URI, env and secretRef of spec.initializer.{dataset,model} on
//       the initializer steps' containers
//   the TrainJob's kueue.x-k8s.io/* labels on the JobSet (for Kueue without Trainer in between)
//   core/trainingruntime.go mergeRuntimePatches: runtimePatches as strategic merge patches
//   plugins/volcano, plugins/coscheduling: the PodGroup and the pods' group annotation / label
// Not yet: the flux policy's own objects.
// Pure functions over value types; thread-safe.
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "jobs/model.h"

namespace ringmaster::jobs {

struct RuntimeRef {
  std::string name;
  std::string api_group = "trainer.kubeflow.org";  // the CRD's defaults
  std::string kind = "ClusterTrainingRuntime";
};

struct TrainJob {
  std::string api_version;
  ObjectMeta metadata;
  RuntimeRef runtime_ref;
  bool suspend = false;
  std::string file;  // where it was loaded from, for messages
  YAML::Node spec;   // the normalized spec (trainer, initializer, runtimePatches, labels, ...)
};

struct TrainingRuntime {
  std::string kind;  // TrainingRuntime or ClusterTrainingRuntime
  ObjectMeta metadata;
  // The mlPolicy source: torch, mpi, xgboost, jax, flux, or plainml when none is given.
  std::string framework = "plainml";
  std::string origin;  // "<file>", or "built in (Trainer v2.3.0 manifests/base/runtimes/<file>)"
  YAML::Node spec;     // the normalized spec (mlPolicy, podGroupPolicy, template)
};

// Trainer v2.3.0's default ClusterTrainingRuntimes as ringmaster ships them
// (third_party/trainer-runtimes, embedded at build time): torch-distributed,
// deepspeed-distributed, mlx-distributed, jax-distributed, xgboost-distributed.
const std::vector<TrainingRuntime>& builtin_runtimes();

// The runtime `job` names, from `candidates` (the same file's runtimes, then --runtimes
// directories' ones, in the caller's order) and then the built-in ones. A TrainingRuntime must be in
// the TrainJob's namespace. kNotFound naming the reference and listing the runtimes that exist.
Result<TrainingRuntime> find_runtime(const TrainJob& job, const std::vector<TrainingRuntime>& candidates);

// The JobSet that Trainer v2.3 creates for `job` on `runtime` (see the header comment), with
// metadata.name/namespace the TrainJob's. kInvalidArgument for what Trainer's webhook refuses
// (reserved env names) or a runtime without the trainer replicatedJob's `node` container where the
// TrainJob sets trainer fields.
Result<YAML::Node> resolve_jobset(const TrainJob& job, const TrainingRuntime& runtime);

// find_runtime, then resolve_jobset: the runtime a TrainJob runs on and the JobSet it becomes.
struct ResolvedTrainJob {
  TrainingRuntime runtime;
  YAML::Node jobset;
  // The runtime's podGroupPolicy as Trainer v2.3 builds it (plugins/volcano, plugins/coscheduling
  // Build): a scheduling.volcano.sh/v1beta1 or scheduling.x-k8s.io/v1alpha1 PodGroup named after
  // the TrainJob, minMember every pod, minResources their requests summed, Volcano's queue from
  // the scheduling.volcano.sh/queue-name annotation and priorityClassName from the pod templates,
  // coscheduling's scheduleTimeoutSeconds. Null without a podGroupPolicy. (The pods' group
  // annotation or label is in the JobSet.)
  YAML::Node pod_group;
};
Result<ResolvedTrainJob> resolve_trainjob(const TrainJob& job, const std::vector<TrainingRuntime>& candidates);

// The TrainingRuntimes and ClusterTrainingRuntimes among `documents`, and those of the YAML files in
// each of `dirs` (in name order): the candidates for find_runtime. Files that do not load are
// reported to `problems`.
struct Document;
std::vector<TrainingRuntime> collect_runtimes(const std::vector<Document>& documents, const std::vector<std::string>& dirs,
                                              std::vector<std::string>& problems);

// The resolved JobSet (resolve_trainjob) as a job the local launcher runs and `render --mode pods`
// renders (kind kTrainJob, with `jobset` set): one replica spec per replicatedJob with replicas x
// parallelism pods, each pod's container as the template gives it (restartPolicy as JobSet
// defaults it, OnFailure), the TrainJob's activeDeadlineSeconds, and in JobSetPolicy JobSet's
// dependsOn, startupPolicy, successPolicy, failurePolicy, network.subdomain, and each child Job's
// backoffLimit (default 6, as batch/v1) and podFailurePolicy; on the mpi runtime, slots per node
// and runLauncherAsNode (the hostfile's). run_policy.backoff_limit stays unset: the child Jobs count.
Result<TrainingJob> trainjob_as_job(const TrainJob& job, const ResolvedTrainJob& resolved);

}  // namespace ringmaster::jobs
