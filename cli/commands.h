// The subcommands of the ringmaster binary. Each has an options struct filled by CLI11, a function
// that registers it, and a function that runs it and returns the process exit status:
// 0 success, 2 invalid input (a job file with errors, a bad flag), 1 any other failure.
#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "jobs/loader.h"
#include "launcher/job_dir.h"
#include "launcher/runner.h"
#include "worker/trainer.h"

namespace ringmaster::k8s {
struct RenderOptions;
}

namespace ringmaster::cli {

// Parses the command line into `app` and sets up logging at `log_level` (bound to an option of
// `app`, so read after parsing). Returns -1 to go on, else the exit status: 0 after --help or
// --version, 2 for bad flags or a bad level (the message names `program`).
int parse_command_line(CLI::App& app, int argc, char** argv, const std::string& log_level, const char* program);

struct ValidateOptions {
  std::vector<std::string> files;
  std::string output = "yaml";    // yaml | json
  std::string validate = "strict";  // strict | warn
  bool plan = false;
  bool quiet = false;
  std::size_t max_replicas = jobs::LoadOptions{}.max_replicas;
  std::vector<std::string> runtime_dirs;  // --runtimes: where a TrainJob's runtime may be found
};
void add_validate_command(CLI::App& app, ValidateOptions& options);
int run_validate(const ValidateOptions& options);

// How a job's pods are rendered for a cluster's schedulers and GPU sharing (k8s::RenderOptions
// says what each means); flags of both render and submit.
struct ClusterFlags {
  std::string gang_scheduler = "volcano", scheduler_name, gpu_sharing = "mps", gpu_shared_resource = "nvidia.com/gpu.shared";
};
void add_cluster_flags(CLI::App* command, ClusterFlags& flags);
void apply_cluster_flags(const ClusterFlags& flags, k8s::RenderOptions& options);

struct RenderOptions {
  std::string file, output_dir, mode = "pods", token, ssh_key;
  std::vector<std::string> runtime_dirs;  // --runtimes: a TrainJob's runtime may be in these
  std::size_t max_replicas = jobs::LoadOptions{}.max_replicas;
  ClusterFlags cluster;
};
void add_render_command(CLI::App& app, RenderOptions& options);
int run_render(const RenderOptions& options);

// --strategy: one process, data-parallel ranks (allreduce) or parameter servers.
enum class Strategy { kLocal, kAllreduce, kPs };

struct TrainOptions {
  worker::TrainConfig config;
  Strategy strategy = Strategy::kLocal;
  std::string collectives;         // allreduce backend; empty: RINGMASTER_COLLECTIVES, else auto
  double collective_timeout = 0;   // seconds; 0: RINGMASTER_TIMEOUT_SECONDS, else 60
  int64_t bucket_kib = worker::kDefaultBucketBytes / 1024;
  // --strategy ps (carried out by ringmaster-ps, see ps.h)
  std::vector<std::string> ps_hosts;  // empty: from TF_CONFIG
  int worker_index = -1, num_workers = -1;
  std::string ps_mode = "async";  // async | sync | ssp: parsed by ringmaster-ps (ps/mode.h), which carries --strategy ps out
  int staleness = 0;
  double ps_timeout = 30.0, ps_reconnect = 60.0;
  // --elastic MIN:MAX (empty: a fixed world); the rendezvous store from RINGMASTER_RDZV_ENDPOINT.
  std::string elastic;
  double elastic_timeout = 60.0;  // seconds a group may stay below MIN
  int max_restarts = -1;          // -1: PET_MAX_RESTARTS, else TrainConfig's default
};
void add_train_command(CLI::App& app, TrainOptions& options);
// The TrainConfig a replica runs: the flags', with what its environment adds (a job's replica
// prints lines, not a bar; its GPU follows RINGMASTER_DEVICE or the local rank).
worker::TrainConfig replica_train_config(const TrainOptions& options);
// `ps_training` runs --strategy ps: in `ringmaster` it hands the command line to ringmaster-ps,
// which passes run_ps_training.
int run_train(const TrainOptions& options, int (*ps_training)(const TrainOptions&));

struct SweepOptions {
  std::vector<std::string> args;  // EXPERIMENT.yaml, or: status DIR
  std::string dir;
  std::string resume;  // DIR
};
void add_sweep_command(CLI::App& app, SweepOptions& options);
int run_sweep_command(const SweepOptions& options);

// The gRPC half of the command lives in a second executable, ringmaster-ps, next to ringmaster:
// loading gRPC costs ~16 ms per process start, which only parameter-server processes should pay.
// `ringmaster ps ...`, `ringmaster train --strategy ps ...` and `ringmaster bench ps ...` exec it
// with the same arguments. Remember the command line first.
void remember_command_line(int argc, char** argv);
int exec_ringmaster_ps();  // returns only on failure (1, with a message)
// `ringmaster dashboard` runs in ringmaster-dashboard, which links cpp-httplib (and through it
// OpenSSL, whose loading alone would slow every other command's start: common/metrics.h).
// Returns only on failure, as exec_ringmaster_ps.
int exec_companion(const std::string& name, const std::string& why);

struct BenchOptions {
  std::string workload;  // train
  std::vector<std::string> models;    // empty: the workload's default (bench/train_bench.h, gpu_train_bench.h)
  std::string device = "cpu";          // train: cpu, or cuda (bench/gpu_train_bench.h)
  std::string precision = "fp32";      // train --device cuda
  std::vector<int64_t> batches = {128, 1024};  // train --device cuda
  std::vector<int> share = {1, 2, 4};  // train --device cuda: processes sharing the GPU
  int64_t steps = 0;     // 0: a default per model
  std::vector<int> threads = {1, 2};  // train (cpu): a run per count
  std::string data_dir = worker::kFashionMnistDir;
  bool child = false;    // internal: run one model and print its JSON line only
  // allreduce
  int ranks = 2;
  std::vector<std::string> backends = {"tcp", "shm", "mpi", "openmpi-tcp", "openmpi-shm"};
  int64_t min_bytes = 4096;
  int64_t max_bytes = 64 << 20;
  double seconds_per_size = 0.3;
  std::string rank_of;   // internal: run as one rank of this backend
  std::vector<int> workers = {1, 2, 4};  // scaling
  int64_t epochs = 4;
  int64_t batch_size = 128;
  std::string collectives = "auto";
  int64_t bucket_kib = 0;
  double target_accuracy = 0.88;
  std::string train_args = "--scale-lr --warmup-epochs 0.5";
  int repeats = 7;    // launch
  int replicas = 8;   // launch
  std::string peer;   // start: another ringmaster binary to compare with
  std::vector<std::string> algorithms = {"random", "tpe", "multivariate-tpe", "bayesianoptimization", "cmaes"};  // sweep
  std::vector<std::string> functions = {"branin", "hartmann6"};  // sweep
  int seeds = 20;     // sweep
  int budget = 200;   // sweep  // Horovod's recipe for a larger global batch
  CLI::App* command = nullptr;  // the bench subcommand, for the arguments left over (bench ps's own)
};
void add_bench_command(CLI::App& app, BenchOptions& options);
int run_bench(const BenchOptions& options);

// The restart back-off of run and submit (launcher::RestartBackoff; the kubelet's 10 s and 300 s).
struct BackoffFlags {
  double initial_seconds = 10, max_seconds = 300;
};
void add_backoff_flags(CLI::App* command, BackoffFlags& flags);
// Fails (naming the flag) unless 0 <= initial and 0 < max.
Result<launcher::RestartBackoff> restart_backoff(const BackoffFlags& flags);

struct RunOptions {
  std::string file;
  std::vector<std::string> runtime_dirs;  // --runtimes
  std::string job_dir;
  std::string jobs_root;
  int grace_seconds = 10;
  bool detach = false;  // -d: the launcher goes on in the background
  int metrics_port = -1;  // the Prometheus endpoint; -1: none, 0: a free port (printed)
  std::string metrics_address = "127.0.0.1";
  BackoffFlags backoff;
  int max_replicas = 0;  // 0: launcher::local_replica_limit
};
void add_run_command(CLI::App& app, RunOptions& options);
int run_run(const RunOptions& options);
// A Trainer v2 TrainJob as loaded by load_training_job, for what submit applies in crd and jobset
// modes: the file's TrainingRuntimes and the TrainJob, normalized, and the JobSet it resolves to.
struct TrainJobObjects {
  std::vector<YAML::Node> crd;  // the runtimes from the file, then the TrainJob
  YAML::Node jobset;
};
// Loads `file` into `loaded`, printing its diagnostics; -1 when it holds exactly one training job
// (documents[0]; a TrainJob, with the runtimes beside it, becomes the job its JobSet runs as, and
// `trainjob` receives its objects), else the exit status (1 unreadable, 2 invalid or not one job).
int load_training_job(const std::string& file, jobs::LoadResult& loaded, const char* command,
                      const jobs::LoadOptions& options, TrainJobObjects* trainjob = nullptr,
                      const std::vector<std::string>& runtime_dirs = {});
// --runtimes DIR (repeatable), for the commands that resolve TrainJobs.
void add_runtimes_flag(CLI::App* command, std::vector<std::string>& dirs);
// --max-replicas, for the commands that load jobs.
void add_max_replicas_flag(CLI::App* command, std::size_t& max_replicas);

// `ringmaster initialize`: a TrainJob initializer's storageUri brought in locally (initialize.cc).
// `ringmaster rendezvous`: an elastic job's rendezvous store (cli/rendezvous.cc).
struct RendezvousOptions {
  std::string host = "127.0.0.1", job = "ringmaster";
  int port = 29400;
};
void add_rendezvous_command(CLI::App& app, RendezvousOptions& options);
int run_rendezvous(const RendezvousOptions& options);

struct InitializeOptions {
  std::string storage_uri, output;
};
void add_initialize_command(CLI::App& app, InitializeOptions& options);
int run_initialize(const InitializeOptions& options);

// `ringmaster submit JOB.yaml`: the job on a Kubernetes cluster through kubectl (k8s/cluster.h).
// Its job directory (as `run`'s) also holds cluster.json: how to reach the cluster again, which
// status, logs and delete read.
struct SubmitOptions {
  std::string file, mode = "pods", kubectl, context, ns, jobs_root, token, ssh_key;
  std::vector<std::string> runtime_dirs;  // --runtimes
  double poll_seconds = 2.0;
  int grace_seconds = 30;
  ClusterFlags cluster;
  BackoffFlags backoff;
  std::size_t max_replicas = jobs::LoadOptions{}.max_replicas;
};
void add_submit_command(CLI::App& app, SubmitOptions& options);
int run_submit(const SubmitOptions& options);

struct StateOptions {
  std::string job, replica, root;
  bool follow = false;
};
void add_state_commands(CLI::App& app, StateOptions& options);
using launcher::jobs_root;  // launcher/job_dir.h
// Makes `dir` ready for a new run of a job: created if missing, emptied when it holds a previous
// run's state (a new run starts clean, as a new pod does). Refuses a directory whose job is still
// running, and a non-empty directory that is not a job directory (no status.json).
Status prepare_job_dir(const std::string& dir);
int run_status(const StateOptions& options);
// `ringmaster suspend|resume JOB`: asks the job's launcher through the file suspend_file(job_dir).
int run_suspend(const StateOptions& options, bool suspend);
// A job created suspended (runPolicy.suspend) starts nothing until resumed: its marker is written
// here. Failing to write it fails the command (without it the job would start).
Status mark_suspended_if_asked(const jobs::TrainingJob& job, const std::string& job_dir);
// The runner's RunOptions::suspended for the job in job_dir: whether its marker exists.
std::function<bool()> suspended_check(const std::string& job_dir);
int run_logs(const StateOptions& options);
int run_delete(const StateOptions& options);

}  // namespace ringmaster::cli
