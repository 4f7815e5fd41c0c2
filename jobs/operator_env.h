// What the Kubeflow training operator (v1.9) injects into each replica of a TFJob, PyTorchJob, JAXJob,
// XGBoostJob or PaddleJob,
// decided here once for both `ringmaster run` (launcher/plan.cc: 127.0.0.1 and free ports) and
// `render`/`submit` (k8s/render.cc: pod names and Service DNS names). The two differ only in how a
// replica's address is written, which the caller supplies as `ReplicaAddressing`.
//
//   TFJob       TF_CONFIG {"cluster": {type: ["host:port", ...]}, "task": {type, index},
//               "environment": "cloud"} when the job has more than one replica (tensorflow/util.go
//               isDistributed); evaluators are left out of the cluster (TensorFlow's own rule: an
//               evaluator is not part of the training cluster)
//   PyTorchJob  (pytorch/envvar.go, master.go, elastic.go)
//               PYTHONUNBUFFERED=1 always;
//               with a Master: MASTER_ADDR/PET_MASTER_ADDR (the master's host), MASTER_PORT/
//               PET_MASTER_PORT (its port), WORLD_SIZE (replicas x nprocPerNode, "auto" counting
//               1), RANK and PET_NODE_RANK (Master 0, Worker i -> i + 1); without one, none of these;
//               PET_NPROC_PER_NODE = nprocPerNode as written ("auto");
//               without elasticPolicy PET_NNODES = all replicas; with it PET_RDZV_ENDPOINT (rdzvHost
//               or worker-0's host, : rdzvPort or worker-0's port), PET_RDZV_BACKEND (c10d),
//               PET_NNODES "min:max", and PET_MAX_RESTARTS, PET_NPROC_PER_NODE, PET_RDZV_ID,
//               PET_RDZV_CONF ("k=v,k=v"), PET_STANDALONE when set
//   JAXJob      (jax/envvar.go) PYTHONUNBUFFERED=1, COORDINATOR_ADDRESS and COORDINATOR_PORT (worker
//               0), NUM_PROCESSES (all replicas), PROCESS_ID (the worker's index)
//   XGBoostJob  (xgboost/xgboost.go SetPodEnv) MASTER_PORT, MASTER_ADDR (master-0's pod name),
//               WORLD_SIZE (all replicas), RANK (Master 0, Worker i -> i + 1), PYTHONUNBUFFERED=1;
//               with more than one replica (for LightGBM) WORKER_PORT (the Worker port) and
//               WORKER_ADDRS (worker-0 ... worker-(WORLD_SIZE-2), comma-separated, as upstream writes it)
//   PaddleJob   (paddlepaddle/envvar.go) PYTHONUNBUFFERED=1, PADDLE_JOB_ID (the job's name),
//               PADDLE_NNODES (all replicas), PADDLE_MASTER: on the rendezvous replica (Master 0, or
//               Worker 0 without a Master: collective mode) POD_IP_DUMMY from the pod's own IP
//               (fieldRef status.podIP) and "$(POD_IP_DUMMY):port", elsewhere "<its host>:port";
//               with a Master (parameter-server mode) PADDLE_SERVER_NUM=1 on Masters and
//               PADDLE_TRAINER_NUM=1 on Workers
//   MPIJob      (mpi-operator v0.8 pkg/controller/mpi_job_controller.go, kubeflow.org/v2beta1 and v1)
//               the hostfile: one line per host, "host slots=N" for OpenMPI, "host:N" for Intel
//               MPI and MPICH (newConfigMap); K_MPI_JOB_ROLE=launcher|worker; on the launcher
//               OpenMPI: OMPI_MCA_orte_keep_fqdn_hostnames=true, OMPI_MCA_orte_default_hostfile,
//               OMPI_MCA_plm_rsh_args, OMPI_MCA_orte_set_default_slots; Intel: I_MPI_HYDRA_HOST_FILE,
//               I_MPI_HYDRA_BOOTSTRAP_EXEC_EXTRA_ARGS, I_MPI_PERHOST; MPICH: HYDRA_HOST_FILE,
//               HYDRA_LAUNCH_EXTRA_ARGS; and NVIDIA_VISIBLE_DEVICES / NVIDIA_DRIVER_CAPABILITIES
//               emptied unless the launcher is a worker too
// Pure functions; thread-safe.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "jobs/model.h"

namespace ringmaster::jobs {

// One variable as the operator writes it: a value, or (field_path set) a reference to a field of
// the pod (valueFrom.fieldRef: "status.podIP"), which the kubelet resolves; a value may name an
// earlier variable as "$(NAME)", which the kubelet expands (launcher/plan.cc does it locally).
struct OperatorEnvVar {
  OperatorEnvVar(std::string n, std::string v, std::string field = {})
      : name(std::move(n)), value(std::move(v)), field_path(std::move(field)) {}
  std::string name;
  std::string value;
  std::string field_path;
  bool operator==(const OperatorEnvVar&) const = default;
};
using EnvList = std::vector<OperatorEnvVar>;

// How other replicas reach replica (type, index) of the job.
struct ReplicaAddressing {
  // Its host: "127.0.0.1" locally; the pod's name (PyTorch's MASTER_ADDR, the rendezvous host) or
  // its Service's DNS name (TF_CONFIG) on a cluster, as `for_tf_config` says.
  std::function<std::string(const std::string& type, int index, bool for_tf_config)> host;
  // Its port: a free local port per replica, or the container's port on a cluster.
  std::function<int(const std::string& type, int index)> port;
};

// A DNS-1123 label: `name` itself when it has at most 63 characters, else its first 54 characters
// (without a trailing '-' or '.') and '-' and an FNV-1a hash of the whole, so two long names stay
// distinct and the same name always gives the same label.
std::string dns_label(const std::string& name);
// The name of replica (type, index): "<job>-<type lower-case>-<index>" as a DNS label. Its pod's
// name on a cluster, its process's name locally.
std::string replica_name(const std::string& job, const std::string& type, int index);

// The port the operator gives the primary container of a TFJob, PyTorchJob, JAXJob, XGBoostJob or
// PaddleJob when its template names none (v1 *_defaults.go: tfjob-port 2222, pytorchjob-port
// 23456, jaxjob-port 6666, xgboostjob-port 9999, master 36543), and that its environment and
// Services use; {"", 0} for other kinds.
struct OperatorPort {
  const char* name;
  int number;
};
OperatorPort operator_port(JobKind kind);

// An MPIJob's hostfile over `hosts` (each with the job's slotsPerWorker), in the format of its
// mpiImplementation.
std::string mpi_hostfile(const TrainingJob& job, const std::vector<std::string>& hosts);
// One hostfile line: "host slots=N" (OpenMPI) or "host:N" (Intel, MPICH).
std::string mpi_hostfile_line(const TrainingJob& job, const std::string& host, int slots);
// What the mpi-operator adds to an MPIJob's Launcher or Worker; `hostfile` is where the launcher
// finds the hostfile (/etc/mpi/hostfile in a pod).
EnvList mpi_env(const TrainingJob& job, const std::string& type, const std::string& hostfile);

// Whether ringmaster serves an elastic job's rendezvous (docs/elastic.md): its workers run
// `ringmaster train` (the primary container's command, or its args when the image's entrypoint
// runs, starts with ringmaster) and elasticPolicy.rdzvHost names no store of the user's. Then the
// store must outlive every worker: `ringmaster run` serves it at PET_RDZV_ENDPOINT itself, and
// `render` adds the Pod and Service rendezvous_name() running `ringmaster rendezvous` and points
// PET_RDZV_ENDPOINT there. Other programs (torchrun) keep the operator's arrangement: worker 0's
// agent hosts its c10d store.
bool ringmaster_serves_rendezvous(const TrainingJob& job);
std::string rendezvous_name(const TrainingJob& job);  // "<job>-rendezvous"
int rendezvous_port(const TrainingJob& job);          // elasticPolicy.rdzvPort, else 29400 (torchrun's c10d default)

// The variables the operator adds to replica (type, index), in the operator's order. Fails only
// where the operator fails (an elastic job without Workers and without min/max replicas).
Result<EnvList> operator_env(const TrainingJob& job, const std::string& type, int index,
                             const ReplicaAddressing& addressing);

}  // namespace ringmaster::jobs
