#include "jobs/plan.h"

#include <fmt/format.h>

#include "common/strings.h"
#include "jobs/emit.h"
#include "jobs/yaml_tree.h"

namespace ringmaster::jobs {

namespace {

std::string opt(const auto& v) { return v ? std::to_string(*v) : std::string("-"); }

std::string command_line(const Container& c) {
  std::vector<std::string> parts = c.command;
  parts.insert(parts.end(), c.args.begin(), c.args.end());
  if (parts.empty()) return "(image entrypoint of " + c.image + ")";
  return join(parts, " ");
}

std::string plan_job(const TrainingJob& job) {
  std::string out = fmt::format("{} {}/{} ({})\n", job_kind_name(job.kind), job.metadata.namespace_, job.metadata.name,
                                job.api_version);
  const RunPolicy& rp = job.run_policy;
  out += fmt::format("  runPolicy: cleanPodPolicy={} backoffLimit={} activeDeadlineSeconds={} suspend={}",
                     clean_pod_policy_name(rp.clean_pod_policy), opt(rp.backoff_limit), opt(rp.active_deadline_seconds),
                     rp.suspend ? "true" : "false");
  if (rp.scheduling_policy) out += fmt::format(" gang(minAvailable={})", opt(rp.scheduling_policy->min_available));
  out += "\n";
  if (job.kind == JobKind::kMPIJob) {
    out += fmt::format("  mpi: {} slotsPerWorker={} runLauncherAsWorker={}\n", job.mpi_implementation,
                       job.slots_per_worker, job.run_launcher_as_worker ? "true" : "false");
  }
  if (job.kind == JobKind::kTFJob) out += fmt::format("  successPolicy: {}\n", job.success_policy.empty() ? "(chief or worker 0)" : job.success_policy);
  if (job.kind == JobKind::kPyTorchJob) out += fmt::format("  nprocPerNode: {}\n", job.nproc_per_node);
  for (const auto& r : job.replicas) {
    std::string type_lower = to_lower(r.type);
    out += fmt::format("  {:<9} x{:<2} restart={:<9}", r.type, r.replicas, restart_policy_name(r.restart_policy));
    if (r.replicas > 0) {
      out += " pods " + job.metadata.name + "-" + type_lower + "-0";
      if (r.replicas > 1) out += ".." + std::to_string(r.replicas - 1);
    }
    out += "\n";
    if (!r.template_.containers.empty()) {
      const Container& c = r.template_.containers[r.primary_container];
      out += fmt::format("            {}: {}\n", c.name, command_line(c));
      for (const auto& [k, v] : c.limits) out += fmt::format("            limit {}={}\n", k, v);
    }
  }
  return out;
}

std::string plan_experiment(const Experiment& e) {
  std::string out = fmt::format("Experiment {}/{} ({})\n", e.metadata.namespace_, e.metadata.name, e.api_version);
  out += fmt::format("  objective: {} {}{}\n", e.objective.type == ObjectiveType::kMaximize ? "maximize" : "minimize",
                     e.objective.objective_metric_name, e.objective.goal ? fmt::format(" (goal {})", *e.objective.goal) : "");
  out += fmt::format("  algorithm: {}", e.algorithm.name);
  for (const auto& [k, v] : e.algorithm.settings) out += fmt::format(" {}={}", k, v);
  out += "\n";
  if (e.early_stopping) {
    out += fmt::format("  earlyStopping: {}", e.early_stopping->name);
    for (const auto& [k, v] : e.early_stopping->settings) out += fmt::format(" {}={}", k, v);
    out += "\n";
  }
  out += fmt::format("  trials: parallel={} max={} maxFailed={}\n", e.parallel_trial_count, opt(e.max_trial_count),
                     opt(e.max_failed_trial_count));
  for (const auto& p : e.parameters) {
    const auto& fs = p.feasible_space;
    std::string space = fs.list.empty() ? fmt::format("[{}, {}]{}", fs.min.value_or("?"), fs.max.value_or("?"),
                                                      fs.step ? " step " + *fs.step : "")
                                        : "{" + join(fs.list, ", ") + "}";
    out += fmt::format("  parameter {:<16} {:<11} {} {}\n", p.name, parameter_type_name(p.type), space,
                       fs.list.empty() ? distribution_name(fs.distribution) : "");
  }
  if (e.trial_template.trial_spec.is_map()) {
    const YAML::Node trial = yaml(e.trial_template.trial_spec);
    out += fmt::format("  trial job: {} {} (metrics from {} of container {})\n", trial["apiVersion"].Scalar(),
                       trial["kind"].Scalar(),
                       e.metrics_collector.kind, e.trial_template.primary_container_name);
  } else if (!e.trial_template.raw_template.empty()) {
    out += fmt::format("  trial job: goTemplate rawTemplate ({} bytes; metrics from {})\n",
                       e.trial_template.raw_template.size(), e.metrics_collector.kind);
  }
  return out;
}

}  // namespace

Result<std::string> describe_plan(const Document& doc, const std::vector<TrainingRuntime>& runtimes) {
  if (const auto* job = std::get_if<TrainingJob>(&doc.object)) return plan_job(*job);
  if (const auto* e = std::get_if<Experiment>(&doc.object)) return plan_experiment(*e);
  if (const auto* r = std::get_if<TrainingRuntime>(&doc.object)) {
    std::vector<std::string> steps;
    for (const auto& rj : r->spec["template"]["spec"]["replicatedJobs"]) steps.push_back(rj["name"].as<std::string>("?"));
    return fmt::format("{} {}: mlPolicy {}, numNodes {}, replicatedJobs {}\n", r->kind, r->metadata.name, r->framework,
                       r->spec["mlPolicy"]["numNodes"].as<int>(1), join(steps, ", "));
  }
  const auto& tj = std::get<TrainJob>(doc.object);
  auto resolved = resolve_trainjob(tj, runtimes);
  if (!resolved) return resolved.status();
  const TrainingRuntime& rt = resolved->runtime;
  return fmt::format("# TrainJob {} on {} {} ({}): the JobSet Trainer creates\n{}", tj.metadata.name, rt.kind,
                     rt.metadata.name, rt.origin, to_yaml(resolved->jobset));
}


}  // namespace ringmaster::jobs
