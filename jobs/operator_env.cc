#include "jobs/operator_env.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/strings.h"

namespace ringmaster::jobs {
namespace {

// nprocPerNode as a number: "auto", "cpu" and "gpu" count 1 (pytorch/envvar.go getNprocPerNodeInt).
int nproc_per_node_int(const TrainingJob& job) {
  const int n = parse_int<int>(job.nproc_per_node).value_or(1);
  return n > 0 ? n : 1;
}

EnvList tf_env(const TrainingJob& job, const std::string& type, int index, const ReplicaAddressing& a) {
  if (job.total_replicas() == 1) return {};
  // Go's encoding/json writes the cluster map with sorted keys; nlohmann::json does the same.
  nlohmann::json cluster = nlohmann::json::object();
  for (const auto& spec : job.replicas) {
    if (spec.type == "Evaluator") continue;
    for (int i = 0; i < spec.replicas; ++i)
      cluster[to_lower(spec.type)].push_back(fmt::format("{}:{}", a.host(spec.type, i, true), a.port(spec.type, i)));
  }
  nlohmann::ordered_json config = {
      {"cluster", cluster}, {"task", {{"type", to_lower(type)}, {"index", index}}}, {"environment", "cloud"}};
  return {{"TF_CONFIG", config.dump()}};
}

Result<EnvList> pytorch_env(const TrainingJob& job, const std::string& type, int index, const ReplicaAddressing& a) {
  EnvList env = {{"PYTHONUNBUFFERED", "1"}};
  const int total = job.total_replicas();
  if (job.replica("Master") != nullptr) {
    const std::string port = std::to_string(a.port("Master", 0));
    const std::string host = a.host("Master", 0, false);
    const int rank = type == "Worker" ? index + 1 : index;
    env.insert(env.end(), {{"MASTER_PORT", port},
                           {"PET_MASTER_PORT", port},
                           {"MASTER_ADDR", host},
                           {"PET_MASTER_ADDR", host},
                           {"WORLD_SIZE", std::to_string(total * nproc_per_node_int(job))},
                           {"RANK", std::to_string(rank)},
                           {"PET_NODE_RANK", std::to_string(rank)}});
  }
  env.push_back({"PET_NPROC_PER_NODE", job.nproc_per_node});
  if (!job.elastic_policy) {
    env.push_back({"PET_NNODES", std::to_string(total)});
    return env;
  }
  const ElasticPolicy& e = *job.elastic_policy;
  const std::string host = e.rdzv_host ? *e.rdzv_host : a.host("Worker", 0, false);
  const int port = e.rdzv_port ? *e.rdzv_port : a.port("Worker", 0);
  env.push_back({"PET_RDZV_ENDPOINT", fmt::format("{}:{}", host, port)});
  env.push_back({"PET_RDZV_BACKEND", e.rdzv_backend.empty() ? "c10d" : e.rdzv_backend});
  if (e.min_replicas && e.max_replicas) {
    env.push_back({"PET_NNODES", fmt::format("{}:{}", *e.min_replicas, *e.max_replicas)});
  } else {
    const ReplicaSpec* worker = job.replica("Worker");
    if (!worker) return invalid_argument("spec.elasticPolicy: cannot find the worker spec (PET_NNODES needs one)");
    env.push_back({"PET_NNODES", std::to_string(worker->replicas)});
  }
  if (e.max_restarts) env.push_back({"PET_MAX_RESTARTS", std::to_string(*e.max_restarts)});
  if (e.n_proc_per_node) env.push_back({"PET_NPROC_PER_NODE", std::to_string(*e.n_proc_per_node)});
  if (e.rdzv_id) env.push_back({"PET_RDZV_ID", *e.rdzv_id});
  if (!e.rdzv_conf.empty()) {
    std::string conf;
    for (const auto& [k, v] : e.rdzv_conf) conf += (conf.empty() ? "" : ",") + k + "=" + v;
    env.push_back({"PET_RDZV_CONF", conf});
  }
  if (e.standalone) env.push_back({"PET_STANDALONE", ""});
  return env;
}

// training-operator v1.9 jax/envvar.go: worker 0 coordinates.
EnvList jax_env(const TrainingJob& job, int index, const ReplicaAddressing& a) {
  return {{"PYTHONUNBUFFERED", "1"},
          {"COORDINATOR_PORT", std::to_string(a.port("Worker", 0))},
          {"COORDINATOR_ADDRESS", a.host("Worker", 0, false)},
          {"NUM_PROCESSES", std::to_string(job.total_replicas())},
          {"PROCESS_ID", std::to_string(index)}};
}

// training-operator v1.9 xgboost/xgboost.go SetPodEnv: the master is rank 0, workers follow it.
EnvList xgboost_env(const TrainingJob& job, const std::string& type, int index, const ReplicaAddressing& a) {
  const ReplicaSpec* master = job.replica("Master");
  const int rank = type == "Worker" ? index + (master ? master->replicas : 0) : index;
  const int total = job.total_replicas();
  EnvList env = {{"MASTER_PORT", std::to_string(a.port("Master", 0))},
                 {"MASTER_ADDR", a.host("Master", 0, false)},
                 {"WORLD_SIZE", std::to_string(total)},
                 {"RANK", std::to_string(rank)},
                 {"PYTHONUNBUFFERED", "1"}};
  if (total > 1) {
    // Upstream lists total-1 worker names from worker-0, whatever the Worker count (the same with
    // the one Master the webhook allows).
    std::string addrs;
    for (int i = 0; i < total - 1; ++i) addrs += (i ? "," : "") + a.host("Worker", i, false);
    env.push_back({"WORKER_PORT", std::to_string(a.port("Worker", 0))});
    env.push_back({"WORKER_ADDRS", addrs});
  }
  return env;
}

// training-operator v1.9 paddlepaddle/envvar.go: the rendezvous replica publishes its own pod IP.
EnvList paddle_env(const TrainingJob& job, const std::string& type, int index, const ReplicaAddressing& a) {
  EnvList env = {{"PYTHONUNBUFFERED", "1"},
                 {"PADDLE_JOB_ID", job.metadata.name},
                 {"PADDLE_NNODES", std::to_string(job.total_replicas())}};
  const bool ps_mode = job.replica("Master") != nullptr;
  const std::string rendezvous = ps_mode ? "Master" : "Worker";
  const int port = a.port(rendezvous, 0);
  if (type == rendezvous && index == 0) {
    env.push_back({"POD_IP_DUMMY", "", "status.podIP"});
    env.push_back({"PADDLE_MASTER", fmt::format("$(POD_IP_DUMMY):{}", port)});
  } else {
    env.push_back({"PADDLE_MASTER", fmt::format("{}:{}", a.host(rendezvous, 0, false), port)});
  }
  if (ps_mode) env.push_back({type == "Master" ? "PADDLE_SERVER_NUM" : "PADDLE_TRAINER_NUM", "1"});
  return env;
}

}  // namespace

OperatorPort operator_port(JobKind kind) {
  switch (kind) {
    case JobKind::kTFJob: return {"tfjob-port", 2222};
    case JobKind::kPyTorchJob: return {"pytorchjob-port", 23456};
    case JobKind::kJAXJob: return {"jaxjob-port", 6666};
    case JobKind::kXGBoostJob: return {"xgboostjob-port", 9999};
    case JobKind::kPaddleJob: return {"master", 36543};
    default: return {"", 0};
  }
}

std::string dns_label(const std::string& name) {
  if (name.size() <= 63) return name;
  uint32_t h = 2166136261u;  // FNV-1a
  for (unsigned char ch : name) h = (h ^ ch) * 16777619u;
  std::string head = name.substr(0, 54);
  while (!head.empty() && (head.back() == '-' || head.back() == '.')) head.pop_back();
  return fmt::format("{}-{:08x}", head, h);
}

bool ringmaster_serves_rendezvous(const TrainingJob& job) {
  if (!job.elastic_policy || job.elastic_policy->rdzv_host) return false;
  const ReplicaSpec* worker = job.replica("Worker");
  if (!worker) worker = job.replica("node");  // a TrainJob's trainer nodes
  if (!worker || worker->template_.containers.empty()) return false;
  const Container& c = worker->template_.containers[worker->primary_container];
  const auto& argv = c.command.empty() ? c.args : c.command;
  if (argv.empty()) return false;
  const std::string& program = argv.front();
  const auto slash = program.rfind('/');
  return (slash == std::string::npos ? program : program.substr(slash + 1)) == "ringmaster";
}

std::string rendezvous_name(const TrainingJob& job) { return dns_label(job.metadata.name + "-rendezvous"); }

int rendezvous_port(const TrainingJob& job) {
  return job.elastic_policy && job.elastic_policy->rdzv_port ? *job.elastic_policy->rdzv_port : 29400;
}

std::string replica_name(const std::string& job, const std::string& type, int index) {
  return dns_label(fmt::format("{}-{}-{}", job, to_lower(type), index));
}

std::string mpi_hostfile_line(const TrainingJob& job, const std::string& host, int slots) {
  return job.mpi_implementation == "OpenMPI" ? fmt::format("{} slots={}\n", host, slots)
                                             : fmt::format("{}:{}\n", host, slots);
}

std::string mpi_hostfile(const TrainingJob& job, const std::vector<std::string>& hosts) {
  std::string out;
  for (const auto& h : hosts) out += mpi_hostfile_line(job, h, job.slots_per_worker);
  return out;
}

EnvList mpi_env(const TrainingJob& job, const std::string& type, const std::string& hostfile) {
  if (type != "Launcher") return {{"K_MPI_JOB_ROLE", "worker"}};
  EnvList env = {{"K_MPI_JOB_ROLE", "launcher"}};
  const std::string slots = std::to_string(job.slots_per_worker);
  const std::string ssh_args = "-o ConnectionAttempts=10";
  if (job.mpi_implementation == "Intel") {
    env.insert(env.end(), {{"I_MPI_HYDRA_HOST_FILE", hostfile},
                           {"I_MPI_HYDRA_BOOTSTRAP_EXEC_EXTRA_ARGS", ssh_args},
                           {"I_MPI_PERHOST", slots}});
  } else if (job.mpi_implementation == "MPICH") {
    env.insert(env.end(), {{"HYDRA_HOST_FILE", hostfile}, {"HYDRA_LAUNCH_EXTRA_ARGS", ssh_args}});
  } else {
    env.insert(env.end(), {{"OMPI_MCA_orte_keep_fqdn_hostnames", "true"},
                           {"OMPI_MCA_orte_default_hostfile", hostfile},
                           {"OMPI_MCA_plm_rsh_args", ssh_args},
                           {"OMPI_MCA_orte_set_default_slots", slots}});
  }
  if (!job.run_launcher_as_worker)
    env.insert(env.end(), {{"NVIDIA_VISIBLE_DEVICES", ""}, {"NVIDIA_DRIVER_CAPABILITIES", ""}});
  return env;
}

Result<EnvList> operator_env(const TrainingJob& job, const std::string& type, int index,
                             const ReplicaAddressing& addressing) {
  switch (job.kind) {
    case JobKind::kTFJob: return tf_env(job, type, index, addressing);
    case JobKind::kPyTorchJob: return pytorch_env(job, type, index, addressing);
    case JobKind::kJAXJob: return jax_env(job, index, addressing);
    case JobKind::kXGBoostJob: return xgboost_env(job, type, index, addressing);
    case JobKind::kPaddleJob: return paddle_env(job, type, index, addressing);
    default: return EnvList{};
  }
}

}  // namespace ringmaster::jobs
