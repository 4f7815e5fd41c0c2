// `ringmaster submit JOB.yaml`: renders the job, applies it with kubectl and watches it to its end.
//
//   --mode pods (default)  TFJob, PyTorchJob, JAXJob, XGBoostJob, PaddleJob, MPIJob: ringmaster is the operator, from the client
//                          side: the Secrets, ConfigMap and Services are applied, then each replica's
//                          Pod is created and the local launcher's JobRunner carries out the job's
//                          restartPolicy, backoffLimit, activeDeadlineSeconds, cleanPodPolicy and
//                          suspension on the pods (k8s/cluster.h). A batch/v1 Job is applied as it is:
//                          the cluster's Job controller runs it, and submit watches its conditions.
//   --mode crd             the normalized TFJob/PyTorchJob/JAXJob/XGBoostJob/PaddleJob/MPIJob for a cluster that runs the
//                          training operator; a TrainJob (with the TrainingRuntimes of its file) for
//                          one that runs Kubeflow Trainer; submit watches its status.conditions.
//   --mode jobset          a TrainJob as the JobSet it resolves to, for a cluster with the JobSet
//                          controller and no Trainer; submit watches the JobSet's conditions.
// A TrainJob in pods mode is its JobSet's pods (k8s/render.h), and the JobRunner carries out
// dependsOn, startupPolicy, successPolicy and failurePolicy on them as it does locally.
// Exit status: 0 Succeeded, 1 Failed (or kubectl failed), 2 invalid input. Ctrl-C in pods mode
// stops the job (its pods are deleted: the job is Failed, Stopped); in crd mode it only stops
// watching, as the operator goes on.
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "common/files.h"
#include "jobs/emit.h"
#include "jobs/yaml_tree.h"
#include "k8s/cluster.h"
#include "k8s/render.h"
#include "launcher/runner.h"

namespace ringmaster::cli {
namespace fs = std::filesystem;
namespace {

std::atomic<int> g_stop{0};
void on_stop(int sig) { g_stop.store(sig); }

const char* crd_resource(jobs::JobKind kind) {
  switch (kind) {
    case jobs::JobKind::kTFJob: return "tfjobs.kubeflow.org";
    case jobs::JobKind::kPyTorchJob: return "pytorchjobs.kubeflow.org";
    case jobs::JobKind::kMPIJob: return "mpijobs.kubeflow.org";
    case jobs::JobKind::kJAXJob: return "jaxjobs.kubeflow.org";
    case jobs::JobKind::kXGBoostJob: return "xgboostjobs.kubeflow.org";
    case jobs::JobKind::kPaddleJob: return "paddlejobs.kubeflow.org";
    case jobs::JobKind::kTrainJob: return "trainjobs.trainer.kubeflow.org";
    default: return "jobs.batch";
  }
}

void print_phase(const std::string& job, const std::string& phase, const std::string& reason, const std::string& message) {
  fmt::print(stderr, "ringmaster: job {} {}{}{}\n", job, phase, reason.empty() ? "" : " (" + reason + ")",
             message.empty() ? "" : ": " + message);
}

// status.json as `ringmaster status` reads it, for a job whose state is not JobRunner's.
void write_status(const std::string& dir, const std::string& name, const std::string& kind, const k8s::ObjectState& s,
                  std::chrono::steady_clock::time_point started) {
  nlohmann::json j;
  j["job"] = name;
  j["kind"] = kind;
  j["phase"] = s.phase.empty() ? "Created" : s.phase;
  j["reason"] = s.reason;
  j["message"] = s.message;
  j["conditions"] = s.conditions;
  j["restarts"] = 0;
  j["elapsedSeconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  j["launcherPid"] = static_cast<int>(::getpid());
  nlohmann::json counts = nlohmann::json::object();
  for (const auto& [type, c] : s.replicas)
    counts[type] = {{"active", c.active}, {"succeeded", c.succeeded}, {"failed", c.failed}};
  j["replicaStatuses"] = counts;
  j["replicas"] = nlohmann::json::array();
  // Watching goes on; `ringmaster status` shows the last state that could be written.
  if (Status w = write_file_atomic((fs::path(dir) / "status.json").string(), j.dump(2) + "\n"); !w)
    std::cerr << "ringmaster submit: cannot record the job's state: " << w.message() << "\n";
}

// Watches an object a controller on the cluster runs (crd mode, batch Job) until it has Succeeded
// or Failed, keeping status.json as `ringmaster status` reads it.
int watch_object(const k8s::Kubectl& kubectl, const std::string& resource, const std::string& name,
                 const std::string& kind, const std::string& dir, double poll_seconds) {
  const auto started = std::chrono::steady_clock::now();
  std::string last;
  for (;;) {
    auto s = k8s::object_state(kubectl, resource, name);
    if (!s) {
      // The API server may be briefly away; the job goes on without us.
      launcher::append_event(dir, "KubectlFailed", s.status().message());
      fmt::print(stderr, "ringmaster: {}\n", s.status().message());
    } else {
      write_status(dir, name, kind, *s, started);
      const std::string now = s->phase + s->reason + s->message;
      if (now != last && !s->phase.empty()) {
        print_phase(name, s->phase, s->reason, s->message);
        launcher::append_event(dir, s->phase + (s->reason.empty() ? "" : "/" + s->reason), s->message);
      }
      last = now;
      if (s->phase == "Succeeded") return 0;
      if (s->phase == "Failed") return 1;
    }
    for (int i = 0; i < std::max(1, static_cast<int>(poll_seconds * 20)); ++i) {
      if (g_stop.load()) {
        fmt::print(stderr,
                   "ringmaster: stopped watching {} {}; it goes on on the cluster (`ringmaster status {}`, "
                   "`ringmaster delete {}`)\n",
                   kind, name, name, name);
        return 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

}  // namespace

void add_submit_command(CLI::App& app, SubmitOptions& o) {
  auto* cmd = app.add_subcommand("submit",
                                 "Run a job on a Kubernetes cluster through kubectl: render, apply, and watch it to its "
                                 "end (restart policy, backoff limit, deadline and cleanPodPolicy carried out here)");
  cmd->add_option("file", o.file,
                  "a TFJob, PyTorchJob, JAXJob, XGBoostJob, PaddleJob, MPIJob, batch/v1 Job or Trainer v2 TrainJob")
      ->required();
  cmd->add_option("--mode", o.mode,
                  "pods: plain objects, ringmaster runs the job; crd: the Kubeflow object, the training operator (or "
                  "Trainer) runs it; jobset: a TrainJob's JobSet, the JobSet controller runs it")
      ->check(CLI::IsMember({"pods", "crd", "jobset"}))
      ->capture_default_str();
  cmd->add_option("--kubectl", o.kubectl, "the kubectl binary (default: $RINGMASTER_KUBECTL, else kubectl in PATH)");
  cmd->add_option("--context", o.context, "kubeconfig context (default: the current one)");
  cmd->add_option("-n,--namespace", o.ns, "namespace (default: the job's metadata.namespace)");
  cmd->add_option("--poll-seconds", o.poll_seconds, "how often the job's pods are listed")
      ->check(CLI::Range(0.05, 3600.0))
      ->capture_default_str();
  cmd->add_option("--grace-seconds", o.grace_seconds, "a stopped pod's grace period before it is killed")
      ->check(CLI::Range(0, 86400))
      ->capture_default_str();
  cmd->add_option("--jobs-root", o.jobs_root, "where the job directory goes (default ~/.ringmaster/jobs)");
  cmd->add_option("--token", o.token, "the job token to put in the Secret (default: random)");
  cmd->add_option("--ssh-key", o.ssh_key, "MPIJob: an OpenSSH private key (FILE.pub beside it) instead of a new one");
  add_cluster_flags(cmd, o.cluster);
  add_backoff_flags(cmd, o.backoff);
  add_max_replicas_flag(cmd, o.max_replicas);
  add_runtimes_flag(cmd, o.runtime_dirs);
}

namespace {

// --mode jobset is for TrainJobs; --namespace must not contradict the job's own.
bool refuse_mode_or_namespace(const SubmitOptions& o, jobs::TrainingJob& job) {
  if (o.mode == "jobset" && job.kind != jobs::JobKind::kTrainJob) {
    std::cerr << o.file << ": --mode jobset submits Trainer v2 TrainJobs; this is a " << jobs::job_kind_name(job.kind)
              << "\n";
    return true;
  }
  if (o.ns.empty()) return false;
  if (job.metadata.namespace_ != "default" && job.metadata.namespace_ != o.ns) {
    std::cerr << o.file << ": metadata.namespace: the job names namespace " << job.metadata.namespace_
              << " but --namespace says " << o.ns << "\n";
    return true;
  }
  job.metadata.namespace_ = o.ns;
  return false;
}

k8s::KubectlConfig kubectl_config(const SubmitOptions& o, const jobs::TrainingJob& job) {
  k8s::KubectlConfig kc;
  const char* env_kubectl = std::getenv("RINGMASTER_KUBECTL");
  kc.binary = !o.kubectl.empty() ? o.kubectl : env_kubectl && *env_kubectl ? env_kubectl : "kubectl";
  kc.context = o.context;
  kc.ns = job.metadata.namespace_;
  return kc;
}

// --mode crd or jobset: the objects the operator (or Trainer) takes. A TrainJob goes with the
// TrainingRuntimes of its file (a ClusterTrainingRuntime has no namespace); the JobSet is Trainer's.
std::vector<YAML::Node> operator_objects(const SubmitOptions& o, const jobs::LoadResult& loaded,
                                         const TrainJobObjects& trainjob, const jobs::TrainingJob& job) {
  const bool is_trainjob = job.kind == jobs::JobKind::kTrainJob;
  std::vector<YAML::Node> sources = {loaded.documents[0].normalized};
  if (is_trainjob) sources = o.mode == "jobset" ? std::vector<YAML::Node>{trainjob.jobset} : trainjob.crd;
  if (is_trainjob && o.mode == "jobset" && job.jobset->pod_group.present())
    sources.push_back(jobs::yaml(job.jobset->pod_group));
  std::vector<YAML::Node> objects;
  for (const auto& source : sources) {
    YAML::Node object = YAML::Clone(source);
    if (object["kind"].as<std::string>("") != "ClusterTrainingRuntime") object["metadata"]["namespace"] = job.metadata.namespace_;
    objects.push_back(object);
  }
  return objects;
}

// --mode pods: the rendered objects; without an operator, the pods are set apart for the runner
// (`cluster`) and the rest applied. Exit code, or -1 to go on.
int rendered_objects(const SubmitOptions& o, const jobs::TrainingJob& job, bool operator_runs,
                     std::vector<YAML::Node>& objects, std::optional<k8s::ClusterJob>& cluster) {
  k8s::RenderOptions ro;
  ro.token = o.token;
  ro.client_side = true;
  apply_cluster_flags(o.cluster, ro);
  if (Status s = k8s::load_ssh_key(o.ssh_key, ro); !s) {
    std::cerr << "ringmaster submit: " << s.message() << "\n";
    return 2;
  }
  auto rendered = k8s::render_job(job, ro);
  if (!rendered) {
    std::cerr << "ringmaster submit: " << o.file << ": " << rendered.status().message() << "\n";
    return 1;
  }
  objects = *rendered;
  if (operator_runs) return -1;
  auto c = k8s::cluster_job(job, objects);
  if (!c) {
    std::cerr << "ringmaster submit: " << o.file << ": " << c.status().message() << "\n";
    return 1;
  }
  cluster = std::move(*c);
  // Not `objects = cluster->others`: assigning a YAML::Node overwrites the node it refers to, and
  // these are the same nodes.
  std::vector<YAML::Node> others = cluster->others;
  objects.swap(others);
  return -1;
}

// How status, logs and delete reach the job again (<job dir>/cluster.json): kubectl, the object
// or the pods, and every kind of object the job made.
nlohmann::json cluster_record(const SubmitOptions& o, const jobs::TrainingJob& job, const k8s::KubectlConfig& kc,
                              bool operator_runs) {
  const std::string resource = !operator_runs         ? std::string()
                               : o.mode == "jobset" ? std::string("jobsets.jobset.x-k8s.io")
                                                    : crd_resource(o.mode == "crd" ? job.kind : jobs::JobKind::kBatchJob);
  const std::string& name = job.metadata.name;
  nlohmann::json where = {{"kubectl", kc.binary},  {"context", kc.context},
                          {"namespace", kc.ns},    {"mode", operator_runs ? "operator" : "pods"},
                          {"job", name},           {"selector", k8s::job_selector(name)},
                          {"resource", resource}};
  nlohmann::json kinds = nlohmann::json::array({"pods", "services", "configmaps", "secrets", "jobs.batch"});
  if (job.kind == jobs::JobKind::kMPIJob && job.api_version == "kubeflow.org/v1alpha2" && o.mode == "pods")
    for (const char* k : {"serviceaccounts", "roles.rbac.authorization.k8s.io", "rolebindings.rbac.authorization.k8s.io"})
      kinds.push_back(k);
  if (job.run_policy.scheduling_policy && o.mode == "pods")
    kinds.push_back(o.cluster.gang_scheduler == "volcano" ? "podgroups.scheduling.volcano.sh" : "podgroups.scheduling.x-k8s.io");
  if (job.kind == jobs::JobKind::kTrainJob && o.mode == "pods" && job.jobset->pod_group.present())
    kinds.push_back(jobs::yaml(job.jobset->pod_group)["apiVersion"].as<std::string>("").rfind("scheduling.volcano.sh", 0) == 0
                        ? "podgroups.scheduling.volcano.sh"
                        : "podgroups.scheduling.x-k8s.io");
  where["kinds"] = kinds;
  return where;
}

// kubectl apply; a failure is the job's status. Exit code, or -1 to go on.
int apply_objects(const k8s::Kubectl& kubectl, const std::vector<YAML::Node>& objects, const jobs::TrainingJob& job,
                  const std::string& dir, bool operator_runs) {
  if (objects.empty()) return -1;
  const std::string& name = job.metadata.name;
  auto applied = kubectl.call(fmt::format("applying {} {}'s {}", jobs::job_kind_name(job.kind), name,
                                          operator_runs ? "objects" : "Secrets, ConfigMap and Services"),
                              {"apply", "-f", "-"}, k8s::to_documents(objects));
  if (!applied) {
    std::cerr << "ringmaster submit: " << applied.status().message() << "\n";
    launcher::append_event(dir, "KubectlFailed", applied.status().message());
    k8s::ObjectState failed;
    failed.phase = "Failed";
    failed.reason = "KubectlFailed";
    failed.message = applied.status().message();
    failed.conditions = {"Failed"};
    write_status(dir, name, jobs::job_kind_name(job.kind), failed, std::chrono::steady_clock::now());
    return 1;
  }
  std::cerr << *applied;
  return -1;
}

// --mode pods without an operator: the launcher's runner over the cluster's pods.
int run_pods(const SubmitOptions& o, const jobs::TrainingJob& job, const k8s::Kubectl& kubectl,
             const k8s::KubectlConfig& kc, const std::string& dir, k8s::ClusterJob& cluster,
             const launcher::RestartBackoff& backoff) {
  const std::string& name = job.metadata.name;
  k8s::ClusterPods pods(kubectl, name, cluster.pods,
                        [&](const std::string& reason, const std::string& message) {
                          launcher::append_event(dir, reason, message);
                          fmt::print(stderr, "ringmaster: {}: {}\n", reason, message);
                        },
                        std::chrono::seconds(o.grace_seconds));
  launcher::RunOptions ro;
  ro.job_dir = dir;
  ro.poll_interval = std::chrono::milliseconds(static_cast<int64_t>(o.poll_seconds * 1000));
  // The pods get their own grace period from `kubectl delete`; ours covers the listing after it.
  ro.grace = std::chrono::seconds(o.grace_seconds) + 2 * ro.poll_interval;
  ro.stop_requested = [] { return g_stop.load() != 0; };
  ro.stop_reason = "stopped by a signal (Ctrl-C or SIGTERM); its pods were deleted";
  ro.leave_running = true;
  ro.backoff = backoff;
  if (Status s = mark_suspended_if_asked(job, dir); !s) {
    std::cerr << "ringmaster submit: " << s.message() << "\n";
    return 1;
  }
  ro.suspended = suspended_check(dir);
  std::string last_phase;
  ro.on_change = [&](const launcher::JobStatus& s) {
    if (s.phase == last_phase) return;
    print_phase(name, s.phase, s.reason, s.message);
    last_phase = s.phase;
  };
  fmt::print(stderr, "ringmaster: {} {}: {} pods in namespace {}{}\n", jobs::job_kind_name(job.kind), name,
             cluster.plan.replicas.size(), kc.ns, kc.context.empty() ? "" : " (context " + kc.context + ")");
  launcher::JobRunner runner(job, std::move(cluster.plan), pods, ro);
  const launcher::JobStatus final_status = runner.run();
  std::fprintf(stderr, "ringmaster: job %s %s after %.1f s, %d restarts; state in %s\n", name.c_str(),
               final_status.phase.c_str(), final_status.elapsed_seconds, final_status.restarts, dir.c_str());
  if (!final_status.left_running.empty())
    fmt::print(stderr,
               "ringmaster: cleanPodPolicy None leaves {} running on the cluster, as the operator would; "
               "`ringmaster delete {}` removes them and the job's other objects\n",
               fmt::join(final_status.left_running, ", "), name);
  return final_status.phase == "Succeeded" ? 0 : 1;
}

}  // namespace

int run_submit(const SubmitOptions& o) {
  jobs::LoadResult loaded;
  jobs::LoadOptions lo;
  lo.max_replicas = o.max_replicas;
  TrainJobObjects trainjob;
  if (const int rc = load_training_job(o.file, loaded, "submit", lo, &trainjob, o.runtime_dirs); rc >= 0) return rc;
  jobs::TrainingJob job = std::get<jobs::TrainingJob>(loaded.documents[0].object);
  if (refuse_mode_or_namespace(o, job)) return 2;
  const k8s::KubectlConfig kc = kubectl_config(o, job);
  const k8s::Kubectl kubectl(kc);
  auto backoff = restart_backoff(o.backoff);
  if (!backoff) {
    std::cerr << "ringmaster submit: " << backoff.status().message() << "\n";
    return 2;
  }
  const std::string name = job.metadata.name;
  const std::string dir = fs::absolute(jobs_root(o.jobs_root) / name).lexically_normal().string();
  if (Status s = prepare_job_dir(dir); !s) {
    std::cerr << "ringmaster submit: " << s.message() << "\n";
    return s.code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  const bool operator_runs = o.mode != "pods" || job.kind == jobs::JobKind::kBatchJob;
  std::vector<YAML::Node> objects;
  std::optional<k8s::ClusterJob> cluster;
  if (o.mode == "crd" || o.mode == "jobset") objects = operator_objects(o, loaded, trainjob, job);
  else if (const int rc = rendered_objects(o, job, operator_runs, objects, cluster); rc >= 0) return rc;
  const nlohmann::json where = cluster_record(o, job, kc, operator_runs);
  if (Status s = write_file_atomic((fs::path(dir) / "cluster.json").string(), where.dump(2) + "\n"); !s) {
    std::cerr << "ringmaster submit: " << s.message() << "\n";
    return 1;
  }
  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  if (const int rc = apply_objects(kubectl, objects, job, dir, operator_runs); rc >= 0) return rc;
  if (operator_runs) {
    const std::string resource = where["resource"];
    fmt::print(stderr, "ringmaster: {} {} submitted to namespace {}; watching {}\n", jobs::job_kind_name(job.kind),
               name, kc.ns, resource);
    return watch_object(kubectl, resource, k8s::dns_label(name), jobs::job_kind_name(job.kind), dir, o.poll_seconds);
  }
  return run_pods(o, job, kubectl, kc, dir, *cluster, *backoff);
}

}  // namespace ringmaster::cli
