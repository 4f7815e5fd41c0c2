#include "jobs/trainer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <regex>
#include <set>

#include "common/strings.h"
#include "jobs/kinds.h"
#include "jobs/load_context.h"
#include "jobs/loader.h"
#include "jobs/yaml_util.h"
#include "jobs/yaml_tree.h"

namespace ringmaster::jobs {
namespace {

constexpr const char* kAncestorLabel = "trainer.kubeflow.org/trainjob-ancestor-step";  // constants.go
constexpr const char* kNode = "node";             // the trainer's replicatedJob and container (constants.Node)
constexpr int kTrainerPort = 29500;               // constants.ContainerTrainerPort
constexpr const char* kCompletionIndexField = "metadata.annotations['batch.kubernetes.io/job-completion-index']";

// The built-in runtimes' text, embedded by jobs/CMakeLists.txt: {file name, YAML}.
struct EmbeddedRuntime {
  const char* file;
  const char* text;
};
const EmbeddedRuntime kEmbedded[] = {
#include "builtin_runtimes.inc"
};

ObjectMeta load_meta(LoadContext& ctx, const YAML::Node& doc, bool name_required = true) {
  ObjectMeta m = load_object_meta(ctx, doc);
  if (m.name.empty() && name_required)
    ctx.error(get(doc, "metadata").IsDefined() ? get(doc, "metadata") : doc, "metadata.name", "expected a name, found none");
  return m;
}

// The trainjob-ancestor-step label of a replicatedJob: trainer, dataset-initializer, ...
std::string ancestor_of(const YAML::Node& rjob) {
  return get(get(get(get(rjob, "template"), "metadata"), "labels"), kAncestorLabel).as<std::string>("");
}

// Upserts env entries by name, as Trainer's apply.UpsertEnvVars: an existing entry is replaced.
void upsert_env(YAML::Node container, const YAML::Node& var) {
  YAML::Node env = container["env"];
  const std::string name = var["name"].as<std::string>("");
  for (std::size_t i = 0; env.IsSequence() && i < env.size(); ++i) {
    if (env[i]["name"].as<std::string>("") == name) {
      env[i] = var;
      return;
    }
  }
  container["env"].push_back(var);
}

YAML::Node env_value(const std::string& name, const std::string& value) {
  YAML::Node v;
  v["name"] = name;
  v["value"] = value;
  v["value"].SetTag("tag:yaml.org,2002:str");
  return v;
}

// A Kubernetes quantity as a whole count (resource.Quantity.Value(): rounded up); 0 when it is not one.
int cpu_count(const std::string& q) {
  auto v = parse_cpu_quantity(q);
  return v ? static_cast<int>(std::ceil(*v)) : 0;
}

// torch.go getNumCPUPerNode: the request, else the limit.
int cpus_per_node(const YAML::Node& resources) {
  for (const char* part : {"requests", "limits"})
    if (YAML::Node q = get(get(resources, part), "cpu"); q.IsDefined()) return cpu_count(q.as<std::string>(""));
  return 0;
}

int gpus_per_node(const YAML::Node& resources) {
  for (const char* part : {"limits", "requests"})
    if (YAML::Node q = get(get(resources, part), "nvidia.com/gpu"); q.IsDefined()) return cpu_count(q.as<std::string>(""));
  return 0;
}

std::string describe(const TrainingRuntime& r) { return fmt::format("{} {} ({})", r.kind, r.metadata.name, r.origin); }

}  // namespace

std::optional<TrainJob> load_train_job(LoadContext& ctx, const YAML::Node& doc, YAML::Node& norm,
                                       const std::string& api_version, bool in_trial) {
  TrainJob job;
  job.api_version = api_version;
  job.file = ctx.file;
  job.metadata = load_meta(ctx, doc, !in_trial);
  YAML::Node spec = get(doc, "spec");
  YAML::Node ref = get(spec, "runtimeRef");
  job.runtime_ref.name = ctx.get_string(ref, "name").value_or("");
  if (job.runtime_ref.name.empty())
    ctx.error(ref.IsDefined() ? ref : spec, "spec.runtimeRef.name", "expected the name of a TrainingRuntime or ClusterTrainingRuntime, found none");
  // Defaults go into the normalized object only where it has the shape to take them; a spec or
  // runtimeRef of the wrong type is the schema check's to report.
  const bool can_default = get(doc, "spec").IsMap() && (!ref.IsDefined() || ref.IsMap());
  if (auto g = ctx.get_string(ref, "apiGroup")) job.runtime_ref.api_group = *g;
  else if (can_default) norm["spec"]["runtimeRef"]["apiGroup"] = job.runtime_ref.api_group;
  if (auto k = ctx.get_enum(ref, "kind", "spec.runtimeRef.kind", {"TrainingRuntime", "ClusterTrainingRuntime"})) job.runtime_ref.kind = *k;
  else if (!get(ref, "kind").IsDefined() && can_default) norm["spec"]["runtimeRef"]["kind"] = job.runtime_ref.kind;
  if (job.runtime_ref.api_group != "trainer.kubeflow.org")
    ctx.error(get(ref, "apiGroup"), "spec.runtimeRef.apiGroup", "expected trainer.kubeflow.org, found " + quote(job.runtime_ref.api_group));
  job.suspend = ctx.get_bool(spec, "suspend").value_or(false);
  job.spec = norm["spec"];
  return job;
}

std::optional<TrainingRuntime> load_training_runtime(LoadContext& ctx, const YAML::Node& doc, YAML::Node& norm,
                                                     const std::string& kind) {
  TrainingRuntime r;
  r.kind = kind;
  r.origin = ctx.file;
  r.metadata = load_meta(ctx, doc);
  YAML::Node ml = get(get(doc, "spec"), "mlPolicy");
  std::vector<std::string> sources;
  for (const char* f : {"torch", "mpi", "xgboost", "jax", "flux"})
    if (get(ml, f).IsDefined()) sources.push_back(f);
  if (sources.size() > 1)
    ctx.error(ml, "spec.mlPolicy", "expected at most one of torch, mpi, xgboost, jax and flux, found " + join(sources, ", "));
  if (!sources.empty()) r.framework = sources[0];
  if (ml.IsMap() && !get(ml, "numNodes").IsDefined()) norm["spec"]["mlPolicy"]["numNodes"] = 1;
  r.spec = norm["spec"];
  return r;
}

const std::vector<TrainingRuntime>& builtin_runtimes() {
  static const std::vector<TrainingRuntime> runtimes = [] {
    std::vector<TrainingRuntime> out;
    for (const auto& e : kEmbedded) {
      auto loaded = load_string(e.text, std::string("built-in ") + e.file);
      for (auto& d : loaded.documents)
        if (auto* r = std::get_if<TrainingRuntime>(&d.object)) {
          r->origin = std::string("built in: Trainer v2.3.0 manifests/base/runtimes/") + e.file;
          out.push_back(std::move(*r));
        }
    }
    return out;
  }();
  return runtimes;
}

Result<TrainingRuntime> find_runtime(const TrainJob& job, const std::vector<TrainingRuntime>& candidates) {
  const RuntimeRef& ref = job.runtime_ref;
  std::vector<std::string> known;
  auto matches = [&](const TrainingRuntime& r) {
    if (r.kind != ref.kind || r.metadata.name != ref.name) return false;
    return r.kind == "ClusterTrainingRuntime" || r.metadata.namespace_ == job.metadata.namespace_;
  };
  for (const auto* list : {&candidates, &builtin_runtimes()})
    for (const auto& r : *list) {
      if (matches(r)) return r;
      known.push_back(describe(r));
    }
  return Status(StatusCode::kNotFound,
                fmt::format("spec.runtimeRef: no {} {}{} in the file, the --runtimes directories or the built-in "
                            "runtimes; there are: {}",
                            ref.kind, ref.name,
                            ref.kind == "TrainingRuntime" ? " in namespace " + job.metadata.namespace_ : "",
                            known.empty() ? "none" : join(known, "; ")));
}

// A strategic merge patch (k8s.io/apimachinery strategicpatch) over the part of a JobSet spec that
// Trainer's runtimePatches may touch: maps merge key by key (null deletes), lists of the keyed kinds
// merge item by item on their patchMergeKey, every other list and scalar is replaced.
void strategic_merge(YAML::Node target, const YAML::Node& patch) {
  static const std::map<std::string, std::string> kMergeKeys = {
      {"replicatedJobs", "name"}, {"volumes", "name"},        {"containers", "name"}, {"initContainers", "name"},
      {"env", "name"},            {"volumeMounts", "mountPath"}, {"imagePullSecrets", "name"}, {"schedulingGates", "name"}};
  for (const auto& kv : patch) {
    const std::string key = kv.first.as<std::string>();
    const YAML::Node value = kv.second;
    if (value.IsNull()) {
      target.remove(key);
      continue;
    }
    YAML::Node current = target[key];
    auto merge_key = kMergeKeys.find(key);
    if (value.IsMap() && current.IsMap()) {
      strategic_merge(current, value);
    } else if (value.IsSequence() && current.IsSequence() && merge_key != kMergeKeys.end()) {
      for (const auto& item : value) {
        const std::string id = item[merge_key->second].as<std::string>("");
        bool merged = false;
        for (std::size_t i = 0; i < current.size() && !merged; ++i)
          if (current[i][merge_key->second].as<std::string>("") == id) {
            YAML::Node existing = current[i];
            strategic_merge(existing, item);
            merged = true;
          }
        if (!merged) current.push_back(YAML::Clone(item));
      }
    } else {
      target[key] = YAML::Clone(value);
    }
  }
}

// Trainer v2.3's runtimePatches (core/trainingruntime.go mergeRuntimePatches, in the TrainJob's
// order), after the checks of its jobset plugin's Validate: a manager that is a domain-prefixed
// path, replicatedJobs and containers the runtime has, and no env for the node and initializer
// containers (spec.trainer.env and spec.initializer say those).
Status apply_runtime_patches(const TrainJob& job, YAML::Node spec) {
  std::map<std::string, std::set<std::string>> containers;
  for (const auto& rjob : spec["replicatedJobs"]) {
    auto& names = containers[rjob["name"].as<std::string>("")];
    for (const char* list : {"containers", "initContainers"})
      for (const auto& c : get(get(get(get(get(rjob, "template"), "spec"), "template"), "spec"), list))
        names.insert(get(c, "name").as<std::string>(""));
  }
  static const std::regex kManager(R"(^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}/[A-Za-z0-9._~/-]+$)");
  int index = 0;
  for (const auto& patch : get(job.spec, "runtimePatches")) {
    const std::string where = fmt::format("{}: TrainJob {}: spec.runtimePatches[{}]", job.file, job.metadata.name, index++);
    const std::string manager = get(patch, "manager").as<std::string>("");
    if (!std::regex_match(manager, kManager))
      return invalid_argument(fmt::format("{}.manager: expected a domain-prefixed path such as example.io/platform-team, "
                                          "found '{}'",
                                          where, manager));
    const YAML::Node spec_patch = get(get(get(patch, "trainingRuntimeSpec"), "template"), "spec");
    for (const auto& rjob : get(spec_patch, "replicatedJobs")) {
      const std::string name = get(rjob, "name").as<std::string>("");
      auto it = containers.find(name);
      if (it == containers.end())
        return invalid_argument(fmt::format("{}: replicatedJob '{}' is not in the runtime's job template", where, name));
      const YAML::Node pod = get(get(get(get(rjob, "template"), "spec"), "template"), "spec");
      for (const char* list : {"containers", "initContainers"})
        for (const auto& c : get(pod, list)) {
          const std::string cname = get(c, "name").as<std::string>("");
          if (!it->second.count(cname))
            return invalid_argument(fmt::format("{}: replicatedJob {}: {} '{}' is not in the runtime's job {}", where, name,
                                                list, cname, name));
          if (get(c, "env").IsDefined() && (cname == kNode || cname == "dataset-initializer" || cname == "model-initializer"))
            return invalid_argument(fmt::format("{}: replicatedJob {}: container {}: must not have env (the node, "
                                                "dataset-initializer and model-initializer containers take it from "
                                                "spec.trainer.env and spec.initializer)",
                                                where, name, cname));
        }
    }
    if (spec_patch.IsDefined()) strategic_merge(spec, spec_patch);
  }
  return Status::ok();
}

// What JobSet's webhook (jobset v0.12 pkg/webhooks/jobset_webhook.go validateFailurePolicy) and
// batch/v1's Job validation refuse in the policies that ringmaster runs: failurePolicy rules (a
// RestartJob action needs the RestartJob feature gate, off by default in v0.12; rule names unique
// and well formed; targets that exist; Job failure reasons it knows) and a child Job's
// podFailurePolicy (restartPolicy Never; FailIndex needs backoffLimitPerIndex, not run here).
Status validate_jobset_policies(const YAML::Node& spec, const std::string& where) {
  std::set<std::string> rjobs;
  for (const auto& rjob : get(spec, "replicatedJobs")) rjobs.insert(get(rjob, "name").as<std::string>(""));
  static const std::set<std::string> kActions = {"FailJobSet", "RestartJobSet", "RestartJobSetAndIgnoreMaxRestarts"};
  static const std::set<std::string> kReasons = {"BackoffLimitExceeded", "DeadlineExceeded", "FailedIndexes",
                                                 "MaxFailedIndexesExceeded", "PodFailurePolicy"};
  static const std::regex kRuleName("^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$");
  std::set<std::string> names;
  int index = 0;
  for (const auto& rule : get(get(spec, "failurePolicy"), "rules")) {
    const std::string field = fmt::format("{}: spec.failurePolicy.rules[{}]", where, index);
    const std::string name = get(rule, "name").as<std::string>(fmt::format("failurePolicyRule{}", index));
    const std::string action = get(rule, "action").as<std::string>("");
    ++index;
    if (action == "RestartJob" || action == "RestartJobAndIgnoreMaxRestarts")
      return invalid_argument(fmt::format("{}.action: {} failure policy actions are not allowed when the RestartJob "
                                          "feature gate is disabled (JobSet v0.12's default); expected FailJobSet, "
                                          "RestartJobSet or RestartJobSetAndIgnoreMaxRestarts",
                                          field, action));
    if (!kActions.count(action))
      return invalid_argument(fmt::format("{}.action: expected FailJobSet, RestartJobSet or "
                                          "RestartJobSetAndIgnoreMaxRestarts, found '{}'",
                                          field, action));
    if (name.size() > 128 || !std::regex_match(name, kRuleName))
      return invalid_argument(fmt::format("{}.name: expected a letter, then letters, digits or '_,:', ending in a letter, "
                                          "digit or '_' (at most 128), found '{}'",
                                          field, name));
    if (!names.insert(name).second)
      return invalid_argument(fmt::format("{}.name: rule names must be unique, found '{}' twice", field, name));
    for (const auto& t : get(rule, "targetReplicatedJobs"))
      if (!rjobs.count(t.as<std::string>("")))
        return invalid_argument(fmt::format("{}.targetReplicatedJobs: '{}' is not one of the replicatedJobs ({})", field,
                                            t.as<std::string>(""), join(std::vector<std::string>(rjobs.begin(), rjobs.end()), ", ")));
    for (const auto& r : get(rule, "onJobFailureReasons"))
      if (!kReasons.count(r.as<std::string>("")))
        return invalid_argument(fmt::format("{}.onJobFailureReasons: expected one of {}, found '{}'", field,
                                            join(std::vector<std::string>(kReasons.begin(), kReasons.end()), ", "), r.as<std::string>("")));
    for (const auto& m : get(rule, "onJobFailureMessagePatterns")) {
      try {
        std::regex check(m.as<std::string>(""));
      } catch (const std::regex_error& e) {
        return invalid_argument(fmt::format("{}.onJobFailureMessagePatterns: expected a regular expression, found '{}' "
                                            "({})",
                                            field, m.as<std::string>(""), e.what()));
      }
    }
  }
  for (const auto& rjob : get(spec, "replicatedJobs")) {
    const YAML::Node job_spec = get(get(rjob, "template"), "spec");
    const YAML::Node pfp = get(job_spec, "podFailurePolicy");
    if (!pfp.IsDefined() || pfp.IsNull()) continue;
    const std::string field = fmt::format("{}: replicatedJob {}: spec.podFailurePolicy", where, get(rjob, "name").as<std::string>(""));
    const std::string restart = get(get(get(job_spec, "template"), "spec"), "restartPolicy").as<std::string>("OnFailure");
    if (restart != "Never")
      return invalid_argument(fmt::format("{}: only allowed with the pod template's restartPolicy Never, found {}", field,
                                          restart));
    int k = 0;
    for (const auto& rule : get(pfp, "rules")) {
      const std::string action = get(rule, "action").as<std::string>("");
      if (action == "FailIndex")
        return invalid_argument(fmt::format("{}.rules[{}].action: FailIndex needs backoffLimitPerIndex, which ringmaster "
                                            "does not run; use FailJob, Ignore or Count",
                                            field, k));
      if (action != "FailJob" && action != "Ignore" && action != "Count")
        return invalid_argument(fmt::format("{}.rules[{}].action: expected FailJob, Ignore or Count, found '{}'", field, k,
                                            action));
      const std::string op = get(get(rule, "onExitCodes"), "operator").as<std::string>("In");
      if (get(rule, "onExitCodes").IsDefined() && op != "In" && op != "NotIn")
        return invalid_argument(fmt::format("{}.rules[{}].onExitCodes.operator: expected In or NotIn, found '{}'", field, k, op));
      ++k;
    }
  }
  return Status::ok();
}

namespace {

// ringmaster's elastic TrainJob (docs/elastic.md). Trainer v2.3 has none: trainjob_types.go leaves
// "dynamic num of nodes ... `--nnodes=1:4`" as a TODO on numNodes, and its webhook reserves
// PET_NNODES. Here spec.trainer.env PET_NNODES "MIN:MAX" on a torch runtime asks for one, in the
// form torchrun reads; it is the only reserved variable a TrainJob may set, and only so.
// std::nullopt when the TrainJob is not elastic; an error naming the field when the range is bad.
Result<std::optional<std::pair<int, int>>> elastic_nodes(const TrainJob& job, const TrainingRuntime& runtime) {
  const YAML::Node env = get(get(job.spec, "trainer"), "env");
  if (runtime.framework != "torch" || !env.IsSequence()) return std::optional<std::pair<int, int>>();
  for (const auto& e : env) {
    if (e["name"].as<std::string>("") != "PET_NNODES") continue;
    const std::string value = e["value"].as<std::string>("");
    if (value.find(':') == std::string::npos) return std::optional<std::pair<int, int>>();  // the webhook refuses it
    const auto range = parse_min_max(value);
    if (!range)
      return invalid_argument(fmt::format("{}: TrainJob {}: spec.trainer.env PET_NNODES: expected MIN:MAX with 1 <= "
                                          "MIN <= MAX (an elastic TrainJob), found \"{}\"",
                                          job.file, job.metadata.name, value));
    return range;
  }
  return std::optional<std::pair<int, int>>();
}

// Trainer's webhook (the plugins' Validate; constants.TorchRunReservedEnvNames,
// XGBoostReservedEnvNames, MPIReservedEnvNames): what the mlPolicy injects may not be set by hand.
Status check_reserved_env(const TrainJob& job, const TrainingRuntime& runtime,
                          const std::optional<std::pair<int, int>>& elastic) {
  static const std::map<std::string, std::set<std::string>> reserved = {
      {"torch", {"PET_NNODES", "PET_NPROC_PER_NODE", "PET_NODE_RANK", "PET_MASTER_ADDR", "PET_MASTER_PORT"}},
      {"xgboost", {"DMLC_TRACKER_URI", "DMLC_TRACKER_PORT", "DMLC_TASK_ID", "DMLC_NUM_WORKER"}},
      {"mpi", {"OMPI_MCA_orte_default_hostfile", "OMPI_MCA_plm_rsh_args", "OMPI_MCA_orte_keep_fqdn_hostnames",
               "OMPI_MCA_orte_set_default_slots"}}};
  const YAML::Node trainer = get(job.spec, "trainer");
  auto it = reserved.find(runtime.framework);
  if (it == reserved.end() || !get(trainer, "env").IsSequence()) return Status::ok();
  std::vector<std::string> bad;
  for (const auto& e : get(trainer, "env")) {
    const std::string name = e["name"].as<std::string>("");
    if (it->second.count(name) && !(name == "PET_NNODES" && elastic)) bad.push_back(name);
  }
  if (bad.empty()) return Status::ok();
  return invalid_argument(fmt::format("{}: TrainJob {}: spec.trainer.env: must not set what the {} runtime injects, "
                                      "found {}",
                                      job.file, job.metadata.name, runtime.framework, join(bad, ", ")));
}

// The JobSet's replicated jobs as the resolution goes through them, and what it learns.
struct Resolution {
  const TrainJob& job;
  const TrainingRuntime& runtime;
  YAML::Node trainer, ml, mpi;  // spec.trainer, the runtime's mlPolicy and its mpi part
  bool launcher_as_node = false;
  std::vector<YAML::Node> jobs;  // spec.replicatedJobs
  int trainer_count = 1;         // pods of the trainer step
  YAML::Node trainer_container, resources;
  YAML::Node launcher_pod;  // MPI: the trainer step's pod spec
  std::optional<std::pair<int, int>> elastic = {};  // PET_NNODES MIN:MAX (elastic_nodes)
};

// newRuntimeInfo: each replicatedJob's pod count is its parallelism, the trainer step's the
// mlPolicy's numNodes; the plugins then apply trainer.numNodes (MPI: to the `node` job, one fewer
// when the launcher is a node too); SyncParallelCount writes the counts back.
void set_pod_counts(Resolution& r) {
  // numNodes: null is unset, as Kubernetes reads a null field (a fuzzer's find: `numNodes: &3`).
  const YAML::Node trainer_nodes = get(r.trainer, "numNodes");
  const bool nodes_given = trainer_nodes.IsDefined() && !trainer_nodes.IsNull();
  const int nodes = nodes_given ? trainer_nodes.as<int>(1) : 1;
  for (auto& rjob : r.jobs) {
    YAML::Node t = rjob["template"];
    const bool is_trainer = ancestor_of(rjob) == "trainer";
    int count = get(get(t, "spec"), "parallelism").as<int>(1);
    if (is_trainer && r.ml.IsDefined()) count = get(r.ml, "numNodes").as<int>(1);
    if (nodes_given) {
      if (r.runtime.framework == "mpi") {
        if (rjob["name"].as<std::string>("") == kNode) count = r.launcher_as_node ? std::max(nodes - 1, 1) : nodes;
      } else if (is_trainer) {
        count = nodes;
      }
    }
    if (is_trainer) r.trainer_count = count;
    t["spec"]["parallelism"] = count;
    t["spec"]["completions"] = count;
  }
}

// builder.go Initializer: the dataset and model initializer steps run once; their containers of
// the same name get STORAGE_URI and the TrainJob's env for them, and its secretRef as envFrom.
void apply_initializers(Resolution& r) {
  for (auto& rjob : r.jobs) {
    YAML::Node t = rjob["template"];
    const std::string ancestor = ancestor_of(rjob);
    const char* which = ancestor == "dataset-initializer" ? "dataset" : ancestor == "model-initializer" ? "model" : nullptr;
    if (which == nullptr) continue;
    rjob["replicas"] = 1;
    const YAML::Node init = get(get(r.job.spec, "initializer"), which);
    if (!init.IsDefined()) continue;
    YAML::Node containers = t["spec"]["template"]["spec"]["containers"];
    for (std::size_t k = 0; containers.IsSequence() && k < containers.size(); ++k) {
      YAML::Node c = containers[k];
      if (c["name"].as<std::string>("") != ancestor) continue;
      if (get(init, "storageUri").IsDefined()) upsert_env(c, env_value("STORAGE_URI", get(init, "storageUri").as<std::string>()));
      for (const auto& e : get(init, "env")) upsert_env(c, YAML::Clone(e));
      if (get(get(init, "secretRef"), "name").IsDefined()) {
        YAML::Node from;
        from["secretRef"]["name"] = get(get(init, "secretRef"), "name").as<std::string>();
        c["envFrom"].push_back(from);
      }
    }
  }
}

// The trainer step's `node` container takes the TrainJob's image, command, args and resources.
void configure_trainer_container(Resolution& r, YAML::Node c) {
  r.trainer_container.reset(c);
  const YAML::Node& trainer = r.trainer;
  if (get(trainer, "image").IsDefined()) c["image"] = YAML::Clone(get(trainer, "image"));
  if (get(trainer, "command").IsDefined()) c["command"] = YAML::Clone(get(trainer, "command"));
  if (get(trainer, "args").IsDefined()) c["args"] = YAML::Clone(get(trainer, "args"));
  // newRuntimeInfo: resourcesPerNode merged over the runtime's (MergeResourceRequirements).
  for (const char* part : {"limits", "requests"})
    for (auto kv : get(get(trainer, "resourcesPerNode"), part))
      c["resources"][part][kv.first.as<std::string>()] = YAML::Clone(YAML::Node(kv.second));
  r.resources.reset(get(c, "resources"));
}

// builder.go Trainer: the trainer step runs once; its `node` container is the TrainJob's, and
// (also the MPI `node` job when the launcher is a node) takes its env.
Status apply_trainer(Resolution& r) {
  for (auto& rjob : r.jobs) {
    YAML::Node t = rjob["template"];
    const bool is_trainer = ancestor_of(rjob) == "trainer";
    const bool env_target = is_trainer || (r.launcher_as_node && rjob["name"].as<std::string>("") == kNode);
    if (is_trainer) {
      rjob["replicas"] = 1;
      r.launcher_pod.reset(t["spec"]["template"]["spec"]);
    }
    YAML::Node containers = t["spec"]["template"]["spec"]["containers"];
    for (std::size_t k = 0; containers.IsSequence() && k < containers.size(); ++k) {
      YAML::Node c = containers[k];
      if (c["name"].as<std::string>("") != kNode) continue;
      if (is_trainer) configure_trainer_container(r, c);
      if (env_target && get(r.trainer, "env").IsSequence())
        for (const auto& e : get(r.trainer, "env")) upsert_env(c, YAML::Clone(e));
    }
  }
  if (r.trainer.IsDefined() && !r.trainer_container)
    return invalid_argument(fmt::format("{}: expected a replicatedJob labelled {}: trainer with a container named node, "
                                        "which spec.trainer configures; found none",
                                        describe(r.runtime), kAncestorLabel));
  return Status::ok();
}

YAML::Node rank_from_index(const std::string& name) {
  YAML::Node v;
  v["name"] = name;
  v["valueFrom"]["fieldRef"]["fieldPath"] = kCompletionIndexField;
  return v;
}

// torch.go, xgboost.go and jax.go EnforceMLPolicy: the rendezvous env of the trainer container,
// and the trainer port.
void enforce_framework_env(Resolution& r) {
  YAML::Node c = r.trainer_container;
  // <job>-node-0-0.<job>: the first trainer pod's host name under the JobSet's subdomain.
  const std::string first_node = fmt::format("{}-{}-0-0.{}", r.job.metadata.name, kNode, r.job.metadata.name);
  const int gpus = gpus_per_node(r.resources);
  const std::string& framework = r.runtime.framework;
  if (framework == "torch") {
    std::string nproc =
        get(r.trainer, "numProcPerNode").IsDefined() ? get(r.trainer, "numProcPerNode").as<std::string>() : "auto";
    if (nproc == "auto" && gpus == 0) nproc = std::to_string(std::max(1, cpus_per_node(r.resources)));
    upsert_env(c, env_value("PET_NNODES", r.elastic ? fmt::format("{}:{}", r.elastic->first, r.elastic->second)
                                                    : std::to_string(r.trainer_count)));
    upsert_env(c, env_value("PET_NPROC_PER_NODE", nproc));
    upsert_env(c, rank_from_index("PET_NODE_RANK"));
    upsert_env(c, env_value("PET_MASTER_ADDR", first_node));
    upsert_env(c, env_value("PET_MASTER_PORT", std::to_string(kTrainerPort)));
    // Elastic: the rendezvous at the first node's trainer port, where torchrun's agent there hosts
    // its c10d store (ringmaster's own is served by `run` and `render`: operator_env.h).
    if (r.elastic) upsert_env(c, env_value("PET_RDZV_ENDPOINT", fmt::format("{}:{}", first_node, kTrainerPort)));
  } else if (framework == "xgboost") {
    upsert_env(c, env_value("DMLC_TRACKER_URI", first_node));
    upsert_env(c, env_value("DMLC_TRACKER_PORT", std::to_string(kTrainerPort)));
    upsert_env(c, rank_from_index("DMLC_TASK_ID"));
    upsert_env(c, env_value("DMLC_NUM_WORKER", std::to_string(r.trainer_count * std::max(1, gpus))));
  } else if (framework == "jax") {
    upsert_env(c, env_value("JAX_NUM_PROCESSES", std::to_string(r.trainer_count)));
    upsert_env(c, rank_from_index("JAX_PROCESS_ID"));
    upsert_env(c, env_value("JAX_COORDINATOR_ADDRESS", fmt::format("{}:{}", first_node, kTrainerPort)));
  } else {
    return;
  }
  bool has_port = false;
  for (const auto& p : c["ports"]) has_port |= p["containerPort"].as<int>(0) == kTrainerPort;
  if (has_port) return;
  YAML::Node port;
  port["containerPort"] = kTrainerPort;
  c["ports"].push_back(port);
}

// A secret or config map volume of `items` (key, path, mode).
YAML::Node projected_volume(const char* name, const char* source, const std::string& object,
                            std::initializer_list<std::tuple<const char*, const char*, int>> items) {
  YAML::Node v;
  v["name"] = name;
  v[source][std::string(source) == "secret" ? "secretName" : "name"] = object;
  if (std::string(source) == "secret") v[source]["defaultMode"] = 0400;
  for (const auto& [key, path, mode] : items) {
    YAML::Node item;
    item["key"] = key;
    item["path"] = path;
    item["mode"] = mode;
    v[source]["items"].push_back(item);
  }
  return v;
}

void add_volume_mount(YAML::Node c, const std::string& name, const std::string& path) {
  for (const auto& m : c["volumeMounts"])
    if (m["name"].as<std::string>("") == name) return;
  YAML::Node m;
  m["name"] = name;
  m["mountPath"] = path;
  c["volumeMounts"].push_back(m);
}

// mpi.go EnforceMLPolicy (OpenMPI, the one it supports): the ssh keys on every node and the
// launcher, the hostfile and OpenMPI's env on the launcher.
Status enforce_mpi(Resolution& r) {
  const std::string impl = get(r.mpi, "mpiImplementation").as<std::string>("OpenMPI");
  if (impl != "OpenMPI")
    return invalid_argument(fmt::format("{}: spec.mlPolicy.mpi.mpiImplementation: Trainer v2.3 supports OpenMPI only, "
                                        "found {}",
                                        describe(r.runtime), impl));
  const int gpus = gpus_per_node(r.resources);
  int slots = get(r.mpi, "numProcPerNode").as<int>(1);
  if (get(r.trainer, "numProcPerNode").IsDefined()) slots = get(r.trainer, "numProcPerNode").as<int>(slots);
  else if (slots == 1 && gpus > 1) slots = gpus;
  const std::string ssh_path = get(r.mpi, "sshAuthMountPath").as<std::string>("/root/.ssh");
  const std::string& name = r.job.metadata.name;
  for (auto& rjob : r.jobs) {
    YAML::Node pod = rjob["template"]["spec"]["template"]["spec"];
    const bool launcher = pod == r.launcher_pod;
    if (rjob["name"].as<std::string>("") != kNode && !launcher) continue;
    pod["volumes"].push_back(projected_volume("mpi-ssh-auth", "secret", name + "-mpi-ssh-auth",
                                              {{"ssh-privatekey", "id_rsa", 0640},
                                               {"ssh-publickey", "id_rsa.pub", 0644},
                                               {"ssh-publickey", "authorized_keys", 0644}}));
    if (launcher)
      pod["volumes"].push_back(
          projected_volume("mpi-hostfile", "configMap", name + "-mpi-hostfile", {{"hostfile", "hostfile", 0444}}));
    YAML::Node containers = pod["containers"];
    for (std::size_t k = 0; containers.IsSequence() && k < containers.size(); ++k) {
      YAML::Node c = containers[k];
      if (c["name"].as<std::string>("") != kNode) continue;
      add_volume_mount(c, "mpi-ssh-auth", ssh_path);
      if (!launcher) continue;
      add_volume_mount(c, "mpi-hostfile", "/etc/mpi");
      upsert_env(c, env_value("OMPI_MCA_orte_default_hostfile", "/etc/mpi/hostfile"));
      upsert_env(c, env_value("OMPI_MCA_orte_keep_fqdn_hostnames", "true"));
      upsert_env(c, env_value("OMPI_MCA_orte_set_default_slots", std::to_string(slots)));
      upsert_env(c, env_value("OMPI_MCA_plm_rsh_args", "-o ConnectionAttempts=10"));
    }
  }
  return Status::ok();
}

// The JobSet object around the resolved spec: the runtime template's and the runtimePatches'
// labels and annotations, Kueue's queue label, suspend.
YAML::Node jobset_object(const TrainJob& job, const YAML::Node& templ, YAML::Node spec) {
  YAML::Node js;
  js["apiVersion"] = "jobset.x-k8s.io/v1alpha2";
  js["kind"] = "JobSet";
  js["metadata"]["name"] = job.metadata.name;
  js["metadata"]["namespace"] = job.metadata.namespace_;
  if (get(get(templ, "metadata"), "labels").IsDefined()) js["metadata"]["labels"] = YAML::Clone(get(get(templ, "metadata"), "labels"));
  if (get(get(templ, "metadata"), "annotations").IsDefined())
    js["metadata"]["annotations"] = YAML::Clone(get(get(templ, "metadata"), "annotations"));
  // newRuntimeInfo: the runtimePatches' template labels and annotations join the runtime's.
  for (const auto& patch : get(job.spec, "runtimePatches")) {
    const YAML::Node meta = get(get(get(patch, "trainingRuntimeSpec"), "template"), "metadata");
    for (const char* field : {"labels", "annotations"})
      for (const auto& kv : get(meta, field)) js["metadata"][field][kv.first.as<std::string>()] = YAML::Clone(kv.second);
  }
  // Kueue admits a JobSet by its queue label; without Trainer in between, the TrainJob's goes on it.
  for (const auto& [k, v] : job.metadata.labels)
    if (k.rfind("kueue.x-k8s.io/", 0) == 0) js["metadata"]["labels"][k] = v;
  if (job.suspend) spec["suspend"] = true;
  js["spec"] = spec;
  return js;
}

}  // namespace

Result<YAML::Node> resolve_jobset(const TrainJob& job, const TrainingRuntime& runtime) {
  auto elastic = elastic_nodes(job, runtime);
  if (!elastic) return elastic.status();
  if (Status st = check_reserved_env(job, runtime, *elastic); !st) return st;
  const YAML::Node templ = get(runtime.spec, "template");
  YAML::Node spec = YAML::Clone(get(templ, "spec"));
  if (!spec["replicatedJobs"].IsSequence())
    return invalid_argument(fmt::format("{}: spec.template.spec.replicatedJobs: expected the JobSet's replicated jobs, found none",
                                        describe(runtime)));
  if (Status st = apply_runtime_patches(job, spec); !st) return st;
  Resolution r{job, runtime, get(job.spec, "trainer"), get(runtime.spec, "mlPolicy"), {}, false, {}, 1, {}, {}, {}};
  r.mpi = get(r.ml, "mpi");
  r.launcher_as_node = get(r.mpi, "runLauncherAsNode").as<bool>(false);
  for (std::size_t i = 0; i < spec["replicatedJobs"].size(); ++i) r.jobs.push_back(spec["replicatedJobs"][i]);
  set_pod_counts(r);
  r.elastic = *elastic;
  if (r.elastic && (r.trainer_count < r.elastic->first || r.trainer_count > r.elastic->second))
    return invalid_argument(fmt::format("{}: TrainJob {}: spec.trainer.numNodes: an elastic TrainJob (PET_NNODES={}:{}) "
                                        "starts between {} and {} nodes, found {}",
                                        job.file, job.metadata.name, r.elastic->first, r.elastic->second,
                                        r.elastic->first, r.elastic->second, r.trainer_count));
  apply_initializers(r);
  if (Status st = apply_trainer(r); !st) return st;
  if (runtime.framework == "mpi") {
    if (Status st = enforce_mpi(r); !st) return st;
  } else if (r.trainer_container) {
    enforce_framework_env(r);
  }
  // plugins/volcano and plugins/coscheduling EnforcePodGroupPolicy: every pod names the TrainJob's
  // PodGroup (jobset builder PodAnnotations / PodLabels).
  const YAML::Node pgp = get(runtime.spec, "podGroupPolicy");
  for (auto& rjob : r.jobs) {
    YAML::Node meta = rjob["template"]["spec"]["template"]["metadata"];
    if (get(pgp, "volcano").IsDefined()) meta["annotations"]["scheduling.k8s.io/group-name"] = job.metadata.name;
    if (get(pgp, "coscheduling").IsDefined()) meta["labels"]["scheduling.x-k8s.io/pod-group"] = job.metadata.name;
  }
  if (Status st = validate_jobset_policies(spec, describe(runtime)); !st) return st;
  return jobset_object(job, templ, spec);
}

Result<TrainingJob> trainjob_as_job(const TrainJob& tj, const ResolvedTrainJob& resolved) {
  const YAML::Node& jobset = resolved.jobset;
  // The JobSet was resolved from objects that loaded: it is read with the loader's own readers,
  // and what they could report has been reported already.
  Diagnostics diags;
  const LoadOptions options;
  LoadContext ctx{tj.file, options, diags, ""};
  TrainingJob job;
  job.kind = JobKind::kTrainJob;
  job.api_version = tj.api_version;
  job.metadata = tj.metadata;
  job.run_policy.suspend = tj.suspend;
  if (YAML::Node d = get(tj.spec, "activeDeadlineSeconds"); d.IsDefined()) job.run_policy.active_deadline_seconds = d.as<std::int64_t>();
  job.run_policy.clean_pod_policy = CleanPodPolicy::kAll;  // a finished JobSet's pods stop
  TrainingJob::JobSetPolicy policy;
  const YAML::Node spec = get(jobset, "spec");
  for (const auto& rjob : get(spec, "replicatedJobs")) {
    const std::string name = get(rjob, "name").as<std::string>("");
    const YAML::Node job_spec = get(get(rjob, "template"), "spec");
    const YAML::Node pod = get(get(job_spec, "template"), "spec");
    ReplicaSpec r;
    r.type = name;
    const int parallelism = get(job_spec, "parallelism").as<int>(1);
    r.replicas = get(rjob, "replicas").as<int>(1) * parallelism;
    policy.pods_per_job[name] = parallelism;
    // JobSet's webhook defaults a pod template's restartPolicy to OnFailure; a child Job recreates
    // a pod that failed under Never, up to its backoffLimit, so both restart here.
    r.restart_policy = RestartPolicy::kOnFailure;
    r.template_.labels = ctx.get_string_map(get(get(job_spec, "template"), "metadata"), "labels");
    r.template_.annotations = ctx.get_string_map(get(get(job_spec, "template"), "metadata"), "annotations");
    for (const auto& c : get(pod, "containers")) r.template_.containers.push_back(load_container(ctx, c, name));
    if (r.template_.containers.empty())
      return invalid_argument(fmt::format("TrainJob {}: replicatedJob {}: expected a container, found none",
                                          tj.metadata.name, name));
    for (std::size_t k = 0; k < r.template_.containers.size(); ++k)
      if (r.template_.containers[k].name == kNode) r.primary_container = k;
    r.template_.volumes = load_volumes(ctx, pod);
    r.template_.raw = tree(YAML::Clone(get(job_spec, "template")));
    policy.backoff_limits[name] = get(job_spec, "backoffLimit").as<int>(6);
    if (const std::string ancestor = ancestor_of(rjob); !ancestor.empty()) policy.ancestors[name] = ancestor;
    for (const auto& rule : get(get(job_spec, "podFailurePolicy"), "rules")) {
      const YAML::Node codes = get(rule, "onExitCodes");
      if (!codes.IsDefined()) continue;  // onPodConditions (a disruption, an eviction) never happen here
      TrainingJob::JobSetPolicy::PodFailureRule pr;
      pr.action = get(rule, "action").as<std::string>("");
      pr.container = get(codes, "containerName").as<std::string>("");
      pr.in = get(codes, "operator").as<std::string>("In") == "In";
      for (const auto& v : get(codes, "values")) pr.codes.push_back(v.as<int>(0));
      policy.pod_failure_rules[name].push_back(std::move(pr));
    }
    for (const auto& dep : get(rjob, "dependsOn"))
      policy.depends_on[name].emplace_back(get(dep, "name").as<std::string>(""), get(dep, "status").as<std::string>("Complete"));
    job.replicas.push_back(std::move(r));
  }
  policy.success_operator = get(get(spec, "successPolicy"), "operator").as<std::string>("All");
  policy.success_targets = ctx.get_string_list(get(spec, "successPolicy"), "targetReplicatedJobs");
  const YAML::Node failure = get(spec, "failurePolicy");
  policy.has_failure_policy = failure.IsDefined() && !failure.IsNull();
  policy.max_restarts = get(failure, "maxRestarts").as<int>(0);
  int index = 0;
  for (const auto& rule : get(failure, "rules")) {
    TrainingJob::JobSetPolicy::FailureRule fr;
    fr.name = get(rule, "name").as<std::string>(fmt::format("failurePolicyRule{}", index++));
    fr.action = get(rule, "action").as<std::string>("");
    fr.on_reasons = ctx.get_string_list(rule, "onJobFailureReasons");
    fr.on_message_patterns = ctx.get_string_list(rule, "onJobFailureMessagePatterns");
    fr.targets = ctx.get_string_list(rule, "targetReplicatedJobs");
    policy.failure_rules.push_back(std::move(fr));
  }
  policy.subdomain = get(get(spec, "network"), "subdomain").as<std::string>(tj.metadata.name);
  if (resolved.pod_group.IsDefined() && !resolved.pod_group.IsNull()) policy.pod_group = tree(YAML::Clone(resolved.pod_group));
  if (resolved.runtime.framework == "mpi") {
    // The hostfile's entries (mpi.go buildHostFileConfigMap): every `node` pod, and the launcher's
    // when it runs as a node, with the slots the launcher was told (OMPI_MCA_orte_set_default_slots).
    job.mpi_implementation = "OpenMPI";
    policy.mpi = true;
    job.run_launcher_as_worker = get(get(get(resolved.runtime.spec, "mlPolicy"), "mpi"), "runLauncherAsNode").as<bool>(false);
    for (const auto& r : job.replicas)
      for (const auto& c : r.template_.containers)
        for (const auto& e : c.env)
          if (e.name == "OMPI_MCA_orte_set_default_slots") job.slots_per_worker = std::max(1, std::atoi(e.value.c_str()));
  }
  // An elastic TrainJob (elastic_nodes): what the launcher needs of an elasticPolicy, with
  // PET_MAX_RESTARTS when the trainer env sets it.
  if (auto elastic = elastic_nodes(tj, resolved.runtime); elastic && *elastic) {
    ElasticPolicy e;
    e.min_replicas = (*elastic)->first;
    e.max_replicas = (*elastic)->second;
    for (const auto& v : get(get(tj.spec, "trainer"), "env"))
      if (v["name"].as<std::string>("") == "PET_MAX_RESTARTS") e.max_restarts = parse_int<int>(v["value"].as<std::string>(""));
    job.elastic_policy = e;
  }
  policy.startup_in_order = get(get(spec, "startupPolicy"), "startupPolicyOrder").as<std::string>("AnyOrder") == "InOrder";
  job.jobset = std::move(policy);
  return job;
}

namespace {

// ResolvedTrainJob::pod_group, from the resolved JobSet's pod counts and requests.
Result<YAML::Node> pod_group_of(const TrainJob& job, const TrainingRuntime& runtime, const YAML::Node& jobset) {
  const YAML::Node pgp = get(runtime.spec, "podGroupPolicy");
  const bool volcano = get(pgp, "volcano").IsDefined(), coscheduling = get(pgp, "coscheduling").IsDefined();
  if (!volcano && !coscheduling) return YAML::Node();
  int members = 0;
  std::map<std::string, std::pair<double, bool>> totals;  // resource -> (sum, binary suffixes)
  std::vector<std::string> order;
  std::string priority_class;
  for (const auto& rjob : get(get(jobset, "spec"), "replicatedJobs")) {
    const YAML::Node job_spec = get(get(rjob, "template"), "spec");
    const int count = get(rjob, "replicas").as<int>(1) * get(job_spec, "parallelism").as<int>(1);
    members += count;
    const YAML::Node pod = get(get(job_spec, "template"), "spec");
    if (get(pod, "priorityClassName").IsDefined()) priority_class = get(pod, "priorityClassName").as<std::string>("");
    for (const auto& c : get(pod, "containers"))
      for (const auto& kv : get(get(c, "resources"), "requests")) {
        const std::string name = kv.first.as<std::string>();
        bool binary = false;
        auto q = parse_quantity(kv.second.as<std::string>(""), &binary);
        if (!q)
          return invalid_argument(fmt::format("TrainJob {}: replicatedJob {}: container {}: resources.requests.{}: {}",
                                              job.metadata.name, get(rjob, "name").as<std::string>(""),
                                              get(c, "name").as<std::string>(""), name, q.status().message()));
        auto [it, fresh] = totals.try_emplace(name, 0.0, binary);
        if (fresh) order.push_back(name);
        it->second.first += *q * count;
      }
  }
  YAML::Node pg;
  pg["apiVersion"] = volcano ? "scheduling.volcano.sh/v1beta1" : "scheduling.x-k8s.io/v1alpha1";
  pg["kind"] = "PodGroup";
  pg["metadata"]["name"] = job.metadata.name;
  pg["metadata"]["namespace"] = job.metadata.namespace_;
  pg["spec"]["minMember"] = members;
  for (const auto& name : order) {
    pg["spec"]["minResources"][name] = format_quantity(totals[name].first, totals[name].second);
    pg["spec"]["minResources"][name].SetTag("tag:yaml.org,2002:str");  // a quantity is a string ("4")
  }
  if (volcano) {
    // The queue: the annotation the runtime's template (or a runtimePatch) gives the JobSet.
    const YAML::Node queue = get(get(get(jobset, "metadata"), "annotations"), "scheduling.volcano.sh/queue-name");
    if (queue.IsDefined()) pg["spec"]["queue"] = queue.as<std::string>("");
    if (!priority_class.empty()) pg["spec"]["priorityClassName"] = priority_class;
    if (get(get(pgp, "volcano"), "networkTopology").IsDefined())
      pg["spec"]["networkTopology"] = YAML::Clone(get(get(pgp, "volcano"), "networkTopology"));
  } else {
    pg["spec"]["scheduleTimeoutSeconds"] = get(get(pgp, "coscheduling"), "scheduleTimeoutSeconds").as<int>(60);
  }
  return pg;
}

}  // namespace

Result<ResolvedTrainJob> resolve_trainjob(const TrainJob& job, const std::vector<TrainingRuntime>& candidates) {
  auto runtime = find_runtime(job, candidates);
  if (!runtime) return runtime.status();
  auto jobset = resolve_jobset(job, *runtime);
  if (!jobset) return jobset.status();
  auto pod_group = pod_group_of(job, *runtime, *jobset);
  if (!pod_group) return pod_group.status();
  return ResolvedTrainJob{std::move(*runtime), std::move(*jobset), std::move(*pod_group)};
}

std::vector<TrainingRuntime> collect_runtimes(const std::vector<Document>& documents, const std::vector<std::string>& dirs,
                                              std::vector<std::string>& problems) {
  std::vector<TrainingRuntime> out;
  for (const auto& d : documents)
    if (const auto* r = std::get_if<TrainingRuntime>(&d.object)) out.push_back(*r);
  for (const auto& dir : dirs) {
    std::error_code ec;
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec))
      if (e.path().extension() == ".yaml" || e.path().extension() == ".yml") files.push_back(e.path());
    if (ec) {
      problems.push_back(fmt::format("--runtimes {}: {}", dir, ec.message()));
      continue;
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      auto loaded = load_file(f.string());
      for (const auto& diag : loaded.diagnostics.sorted()) problems.push_back(diag.to_string());
      for (const auto& d : loaded.documents)
        if (const auto* r = std::get_if<TrainingRuntime>(&d.object)) out.push_back(*r);
    }
  }
  return out;
}

}  // namespace ringmaster::jobs
