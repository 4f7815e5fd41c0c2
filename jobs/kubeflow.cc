// TFJob, PyTorchJob, MPIJob and batch/v1 Job: the defaulting and the webhook validation of the Kubeflow
// training-operator v1.9, the mpi-operator v0.8 (v2beta1; v1alpha2 as mpi-operator v0.2 read it) and
// Kubernetes' Job, applied to the typed model.
#include <algorithm>
#include <functional>
#include <map>
#include <regex>

#include "common/strings.h"
#include "jobs/kinds.h"
#include "jobs/yaml_tree.h"
#include "jobs/load_context.h"
#include "jobs/operator_env.h"

namespace ringmaster::jobs {

namespace {

struct KindRules {
  JobKind kind;
  std::string specs_field;                     // tfReplicaSpecs, pytorchReplicaSpecs, mpiReplicaSpecs
  std::vector<std::string_view> replica_types;  // canonical names in canonical order
  std::vector<std::string_view> restart_policies;
  std::string default_container;  // the operator's primary container name ("" for none)
  bool container_name_required = false;  // the webhook insists on a container named default_container
  bool image_required = true;  // the primary container's port is operator_port(kind) (jobs/operator_env.h)
};

RestartPolicy parse_restart(std::string_view s) {
  if (s == "Always") return RestartPolicy::kAlways;
  if (s == "OnFailure") return RestartPolicy::kOnFailure;
  if (s == "ExitCode") return RestartPolicy::kExitCode;
  return RestartPolicy::kNever;
}

CleanPodPolicy parse_clean(std::string_view s) {
  if (s == "Running") return CleanPodPolicy::kRunning;
  if (s == "All") return CleanPodPolicy::kAll;
  return CleanPodPolicy::kNone;
}

bool is_dns1035_label(const std::string& s) {
  static const std::regex re("[a-z]([-a-z0-9]*[a-z0-9])?");
  return s.size() <= 63 && std::regex_match(s, re);
}

bool is_dns1123_label(const std::string& s) {
  static const std::regex re("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
  return s.size() <= 63 && std::regex_match(s, re);
}

// The API server's range for a port (k8s.io/kubernetes pkg/apis/core/validation: validatePortNumInRange
// in validateContainerPorts): containerPort 1-65535, hostPort 1-65535 when given (0 means none).
void check_port(LoadContext& ctx, const YAML::Node& port, const char* field, const std::string& path, bool zero_ok) {
  auto v = ctx.get_int(port, field);
  if (!v || (zero_ok && *v == 0) || (*v >= 1 && *v <= 65535)) return;
  ctx.error(get(port, field), path + "." + field,
            std::string("expected a port number between 1 and 65535") + (zero_ok ? " (or 0 for none)" : "") +
                ", found " + std::to_string(*v));
}


// Reads template.spec.containers; writes the default port into the normalized template.
PodTemplate load_template(LoadContext& ctx, const YAML::Node& tmpl, YAML::Node norm_tmpl, const std::string& path,
                          const KindRules& rules, const std::string& type, std::size_t& primary) {
  PodTemplate out;
  YAML::Node meta = get(tmpl, "metadata");
  out.labels = ctx.get_string_map(meta, "labels");
  out.annotations = ctx.get_string_map(meta, "annotations");
  YAML::Node spec = get(tmpl, "spec");
  YAML::Node containers = get(spec, "containers");
  std::string cpath = path + ".spec.containers";
  if (!containers.IsDefined() || !containers.IsSequence() || containers.size() == 0) {
    if (!containers.IsDefined() || (containers.IsSequence() && containers.size() == 0) || is_null(containers)) {
      ctx.error(containers.IsDefined() ? containers : (spec.IsDefined() ? spec : tmpl), cpath,
                "expected at least one container for replica type " + type + ", found none");
    }
    return out;
  }
  std::size_t i = 0;
  for (auto it = containers.begin(); it != containers.end(); ++it, ++i) {
    Container c = load_container(ctx, *it, index_path(cpath, i));
    if (rules.image_required && c.image.empty()) {
      ctx.error(*it, index_path(cpath, i) + ".image", "expected a container image, found none");
    }
    out.containers.push_back(std::move(c));
  }
  primary = 0;
  bool named = false;
  for (std::size_t k = 0; k < out.containers.size(); ++k) {
    if (!rules.default_container.empty() && out.containers[k].name == rules.default_container) {
      primary = k;
      named = true;
      break;
    }
  }
  if (rules.container_name_required && !named) {
    std::vector<std::string> names;
    for (const auto& c : out.containers) names.push_back(quote(c.name));
    ctx.error(containers, cpath,
              "expected a container named " + quote(rules.default_container) + " in replica type " + type +
                  " (the operator's default container), found " + join(names, ", "));
  }
  if (const OperatorPort op = operator_port(rules.kind); op.number > 0) {
    Container& c = out.containers[primary];
    bool has = std::any_of(c.ports.begin(), c.ports.end(), [&](const ContainerPort& p) { return p.name == op.name; });
    if (!has) {
      c.ports.push_back({op.name, op.number});
      YAML::Node port;
      port["containerPort"] = op.number;
      port["name"] = op.name;
      norm_tmpl["spec"]["containers"][primary]["ports"].push_back(port);
    }
  }
  out.volumes = load_volumes(ctx, spec);
  out.raw = tree(norm_tmpl);
  return out;
}

RunPolicy load_run_policy(LoadContext& ctx, const YAML::Node& rp, YAML::Node norm_rp, const std::string& path,
                          std::optional<std::string> legacy_clean) {
  RunPolicy out;
  auto clean = ctx.get_enum(rp, "cleanPodPolicy", path + ".cleanPodPolicy", {"None", "Running", "All"});
  if (!clean && legacy_clean) clean = legacy_clean;
  if (!clean && !get(rp, "cleanPodPolicy").IsDefined()) norm_rp["cleanPodPolicy"] = "None";
  if (clean) out.clean_pod_policy = parse_clean(*clean);
  out.ttl_seconds_after_finished = ctx.get_int32(rp, "ttlSecondsAfterFinished", path + ".ttlSecondsAfterFinished", 0);
  if (auto v = ctx.get_int(rp, "activeDeadlineSeconds")) {
    if (*v < 0) {
      ctx.error(get(rp, "activeDeadlineSeconds"), path + ".activeDeadlineSeconds",
                "expected a non-negative number of seconds, found " + std::to_string(*v));
    } else {
      out.active_deadline_seconds = *v;
    }
  }
  out.backoff_limit = ctx.get_int32(rp, "backoffLimit", path + ".backoffLimit", 0);
  out.suspend = ctx.get_bool(rp, "suspend").value_or(false);
  if (!get(rp, "suspend").IsDefined()) norm_rp["suspend"] = false;
  YAML::Node sp = get(rp, "schedulingPolicy");
  if (sp.IsDefined() && sp.IsMap()) {
    SchedulingPolicy s;
    std::string spath = path + ".schedulingPolicy";
    s.min_available = ctx.get_int32(sp, "minAvailable", spath + ".minAvailable", 0);
    s.queue = ctx.get_string(sp, "queue").value_or("");
    s.priority_class = ctx.get_string(sp, "priorityClass").value_or("");
    s.schedule_timeout_seconds = ctx.get_int32(sp, "scheduleTimeoutSeconds", spath + ".scheduleTimeoutSeconds", 0);
    s.min_resources = ctx.get_string_map(sp, "minResources");
    out.scheduling_policy = s;
  }
  return out;
}

std::string replica_limit_message(std::size_t limit, long long found, const char* what) {
  return "expected at most " + std::to_string(limit) + " replicas " + what +
         " (ringmaster's limit for one job; --max-replicas raises it), found " + std::to_string(found);
}

// Refused before any work is sized by it (rendering, planning, starting processes).
void check_replica_count(LoadContext& ctx, const YAML::Node& at, const std::string& path, int replicas) {
  if (replicas > static_cast<int>(ctx.options.max_replicas))
    ctx.error(at, path, replica_limit_message(ctx.options.max_replicas, replicas, "of one type"));
}

void load_replica_specs(LoadContext& ctx, const YAML::Node& spec, YAML::Node norm_spec, const std::string& path,
                        const KindRules& rules, TrainingJob& job,
                        const std::function<void(const std::string&, ReplicaSpec&, bool, bool)>& defaults) {
  YAML::Node specs = get(spec, rules.specs_field);
  std::string spath = path + "." + rules.specs_field;
  if (!specs.IsDefined() || !specs.IsMap() || specs.size() == 0) {
    if (!specs.IsDefined() || is_null(specs) || (specs.IsMap() && specs.size() == 0)) {
      ctx.error(specs.IsDefined() ? specs : spec, spath,
                "expected replica specs for " + join(rules.replica_types, ", ") + ", found none");
    }
    return;
  }
  // Keys are case-normalized as the operators do (worker -> Worker); the rebuilt map replaces the
  // original in the normalized object.
  YAML::Node norm_specs(YAML::NodeType::Map);
  std::map<std::string, std::pair<YAML::Node, YAML::Node>> by_type;  // canonical -> (key node, value)
  for (auto it = specs.begin(); it != specs.end(); ++it) {
    if (!it->first.IsScalar()) continue;
    const std::string& key = it->first.Scalar();
    auto canon = std::find_if(rules.replica_types.begin(), rules.replica_types.end(),
                              [&](std::string_view t) { return iequals(t, key); });
    if (canon == rules.replica_types.end()) {
      std::string msg = "expected a replica type, one of " + join(rules.replica_types, ", ") + " (any case), found " + quote(key);
      if (auto best = closest_match(key, rules.replica_types)) msg += " (did you mean " + quote(*best) + "?)";
      ctx.error(it->first, child_path(spath, key), msg);
      continue;
    }
    std::string type(*canon);
    if (by_type.count(type)) {
      ctx.error(it->first, child_path(spath, key),
                "replica type " + type + " is given twice (keys differ only in case), expected it once");
      continue;
    }
    by_type.emplace(type, std::make_pair(it->first, it->second));
  }
  for (std::string_view tv : rules.replica_types) {
    std::string type(tv);
    auto found = by_type.find(type);
    if (found == by_type.end()) continue;
    const YAML::Node& rs = found->second.second;
    std::string rpath = child_path(spath, type);
    YAML::Node norm_rs = YAML::Clone(rs);
    if (!rs.IsMap()) continue;  // reported by the schema check
    ReplicaSpec r;
    r.type = type;
    bool has_replicas = false, has_restart = false;
    if (auto n = ctx.get_int32(rs, "replicas", rpath + ".replicas", 0)) {
      r.replicas = *n;
      has_replicas = true;
    } else if (get(rs, "replicas").IsDefined() && !is_null(get(rs, "replicas"))) {
      has_replicas = true;  // invalid, reported
    }
    if (auto p = ctx.get_enum(rs, "restartPolicy", rpath + ".restartPolicy",
                              std::initializer_list<std::string_view>{"Always", "OnFailure", "Never", "ExitCode"})) {
      if (std::find(rules.restart_policies.begin(), rules.restart_policies.end(), *p) == rules.restart_policies.end()) {
        ctx.error(get(rs, "restartPolicy"), rpath + ".restartPolicy",
                  "expected one of " + join(rules.restart_policies, ", ") + " for " + job_kind_name(rules.kind) +
                      ", found " + quote(*p));
      }
      r.restart_policy = parse_restart(*p);
      has_restart = true;
    } else if (get(rs, "restartPolicy").IsDefined() && !is_null(get(rs, "restartPolicy"))) {
      has_restart = true;
    }
    defaults(type, r, has_replicas, has_restart);
    check_replica_count(ctx, get(rs, "replicas"), rpath + ".replicas", r.replicas);
    norm_rs["replicas"] = r.replicas;
    norm_rs["restartPolicy"] = restart_policy_name(r.restart_policy);
    YAML::Node tmpl = get(rs, "template");
    if (!tmpl.IsDefined() || is_null(tmpl)) {
      ctx.error(rs, rpath + ".template", "expected a pod template with at least one container, found none");
    } else {
      r.template_ = load_template(ctx, tmpl, norm_rs["template"], rpath + ".template", rules, type, r.primary_container);
    }
    norm_specs[type] = norm_rs;
    job.replicas.push_back(std::move(r));
  }
  norm_spec[rules.specs_field] = norm_specs;
  long long total = 0;
  for (const auto& r : job.replicas) total += r.replicas;
  if (total > static_cast<long long>(ctx.options.max_replicas) &&
      std::all_of(job.replicas.begin(), job.replicas.end(),
                  [&](const ReplicaSpec& r) { return r.replicas <= static_cast<int>(ctx.options.max_replicas); }))
    ctx.error(get(spec, rules.specs_field), spath, replica_limit_message(ctx.options.max_replicas, total, "in all"));
}

void check_name(LoadContext& ctx, const YAML::Node& doc, TrainingJob& job, bool in_trial) {
  YAML::Node meta = get(doc, "metadata");
  YAML::Node name = get(meta, "name");
  if (in_trial) return;  // Katib names trials itself
  if (job.metadata.name.empty()) {
    ctx.error(meta.IsDefined() ? meta : doc, "metadata.name", "expected a job name, found none");
    return;
  }
  bool ok = job.kind == JobKind::kBatchJob ? is_dns1123_label(job.metadata.name) : is_dns1035_label(job.metadata.name);
  if (!ok) {
    ctx.error(name, "metadata.name",
              std::string("expected a DNS-1035 label (lower-case letters, digits and '-', starting with a letter, ") +
                  "at most 63 characters), found " + quote(job.metadata.name));
  }
}


// The training-operator v1 kinds (TFJob, PyTorchJob, JAXJob, XGBoostJob, PaddleJob) share their
// defaulting: every replica spec gets replicas 1 and the kind's default restartPolicy
// (*_defaults.go setDefaultReplicas / setDefaultRestartPolicy), and the job name is a DNS-1035 label.
void load_v1_kind(LoadContext& ctx, const YAML::Node& doc, const YAML::Node& spec, YAML::Node nspec,
                  const std::string& path, const KindRules& rules, RestartPolicy default_restart, TrainingJob& job,
                  bool in_trial) {
  job.kind = rules.kind;
  check_name(ctx, doc, job, in_trial);
  load_replica_specs(ctx, spec, nspec, path, rules, job,
                     [default_restart](const std::string&, ReplicaSpec& r, bool has_replicas, bool has_policy) {
                       if (!has_replicas) r.replicas = 1;
                       if (!has_policy) r.restart_policy = default_restart;
                     });
}

// An elasticPolicy's minReplicas and maxReplicas, each from the other when one is missing and from
// the Workers when both are (pytorch_defaults.go setElasticPolicy, paddlepaddle_defautls.go
// setPaddleElasticPolicy), written into the normalized object.
void load_elastic_bounds(LoadContext& ctx, const YAML::Node& ep, YAML::Node nep, const std::string& epath,
                         const TrainingJob& job, ElasticPolicy& e) {
  e.min_replicas = ctx.get_int32(ep, "minReplicas", epath + ".minReplicas", 1);
  e.max_replicas = ctx.get_int32(ep, "maxReplicas", epath + ".maxReplicas", 1);
  e.max_restarts = ctx.get_int32(ep, "maxRestarts", epath + ".maxRestarts", 0);
  const ReplicaSpec* w = job.replica("Worker");
  if (!e.min_replicas && !e.max_replicas && w) e.min_replicas = e.max_replicas = w->replicas;
  else if (!e.min_replicas) e.min_replicas = e.max_replicas;
  else if (!e.max_replicas) e.max_replicas = e.min_replicas;
  if (e.min_replicas) nep["minReplicas"] = *e.min_replicas;
  if (e.max_replicas) nep["maxReplicas"] = *e.max_replicas;
}
}  // namespace

Container load_container(LoadContext& ctx, const YAML::Node& c, const std::string& path) {
  Container out;
  out.name = ctx.get_string(c, "name").value_or("");
  out.image = ctx.get_string(c, "image").value_or("");
  out.command = ctx.get_string_list(c, "command");
  out.args = ctx.get_string_list(c, "args");
  out.working_dir = ctx.get_string(c, "workingDir").value_or("");
  YAML::Node env = get(c, "env");
  if (env.IsDefined() && env.IsSequence()) {
    for (auto it = env.begin(); it != env.end(); ++it) {
      EnvVar v;
      v.name = ctx.get_string(*it, "name").value_or("");
      v.value = ctx.get_string(*it, "value").value_or("");
      v.from_source = get(*it, "valueFrom").IsDefined();
      v.field_path = ctx.get_string(get(get(*it, "valueFrom"), "fieldRef"), "fieldPath").value_or("");
      out.env.push_back(std::move(v));
    }
  }
  YAML::Node ports = get(c, "ports");
  if (ports.IsDefined() && ports.IsSequence()) {
    std::size_t i = 0;
    for (auto it = ports.begin(); it != ports.end(); ++it, ++i) {
      check_port(ctx, *it, "containerPort", index_path(path + ".ports", i), false);
      check_port(ctx, *it, "hostPort", index_path(path + ".ports", i), true);
      out.ports.push_back({ctx.get_string(*it, "name").value_or(""),
                           static_cast<int>(ctx.get_int(*it, "containerPort").value_or(0))});
    }
  }
  YAML::Node res = get(c, "resources");
  out.limits = ctx.get_string_map(res, "limits");
  out.requests = ctx.get_string_map(res, "requests");
  for (const auto& m : get(c, "volumeMounts"))
    out.volume_mounts.push_back({ctx.get_string(m, "name").value_or(""), ctx.get_string(m, "mountPath").value_or(""),
                                 ctx.get_string(m, "subPath").value_or("")});
  return out;
}

std::vector<Volume> load_volumes(LoadContext& ctx, const YAML::Node& pod_spec) {
  std::vector<Volume> out;
  for (const auto& v : get(pod_spec, "volumes")) {
    Volume volume;
    volume.name = ctx.get_string(v, "name").value_or("");
    if (get(v, "hostPath").IsDefined()) {
      volume.source = Volume::Source::kHostPath;
      volume.host_path = ctx.get_string(get(v, "hostPath"), "path").value_or("");
    } else if (get(v, "emptyDir").IsDefined()) {
      volume.source = Volume::Source::kEmptyDir;
    } else if (get(v, "configMap").IsDefined() || get(v, "secret").IsDefined() || get(v, "projected").IsDefined() ||
               get(v, "downwardAPI").IsDefined()) {
      volume.source = Volume::Source::kObject;
    }
    out.push_back(std::move(volume));
  }
  return out;
}

ObjectMeta load_object_meta(LoadContext& ctx, const YAML::Node& doc) {
  ObjectMeta m;
  YAML::Node meta = get(doc, "metadata");
  m.name = ctx.get_string(meta, "name").value_or("");
  m.namespace_ = ctx.get_string(meta, "namespace").value_or("default");
  m.labels = ctx.get_string_map(meta, "labels");
  m.annotations = ctx.get_string_map(meta, "annotations");
  return m;
}

// TFJob: training-operator's tfjob defaults and webhook (at most one Chief or Master, of one replica).
void load_tfjob(LoadContext& ctx, const YAML::Node& doc, YAML::Node spec, YAML::Node nspec, const std::string& path,
                TrainingJob& job, bool in_trial, const std::string& /*api_version*/) {
  KindRules rules{JobKind::kTFJob, "tfReplicaSpecs", {"Chief", "Master", "PS", "Worker", "Evaluator"},
                  {"Always", "OnFailure", "Never", "ExitCode"}, "tensorflow", true, true};
  load_v1_kind(ctx, doc, spec, nspec, path, rules, RestartPolicy::kNever, job, in_trial);
  job.run_policy = load_run_policy(ctx, get(spec, "runPolicy"), nspec["runPolicy"], path + ".runPolicy", std::nullopt);
  auto sp = ctx.get_enum(spec, "successPolicy", path + ".successPolicy", {"", "AllWorkers"});
  job.success_policy = sp.value_or("");
  if (!get(spec, "successPolicy").IsDefined()) nspec["successPolicy"] = "";
  int chiefs = 0;
  for (const auto& r : job.replicas) {
    if (r.type != "Chief" && r.type != "Master") continue;
    ++chiefs;
    if (r.replicas > 1) {
      ctx.error(get(get(get(spec, "tfReplicaSpecs"), r.type), "replicas"), path + ".tfReplicaSpecs." + r.type + ".replicas",
                "expected at most 1 replica for " + r.type + ", found " + std::to_string(r.replicas));
    }
  }
  if (chiefs > 1) {
    ctx.error(get(spec, "tfReplicaSpecs"), path + ".tfReplicaSpecs",
              "expected at most one of Chief and Master, found both");
  }
}

// PyTorchJob: one Master, elasticPolicy and nprocPerNode as training-operator's pytorch webhook checks them.
void load_pytorchjob(LoadContext& ctx, const YAML::Node& doc, YAML::Node spec, YAML::Node nspec, const std::string& path,
                     TrainingJob& job, bool in_trial, const std::string& /*api_version*/) {
  KindRules rules{JobKind::kPyTorchJob, "pytorchReplicaSpecs", {"Master", "Worker"},
                  {"Always", "OnFailure", "Never", "ExitCode"}, "pytorch", true, true};
  load_v1_kind(ctx, doc, spec, nspec, path, rules, RestartPolicy::kOnFailure, job, in_trial);
  if (const ReplicaSpec* m = job.replica("Master"); m && m->replicas != 1) {
    ctx.error(get(get(get(spec, "pytorchReplicaSpecs"), "Master"), "replicas"),
              path + ".pytorchReplicaSpecs.Master.replicas", "expected 1, found " + std::to_string(m->replicas));
  }
  job.run_policy = load_run_policy(ctx, get(spec, "runPolicy"), nspec["runPolicy"], path + ".runPolicy", std::nullopt);
  YAML::Node ep = get(spec, "elasticPolicy");
  auto nproc = ctx.get_string(spec, "nprocPerNode");
  if (ep.IsDefined() && ep.IsMap()) {
    ElasticPolicy e;
    std::string epath = path + ".elasticPolicy";
    load_elastic_bounds(ctx, ep, nspec["elasticPolicy"], epath, job, e);
    e.rdzv_backend = ctx.get_string(ep, "rdzvBackend").value_or("");
    e.rdzv_host = ctx.get_string(ep, "rdzvHost");
    e.rdzv_id = ctx.get_string(ep, "rdzvId");
    e.rdzv_port = ctx.get_int32(ep, "rdzvPort", epath + ".rdzvPort", 1);
    e.n_proc_per_node = ctx.get_int32(ep, "nProcPerNode", epath + ".nProcPerNode", 1);
    e.standalone = ctx.get_bool(ep, "standalone").value_or(false);
    YAML::Node conf = get(ep, "rdzvConf");
    if (conf.IsDefined() && conf.IsSequence())
      for (auto it = conf.begin(); it != conf.end(); ++it)
        e.rdzv_conf.emplace_back(ctx.get_string(*it, "key").value_or(""), ctx.get_string(*it, "value").value_or(""));
    if (e.min_replicas && e.max_replicas && *e.min_replicas > *e.max_replicas) {
      ctx.error(get(ep, "minReplicas"), epath + ".minReplicas",
                "expected at most maxReplicas (" + std::to_string(*e.max_replicas) + "), found " +
                    std::to_string(*e.min_replicas));
    }
    if (!job.replica("Worker") && !job.replicas.empty()) {
      // webhooks/pytorch validateSpec
      ctx.error(get(spec, "pytorchReplicaSpecs"), path + ".pytorchReplicaSpecs.Worker",
                "expected a Worker replica spec (an elasticPolicy needs Workers), found none");
    }
    if (!nproc && get(ep, "nProcPerNode").IsDefined()) {
      ctx.warning(get(ep, "nProcPerNode"), epath + ".nProcPerNode",
                  "deprecated: use spec.nprocPerNode instead");
    }
    if (nproc && get(ep, "nProcPerNode").IsDefined()) {
      ctx.error(get(ep, "nProcPerNode"), epath + ".nProcPerNode",
                "expected only spec.nprocPerNode (elasticPolicy.nProcPerNode is deprecated), found both");
    }
    job.elastic_policy = e;
  }
  if (nproc) {
    static const std::regex re("auto|cpu|gpu|[1-9][0-9]*");
    if (!std::regex_match(*nproc, re)) {
      ctx.error(get(spec, "nprocPerNode"), path + ".nprocPerNode",
                "expected auto, cpu, gpu or a positive integer, found " + quote(*nproc));
    }
    job.nproc_per_node = *nproc;
  } else if (!(ep.IsDefined() && get(ep, "nProcPerNode").IsDefined())) {
    nspec["nprocPerNode"] = "auto";
  }
}

void load_jaxjob(LoadContext& ctx, const YAML::Node& doc, YAML::Node spec, YAML::Node nspec, const std::string& path,
                 TrainingJob& job, bool in_trial, const std::string& /*api_version*/) {
  // training-operator v1.9 jax_defaults.go (replicas 1, restartPolicy Never, port jaxjob-port 6666
  // on container jax, cleanPodPolicy None) and webhooks/jax (Worker only, a container named jax).
  KindRules rules{JobKind::kJAXJob, "jaxReplicaSpecs", {"Worker"}, {"Always", "OnFailure", "Never", "ExitCode"},
                  "jax", true, true};
  load_v1_kind(ctx, doc, spec, nspec, path, rules, RestartPolicy::kNever, job, in_trial);
  job.run_policy = load_run_policy(ctx, get(spec, "runPolicy"), nspec["runPolicy"], path + ".runPolicy", std::nullopt);
}

void load_xgboostjob(LoadContext& ctx, const YAML::Node& doc, YAML::Node spec, YAML::Node nspec, const std::string& path,
                     TrainingJob& job, bool in_trial, const std::string& /*api_version*/) {
  // training-operator v1.9 xgboost_defaults.go (replicas 1, restartPolicy Never, port
  // xgboostjob-port 9999 on container xgboost, cleanPodPolicy None) and webhooks/xgboost (Master and
  // Worker, a container named xgboost, exactly one Master).
  KindRules rules{JobKind::kXGBoostJob, "xgbReplicaSpecs", {"Master", "Worker"},
                  {"Always", "OnFailure", "Never", "ExitCode"}, "xgboost", true, true};
  load_v1_kind(ctx, doc, spec, nspec, path, rules, RestartPolicy::kNever, job, in_trial);
  const std::string rpath = path + ".xgbReplicaSpecs";
  if (const ReplicaSpec* m = job.replica("Master"); m && m->replicas != 1) {
    ctx.error(get(get(get(spec, "xgbReplicaSpecs"), "Master"), "replicas"), rpath + ".Master.replicas",
              "expected 1, found " + std::to_string(m->replicas));
  } else if (!m && !job.replicas.empty()) {
    ctx.error(get(spec, "xgbReplicaSpecs"), rpath + ".Master", "expected a Master replica spec, found none");
  }
  job.run_policy = load_run_policy(ctx, get(spec, "runPolicy"), nspec["runPolicy"], path + ".runPolicy", std::nullopt);
}

void load_paddlejob(LoadContext& ctx, const YAML::Node& doc, YAML::Node spec, YAML::Node nspec, const std::string& path,
                    TrainingJob& job, bool in_trial, const std::string& /*api_version*/) {
  // training-operator v1.9 paddlepaddle_defautls.go (replicas 1, restartPolicy OnFailure, port
  // master 36543 on container paddle, cleanPodPolicy None, elasticPolicy min/max from each other or
  // the Workers) and webhooks/paddlepaddle (Master and Worker, a container named paddle).
  KindRules rules{JobKind::kPaddleJob, "paddleReplicaSpecs", {"Master", "Worker"},
                  {"Always", "OnFailure", "Never", "ExitCode"}, "paddle", true, true};
  load_v1_kind(ctx, doc, spec, nspec, path, rules, RestartPolicy::kOnFailure, job, in_trial);
  job.run_policy = load_run_policy(ctx, get(spec, "runPolicy"), nspec["runPolicy"], path + ".runPolicy", std::nullopt);
  if (YAML::Node ep = get(spec, "elasticPolicy"); ep.IsDefined() && ep.IsMap()) {
    ElasticPolicy e;
    load_elastic_bounds(ctx, ep, nspec["elasticPolicy"], path + ".elasticPolicy", job, e);
    job.elastic_policy = e;
  }
}

// MPIJob v2beta1 (mpi-operator) and v1 / v1alpha2 (training-operator): one Launcher, Workers, slots.
void load_mpijob(LoadContext& ctx, const YAML::Node& doc, YAML::Node spec, YAML::Node nspec, const std::string& path,
                 TrainingJob& job, bool in_trial, const std::string& api_version) {
  job.kind = JobKind::kMPIJob;
  bool v2 = api_version == "kubeflow.org/v2beta1";
  bool v1 = api_version == "kubeflow.org/v1";
  KindRules rules{JobKind::kMPIJob, "mpiReplicaSpecs", {"Launcher", "Worker"}, {"Never", "OnFailure"}, "", false,
                  false};
  load_replica_specs(ctx, spec, nspec, path, rules, job, [&](const std::string& type, ReplicaSpec& r, bool hr, bool hp) {
    if (!hr) r.replicas = type == "Launcher" ? 1 : 0;
    if (!hp) r.restart_policy = (v2 && type == "Launcher") ? RestartPolicy::kOnFailure : RestartPolicy::kNever;
  });
  std::string rpath = path + ".mpiReplicaSpecs";
  const ReplicaSpec* launcher = job.replica("Launcher");
  if (!launcher && get(spec, "mpiReplicaSpecs").IsMap() && get(spec, "mpiReplicaSpecs").size() > 0) {
    ctx.error(get(spec, "mpiReplicaSpecs"), rpath + ".Launcher", "expected a Launcher replica spec, found none");
  } else if (launcher && launcher->replicas != 1) {
    ctx.error(get(get(get(spec, "mpiReplicaSpecs"), "Launcher"), "replicas"), rpath + ".Launcher.replicas",
              "expected 1, found " + std::to_string(launcher->replicas));
  }
  if (const ReplicaSpec* w = job.replica("Worker"); w && w->replicas < 1 && get(get(get(spec, "mpiReplicaSpecs"), "Worker"), "replicas").IsDefined()) {
    ctx.error(get(get(get(spec, "mpiReplicaSpecs"), "Worker"), "replicas"), rpath + ".Worker.replicas",
              "expected at least 1, found " + std::to_string(w->replicas));
  }
  if (auto s = ctx.get_int32(spec, "slotsPerWorker", path + ".slotsPerWorker", 0)) {
    job.slots_per_worker = *s;
  } else if (!get(spec, "slotsPerWorker").IsDefined()) {
    nspec["slotsPerWorker"] = 1;
  }
  if (v2) {
    job.run_launcher_as_worker = ctx.get_bool(spec, "runLauncherAsWorker").value_or(false);
    if (!get(spec, "runLauncherAsWorker").IsDefined()) nspec["runLauncherAsWorker"] = false;
    if (auto impl = ctx.get_enum(spec, "mpiImplementation", path + ".mpiImplementation", {"OpenMPI", "Intel", "MPICH"})) {
      job.mpi_implementation = *impl;
    } else if (!get(spec, "mpiImplementation").IsDefined()) {
      nspec["mpiImplementation"] = "OpenMPI";
    }
    job.ssh_auth_mount_path = ctx.get_string(spec, "sshAuthMountPath").value_or("/root/.ssh");
    if (!get(spec, "sshAuthMountPath").IsDefined()) nspec["sshAuthMountPath"] = "/root/.ssh";
    if (auto p = ctx.get_enum(spec, "launcherCreationPolicy", path + ".launcherCreationPolicy", {"AtStartup", "WaitForWorkersReady"})) {
      job.launcher_creation_policy = *p;
    } else if (!get(spec, "launcherCreationPolicy").IsDefined()) {
      nspec["launcherCreationPolicy"] = "AtStartup";
    }
    job.run_policy = load_run_policy(ctx, get(spec, "runPolicy"), nspec["runPolicy"], path + ".runPolicy", std::nullopt);
  } else {
    // v1 (training-operator) and v1alpha2 keep cleanPodPolicy (deprecated in v1) and mainContainer in spec.
    auto legacy = ctx.get_enum(spec, "cleanPodPolicy", path + ".cleanPodPolicy", {"None", "Running", "All"});
    if (v1) {
      job.run_policy = load_run_policy(ctx, get(spec, "runPolicy"), nspec["runPolicy"], path + ".runPolicy", legacy);
    } else {
      // v1alpha2: the run policy fields sit directly in spec.
      YAML::Node tmp(YAML::NodeType::Map);
      job.run_policy = load_run_policy(ctx, spec, tmp, path, std::nullopt);
      if (!legacy) nspec["cleanPodPolicy"] = "None";
    }
    if (v1 && !legacy) nspec["cleanPodPolicy"] = "None";
    std::string main = ctx.get_string(spec, "mainContainer").value_or("");
    if (!main.empty()) {
      for (auto& r : job.replicas) {
        auto& cs = r.template_.containers;
        auto it = std::find_if(cs.begin(), cs.end(), [&](const Container& c) { return c.name == main; });
        if (it != cs.end()) r.primary_container = static_cast<std::size_t>(it - cs.begin());
      }
    }
  }
  if (!in_trial && !job.metadata.name.empty()) {
    const ReplicaSpec* w = job.replica("Worker");
    int n = (w && w->replicas > 0) ? w->replicas : 1;
    std::string host = job.metadata.name + "-worker-" + std::to_string(n - 1);
    if (!is_dns1123_label(host)) {
      ctx.error(get(get(doc, "metadata"), "name"), "metadata.name",
                "expected a name that keeps the worker host names valid DNS-1123 labels (at most 63 characters, "
                "lower-case letters, digits and '-'), found " + quote(job.metadata.name) + ", which gives " + quote(host));
    }
  } else if (!in_trial) {
    check_name(ctx, doc, job, in_trial);
  }
}

// batch/v1 Job: parallelism replicas of one template, as the Job controller runs them.
void load_batch_job(LoadContext& ctx, const YAML::Node& doc, YAML::Node spec, YAML::Node nspec, const std::string& path,
                    TrainingJob& job, bool in_trial, const std::string& /*api_version*/) {
  job.kind = JobKind::kBatchJob;
  if (!in_trial) check_name(ctx, doc, job, in_trial);
  YAML::Node tmpl = get(spec, "template");
  ReplicaSpec r;
  r.type = "Job";
  auto parallelism = ctx.get_int32(spec, "parallelism", path + ".parallelism", 0);
  auto completions = ctx.get_int32(spec, "completions", path + ".completions", 0);
  r.replicas = parallelism.value_or(1);
  check_replica_count(ctx, get(spec, "parallelism"), path + ".parallelism", r.replicas);
  job.completions = completions.value_or(r.replicas);
  if (!parallelism) nspec["parallelism"] = r.replicas;
  if (!completions) nspec["completions"] = job.completions;
  job.run_policy.backoff_limit = ctx.get_int32(spec, "backoffLimit", path + ".backoffLimit", 0);
  if (!job.run_policy.backoff_limit) {
    job.run_policy.backoff_limit = 6;
    nspec["backoffLimit"] = 6;
  }
  if (auto v = ctx.get_int(spec, "activeDeadlineSeconds")) {
    if (*v <= 0) {
      ctx.error(get(spec, "activeDeadlineSeconds"), path + ".activeDeadlineSeconds",
                "expected a positive number of seconds, found " + std::to_string(*v));
    } else {
      job.run_policy.active_deadline_seconds = *v;
    }
  }
  job.run_policy.ttl_seconds_after_finished =
      ctx.get_int32(spec, "ttlSecondsAfterFinished", path + ".ttlSecondsAfterFinished", 0);
  job.run_policy.suspend = ctx.get_bool(spec, "suspend").value_or(false);
  // Kubernetes requires a Job's pods to say restartPolicy Never or OnFailure.
  YAML::Node pod_spec = get(tmpl, "spec");
  auto rp = ctx.get_enum(pod_spec, "restartPolicy", path + ".template.spec.restartPolicy", {"Never", "OnFailure", "Always"});
  if (!rp && !get(pod_spec, "restartPolicy").IsDefined() && pod_spec.IsDefined()) {
    ctx.error(pod_spec, path + ".template.spec.restartPolicy", "expected Never or OnFailure, found none");
  } else if (rp && *rp == "Always") {
    ctx.error(get(pod_spec, "restartPolicy"), path + ".template.spec.restartPolicy",
              "expected Never or OnFailure (a Job's pods may not restart Always), found \"Always\"");
  }
  r.restart_policy = parse_restart(rp.value_or("Never"));
  KindRules rules{JobKind::kBatchJob, "", {"Job"}, {}, "", false, false};
  if (!tmpl.IsDefined() || is_null(tmpl)) {
    ctx.error(spec, path + ".template", "expected a pod template, found none");
  } else {
    r.template_ = load_template(ctx, tmpl, nspec["template"], path + ".template", rules, "Job", r.primary_container);
  }
  job.replicas.push_back(std::move(r));
}

std::optional<TrainingJob> load_training_job(LoadContext& ctx, const YAML::Node& doc, YAML::Node& norm,
                                             const std::string& api_version, const std::string& kind, bool in_trial) {
  TrainingJob job;
  job.api_version = api_version;
  job.metadata = load_object_meta(ctx, doc);
  YAML::Node spec = get(doc, "spec");
  if (!spec.IsDefined() || !spec.IsMap()) {
    if (!spec.IsDefined() || is_null(spec)) ctx.error(doc, "spec", "expected the job's spec, found none");
    return std::nullopt;
  }
  YAML::Node nspec = norm["spec"];
  const std::string path = "spec";
  int errors_before = ctx.diags.error_count();

  using KindLoader = void (*)(LoadContext&, const YAML::Node&, YAML::Node, YAML::Node, const std::string&, TrainingJob&,
                              bool, const std::string&);
  static const std::map<std::string, KindLoader, std::less<>> kLoaders = {
      {"TFJob", load_tfjob},         {"PyTorchJob", load_pytorchjob}, {"JAXJob", load_jaxjob},
      {"XGBoostJob", load_xgboostjob}, {"PaddleJob", load_paddlejob}, {"MPIJob", load_mpijob},
      {"Job", load_batch_job}};
  if (auto it = kLoaders.find(kind); it != kLoaders.end()) it->second(ctx, doc, spec, nspec, path, job, in_trial, api_version);
  if (ctx.diags.error_count() > errors_before) return std::nullopt;
  return job;
}

}  // namespace ringmaster::jobs
