#include "jobs/model.h"

#include <fmt/format.h>

#include <algorithm>

#include "jobs/operator_env.h"

namespace ringmaster::jobs {

const char* job_kind_name(JobKind kind) {
  switch (kind) {
    case JobKind::kTFJob: return "TFJob";
    case JobKind::kPyTorchJob: return "PyTorchJob";
    case JobKind::kJAXJob: return "JAXJob";
    case JobKind::kXGBoostJob: return "XGBoostJob";
    case JobKind::kPaddleJob: return "PaddleJob";
    case JobKind::kTrainJob: return "TrainJob";
    case JobKind::kMPIJob: return "MPIJob";
    case JobKind::kBatchJob: return "Job";
  }
  return "?";
}

std::pair<int, int> TrainingJob::JobSetPolicy::child_of(const std::string& type, int index) const {
  auto it = pods_per_job.find(type);
  const int per_job = std::max(1, it == pods_per_job.end() ? 1 : it->second);
  return {index / per_job, index % per_job};
}

std::string TrainingJob::JobSetPolicy::pod_name(const std::string& jobset, const std::string& type, int index) const {
  const auto [child, pod] = child_of(type, index);
  return dns_label(fmt::format("{}-{}-{}-{}", jobset, type, child, pod));
}

std::string TrainingJob::JobSetPolicy::child_job_name(const std::string& jobset, const std::string& type, int index) const {
  return dns_label(fmt::format("{}-{}-{}", jobset, type, child_of(type, index).first));
}

std::vector<std::pair<std::string, std::string>> TrainingJob::jobset_dependencies(const std::string& type) const {
  std::vector<std::pair<std::string, std::string>> out;
  if (!jobset) return out;
  if (auto d = jobset->depends_on.find(type); d != jobset->depends_on.end()) out = d->second;
  if (jobset->startup_in_order)
    for (std::size_t k = 1; k < replicas.size(); ++k)
      if (replicas[k].type == type) out.emplace_back(replicas[k - 1].type, "Ready");
  return out;
}

const char* restart_policy_name(RestartPolicy p) {
  switch (p) {
    case RestartPolicy::kAlways: return "Always";
    case RestartPolicy::kOnFailure: return "OnFailure";
    case RestartPolicy::kNever: return "Never";
    case RestartPolicy::kExitCode: return "ExitCode";
  }
  return "?";
}

const char* clean_pod_policy_name(CleanPodPolicy p) {
  switch (p) {
    case CleanPodPolicy::kNone: return "None";
    case CleanPodPolicy::kRunning: return "Running";
    case CleanPodPolicy::kAll: return "All";
  }
  return "?";
}

const char* parameter_type_name(ParameterType t) {
  switch (t) {
    case ParameterType::kDouble: return "double";
    case ParameterType::kInt: return "int";
    case ParameterType::kDiscrete: return "discrete";
    case ParameterType::kCategorical: return "categorical";
  }
  return "?";
}

const char* distribution_name(Distribution d) {
  switch (d) {
    case Distribution::kUniform: return "uniform";
    case Distribution::kLogUniform: return "logUniform";
    case Distribution::kNormal: return "normal";
    case Distribution::kLogNormal: return "logNormal";
  }
  return "?";
}

const ReplicaSpec* TrainingJob::replica(const std::string& type) const {
  for (const auto& r : replicas)
    if (r.type == type) return &r;
  return nullptr;
}

int TrainingJob::total_replicas() const {
  int n = 0;
  for (const auto& r : replicas) n += r.replicas;
  return n;
}

}  // namespace ringmaster::jobs
