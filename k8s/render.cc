#include "k8s/render.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/strings.h"
#include "jobs/emit.h"
#include "jobs/operator_env.h"
#include "jobs/yaml_tree.h"

namespace ringmaster::k8s {
namespace fs = std::filesystem;
namespace {

using jobs::JobKind;

// The render functions hand each object on as soon as it is built, so a large job streams.
struct Out {
  const ObjectSink& emit;
  void push_back(YAML::Node n) const { emit(std::move(n)); }
};

constexpr const char* kGroup = "training.kubeflow.org/";
constexpr const char* kMpiHostfile = "/etc/mpi/hostfile";  // the ConfigMap's mount (mount_mpi_config)

const char* operator_name(JobKind k) {
  switch (k) {
    case JobKind::kTFJob: return "tfjob-controller";
    case JobKind::kPyTorchJob: return "pytorchjob-controller";
    case JobKind::kMPIJob: return "mpijob-controller";
    case JobKind::kJAXJob: return "jaxjob-controller";
    case JobKind::kXGBoostJob: return "xgboostjob-controller";
    case JobKind::kPaddleJob: return "paddlejob-controller";
    default: return "ringmaster";
  }
}

// A string scalar: kept a string when printed even if it reads as a number or a boolean.
YAML::Node text(const std::string& s) {
  YAML::Node n(s);
  n.SetTag("!");
  return n;
}

struct Context {
  const jobs::TrainingJob& job;
  std::string name, ns, token_secret;
  const RenderOptions& options;
};

Context context_of(const jobs::TrainingJob& job, const RenderOptions& o) {
  return {job, job.metadata.name, job.metadata.namespace_, dns_label(job.metadata.name + "-token"), o};
}

void add_env(YAML::Node container, const jobs::EnvList& vars);

bool scheduler_plugins(const Context& c) { return c.options.gang_scheduler == "scheduler-plugins"; }

// ringmaster.io/gpu-fraction of a replica: 0 when absent; an error when not in (0, 1).
Result<double> gpu_fraction(const jobs::ReplicaSpec& spec) {
  auto it = spec.template_.annotations.find("ringmaster.io/gpu-fraction");
  if (it == spec.template_.annotations.end()) return 0.0;
  const std::optional<double> parsed = parse_double(it->second);
  const double f = parsed.value_or(0.0);
  if (!parsed || !(f > 0 && f < 1))
    return invalid_argument(fmt::format("replica {}: annotation ringmaster.io/gpu-fraction: expected a number in (0, 1), "
                                        "found \"{}\"",
                                        spec.type, it->second));
  const auto& limits = spec.template_.containers[spec.primary_container].limits;
  if (limits.count("nvidia.com/gpu"))
    return invalid_argument(fmt::format("replica {}: annotation ringmaster.io/gpu-fraction: expected no "
                                        "resources.limits[nvidia.com/gpu] beside it, found \"{}\"",
                                        spec.type, limits.at("nvidia.com/gpu")));
  return f;
}

// A share of a GPU as the NVIDIA device plugin's sharing modes give it (RenderOptions).
void share_gpu(const Context& c, const jobs::ReplicaSpec& spec, YAML::Node t) {
  auto fraction = gpu_fraction(spec);  // checked by render_job before any pod
  const double f = fraction ? *fraction : 0.0;
  if (f <= 0) return;
  YAML::Node container = t["spec"]["containers"][spec.primary_container];
  container["resources"]["limits"][c.options.gpu_shared_resource] = 1;
  if (!t["spec"]["nodeSelector"]["nvidia.com/gpu.sharing-strategy"])
    t["spec"]["nodeSelector"]["nvidia.com/gpu.sharing-strategy"] = c.options.gpu_sharing;
  if (c.options.gpu_sharing == "mps")
    add_env(container, {{"CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", std::to_string(static_cast<int>(std::lround(f * 100)))}});
}

YAML::Node meta(const Context& c, const std::string& name) {
  YAML::Node m;
  m["name"] = dns_label(name);
  m["namespace"] = c.ns;
  m["labels"][std::string(kGroup) + "job-name"] = text(dns_label(c.job.metadata.name));
  m["labels"][std::string(kGroup) + "operator-name"] = operator_name(c.job.kind);
  m["labels"]["app.kubernetes.io/managed-by"] = "ringmaster";
  return m;
}

YAML::Node object(const char* api, const char* kind, YAML::Node metadata) {
  YAML::Node o;
  o["apiVersion"] = api;
  o["kind"] = kind;
  o["metadata"] = metadata;
  return o;
}

YAML::Node env_value(const jobs::OperatorEnvVar& v) {
  YAML::Node e;
  e["name"] = v.name;
  if (v.field_path.empty()) {
    e["value"] = text(v.value);
  } else {
    e["valueFrom"]["fieldRef"]["fieldPath"] = v.field_path;
  }
  return e;
}

// Adds env vars to a container. The operators append what they inject after the container's own env, and the last of two
// entries with one name wins; so a variable the container sets already takes the injected value
// (as `ringmaster run` does), without a duplicate entry.
void add_env(YAML::Node container, const jobs::EnvList& vars) {
  for (const auto& v : vars) {
    bool present = false;
    YAML::Node env = container["env"];
    for (std::size_t i = 0; env.IsSequence() && i < env.size(); ++i) {
      YAML::Node e = env[i];
      if (!e["name"] || e["name"].as<std::string>() != v.name) continue;
      e.remove("valueFrom");
      e.remove("value");
      for (auto kv : env_value(v))
        if (kv.first.as<std::string>() != "name") e[kv.first.as<std::string>()] = kv.second;
      present = true;
    }
    if (!present) container["env"].push_back(env_value(v));
  }
}

void add_token(const Context& c, YAML::Node container) {
  add_env(container, {{"RINGMASTER_JOB_NAME", c.job.metadata.name}});
  for (const auto& e : container["env"])
    if (e["name"] && e["name"].as<std::string>() == "RINGMASTER_JOB_TOKEN") return;
  YAML::Node e;
  e["name"] = "RINGMASTER_JOB_TOKEN";
  e["valueFrom"]["secretKeyRef"]["name"] = c.token_secret;
  e["valueFrom"]["secretKeyRef"]["key"] = "token";
  container["env"].push_back(e);
}

// The Secret the job token lives in (add_token refers to it): --token's, or a fresh one.
YAML::Node token_secret(const Context& c) {
  YAML::Node secret = object("v1", "Secret", meta(c, c.token_secret));
  secret["type"] = "Opaque";
  secret["stringData"]["token"] = text(c.options.token.empty() ? random_hex(16) : c.options.token);
  return secret;
}

// The primary container's port called `name`, or `fallback`.
int port_of(const jobs::ReplicaSpec& spec, const std::string& name, int fallback) {
  for (const auto& p : spec.template_.containers[spec.primary_container].ports)
    if (p.name == name && p.port > 0) return p.port;
  return fallback;
}

// The port the operator adds to the primary container unless it names one itself.
int ensure_port(YAML::Node container, const std::string& name, int fallback) {
  for (const auto& p : container["ports"])
    if (p["name"] && p["name"].as<std::string>() == name && p["containerPort"]) return p["containerPort"].as<int>();
  YAML::Node p;
  p["name"] = name;
  p["containerPort"] = fallback;
  p["protocol"] = "TCP";
  container["ports"].push_back(p);
  return fallback;
}

const char* restart_policy(jobs::RestartPolicy p) {
  switch (p) {
    case jobs::RestartPolicy::kAlways: return "Always";
    case jobs::RestartPolicy::kOnFailure: return "OnFailure";
    default: return "Never";  // Never, and ExitCode: the exit code is judged outside the pod
  }
}

// The pod template of a replica with the job's labels, the token and the restart policy.
YAML::Node pod_template(const Context& c, const jobs::ReplicaSpec& spec, int index, bool role_master) {
  YAML::Node t;
  t["metadata"] = YAML::Clone(jobs::yaml(spec.template_.raw)["metadata"]);
  if (!t["metadata"].IsMap()) t["metadata"] = YAML::Node(YAML::NodeType::Map);
  t["metadata"].remove("name");
  t["metadata"].remove("namespace");
  t["metadata"]["labels"][std::string(kGroup) + "job-name"] = text(dns_label(c.job.metadata.name));
  t["metadata"]["labels"][std::string(kGroup) + "operator-name"] = operator_name(c.job.kind);
  t["metadata"]["labels"][std::string(kGroup) + "replica-type"] = text(to_lower(spec.type));
  if (index >= 0) t["metadata"]["labels"][std::string(kGroup) + "replica-index"] = text(std::to_string(index));
  if (role_master) t["metadata"]["labels"][std::string(kGroup) + "job-role"] = "master";
  t["metadata"]["labels"]["app.kubernetes.io/managed-by"] = "ringmaster";
  t["spec"] = YAML::Clone(jobs::yaml(spec.template_.raw)["spec"]);
  t["spec"]["restartPolicy"] = c.options.client_side ? "Never" : restart_policy(spec.restart_policy);
  for (auto container : t["spec"]["containers"]) add_token(c, container);
  share_gpu(c, spec, t);
  if (const auto& sp = c.job.run_policy.scheduling_policy) {
    const bool plugins = scheduler_plugins(c);
    t["spec"]["schedulerName"] = !c.options.scheduler_name.empty() ? c.options.scheduler_name
                                 : plugins                         ? "scheduler-plugins-scheduler"
                                                                   : "volcano";
    if (plugins)
      t["metadata"]["labels"]["scheduling.x-k8s.io/pod-group"] = dns_label(c.job.metadata.name);
    else
      t["metadata"]["annotations"]["scheduling.k8s.io/group-name"] = dns_label(c.job.metadata.name);
    if (!sp->priority_class.empty()) t["spec"]["priorityClassName"] = sp->priority_class;
  }
  return t;
}

YAML::Node pod_from(const Context& c, const std::string& name, YAML::Node tmpl) {
  YAML::Node m;
  m["name"] = dns_label(name);
  m["namespace"] = c.ns;
  for (auto it = tmpl["metadata"].begin(); it != tmpl["metadata"].end(); ++it) m[it->first] = it->second;
  YAML::Node pod = object("v1", "Pod", m);
  pod["spec"] = tmpl["spec"];
  return pod;
}

YAML::Node headless_service(const Context& c, const std::string& name, YAML::Node selector, const std::string& port_name,
                            int port) {
  YAML::Node s = object("v1", "Service", meta(c, name));
  s["spec"]["clusterIP"] = "None";
  s["spec"]["selector"] = selector;
  if (port > 0) {
    YAML::Node p;
    p["name"] = port_name;
    p["port"] = port;
    p["targetPort"] = port;
    p["protocol"] = "TCP";
    s["spec"]["ports"].push_back(p);
  }
  s["spec"]["publishNotReadyAddresses"] = true;
  return s;
}

YAML::Node selector_of(const Context& c, const std::string& type, int index) {
  YAML::Node s;
  s[std::string(kGroup) + "job-name"] = text(dns_label(c.job.metadata.name));
  s[std::string(kGroup) + "replica-type"] = text(to_lower(type));
  if (index >= 0) s[std::string(kGroup) + "replica-index"] = text(std::to_string(index));
  return s;
}

// An elastic job whose workers run ringmaster (jobs::ringmaster_serves_rendezvous): its store as a
// Pod and Service of its own, so that it outlives every worker; the workers' PET_RDZV_ENDPOINT
// points there. The Pod runs `ringmaster rendezvous` in the workers' image, listening on every
// address of the pod (the Service's), and checks the job token. Its store lives in its memory: if
// this Pod is lost, the group fails at its next change and the job restarts under its policy.
std::string rendezvous_endpoint(const Context& c) {
  return fmt::format("{}:{}", jobs::rendezvous_name(c.job), jobs::rendezvous_port(c.job));
}

void render_rendezvous(const Context& c, const jobs::ReplicaSpec& workers, const Out& out) {
  const int port = jobs::rendezvous_port(c.job);
  const std::string name = jobs::rendezvous_name(c.job);
  YAML::Node selector = selector_of(c, "rendezvous", -1);
  YAML::Node pod = object("v1", "Pod", meta(c, name));
  for (auto kv : selector) pod["metadata"]["labels"][kv.first.as<std::string>()] = kv.second;
  YAML::Node container;
  container["name"] = "rendezvous";
  container["image"] = workers.template_.containers[workers.primary_container].image;
  for (const std::string& arg : {std::string("ringmaster"), std::string("rendezvous"), std::string("--host"),
                                 std::string("0.0.0.0"), std::string("--port"), std::to_string(port),
                                 std::string("--job"), c.job.metadata.name})
    container["command"].push_back(text(arg));
  YAML::Node p;
  p["name"] = "rendezvous";
  p["containerPort"] = port;
  p["protocol"] = "TCP";
  container["ports"].push_back(p);
  add_token(c, container);
  pod["spec"]["containers"].push_back(container);
  pod["spec"]["restartPolicy"] = c.options.client_side ? "Never" : "Always";
  out.push_back(pod);
  out.push_back(headless_service(c, name, selector, "rendezvous", port));
}

// TFJob, PyTorchJob, JAXJob, XGBoostJob and PaddleJob: a Pod and a headless Service per replica, with what the operator injects
// (jobs/operator_env.h) addressed by pod and Service names.
Status render_replicas(const Context& c, const Out& out) {
  const std::string port_name = jobs::operator_port(c.job.kind).name;
  const int default_port = jobs::operator_port(c.job.kind).number;
  jobs::ReplicaAddressing cluster;
  cluster.host = [&](const std::string& type, int index, bool for_tf_config) {
    const std::string pod = jobs::replica_name(c.name, type, index);
    return for_tf_config ? fmt::format("{}.{}.svc", pod, c.ns) : pod;
  };
  cluster.port = [&](const std::string& type, int) {
    const jobs::ReplicaSpec* spec = c.job.replica(type);
    return spec ? port_of(*spec, port_name, default_port) : default_port;
  };
  const bool has_chief = c.job.replica("Chief") || c.job.replica("Master");
  const bool own_rendezvous = jobs::ringmaster_serves_rendezvous(c.job);
  if (own_rendezvous) render_rendezvous(c, *c.job.replica("Worker"), out);
  for (const auto& spec : c.job.replicas) {
    for (int i = 0; i < spec.replicas; ++i) {
      const std::string name = jobs::replica_name(c.name, spec.type, i);
      // xgboost and paddlepaddle IsMasterRole: only the Master type.
      const bool worker0_leads = c.job.kind != JobKind::kXGBoostJob && c.job.kind != JobKind::kPaddleJob;
      const bool master = spec.type == "Chief" || spec.type == "Master" ||
                          (worker0_leads && !has_chief && spec.type == "Worker" && i == 0);
      YAML::Node t = pod_template(c, spec, i, master);
      YAML::Node container = t["spec"]["containers"][spec.primary_container];
      const int port = ensure_port(container, port_name, default_port);
      auto env = jobs::operator_env(c.job, spec.type, i, cluster);
      if (!env) return env.status();
      add_env(container, *env);
      if (own_rendezvous) add_env(container, {{"PET_RDZV_ENDPOINT", rendezvous_endpoint(c)}});
      out.push_back(pod_from(c, name, t));
      out.push_back(headless_service(c, name, selector_of(c, spec.type, i), port_name, port));
    }
  }
  return Status::ok();
}

Result<std::pair<std::string, std::string>> ssh_keys(const Context& c, const RenderOptions& o) {
  if (!o.ssh_private_key.empty()) return std::make_pair(o.ssh_private_key, o.ssh_public_key);
  char dir_template[] = "/tmp/ringmaster-ssh-XXXXXX";
  const char* dir = ::mkdtemp(dir_template);
  if (!dir) return Status(StatusCode::kUnavailable, "mkdtemp: cannot make a directory for the MPIJob's ssh key");
  const std::string key = std::string(dir) + "/id";
  const std::string cmd = fmt::format("ssh-keygen -q -t ed25519 -N '' -C {} -f {} </dev/null >/dev/null 2>&1",
                                      dns_label(c.job.metadata.name), key);
  const int rc = std::system(cmd.c_str());
  auto priv = read_file(key);
  auto pub = read_file(key + ".pub");
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (rc != 0 || !priv || !pub)
    return Status(StatusCode::kUnavailable,
                  "ssh-keygen failed making the MPIJob's ssh key (install openssh-client, or pass --ssh-key FILE)");
  return std::make_pair(*priv, *pub);
}

// The ConfigMap "<job>-config" at /etc/mpi in every container of `spec`: the hostfile and `script`
// (discover_hosts.sh, or v1alpha2's kubexec.sh), executable.
// The <job>-config ConfigMap as a volume: the hostfile (unless `with_hostfile` is false) and the
// rsh agent `script`.
YAML::Node mpi_config_volume(const Context& c, const char* script, bool with_hostfile) {
  YAML::Node v;
  v["name"] = "mpi-job-config";
  v["configMap"]["name"] = dns_label(c.name + "-config");
  auto item = [&](const char* key, int mode) {
    YAML::Node i;
    i["key"] = key;
    i["path"] = key;
    i["mode"] = mode;
    v["configMap"]["items"].push_back(i);
  };
  if (with_hostfile) item("hostfile", 0444);
  item(script, 0555);
  return v;
}

YAML::Node mpi_config_mount() {
  YAML::Node m;
  m["name"] = "mpi-job-config";
  m["mountPath"] = "/etc/mpi";
  return m;
}

void mount_mpi_config(const Context& c, YAML::Node spec, const char* script) {
  for (auto container : spec["containers"]) container["volumeMounts"].push_back(mpi_config_mount());
  spec["volumes"].push_back(mpi_config_volume(c, script, true));
}

// The MPIJob's launcher from its pod template: a batch/v1 Job "<job>-launcher", as the operator
// makes it, or for submit (client_side) a bare Pod of that name, whose exit submit judges itself.
void add_launcher(const Context& c, YAML::Node t, const Out& out) {
  if (c.options.client_side) {
    out.push_back(pod_from(c, c.name + "-launcher", t));
    return;
  }
  YAML::Node job = object("batch/v1", "Job", meta(c, c.name + "-launcher"));
  job["metadata"]["labels"][std::string(kGroup) + "replica-type"] = "launcher";
  job["metadata"]["labels"][std::string(kGroup) + "job-role"] = "master";
  if (c.job.run_policy.backoff_limit) job["spec"]["backoffLimit"] = *c.job.run_policy.backoff_limit;
  if (c.job.run_policy.active_deadline_seconds) job["spec"]["activeDeadlineSeconds"] = *c.job.run_policy.active_deadline_seconds;
  if (c.job.run_policy.ttl_seconds_after_finished) job["spec"]["ttlSecondsAfterFinished"] = *c.job.run_policy.ttl_seconds_after_finished;
  job["spec"]["template"] = t;
  out.push_back(job);
}

// MPIJob v2beta1: what the mpi-operator creates.
Status render_mpi(const Context& c, const RenderOptions& o, const Out& out) {
  const jobs::ReplicaSpec* launcher = c.job.replica("Launcher");
  const jobs::ReplicaSpec* worker = c.job.replica("Worker");
  if (!launcher) return invalid_argument("spec.mpiReplicaSpecs.Launcher: expected a launcher, found none");
  auto keys = ssh_keys(c, o);
  if (!keys) return keys.status();
  const std::string service = dns_label(c.name);
  // The ssh Secret.
  YAML::Node ssh = object("v1", "Secret", meta(c, c.name + "-ssh"));
  ssh["type"] = "kubernetes.io/ssh-auth";
  ssh["stringData"]["ssh-privatekey"] = text(keys->first);
  ssh["stringData"]["ssh-publickey"] = text(keys->second);
  out.push_back(ssh);
  // The ConfigMap: hostfile and discover_hosts.sh.
  std::vector<std::string> hosts;
  std::string discover = "#!/bin/sh\n";
  if (c.job.run_launcher_as_worker)
    hosts.push_back(fmt::format("{}.{}.{}.svc", dns_label(c.name + "-launcher"), service, c.ns));
  for (int i = 0; worker && i < worker->replicas; ++i)
    hosts.push_back(fmt::format("{}.{}.{}.svc", jobs::replica_name(c.name, "Worker", i), service, c.ns));
  for (const auto& h : hosts) discover += fmt::format("echo {}\n", h);
  const std::string hostfile = jobs::mpi_hostfile(c.job, hosts);
  YAML::Node config = object("v1", "ConfigMap", meta(c, c.name + "-config"));
  config["data"]["hostfile"] = text(hostfile);
  config["data"]["discover_hosts.sh"] = text(discover);
  out.push_back(config);
  // One headless Service for the workers (and the launcher when it is one).
  YAML::Node selector;
  selector[std::string(kGroup) + "job-name"] = text(dns_label(c.job.metadata.name));
  out.push_back(headless_service(c, c.name, selector, "", 0));

  auto ssh_volume = [&](YAML::Node spec) {
    YAML::Node v;
    v["name"] = "ssh-auth";
    v["secret"]["secretName"] = dns_label(c.name + "-ssh");
    v["secret"]["defaultMode"] = 0600;
    YAML::Node item1, item2, item3;
    item1["key"] = "ssh-privatekey";
    item1["path"] = "id_rsa";
    item2["key"] = "ssh-publickey";
    item2["path"] = "id_rsa.pub";
    item3["key"] = "ssh-publickey";
    item3["path"] = "authorized_keys";
    v["secret"]["items"].push_back(item1);
    v["secret"]["items"].push_back(item2);
    v["secret"]["items"].push_back(item3);
    spec["volumes"].push_back(v);
    for (auto container : spec["containers"]) {
      YAML::Node m;
      m["name"] = "ssh-auth";
      m["mountPath"] = c.job.ssh_auth_mount_path;
      container["volumeMounts"].push_back(m);
    }
  };
  // Workers.
  for (int i = 0; worker && i < worker->replicas; ++i) {
    const std::string name = jobs::replica_name(c.name, "Worker", i);
    YAML::Node t = pod_template(c, *worker, i, false);
    t["spec"]["hostname"] = dns_label(name);
    t["spec"]["subdomain"] = service;
    // Intel MPI and MPICH reach the launcher by its bare host name (newWorker's dnsConfig).
    t["spec"]["dnsConfig"]["searches"].push_back(fmt::format("{}.{}.svc.cluster.local", service, c.ns));
    add_env(t["spec"]["containers"][0], jobs::mpi_env(c.job, "Worker", kMpiHostfile));
    ssh_volume(t["spec"]);
    out.push_back(pod_from(c, name, t));
  }
  // The launcher, as a batch/v1 Job.
  YAML::Node t = pod_template(c, *launcher, -1, true);
  t["spec"]["hostname"] = dns_label(c.name + "-launcher");
  t["spec"]["subdomain"] = service;
  if (t["spec"]["restartPolicy"].as<std::string>() == "Always") t["spec"]["restartPolicy"] = "OnFailure";
  // The mpi-operator sets them on the first container (newLauncherPodTemplate).
  add_env(t["spec"]["containers"][0], jobs::mpi_env(c.job, "Launcher", kMpiHostfile));
  mount_mpi_config(c, t["spec"], "discover_hosts.sh");
  ssh_volume(t["spec"]);
  add_launcher(c, t, out);
  return Status::ok();
}

// MPIJob v1alpha2 (mpi-operator v0.2, the seed's form): no ssh. The launcher's mpirun starts its
// daemons through kubexec.sh, which runs `kubectl exec <worker pod> -- sh -c ...`; kubectl is
// copied into the launcher by an init container, and the launcher's ServiceAccount may exec into
// exactly the job's worker pods (Role + RoleBinding). Workers idle with `sleep 365d` until then.
constexpr const char* kKubectlDeliveryImage = "mpioperator/kubectl-delivery:latest";

Status render_mpi_kubexec(const Context& c, const Out& out) {
  const jobs::ReplicaSpec* launcher = c.job.replica("Launcher");
  const jobs::ReplicaSpec* worker = c.job.replica("Worker");
  if (!launcher) return invalid_argument("spec.mpiReplicaSpecs.Launcher: expected a launcher, found none");
  const std::string launcher_name = dns_label(c.name + "-launcher");
  std::vector<std::string> workers;
  for (int i = 0; worker && i < worker->replicas; ++i) workers.push_back(jobs::replica_name(c.name, "Worker", i));
  // The ConfigMap: the hostfile names pods (kubectl exec's targets), and the rsh agent.
  std::string hostfile;
  for (const auto& w : workers) hostfile += fmt::format("{} slots={}\n", w, c.job.slots_per_worker);
  YAML::Node config = object("v1", "ConfigMap", meta(c, c.name + "-config"));
  config["data"]["hostfile"] = text(hostfile);
  config["data"]["kubexec.sh"] = text("#!/bin/sh\nset -x\nPOD_NAME=$1\nshift\n/opt/kube/kubectl exec ${POD_NAME} -- /bin/sh -c \"$*\"\n");
  out.push_back(config);
  // Who may exec where.
  out.push_back(object("v1", "ServiceAccount", meta(c, c.name + "-launcher")));
  YAML::Node role = object("rbac.authorization.k8s.io/v1", "Role", meta(c, c.name + "-launcher"));
  YAML::Node read, exec;
  read["apiGroups"].push_back("");
  read["resources"].push_back("pods");
  for (const char* v : {"get", "list", "watch"}) read["verbs"].push_back(v);
  exec["apiGroups"].push_back("");
  exec["resources"].push_back("pods/exec");
  for (const auto& w : workers) exec["resourceNames"].push_back(w);
  exec["verbs"].push_back("create");
  role["rules"].push_back(read);
  role["rules"].push_back(exec);
  out.push_back(role);
  YAML::Node binding = object("rbac.authorization.k8s.io/v1", "RoleBinding", meta(c, c.name + "-launcher"));
  YAML::Node subject;
  subject["kind"] = "ServiceAccount";
  subject["name"] = launcher_name;
  subject["namespace"] = c.ns;
  binding["subjects"].push_back(subject);
  binding["roleRef"]["apiGroup"] = "rbac.authorization.k8s.io";
  binding["roleRef"]["kind"] = "Role";
  binding["roleRef"]["name"] = launcher_name;
  out.push_back(binding);
  // Workers (mpi-operator v0.3 pkg/controllers/v1alpha2/mpi_job_controller.go newWorker): a long
  // sleep when they have no command, and kubexec.sh at /etc/mpi, "because Open MPI checks for the
  // path in every rank" (each orted opens the rsh agent, even where it launches nothing; found by
  // the simulated hosts, tests/cluster).
  for (int i = 0; worker && i < worker->replicas; ++i) {
    YAML::Node t = pod_template(c, *worker, i, false);
    YAML::Node container = t["spec"]["containers"][worker->primary_container];
    if (!container["command"].IsDefined() || container["command"].size() == 0) {
      container["command"] = YAML::Load("[sleep]");
      container["args"] = YAML::Load("[365d]");
    }
    add_env(container, {{"K_MPI_JOB_ROLE", "worker"}});
    container["volumeMounts"].push_back(mpi_config_mount());
    t["spec"]["volumes"].push_back(mpi_config_volume(c, "kubexec.sh", false));
    out.push_back(pod_from(c, workers[static_cast<std::size_t>(i)], t));
  }
  // The launcher.
  YAML::Node t = pod_template(c, *launcher, -1, true);
  if (t["spec"]["restartPolicy"].as<std::string>() == "Always") t["spec"]["restartPolicy"] = "OnFailure";
  t["spec"]["serviceAccountName"] = launcher_name;
  YAML::Node init;
  init["name"] = "kubectl-delivery";
  init["image"] = kKubectlDeliveryImage;
  init["env"].push_back(env_value({"TARGET_DIR", "/opt/kube"}));
  init["env"].push_back(env_value({"NAMESPACE", c.ns}));
  YAML::Node kube_mount;
  kube_mount["name"] = "mpi-job-kubectl";
  kube_mount["mountPath"] = "/opt/kube";
  init["volumeMounts"].push_back(kube_mount);
  t["spec"]["initContainers"].push_back(init);
  for (auto container : t["spec"]["containers"]) {
    add_env(container, {{"K_MPI_JOB_ROLE", "launcher"},
                        {"OMPI_MCA_plm_rsh_agent", "/etc/mpi/kubexec.sh"},
                        {"OMPI_MCA_orte_default_hostfile", "/etc/mpi/hostfile"}});
    container["volumeMounts"].push_back(kube_mount);
  }
  YAML::Node kube_volume;
  kube_volume["name"] = "mpi-job-kubectl";
  kube_volume["emptyDir"] = YAML::Node(YAML::NodeType::Map);
  t["spec"]["volumes"].push_back(kube_volume);
  mount_mpi_config(c, t["spec"], "kubexec.sh");
  add_launcher(c, t, out);
  return Status::ok();
}

// batch/v1 Job: itself, with the labels and the token.
void render_batch(const Context& c, const Out& out) {
  const jobs::ReplicaSpec& spec = c.job.replicas.front();
  YAML::Node job = object("batch/v1", "Job", meta(c, c.name));
  job["spec"]["parallelism"] = spec.replicas;
  job["spec"]["completions"] = c.job.completions;
  if (c.job.run_policy.backoff_limit) job["spec"]["backoffLimit"] = *c.job.run_policy.backoff_limit;
  if (c.job.run_policy.active_deadline_seconds) job["spec"]["activeDeadlineSeconds"] = *c.job.run_policy.active_deadline_seconds;
  YAML::Node t = pod_template(c, spec, -1, false);
  t["metadata"]["labels"].remove(std::string(kGroup) + "replica-type");
  if (t["spec"]["restartPolicy"].as<std::string>() == "Always") t["spec"]["restartPolicy"] = "OnFailure";
  job["spec"]["template"] = t;
  out.push_back(job);
}

// What Trainer's mpi plugin creates beside the JobSet: the ssh Secret "<job>-mpi-ssh-auth"
// (kubernetes.io/ssh-auth) and the hostfile ConfigMap "<job>-mpi-hostfile" (trainer v2.3
// plugins/mpi buildSSHAuthSecret, buildHostFileConfigMap). Nothing on another runtime.
Status render_mpi_companions(const Context& c, const RenderOptions& o, const Out& out) {
  const auto& p = *c.job.jobset;
  if (!p.mpi) return Status::ok();
  const std::string ssh_secret = c.name + "-mpi-ssh-auth";  // the name the resolved pods mount
  auto keys = ssh_keys(c, o);
  if (!keys) return keys.status();
  YAML::Node secret = object("v1", "Secret", meta(c, ssh_secret));
  secret["type"] = "kubernetes.io/ssh-auth";
  secret["immutable"] = true;
  secret["stringData"]["ssh-privatekey"] = text(keys->first);
  secret["stringData"]["ssh-publickey"] = text(keys->second);
  out.push_back(secret);
  std::string hostfile;
  for (const auto& spec : c.job.replicas) {
    if (spec.type != "node" && !(spec.type == "launcher" && c.job.run_launcher_as_worker)) continue;
    for (int i = 0; i < spec.replicas; ++i)
      hostfile += fmt::format("{}.{} slots={}\n", p.pod_name(c.name, spec.type, i), p.subdomain, c.job.slots_per_worker);
  }
  YAML::Node cm = object("v1", "ConfigMap", meta(c, c.name + "-mpi-hostfile"));
  cm["data"]["hostfile"] = text(hostfile);
  out.push_back(cm);
  return Status::ok();
}

// A Trainer v2 TrainJob (resolved to its JobSet, jobs/trainer.h) as the plain objects JobSet's
// controller and the Job controller would make, for a cluster with neither (nor Trainer): one Pod
// per (replicatedJob, job index, completion index), named and addressed as JobSet names them
// (JobSetPolicy::pod_name, hostname + subdomain) with JobSet's and the Job controller's labels and
// the completion-index annotation the injected env reads; the headless Service `subdomain`
// (jobset v0.12 pkg/controllers/jobset_controller.go, publishNotReadyAddresses); and on the mpi
// runtime the ssh Secret "<job>-mpi-ssh-auth" (kubernetes.io/ssh-auth) and the hostfile ConfigMap
// "<job>-mpi-hostfile" (trainer v2.3 plugins/mpi buildSSHAuthSecret, buildHostFileConfigMap);
// with a podGroupPolicy, Trainer's PodGroup. dependsOn, startupPolicy, successPolicy and
// failurePolicy need a controller: `submit` is that controller from the client side; `kubectl
// apply` of these starts every pod at once.
Status render_trainjob(const Context& c, const RenderOptions& o, const Out& out) {
  const auto& p = *c.job.jobset;
  if (Status s = render_mpi_companions(c, o, out); !s) return s;
  if (p.pod_group.present()) {  // Trainer's podGroupPolicy (jobs/trainer.h)
    YAML::Node pg = YAML::Clone(jobs::yaml(p.pod_group));
    YAML::Node m = meta(c, c.name);
    for (auto kv : m) pg["metadata"][kv.first.as<std::string>()] = kv.second;
    out.push_back(pg);
  }
  YAML::Node selector;
  selector["jobset.sigs.k8s.io/jobset-name"] = text(c.name);
  out.push_back(headless_service(c, p.subdomain, selector, "", 0));
  const bool own_rendezvous = jobs::ringmaster_serves_rendezvous(c.job);
  if (own_rendezvous) render_rendezvous(c, *c.job.replica("node"), out);
  for (const auto& spec : c.job.replicas) {
    const auto jobs_of_spec = spec.replicas / std::max(1, p.pods_per_job.count(spec.type) ? p.pods_per_job.at(spec.type) : 1);
    for (int i = 0; i < spec.replicas; ++i) {
      const auto [child, index] = p.child_of(spec.type, i);
      YAML::Node t = pod_template(c, spec, i, false);
      // The template's own restartPolicy (Never under a podFailurePolicy), else JobSet's default.
      if (!c.options.client_side)
        t["spec"]["restartPolicy"] = jobs::yaml(spec.template_.raw)["spec"]["restartPolicy"].as<std::string>("OnFailure");
      YAML::Node labels = t["metadata"]["labels"];
      const std::string child_job = p.child_job_name(c.name, spec.type, i);
      labels["jobset.sigs.k8s.io/jobset-name"] = text(c.name);
      labels["jobset.sigs.k8s.io/replicatedjob-name"] = text(spec.type);
      labels["jobset.sigs.k8s.io/replicatedjob-replicas"] = text(std::to_string(jobs_of_spec));
      labels["jobset.sigs.k8s.io/job-index"] = text(std::to_string(child));
      labels["jobset.sigs.k8s.io/restart-attempt"] = text("0");
      labels["batch.kubernetes.io/job-name"] = text(child_job);
      labels["batch.kubernetes.io/job-completion-index"] = text(std::to_string(index));
      // Kueue admits plain pods by their queue label (its pod integration): the TrainJob's goes on each.
      for (const auto& [k, v] : c.job.metadata.labels)
        if (k.rfind("kueue.x-k8s.io/", 0) == 0) labels[k] = text(v);
      t["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] = text(std::to_string(index));
      const std::string name = p.pod_name(c.name, spec.type, i);
      t["spec"]["hostname"] = name;
      t["spec"]["subdomain"] = p.subdomain;
      if (own_rendezvous && spec.type == "node")
        add_env(t["spec"]["containers"][spec.primary_container], {{"PET_RDZV_ENDPOINT", rendezvous_endpoint(c)}});
      out.push_back(pod_from(c, name, t));
    }
  }
  return Status::ok();
}

}  // namespace

Status load_ssh_key(const std::string& path, RenderOptions& o) {
  if (path.empty()) return Status::ok();
  auto priv = read_file(path);
  auto pub = read_file(path + ".pub");
  if (!priv || !pub)
    return invalid_argument(fmt::format("--ssh-key {}: expected the private key and {}.pub, found {}", path, path,
                                        !priv ? priv.status().message() : pub.status().message()));
  o.ssh_private_key = *priv;
  o.ssh_public_key = *pub;
  return Status::ok();
}

Result<std::vector<YAML::Node>> render_job(const jobs::TrainingJob& job, const RenderOptions& o) {
  std::vector<YAML::Node> objects;
  if (Status s = render_job(job, o, [&](YAML::Node n) { objects.push_back(std::move(n)); }); !s) return s;
  return objects;
}

Status render_job(const jobs::TrainingJob& job, const RenderOptions& o, const ObjectSink& sink) {
  const Out out{sink};
  const Context c = context_of(job, o);
  if (o.gang_scheduler != "volcano" && o.gang_scheduler != "scheduler-plugins")
    return invalid_argument(fmt::format("gang scheduler: expected volcano or scheduler-plugins, found \"{}\"", o.gang_scheduler));
  if (o.gpu_sharing != "mps" && o.gpu_sharing != "time-slicing")
    return invalid_argument(fmt::format("GPU sharing: expected mps or time-slicing, found \"{}\"", o.gpu_sharing));
  for (const auto& spec : job.replicas)
    if (auto f = gpu_fraction(spec); !f) return f.status();
  out.push_back(token_secret(c));
  if (const auto& sp = job.run_policy.scheduling_policy) {
    const bool plugins = scheduler_plugins(c);
    YAML::Node pg = object(plugins ? "scheduling.x-k8s.io/v1alpha1" : "scheduling.volcano.sh/v1beta1", "PodGroup",
                           meta(c, c.name));
    pg["spec"]["minMember"] = sp->min_available ? *sp->min_available : job.total_replicas();
    if (plugins) {
      // The coscheduling plugin has no queue or priority class of its own (the pods carry
      // priorityClassName); it has a timeout.
      if (sp->schedule_timeout_seconds) pg["spec"]["scheduleTimeoutSeconds"] = *sp->schedule_timeout_seconds;
    } else {
      if (!sp->queue.empty()) pg["spec"]["queue"] = sp->queue;
      if (!sp->priority_class.empty()) pg["spec"]["priorityClassName"] = sp->priority_class;
    }
    for (const auto& [k, v] : sp->min_resources) pg["spec"]["minResources"][k] = text(v);
    out.push_back(pg);
  }
  switch (job.kind) {
    case JobKind::kTFJob:
    case JobKind::kPyTorchJob:
    case JobKind::kJAXJob:
    case JobKind::kXGBoostJob:
    case JobKind::kPaddleJob:
      if (Status s = render_replicas(c, out); !s) return s;
      break;
    case JobKind::kTrainJob:
      if (!job.jobset) return invalid_argument("a TrainJob renders from its resolved JobSet (jobs/trainer.h trainjob_as_job)");
      if (Status s = render_trainjob(c, o, out); !s) return s;
      break;
    case JobKind::kMPIJob:
      if (Status s = job.api_version == "kubeflow.org/v1alpha2" ? render_mpi_kubexec(c, out) : render_mpi(c, o, out); !s)
        return s;
      break;
    default: render_batch(c, out); break;
  }
  return Status::ok();
}

Status render_jobset(const jobs::TrainingJob& job, YAML::Node jobset, const RenderOptions& o, const ObjectSink& sink) {
  if (!job.jobset) return invalid_argument("a TrainJob renders from its resolved JobSet (jobs/trainer.h trainjob_as_job)");
  const Out out{sink};
  const Context c = context_of(job, o);
  if (Status s = render_mpi_companions(c, o, out); !s) return s;
  if (jobs::ringmaster_serves_rendezvous(job)) {
    // The store outlives every node in a Pod of its own; the trainer nodes find it there and
    // present the job token (as pods mode does, render_trainjob).
    out.push_back(token_secret(c));
    render_rendezvous(c, *job.replica("node"), out);
    jobset = YAML::Clone(jobset);
    for (auto rjob : jobset["spec"]["replicatedJobs"]) {
      if (rjob["name"].as<std::string>("") != "node") continue;
      for (auto container : rjob["template"]["spec"]["template"]["spec"]["containers"]) {
        if (container["name"].as<std::string>("") != "node") continue;
        add_env(container, {{"PET_RDZV_ENDPOINT", rendezvous_endpoint(c)}});
        add_token(c, container);
      }
    }
  }
  out.push_back(jobset);
  return Status::ok();
}

std::string to_documents(const std::vector<YAML::Node>& objects) {
  std::string s;
  for (const auto& o : objects) s += "---\n" + jobs::to_yaml(o);
  return s;
}

}  // namespace ringmaster::k8s
