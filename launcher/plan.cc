#include "launcher/plan.h"

#include <sys/resource.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>

#include "common/files.h"
#include "common/strings.h"
#include "jobs/operator_env.h"
#include "launcher/job_dir.h"
#include "launcher/process.h"

namespace ringmaster::launcher {
namespace {

using jobs::JobKind;

void set(ReplicaLaunch& r, const std::string& name, const std::string& value) {
  for (auto& [k, v] : r.env)
    if (k == name) {
      v = value;
      return;
    }
  r.env.emplace_back(name, value);
}

// A pod field a variable refers to (valueFrom.fieldRef), as it reads for a local replica: every
// replica runs on this host, so its pod and host IP are 127.0.0.1.
Result<std::string> local_field(const std::string& path, const jobs::TrainingJob& job, const ReplicaLaunch& r,
                                const std::string& var) {
  if (path == "status.podIP" || path == "status.hostIP" || path == "status.podIPs" || path == "status.hostIPs")
    return std::string("127.0.0.1");
  if (path == "metadata.name") return r.name;
  // An Indexed child Job's completion index (Trainer's PET_NODE_RANK, DMLC_TASK_ID, JAX_PROCESS_ID):
  // the pod's index within its child Job.
  if (job.jobset && (path == "metadata.annotations['batch.kubernetes.io/job-completion-index']" ||
                     path == "metadata.labels['batch.kubernetes.io/job-completion-index']")) {
    return std::to_string(job.jobset->child_of(r.type, r.index).second);
  }
  if (path == "metadata.namespace") return job.metadata.namespace_;
  if (path == "spec.nodeName") return std::string("localhost");
  return invalid_argument(fmt::format("replica {}: env {} refers to the pod field {}, which a local run cannot "
                                      "resolve (it knows status.podIP, status.hostIP, metadata.name, "
                                      "metadata.namespace and spec.nodeName); give it a value",
                                      r.name, var, path));
}

// The launcher program of an MPIJob's mpiImplementation on this machine, for `mpirun` and
// `mpiexec` in the launcher's PATH: MPICH's Hydra (Debian's mpich: mpiexec.mpich), or Intel MPI's
// (Intel oneAPI's setvars.sh sets I_MPI_ROOT). OpenMPI's is the system mpirun, as before.
Result<std::string> mpi_launcher_program(const std::string& implementation) {
  auto executable = [](const std::string& p) { return !p.empty() && ::access(p.c_str(), X_OK) == 0; };
  if (implementation == "Intel") {
    const char* root = std::getenv("I_MPI_ROOT");
    const std::string hydra = root != nullptr ? std::string(root) + "/bin/mpiexec.hydra" : std::string();
    if (executable(hydra)) return hydra;
    return Status(StatusCode::kFailedPrecondition,
                  root != nullptr
                      ? fmt::format("spec.mpiImplementation Intel: {} does not exist or is not executable "
                                    "(I_MPI_ROOT={})", hydra, root)
                      : std::string("spec.mpiImplementation Intel: Intel MPI's launcher (mpiexec.hydra) was not "
                                    "found: I_MPI_ROOT is not set (source Intel oneAPI's setvars.sh first); "
                                    "MPICH's mpiexec.hydra is not Intel MPI"));
  }
  const char* path = std::getenv("PATH");
  for (const char* name : {"mpiexec.mpich", "mpirun.mpich", "mpiexec.hydra"})
    if (std::string found = find_in_path(name, path != nullptr ? path : "/usr/bin:/bin"); !found.empty()) return found;
  return Status(StatusCode::kFailedPrecondition,
                "spec.mpiImplementation MPICH: MPICH's launcher (mpiexec.mpich, mpirun.mpich or mpiexec.hydra) is "
                "not on PATH; install MPICH (Debian: apt-get install mpich)");
}

// Replaces each occurrence of `from` in `v` by `to` where the character before it (if any) passes
// `before` and the one after it (if any) passes `after`: a whole host name, a whole path prefix.
template <class Before, class After>
void replace_bounded(std::string& v, const std::string& from, const std::string& to, Before before, After after) {
  for (std::size_t at = v.find(from); at != std::string::npos; at = v.find(from, at)) {
    const std::size_t end = at + from.size();
    if ((at > 0 && !before(v[at - 1])) || (end < v.size() && !after(v[end]))) {
      at = end;
      continue;
    }
    v.replace(at, from.size(), to);
    at += to.size();
  }
}

// A TrainJob's pods reach each other by their JobSet host names (<pod>.<jobset>) and the trainer
// port 29500 (Trainer's constants.ContainerTrainerPort); locally every pod is 127.0.0.1, and the
// job gets a free port of its own for 29500 so that two jobs can run side by side.
void localize_jobset_addresses(JobPlan& plan, const PlanOptions& o) {
  std::vector<std::string> hosts;
  for (const auto& r : plan.replicas) {
    hosts.push_back(r.name + "." + plan.job);
    hosts.push_back(r.name);
  }
  std::sort(hosts.begin(), hosts.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  const std::string port = std::to_string(o.free_port());
  for (auto& r : plan.replicas)
    for (auto& [k, v] : r.env) {
      for (const auto& h : hosts)
        replace_bounded(
            v, h, "127.0.0.1",
            [](char c) { return !(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.'); },
            [](char c) { return !(std::isalnum(static_cast<unsigned char>(c)) || c == '-'); });
      for (auto at = v.find("127.0.0.1:29500"); at != std::string::npos; at = v.find("127.0.0.1:29500", at + 1))
        v.replace(at + 10, 5, port);
      if (v == "29500" && k.size() > 5 && k.compare(k.size() - 5, 5, "_PORT") == 0) v = port;
    }
}

// Trainer's initializer outputs (pkg/constants: DatasetMountPath, ModelMountPath), by step.
const char* initializer_output(const jobs::TrainingJob& job, const jobs::ReplicaSpec& spec) {
  auto it = job.jobset->ancestors.find(spec.type);
  const std::string step = it != job.jobset->ancestors.end() ? it->second : "";
  if (step == "dataset-initializer") return "/workspace/dataset";
  if (step == "model-initializer") return "/workspace/model";
  return nullptr;
}

// An initializer step without a command runs ringmaster's own local initializer (plan.h).
void local_initializers(const jobs::TrainingJob& job, JobPlan& plan) {
  const std::string self = executable_path();
  for (auto& r : plan.replicas) {
    const jobs::ReplicaSpec* spec = job.replica(r.type);
    if (spec == nullptr || !r.argv.empty() || r.bookkeeping) continue;
    const char* output = initializer_output(job, *spec);
    if (output == nullptr) continue;
    std::string uri;
    for (const auto& [k, v] : r.env)
      if (k == "STORAGE_URI") uri = v;
    r.argv = {self.empty() ? "ringmaster" : self, "initialize", "--storage-uri", uri, "--output", output};
  }
}

// A path rewritten from the pod's view to this machine's: `from` (a mountPath) to `to` wherever it
// is a whole path prefix in `v` (after a separator such as '=', ':' or ' ', and followed by '/', the
// end, or a separator).
void rewrite_path(std::string& v, const std::string& from, const std::string& to) {
  replace_bounded(
      v, from, to, [](char c) { return c != '\0' && std::strchr("=: ,'\"", c) != nullptr; },
      [](char c) { return c != '\0' && std::strchr("/: ,'\";", c) != nullptr; });
}

// A TrainJob's volumes on this machine (plan.h).
void localize_volumes(const jobs::TrainingJob& job, JobPlan& plan, const std::string& job_dir) {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(job_dir) / "volumes";
  for (auto& r : plan.replicas) {
    const jobs::ReplicaSpec* spec = job.replica(r.type);
    if (spec == nullptr || r.bookkeeping) continue;
    std::map<std::string, std::string> volumes;  // name -> directory here
    for (const jobs::Volume& v : spec->template_.volumes) {
      using Source = jobs::Volume::Source;
      if (v.source == Source::kHostPath) volumes[v.name] = v.host_path;
      else if (v.source == Source::kEmptyDir) volumes[v.name] = (root / r.name / v.name).string();
      else if (v.source == Source::kShared) volumes[v.name] = (root / v.name).string();
    }
    std::vector<std::pair<std::string, std::string>> mounts;  // mountPath -> directory here, longest first
    const auto& containers = spec->template_.containers;
    if (spec->primary_container < containers.size())
      for (const jobs::VolumeMount& m : containers[spec->primary_container].volume_mounts) {
        auto it = volumes.find(m.name);
        if (it == volumes.end() || it->second.empty()) continue;
        const std::string here = m.sub_path.empty() ? it->second : (fs::path(it->second) / m.sub_path).string();
        mounts.emplace_back(m.mount_path, here);
      }
    // An initializer's output with no volume under it is the pod's own filesystem.
    if (const char* output = initializer_output(job, *spec)) {
      const std::string out = output;
      const bool mounted = std::any_of(mounts.begin(), mounts.end(), [&](const auto& m) {
        return out == m.first || out.rfind(m.first + "/", 0) == 0;
      });
      if (!mounted) mounts.emplace_back(out, (root / r.name / "rootfs" / out.substr(1)).string());
    }
    std::sort(mounts.begin(), mounts.end(), [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
    for (const auto& [path, here] : mounts) {
      if (path.empty() || path == "/") continue;
      // Only the job's own volumes are made (private); a hostPath is this machine's, left as it is.
      if (here.rfind(root.string() + "/", 0) == 0) plan.directories.push_back(here);
      for (auto& a : r.argv) rewrite_path(a, path, here);
      for (auto& [k, v] : r.env) rewrite_path(v, path, here);
      if (r.working_dir == path || r.working_dir.rfind(path + "/", 0) == 0) r.working_dir = here + r.working_dir.substr(path.size());
    }
  }
  std::sort(plan.directories.begin(), plan.directories.end());
  plan.directories.erase(std::unique(plan.directories.begin(), plan.directories.end()), plan.directories.end());
}

// What the kubelet does before it starts a container: each env value expanded against the
// variables before it, then the command and args against all of them.
void expand_refs(ReplicaLaunch& r) {
  std::map<std::string, std::string, std::less<>> defined;
  auto lookup = [&](std::string_view name) -> std::optional<std::string> {
    auto it = defined.find(name);
    if (it == defined.end()) return std::nullopt;
    return it->second;
  };
  for (auto& [k, v] : r.env) {
    v = expand_env_refs(v, lookup);
    defined[k] = v;
  }
  for (auto& a : r.argv) a = expand_env_refs(a, lookup);
}

// GPU requests of each replica (same order as plan.replicas), placed and written into the env.
Status assign_gpus(const jobs::TrainingJob& job, const std::vector<Gpu>& gpus, JobPlan& plan) {
  std::vector<GpuRequest> requests;
  bool any = false;
  for (const auto& spec : job.replicas) {
    const jobs::Container& c = spec.template_.containers[spec.primary_container];
    GpuRequest base;
    if (auto it = c.limits.find("nvidia.com/gpu"); it != c.limits.end()) {
      base.whole = parse_int<int>(it->second).value_or(-1);
      if (base.whole < 0) {
        return invalid_argument(fmt::format("replica {}: resources.limits[nvidia.com/gpu]: expected a whole number, "
                                            "found \"{}\"",
                                            spec.type, it->second));
      }
    }
    if (auto it = spec.template_.annotations.find("ringmaster.io/gpu-fraction"); it != spec.template_.annotations.end()) {
      const auto fraction = parse_double(it->second);
      if (!fraction) {
        return invalid_argument(fmt::format("replica {}: annotation ringmaster.io/gpu-fraction: expected a number in "
                                            "(0, 1), found \"{}\"",
                                            spec.type, it->second));
      }
      base.fraction = *fraction;
    }
    any |= base.whole > 0 || base.fraction > 0;
    for (int i = 0; i < spec.replicas; ++i) {
      GpuRequest r = base;
      r.replica = replica_name(plan.job, spec.type, i);
      requests.push_back(r);
    }
  }
  if (!any && gpus.empty()) return Status::ok();  // nothing asked, nothing to hide
  auto placed = place_gpus(requests, gpus);
  if (!placed) return placed.status();
  std::vector<int> worker_devices;
  for (std::size_t i = 0; i < plan.replicas.size(); ++i) {
    const GpuAssignment& a = (*placed)[i];
    std::vector<std::string> ids;
    for (int d : a.devices) ids.push_back(std::to_string(gpus[static_cast<std::size_t>(d)].index));
    set(plan.replicas[i], "CUDA_VISIBLE_DEVICES", join(ids, ","));
    if (a.mps_percentage) set(plan.replicas[i], "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", std::to_string(*a.mps_percentage));
    if (plan.replicas[i].bookkeeping)
      for (int d : a.devices)
        if (std::find(worker_devices.begin(), worker_devices.end(), d) == worker_devices.end()) worker_devices.push_back(d);
  }
  if (job.kind == JobKind::kMPIJob && !worker_devices.empty()) {
    std::sort(worker_devices.begin(), worker_devices.end());
    std::vector<std::string> ids;
    for (int d : worker_devices) ids.push_back(std::to_string(gpus[static_cast<std::size_t>(d)].index));
    for (auto& r : plan.replicas)
      if (r.type == "Launcher") set(r, "CUDA_VISIBLE_DEVICES", join(ids, ","));
  }
  return Status::ok();
}

// CPU limits of each replica, placed as affinity (devices.h).
Status assign_cpus(const jobs::TrainingJob& job, const std::vector<int>& allowed, JobPlan& plan) {
  std::vector<CpuRequest> requests;
  for (const auto& spec : job.replicas) {
    const jobs::Container& c = spec.template_.containers[spec.primary_container];
    CpuRequest base;
    if (auto it = c.limits.find("cpu"); it != c.limits.end()) {
      auto cores = parse_cpu_quantity(it->second);
      if (!cores) return invalid_argument(fmt::format("replica {}: resources.limits.cpu: {}", spec.type, cores.status().message()));
      base.cores = *cores;
    }
    for (int i = 0; i < spec.replicas; ++i) {
      CpuRequest r = base;
      r.replica = replica_name(plan.job, spec.type, i);
      requests.push_back(r);
    }
  }
  if (allowed.empty()) return Status::ok();
  CpuPlacement placed = place_cpus(requests, allowed);
  plan.cpu_note = placed.note;
  std::vector<int> worker_cpus;
  for (std::size_t i = 0; i < plan.replicas.size(); ++i) {
    plan.replicas[i].cpus = placed.cpus[i];
    if (plan.replicas[i].bookkeeping && requests[i].cores > 0)
      worker_cpus.insert(worker_cpus.end(), placed.cpus[i].begin(), placed.cpus[i].end());
  }
  if (job.kind == JobKind::kMPIJob && !worker_cpus.empty())
    for (std::size_t i = 0; i < plan.replicas.size(); ++i) {
      ReplicaLaunch& r = plan.replicas[i];
      if (r.type != "Launcher") continue;
      std::vector<int> cpus = worker_cpus;
      if (requests[i].cores > 0) cpus.insert(cpus.end(), r.cpus.begin(), r.cpus.end());
      std::sort(cpus.begin(), cpus.end());
      cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
      r.cpus = cpus;
    }
  return Status::ok();
}

}  // namespace


int local_replica_limit(int cpus) {
  long long limit = 16LL * std::max(1, cpus);
  rlimit r{};
  if (::getrlimit(RLIMIT_NPROC, &r) == 0 && r.rlim_cur != RLIM_INFINITY)
    limit = std::min<long long>(limit, static_cast<long long>(r.rlim_cur) / 4);
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur != RLIM_INFINITY)
    limit = std::min<long long>(limit, (static_cast<long long>(r.rlim_cur) - 64) / 2);
  return static_cast<int>(std::max<long long>(1, limit));
}

namespace {

// One process per replica, with its container's command, working directory and env.
Status add_replicas(const jobs::TrainingJob& job, JobPlan& plan) {
  for (const auto& spec : job.replicas) {
    if (spec.template_.containers.empty())
      return invalid_argument(fmt::format("replica {}: expected a container, found none", spec.type));
    const jobs::Container& c = spec.template_.containers[spec.primary_container];
    for (int i = 0; i < spec.replicas; ++i) {
      ReplicaLaunch r;
      r.type = spec.type;
      r.index = i;
      r.name = replica_name(plan.job, spec.type, i);
      if (job.jobset) {
        r.name = job.jobset->pod_name(plan.job, spec.type, i);
        r.depends_on = job.jobset_dependencies(spec.type);
      }
      r.argv = c.command;
      r.argv.insert(r.argv.end(), c.args.begin(), c.args.end());
      r.working_dir = c.working_dir;
      r.restart_policy = spec.restart_policy;
      for (const auto& e : c.env) {
        if (!e.field_path.empty()) {
          auto v = local_field(e.field_path, job, r, e.name);
          if (!v) return v.status();
          r.env.emplace_back(e.name, *v);
          continue;
        }
        if (e.from_source)
          return invalid_argument(fmt::format("replica {} container {}: env {} uses valueFrom (a secret, config map "
                                              "or field reference), which a local run cannot resolve; give it a "
                                              "value",
                                              spec.type, c.name, e.name));
        r.env.emplace_back(e.name, e.value);
      }
      plan.replicas.push_back(std::move(r));
    }
  }
  return Status::ok();
}

// TFJob, PyTorchJob, JAXJob, XGBoostJob and PaddleJob: what the training operator injects.
Status add_kubeflow_env(const jobs::TrainingJob& job, const PlanOptions& o, JobPlan& plan) {
  // jobs/operator_env.h decides what each replica gets; here every replica is on 127.0.0.1 with
  // a free port of its own.
  std::map<std::pair<std::string, int>, int> ports;
  jobs::ReplicaAddressing local;
  local.host = [](const std::string&, int, bool) { return std::string("127.0.0.1"); };
  local.port = [&](const std::string& type, int index) {
    auto [it, fresh] = ports.try_emplace({type, index}, 0);
    if (fresh) it->second = o.free_port();
    return it->second;
  };
  for (auto& r : plan.replicas) {
    auto env = jobs::operator_env(job, r.type, r.index, local);
    if (!env) return env.status();
    for (const auto& v : *env) {
      if (v.field_path.empty()) {
        set(r, v.name, v.value);
        continue;
      }
      auto value = local_field(v.field_path, job, r, v.name);
      if (!value) return value.status();
      set(r, v.name, *value);
    }
  }
  return Status::ok();
}

// MPIJob: one hostfile line with every slot (every rank runs on this host), the launcher's env;
// the workers are bookkeeping (mpirun starts the ranks).
Status add_mpijob(const jobs::TrainingJob& job, const PlanOptions& o, JobPlan& plan) {
  const jobs::ReplicaSpec* workers = job.replica("Worker");
  const int worker_count = workers ? workers->replicas : 0;
  int slots = worker_count * job.slots_per_worker;
  if (job.run_launcher_as_worker) slots += job.slots_per_worker;
  if (slots == 0) slots = job.slots_per_worker;  // a launcher-only job runs its ranks on this host
  // Every rank runs on this host: one hostfile line with all the slots, in the format of the
  // job's mpiImplementation (jobs/operator_env.h).
  plan.hostfile_path = o.hostfile_path;
  plan.hostfile = jobs::mpi_hostfile_line(job, "localhost", slots);
  std::string mpi_bin;  // Intel, MPICH: where `mpirun`/`mpiexec` name that implementation's launcher
  if (job.mpi_implementation != "OpenMPI") {
    auto launcher = mpi_launcher_program(job.mpi_implementation);
    if (!launcher) return launcher.status();
    mpi_bin = (std::filesystem::path(o.hostfile_path).parent_path() / "mpi-bin").string();
    plan.program_shims = {{mpi_bin + "/mpirun", *launcher}, {mpi_bin + "/mpiexec", *launcher}};
  }
  for (auto& r : plan.replicas) {
    for (const auto& v : jobs::mpi_env(job, r.type, o.hostfile_path)) set(r, v.name, v.value);
    if (r.type == "Launcher") {
      if (!mpi_bin.empty()) {
        const char* path = std::getenv("PATH");
        set(r, "PATH", mpi_bin + ":" + (path != nullptr ? path : "/usr/bin:/bin"));
      } else {
        // Locally the job may run as root and on fewer cores than slots, which mpirun refuses by default.
        set(r, "OMPI_ALLOW_RUN_AS_ROOT", "1");
        set(r, "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
        if (slots > o.cpus) set(r, "OMPI_MCA_rmaps_base_oversubscribe", "1");
      }
    } else {
      r.bookkeeping = true;  // mpirun starts the ranks on this host
    }
  }
  return Status::ok();
}

// A TrainJob on the mpi runtime (Trainer v2.3 plugins/mpi): the launcher's mpirun reads the
// hostfile at /etc/mpi and reaches the `node` pods by ssh. Here every rank runs on this host, so
// the hostfile is one local line with every node's slots, the launcher reads it from the job
// directory, and the node pods (sshd in the runtimes) are bookkeeping, as an MPIJob's workers.
void add_trainjob_mpi(const jobs::TrainingJob& job, const PlanOptions& o, JobPlan& plan) {
  int nodes = 0;
  for (const auto& r : plan.replicas) nodes += r.type == "node" || (r.type == "launcher" && job.run_launcher_as_worker);
  const int slots = std::max(1, nodes) * job.slots_per_worker;
  plan.hostfile_path = o.hostfile_path;
  plan.hostfile = jobs::mpi_hostfile_line(job, "localhost", slots);
  for (auto& r : plan.replicas) {
    if (r.type == "node") {
      r.bookkeeping = true;
    } else if (r.type == "launcher") {
      set(r, "OMPI_MCA_orte_default_hostfile", o.hostfile_path);
      set(r, "OMPI_ALLOW_RUN_AS_ROOT", "1");
      set(r, "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
      if (slots > o.cpus) set(r, "OMPI_MCA_rmaps_base_oversubscribe", "1");
    }
  }
}

}  // namespace

Result<JobPlan> plan_job(const jobs::TrainingJob& job, const PlanOptions& o) {
  JobPlan plan;
  plan.job = job.metadata.name;
  plan.token = o.token;
  if (Status s = add_replicas(job, plan); !s) return s;
  if (job.kind == JobKind::kTFJob || job.kind == JobKind::kPyTorchJob || job.kind == JobKind::kJAXJob ||
      job.kind == JobKind::kXGBoostJob || job.kind == JobKind::kPaddleJob) {
    if (Status s = add_kubeflow_env(job, o, plan); !s) return s;
  } else if (job.kind == JobKind::kMPIJob) {
    if (Status s = add_mpijob(job, o, plan); !s) return s;
  } else if (job.jobset && job.jobset->mpi) {
    add_trainjob_mpi(job, o, plan);
  }
  if (job.jobset) localize_jobset_addresses(plan, o);
  if (auto s = assign_gpus(job, o.gpus, plan); !s) return s;
  if (auto s = assign_cpus(job, o.allowed_cpus, plan); !s) return s;
  if (job.jobset) local_initializers(job, plan);
  for (auto& r : plan.replicas) {
    if (r.argv.empty() && !r.bookkeeping)
      return invalid_argument(fmt::format("replica {}-{}: expected a command in its container (a local run starts "
                                          "the command, not the image's entrypoint), found none",
                                          to_lower(r.type), r.index));
    set(r, "RINGMASTER_JOB_NAME", plan.job);
    set(r, "RINGMASTER_JOB_TOKEN", plan.token);
    if (!o.job_dir.empty()) {
      set(r, "RINGMASTER_METRICS_FILE", metrics_file(o.job_dir, r.name));
      set(r, "RINGMASTER_METRICS_STEP_SECONDS", kMetricsStepSeconds);
    }
    expand_refs(r);
  }
  if (job.jobset && !o.job_dir.empty()) localize_volumes(job, plan, o.job_dir);
  return plan;
}

std::string expand_env_refs(std::string_view in,
                            const std::function<std::optional<std::string>(std::string_view)>& lookup) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '$' || i + 1 == in.size()) {
      out += in[i];
      continue;
    }
    const char next = in[i + 1];
    if (next == '$') {  // an escaped '$'
      out += '$';
      ++i;
    } else if (next == '(') {
      const std::size_t close = in.find(')', i + 2);
      if (close == std::string_view::npos) {  // unclosed: "$(" kept, the rest read on
        out += "$(";
        ++i;
        continue;
      }
      const std::string_view name = in.substr(i + 2, close - i - 2);
      if (auto v = lookup(name)) out += *v;
      else out.append(in.substr(i, close - i + 1));
      i = close;
    } else {
      out += '$';
    }
  }
  return out;
}

}  // namespace ringmaster::launcher
