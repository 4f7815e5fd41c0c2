// Planning a local run: which processes a TFJob, PyTorchJob, MPIJob or batch Job becomes on this
// machine, and the environment each gets: what the Kubeflow operators inject, with 127.0.0.1 and
// free local ports where a cluster would use Service DNS names.
//
//   TFJob,      what jobs/operator_env.h says the training operator injects (TF_CONFIG; MASTER_*,
//   PyTorchJob  WORLD_SIZE, RANK, PET_*), every replica at 127.0.0.1 with a free port of its own
//   MPIJob      a hostfile of `slots` lines; the Launcher gets OMPI_MCA_orte_default_hostfile,
//               OMPI_MCA_orte_keep_fqdn_hostnames=true, K_MPI_JOB_ROLE=launcher and what OpenMPI
//               needs to run as root and oversubscribed; Workers are bookkeeping (mpirun starts
//               the ranks on this host), K_MPI_JOB_ROLE=worker
//   batch Job   `parallelism` copies of its container
// Every replica also gets RINGMASTER_JOB_NAME and RINGMASTER_JOB_TOKEN (the collectives' join secret),
// and GPUs and CPUs as devices.h places them (an MPIJob's Launcher gets its Workers' GPUs and CPUs,
// since the ranks mpirun starts run under it).
// Pure functions; thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "jobs/model.h"
#include "jobs/operator_env.h"
#include "launcher/devices.h"

namespace ringmaster::launcher {

struct ReplicaLaunch {
  std::string type;  // canonical replica type: Worker, PS, Chief, Master, Evaluator, Launcher, Job
  int index = 0;
  std::string name;  // "<job>-<type lower-case>-<index>", as the operator names the pod
  std::vector<std::string> argv;  // container command + args
  std::vector<std::pair<std::string, std::string>> env;  // the container's env, then the injected
  std::string working_dir;
  jobs::RestartPolicy restart_policy = jobs::RestartPolicy::kNever;
  bool bookkeeping = false;  // tracked in status but not started (MPIJob workers)
  std::vector<int> cpus;     // CPU affinity (devices.h); empty: not pinned
  // A TrainJob's step (JobSet dependsOn): started once every replica of each of these replica
  // types is "Ready" (started) or "Complete" (succeeded).
  std::vector<std::pair<std::string, std::string>> depends_on;
};

struct JobPlan {
  std::string job;
  std::string token;
  std::vector<ReplicaLaunch> replicas;  // in the job's canonical replica order
  std::string hostfile_path;            // MPIJob only
  std::string hostfile;                 // its content
  // Programs (path, target) to write before the replicas start, each a two-line script that execs
  // target: an MPIJob whose mpiImplementation is Intel or MPICH gets `mpirun` and `mpiexec` for
  // that implementation's launcher in a directory first on its launcher's PATH. (Not symbolic
  // links: Hydra finds its proxy beside the path it was started by.)
  std::vector<std::pair<std::string, std::string>> program_shims;
  // Directories to make before the replicas start: a TrainJob's volumes (see plan_job).
  std::vector<std::string> directories;
  std::string cpu_note;                 // why the cpu limits were not applied, when so
};

struct PlanOptions {
  std::string token;                 // generated per job by the caller
  std::string hostfile_path;         // where the MPIJob hostfile will be written
  std::function<int()> free_port;    // a free TCP port on 127.0.0.1
  int cpus = 1;                      // cores on this machine (oversubscription for MPI)
  std::vector<Gpu> gpus;             // this machine's GPUs (detect_gpus())
  std::vector<int> allowed_cpus;     // the CPUs replicas may be pinned to (allowed_cpus()); empty: no pinning
  std::string job_dir;               // the job directory (a TrainJob's volumes and every replica's
                                     // RINGMASTER_METRICS_FILE live under it); empty: none
};

// Fails with kInvalidArgument naming the replica and the field when something cannot run locally
// (a container without a command, an env var from a secret, a port that cannot be found).
//
// A TrainJob's volumes (with options.job_dir): a persistentVolumeClaim or a volume without a source
// is <job_dir>/volumes/<volume>, shared by the job's pods as a claim is; an emptyDir is
// <job_dir>/volumes/<pod>/<volume>; a hostPath is its path. Each mountPath (with subPath) in the
// replica's command, args and env is rewritten to that directory: a path under /workspace/dataset
// reaches <job_dir>/volumes/initializer/dataset. (Not a private mount namespace with bind mounts:
// a pod's mount points, /workspace, do not exist on this machine, and making them would change
// its root filesystem; docs/architecture.md says more.) An initializer step's container without a
// command (Trainer's dataset-initializer / model-initializer image) runs `ringmaster initialize`
// on its STORAGE_URI into /workspace/dataset or /workspace/model, rewritten the same way (and, when
// no volume is mounted there, into the pod's own <job_dir>/volumes/<pod>/rootfs/...).
Result<JobPlan> plan_job(const jobs::TrainingJob& job, const PlanOptions& options);

// The kubelet's $(VAR) expansion of env values, commands and args (kubernetes
// third_party/forked/golang/expansion/expand.go): "$(NAME)" becomes lookup(NAME) when that has a
// value and stays as written otherwise, "$$" is a literal "$", and any other "$" is kept.
std::string expand_env_refs(std::string_view in,
                            const std::function<std::optional<std::string>(std::string_view)>& lookup);

// The most replicas `ringmaster run` starts at once on this machine unless told otherwise: 16
// per CPU, and fewer when the process or open-file limits (RLIMIT_NPROC, RLIMIT_NOFILE) would run
// out first (a replica is at least two processes, its supervisor and its command, and the
// launcher holds a pidfd and a log per replica).
int local_replica_limit(int cpus);

// "<job>-<type>-<index>" with the type lower-cased, as a DNS label: one rule for processes and pods.
using jobs::replica_name;

}  // namespace ringmaster::launcher
