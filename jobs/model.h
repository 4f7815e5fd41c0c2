// The typed job model: what a TFJob, PyTorchJob, JAXJob, XGBoostJob, PaddleJob, MPIJob, batch/v1 Job or
// Katib Experiment means once
// it has been loaded, defaulted and validated (jobs/loader.h makes these). Every field here is final:
// defaults are applied, replica types are in canonical case, enums are checked. The launcher, the
// Kubernetes renderer and the sweep driver consume these structs and never look at YAML again, except
// through the opaque Trees (tree.h) kept for faithful re-rendering of pod templates, PodGroups and
// trial specs, which only k8s/ and sweep/ open (yaml_tree.h). No yaml-cpp type appears here.
// Plain value types; not thread-safe to mutate concurrently.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "jobs/tree.h"

namespace ringmaster::jobs {

enum class JobKind { kTFJob, kPyTorchJob, kMPIJob, kBatchJob, kJAXJob, kXGBoostJob, kPaddleJob, kTrainJob };
const char* job_kind_name(JobKind kind);

// What happens when a replica's process exits (Kubeflow's RestartPolicy).
enum class RestartPolicy {
  kAlways,     // restart whatever the exit status
  kOnFailure,  // restart on a non-zero exit
  kNever,      // never restart
  kExitCode,   // restart on 128-255 (signals: retryable), fail the job on 1-127 (permanent)
};
const char* restart_policy_name(RestartPolicy p);

enum class CleanPodPolicy { kNone, kRunning, kAll };
const char* clean_pod_policy_name(CleanPodPolicy p);

struct ObjectMeta {
  std::string name;
  std::string namespace_ = "default";
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
};

struct EnvVar {
  std::string name;
  std::string value;
  bool from_source = false;  // valueFrom (secret, config map, field ref): resolved by the runtime
  std::string field_path;    // valueFrom.fieldRef.fieldPath ("status.podIP"), when that is the source
};

struct ContainerPort {
  std::string name;
  int port = 0;
};

// A container's volumeMounts entry.
struct VolumeMount {
  std::string name, mount_path, sub_path;
};

// A pod's volume, as far as a run on this machine cares where its files are.
struct Volume {
  enum class Source {
    kShared,    // a persistentVolumeClaim, or no source: one directory for the job's pods
    kHostPath,  // host_path itself
    kEmptyDir,  // one directory per pod
    kObject,    // configMap, secret, projected, downwardAPI: written by Kubernetes, not a directory here
  };
  std::string name;
  Source source = Source::kShared;
  std::string host_path;
};

struct Container {
  std::string name;
  std::string image;
  std::vector<std::string> command;
  std::vector<std::string> args;
  std::vector<EnvVar> env;
  std::string working_dir;
  std::vector<ContainerPort> ports;
  std::map<std::string, std::string> limits;    // e.g. {"nvidia.com/gpu": "1", "cpu": "2"}
  std::map<std::string, std::string> requests;
  std::vector<VolumeMount> volume_mounts;
};

struct PodTemplate {
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::vector<Container> containers;
  std::vector<Volume> volumes;
  Tree raw;  // the whole normalized template, for rendering to Kubernetes
};

struct ReplicaSpec {
  std::string type;  // canonical: PS, Worker, Chief, Master, Evaluator, Launcher, Job
  int replicas = 1;
  RestartPolicy restart_policy = RestartPolicy::kNever;
  PodTemplate template_;
  // Index into template_.containers of the container the operator treats as primary
  // ("tensorflow", "pytorch", the MPIJob mainContainer, or the first one).
  std::size_t primary_container = 0;
};

struct SchedulingPolicy {
  std::optional<int> min_available;
  std::string queue;
  std::string priority_class;
  std::optional<int> schedule_timeout_seconds;
  std::map<std::string, std::string> min_resources;
};

struct RunPolicy {
  CleanPodPolicy clean_pod_policy = CleanPodPolicy::kNone;
  std::optional<int> ttl_seconds_after_finished;
  std::optional<std::int64_t> active_deadline_seconds;
  std::optional<int> backoff_limit;
  std::optional<SchedulingPolicy> scheduling_policy;
  bool suspend = false;
};

struct ElasticPolicy {
  std::optional<int> min_replicas, max_replicas, max_restarts;
  std::string rdzv_backend;  // empty: c10d
  std::optional<std::string> rdzv_host, rdzv_id;
  std::optional<int> rdzv_port, n_proc_per_node;
  std::vector<std::pair<std::string, std::string>> rdzv_conf;
  bool standalone = false;
};

// A TFJob, PyTorchJob, MPIJob or batch/v1 Job. A batch Job has one replica spec of type "Job"
// (replicas = parallelism) and its backoffLimit / activeDeadlineSeconds in run_policy.
struct TrainingJob {
  JobKind kind = JobKind::kTFJob;
  std::string api_version;
  ObjectMeta metadata;
  std::vector<ReplicaSpec> replicas;  // in canonical order (Chief, Master, PS, Worker, Evaluator / Launcher, Worker)
  RunPolicy run_policy;

  std::string success_policy;  // TFJob: "" (chief or worker-0) or "AllWorkers"

  std::string nproc_per_node = "auto";  // PyTorchJob
  std::optional<ElasticPolicy> elastic_policy;

  int slots_per_worker = 1;  // MPIJob
  bool run_launcher_as_worker = false;
  std::string mpi_implementation = "OpenMPI";
  std::string ssh_auth_mount_path = "/root/.ssh";
  std::string launcher_creation_policy = "AtStartup";

  int completions = 1;  // batch Job

  // A Trainer v2 TrainJob, run as the JobSet it resolves to (jobs/trainer.h trainjob_as_job): one
  // replica spec per replicatedJob, its replicas x parallelism pods; pod i of a spec is pod
  // i % pods_per_job of child Job i / pods_per_job.
  struct JobSetPolicy {
    std::map<std::string, int> pods_per_job;  // replicatedJob -> parallelism
    // replicatedJob -> the replicatedJobs it waits for, with "Ready" or "Complete"
    std::map<std::string, std::vector<std::pair<std::string, std::string>>> depends_on;
    std::string success_operator = "All";     // successPolicy.operator: All or Any
    std::vector<std::string> success_targets;  // successPolicy.targetReplicatedJobs; empty: all
    int max_restarts = 0;                      // failurePolicy.maxRestarts
    // failurePolicy.rules (jobset v0.12 pkg/controllers/failure_policy.go): the first rule that a
    // failed child Job matches (its failure reason, message and replicatedJob) decides the action;
    // none matching, RestartJobSet. Without a failurePolicy the first failed child Job fails the
    // JobSet (reason FailedJobs).
    struct FailureRule {
      std::string name;    // defaulted by the webhook to failurePolicyRule<index>
      std::string action;  // FailJobSet, RestartJobSet, RestartJobSetAndIgnoreMaxRestarts
      std::vector<std::string> on_reasons;           // onJobFailureReasons; empty: any
      std::vector<std::string> on_message_patterns;  // onJobFailureMessagePatterns (regular expressions)
      std::vector<std::string> targets;              // targetReplicatedJobs; empty: any
    };
    bool has_failure_policy = false;
    std::vector<FailureRule> failure_rules;
    // A child Job's own backoffLimit (batch/v1 default 6) and podFailurePolicy, per replicatedJob.
    struct PodFailureRule {
      std::string action;      // FailJob, Ignore, Count, FailIndex
      std::string container;   // onExitCodes.containerName; empty: any
      bool in = true;          // onExitCodes.operator In (else NotIn)
      std::vector<int> codes;  // onExitCodes.values
    };
    std::map<std::string, int> backoff_limits;
    std::map<std::string, std::vector<PodFailureRule>> pod_failure_rules;
    // startupPolicy.startupPolicyOrder InOrder: each replicatedJob starts once the one before it is
    // ready (all its pods running), in the order they are listed.
    bool startup_in_order = false;
    // The runtime's mlPolicy is mpi (OpenMPI): the launcher runs mpirun over the `node` pods
    // (TrainingJob::slots_per_worker, run_launcher_as_worker as for an MPIJob).
    bool mpi = false;
    // replicatedJob -> its trainer.kubeflow.org/trainjob-ancestor-step label (dataset-initializer,
    // model-initializer, trainer), where it has one.
    std::map<std::string, std::string> ancestors;
    // A runtime's podGroupPolicy: the PodGroup to create with the pods (ResolvedTrainJob::pod_group).
    Tree pod_group;
    // Pod `index` of replicatedJob `type` (counted over all its child Jobs) as (child Job index,
    // pod index within that Job: its completion index).
    std::pair<int, int> child_of(const std::string& type, int index) const;
    // The pod's name and host name as JobSet and the Job controller give it:
    // <jobset>-<replicatedJob>-<job index>-<completion index> (DNS-1123 label), under the headless
    // Service `subdomain` (spec.network.subdomain, default the JobSet's name).
    std::string pod_name(const std::string& jobset, const std::string& type, int index) const;
    // The child Job that pod `index` of replicatedJob `type` belongs to: <jobset>-<type>-<job index>.
    std::string child_job_name(const std::string& jobset, const std::string& type, int index) const;
    std::string subdomain;
  };
  std::optional<JobSetPolicy> jobset;

  const ReplicaSpec* replica(const std::string& type) const;
  int total_replicas() const;
  // A TrainJob step's JobSet dependencies, as (replicatedJob, "Ready" or "Complete"): its dependsOn,
  // and under startupPolicy InOrder (jobset startup_policy.go) the replicatedJob listed before it,
  // Ready. Empty for other kinds.
  std::vector<std::pair<std::string, std::string>> jobset_dependencies(const std::string& type) const;
};

// ---- Katib Experiment --------------------------------------------------------------------------

enum class ParameterType { kDouble, kInt, kDiscrete, kCategorical };
enum class Distribution { kUniform, kLogUniform, kNormal, kLogNormal };
const char* parameter_type_name(ParameterType t);
const char* distribution_name(Distribution d);

struct FeasibleSpace {
  std::optional<std::string> min, max, step;  // kept as written; Katib passes them as strings
  std::vector<std::string> list;
  Distribution distribution = Distribution::kUniform;
};

struct ParameterSpec {
  std::string name;
  ParameterType type = ParameterType::kDouble;
  FeasibleSpace feasible_space;
};

enum class ObjectiveType { kMinimize, kMaximize };
enum class MetricStrategy { kMin, kMax, kLatest };

// One objective of a multi-objective search.
struct ObjectiveMetric {
  std::string metric;
  ObjectiveType type = ObjectiveType::kMinimize;
};

// The annotations that make a Katib Experiment (or a Trainer OptimizationJob) multi-objective;
// ours, not Katib's or Trainer's (docs/multi-objective.md):
//   ringmaster.io/objectives: "latency_ms:minimize, params:minimize"   objectives after the first
//   ringmaster.io/hypervolume-reference: "0.5, 40, 1e6"                one value per objective
inline constexpr const char* kObjectivesAnnotation = "ringmaster.io/objectives";
inline constexpr const char* kHypervolumeReferenceAnnotation = "ringmaster.io/hypervolume-reference";
// An OptimizationJob's search algorithm beyond Trainer's random and grid (ours): any name `ringmaster
// sweep` knows (sweep/suggest.h), with its settings as "name=value, name=value".
// What an OptimizationJob's trial TrainJobs carry: the label naming the OptimizationJob, and the
// parameter assignment as JSON ([{"name": ..., "value": ...}], Trainer's ParameterAssignment).
// Trainer's proposal names neither key; these are ours.
inline constexpr const char* kOptimizationJobLabel = "trainer.kubeflow.org/optimization-job";
inline constexpr const char* kParametersAnnotation = "trainer.kubeflow.org/parameter-assignments";
inline constexpr const char* kAlgorithmAnnotation = "ringmaster.io/algorithm";
inline constexpr const char* kAlgorithmSettingsAnnotation = "ringmaster.io/algorithm-settings";

struct Objective {
  ObjectiveType type = ObjectiveType::kMaximize;
  std::optional<double> goal;
  std::string objective_metric_name;
  std::vector<std::string> additional_metric_names;
  std::vector<std::pair<std::string, MetricStrategy>> metric_strategies;  // one per metric, defaulted
  // ringmaster.io/objectives: the objectives searched with this one (empty: single-objective).
  // Each is collected as its direction says (min or max), like the first.
  std::vector<ObjectiveMetric> more;
  // ringmaster.io/hypervolume-reference, in the objectives' order and units; empty: the worst
  // value of each objective over the finished trials.
  std::vector<double> hypervolume_reference;
};

struct AlgorithmSpec {
  std::string name;
  std::vector<std::pair<std::string, std::string>> settings;
};

struct MetricsCollector {
  std::string kind = "StdOut";   // StdOut, File, TensorFlowEvent, PrometheusMetric, Custom, None, Push;
                                 // TrainerStatus: an OptimizationJob's (Trainer's progress API)
  std::string file_path;         // File: absolute path of the metrics file
  std::string file_format;       // File: TEXT or JSON
  std::vector<std::string> metrics_format;  // custom regexes (two groups: name, value)
};

struct TrialParameter {
  std::string name, description, reference;
};

struct TrialTemplate {
  std::string primary_container_name;
  std::vector<TrialParameter> trial_parameters;
  Tree trial_spec;             // v1beta1: the job to run per trial, with ${trialParameters.x} left in
  std::string raw_template;    // v1alpha3: goTemplate.rawTemplate (Go template text)
  std::string success_condition, failure_condition;
  std::map<std::string, std::string> primary_pod_labels;
  bool retain = false;
};

struct Experiment {
  // "Experiment" (Katib), or "OptimizationJob" (Kubeflow Trainer's, trainer.kubeflow.org/v1alpha1,
  // loaded by jobs/optimization.cc into this shape): its trials are TrainJobs made from
  // trial_template.trial_spec, handed their parameters as Trainer's controller hands them
  // (KUBEFLOW_TRAINER_OPT_<NAME> in spec.trainer.env, and an annotation), and their metrics come
  // through Trainer's progress API (metrics_collector.kind "TrainerStatus"), not a collector.
  std::string kind = "Experiment";
  std::string api_version;
  ObjectMeta metadata;
  std::vector<ParameterSpec> parameters;
  Objective objective;
  AlgorithmSpec algorithm;
  std::optional<AlgorithmSpec> early_stopping;
  int parallel_trial_count = 3;
  std::optional<int> max_trial_count;
  std::optional<int> max_failed_trial_count;
  std::string resume_policy = "Never";
  MetricsCollector metrics_collector;
  TrialTemplate trial_template;
};

}  // namespace ringmaster::jobs
