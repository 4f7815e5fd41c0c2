// `ringmaster run JOB.yaml`: runs a TFJob, PyTorchJob, JAXJob, XGBoostJob, PaddleJob, MPIJob or batch Job on this machine in the
// foreground, streaming each replica's output with its name as a prefix, and exits 0 when the job
// Succeeded, 1 when it Failed, 2 when the file is invalid. Ctrl-C or SIGTERM stops every replica
// and records the job as Failed ("Stopped").
//
// The launcher (the JobRunner and the replicas' supervisors) runs in a child of the command. The
// command returns with the job's result as soon as the job has one, even when cleanPodPolicy None
// leaves replicas running: the launcher then detaches (its own session, output to launcher.log)
// and watches them until they end, where `ringmaster status|logs|delete` see it. Why a child:
// the supervisors die with the process that forked them (PR_SET_PDEATHSIG), so the process that
// outlives the command must be the one that started them.
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "cli/log_tail.h"
#include "common/files.h"
#include "common/strings.h"
#include "common/metrics.h"
#include "common/socket.h"
#include "collectives/store.h"
#include "common/deadline.h"
#include "worker/elastic.h"
#include "jobs/loader.h"
#include "jobs/operator_env.h"
#include "launcher/plan.h"
#include "launcher/runner.h"

namespace ringmaster::cli {
namespace {

std::atomic<int> g_stop_signal{0};  // set by the signal handler; read by the run loop
void on_stop_signal(int sig) { g_stop_signal.store(sig); }

std::atomic<pid_t> g_launcher{0};  // the foreground command's launcher child
void forward_signal(int sig) {
  if (const pid_t p = g_launcher.load(); p > 0) ::kill(p, sig);
}

// The foreground command's side: forwards SIGINT, SIGTERM and SIGHUP to the launcher and returns
// the job's result, which the launcher writes on `result` as one byte (the exit status, | 0x80
// when it detached to watch replicas left running). Without that byte (the launcher died) the
// launcher's own exit status is returned.
int await_launcher(pid_t child, int result) {
  g_launcher = child;
  struct sigaction sa {};
  sa.sa_handler = forward_signal;
  // Ctrl-C reaches the launcher through the terminal too: a second SIGINT only sets the same flag.
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
  unsigned char byte = 0;
  ssize_t n;
  do n = ::read(result, &byte, 1);
  while (n < 0 && errno == EINTR);
  ::close(result);
  if (n == 1 && (byte & 0x80)) return byte & 0x7f;  // detached: it goes on without us
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (n == 1) return byte;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  std::fprintf(stderr, "ringmaster run: the launcher (pid %d) was killed by signal %d\n", static_cast<int>(child),
               WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  return 1;
}

// Makes this process a background one that outlives its terminal and the command that started it.
void detach_from_terminal(const std::string& log) {
  std::fflush(nullptr);
  const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, kPrivateFileMode);
  const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (out >= 0) ::dup2(out, 1), ::dup2(out, 2);
  if (in >= 0) ::dup2(in, 0);
  if (out > 2) ::close(out);
  if (in > 2) ::close(in);
  ::setsid();
}

// Prints the new complete lines of every replica log, prefixed with the replica's name.
class LogFollower {
 public:
  explicit LogFollower(bool colour) : colour_(colour) {}
  void follow(const launcher::JobStatus& s) {
    int n = 0;
    for (const auto& r : s.replicas) {
      ++n;
      auto print = [&](std::string_view line) {
        if (colour_)
          fmt::print("\033[{}m[{}]\033[0m {}\n", 31 + (n % 6), r.name, line);
        else
          fmt::print("[{}] {}\n", r.name, line);
      };
      // A restarted replica writes a new log: first the last lines of the one it left (its
      // error message, usually).
      std::string& last = last_log_[r.name];
      if (!last.empty() && last != r.log) tail_.read_new_lines(last, print);
      last = r.log;
      tail_.read_new_lines(r.log, print);
    }
    std::fflush(stdout);
  }

 private:
  bool colour_;
  LogTail tail_;
  std::map<std::string, std::string> last_log_;  // replica -> the log followed last
};

}  // namespace

void add_run_command(CLI::App& app, RunOptions& o) {
  auto* cmd = app.add_subcommand("run", "Run a TFJob, PyTorchJob, JAXJob, XGBoostJob, PaddleJob, MPIJob, batch Job or Trainer v2 TrainJob on this machine (replicas as processes)");
  cmd->add_option("file", o.file, "job YAML")->required();
  add_runtimes_flag(cmd, o.runtime_dirs);
  cmd->add_option("--job-dir", o.job_dir, "state directory (default ~/.ringmaster/jobs/<name>)");
  cmd->add_option("--jobs-root", o.jobs_root, "put the state directory in ROOT/<name> (as status/logs/delete read it)");
  cmd->add_option("--grace-seconds", o.grace_seconds, "SIGTERM, then SIGKILL after this many seconds")
      ->capture_default_str();
  cmd->add_option("--metrics-port", o.metrics_port,
                  "serve Prometheus metrics (job phase, replica counts, restarts, phase durations) at "
                  "http://ADDRESS:PORT/metrics while the job runs; 0 picks a free port");
  cmd->add_option("--metrics-address", o.metrics_address, "address of the metrics endpoint")->capture_default_str();
  add_backoff_flags(cmd, o.backoff);
  cmd->add_option("--max-replicas", o.max_replicas,
                  "start at most this many replicas (default: what this machine runs, 16 per CPU within its process "
                  "and open-file limits)")
      ->check(CLI::Range(1, 1000000));
  cmd->add_flag("-d,--detach", o.detach,
                "run in the background: print the job's name and return (then `ringmaster status|logs -f|delete`)");
}

void add_backoff_flags(CLI::App* cmd, BackoffFlags& f) {
  cmd->add_option("--restart-backoff-seconds", f.initial_seconds,
                  "wait this long before restarting a replica, doubling on each restart (the kubelet's "
                  "CrashLoopBackOff); 0 restarts at once")
      ->capture_default_str();
  cmd->add_option("--max-restart-backoff-seconds", f.max_seconds,
                  "the longest wait before a restart; a replica that ran twice as long starts over")
      ->capture_default_str();
}

Result<launcher::RestartBackoff> restart_backoff(const BackoffFlags& f) {
  if (!(f.initial_seconds >= 0 && f.initial_seconds <= 86400))
    return invalid_argument(fmt::format("--restart-backoff-seconds: expected 0 to 86400, found {}", f.initial_seconds));
  if (!(f.max_seconds > 0 && f.max_seconds <= 86400))
    return invalid_argument(fmt::format("--max-restart-backoff-seconds: expected more than 0 and at most 86400, found {}",
                                        f.max_seconds));
  auto ms = [](double s) { return std::chrono::milliseconds(static_cast<int64_t>(s * 1000 + 0.5)); };
  return launcher::RestartBackoff{ms(f.initial_seconds), ms(f.max_seconds)};
}

void add_runtimes_flag(CLI::App* command, std::vector<std::string>& dirs) {
  command->add_option("--runtimes", dirs,
                      "a directory of TrainingRuntime / ClusterTrainingRuntime YAML files a TrainJob's runtimeRef may "
                      "name (after the file's own, before the built-in ones); repeatable")
      ->allow_extra_args(false);  // one DIR per --runtimes, so `--runtimes DIR JOB.yaml` leaves the file
}

int load_training_job(const std::string& file, jobs::LoadResult& loaded, const char* command,
                      const jobs::LoadOptions& options, TrainJobObjects* trainjob,
                      const std::vector<std::string>& runtime_dirs) {
  loaded = jobs::load_file(file, options);
  for (const auto& d : loaded.diagnostics.sorted()) std::cerr << d.to_string() << "\n";
  if (loaded.file_unreadable) return 1;
  if (!loaded.ok()) return 2;
  // A Trainer v2 TrainJob (with any runtimes beside it in the file) runs as the JobSet it resolves
  // to (jobs/trainer.h).
  const auto trainjobs = std::count_if(loaded.documents.begin(), loaded.documents.end(), [](const auto& d) {
    return std::holds_alternative<jobs::TrainJob>(d.object);
  });
  const auto runtimes_only = std::all_of(loaded.documents.begin(), loaded.documents.end(), [](const auto& d) {
    return std::holds_alternative<jobs::TrainJob>(d.object) || std::holds_alternative<jobs::TrainingRuntime>(d.object);
  });
  if (trainjobs == 1 && runtimes_only) {
    std::vector<std::string> problems;
    const auto runtimes = jobs::collect_runtimes(loaded.documents, runtime_dirs, problems);
    for (const auto& p : problems) std::cerr << p << "\n";
    const auto doc = *std::find_if(loaded.documents.begin(), loaded.documents.end(),
                                   [](const auto& d) { return std::holds_alternative<jobs::TrainJob>(d.object); });
    const auto& tj = std::get<jobs::TrainJob>(doc.object);
    auto resolved = jobs::resolve_trainjob(tj, runtimes);
    if (resolved && resolved->runtime.framework == "flux" && std::string(command) == "run") {
      std::cerr << file << ": TrainJob " << tj.metadata.name << ": runtime " << resolved->runtime.metadata.name
                << " uses the flux mlPolicy, which needs the Flux Framework in every pod (Trainer's flux plugin "
                   "adds it on the cluster); ringmaster runs torch, mpi, xgboost, jax and plain runtimes here. "
                   "`ringmaster render` and `submit --mode crd` take it as it is\n";
      return 2;
    }
    // trainjob_controller.go skips a TrainJob whose spec.managedBy names another controller (Kueue's
    // MultiKueue dispatches it to a worker cluster); here ringmaster is the controller asked to run it.
    if (const std::string managed_by = tj.spec["managedBy"] ? tj.spec["managedBy"].as<std::string>("") : "";
        !managed_by.empty() && managed_by != "trainer.kubeflow.org/trainjob-controller")
      std::cerr << file << ": note: TrainJob " << tj.metadata.name << ": spec.managedBy is " << managed_by
                << ": on a cluster Trainer leaves it to that controller; `ringmaster " << command
                << "` runs it as Trainer would\n";
    auto job = resolved ? jobs::trainjob_as_job(tj, *resolved) : Result<jobs::TrainingJob>(resolved.status());
    if (!job) {
      std::cerr << file << ": TrainJob " << tj.metadata.name << ": " << job.status().message() << "\n";
      return 2;
    }
    if (trainjob != nullptr) {
      trainjob->crd.clear();
      for (const auto& d : loaded.documents)
        if (std::holds_alternative<jobs::TrainingRuntime>(d.object)) trainjob->crd.push_back(YAML::Clone(d.normalized));
      trainjob->crd.push_back(YAML::Clone(doc.normalized));
      trainjob->jobset = YAML::Clone(resolved->jobset);
    }
    loaded.documents = {doc};
    loaded.documents[0].object = std::move(*job);
    return -1;
  }
  if (loaded.documents.size() != 1 || !std::holds_alternative<jobs::TrainingJob>(loaded.documents[0].object)) {
    std::cerr << file << ": expected one TFJob, PyTorchJob, JAXJob, XGBoostJob, PaddleJob, MPIJob, batch Job"
              << " or Trainer v2 TrainJob, found "
              << (loaded.documents.size() != 1 ? std::to_string(loaded.documents.size()) + " documents"
                  : std::holds_alternative<jobs::Experiment>(loaded.documents[0].object)
                      ? std::string("a Katib Experiment (run it with `ringmaster sweep`)")
                      : std::string("a Kubeflow Trainer v2 ") + loaded.documents[0].kind +
                            " without a TrainJob that uses it")
              << " (ringmaster " << command << ")\n";
    return 2;
  }
  return -1;
}

namespace {

// Exit code 2 when the job has more replicas than this machine runs at once, naming the limit.
bool refuse_if_too_big(const RunOptions& o, const jobs::TrainingJob& job, int cpus, int max_replicas) {
  if (job.total_replicas() <= max_replicas) return false;
  std::cerr << fmt::format("{}: job {} has {} replicas; this machine runs at most {} at once ({})\n", o.file,
                           job.metadata.name, job.total_replicas(), max_replicas,
                           o.max_replicas > 0 ? "--max-replicas"
                                              : fmt::format("16 per CPU on {} CPUs, within the process and open-file "
                                                            "limits; --max-replicas changes it",
                                                            cpus));
  return true;
}

// In a job's image `ringmaster` is on PATH; here the replicas find this very binary first (a PATH
// the container sets itself is left alone).
void put_this_binary_on_path(launcher::JobPlan& plan) {
  const std::string self = executable_path();
  if (self.empty()) return;
  const char* path = std::getenv("PATH");
  for (auto& r : plan.replicas) {
    const bool own_path = std::any_of(r.env.begin(), r.env.end(), [](const auto& kv) { return kv.first == "PATH"; });
    if (!own_path)
      r.env.emplace_back("PATH", std::filesystem::path(self).parent_path().string() +
                                     (path ? ":" + std::string(path) : std::string()));
  }
}

// Splits the command into the process that answers the shell and the launcher that runs the job.
// -d: the launcher goes on in a child of its own session (no terminal to lose), writing what it
// would print to <job dir>/launcher.log; the command returns once the job has a status. Otherwise
// the launcher is a child that ends with the command and writes the job's result on *result_fd.
// Returns the command's exit code in the process that answers the shell, nullopt in the launcher.
std::optional<int> fork_launcher(const RunOptions& o, const std::string& name, const std::string& dir,
                                 int& result_fd) {
  std::fflush(nullptr);
  if (o.detach) {
    const pid_t child = ::fork();
    if (child < 0) {
      std::cerr << "ringmaster run -d: fork: " << std::strerror(errno) << "\n";
      return 1;
    }
    if (child == 0) {
      detach_from_terminal((std::filesystem::path(dir) / "launcher.log").string());
      return std::nullopt;
    }
    const auto status_path = std::filesystem::path(dir) / "status.json";
    for (int i = 0; i < 200 && !std::filesystem::exists(status_path); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    std::cout << "job " << name << " started in the background (launcher pid " << child << "); state in " << dir
              << "\nfollow it with `ringmaster logs " << name << " -f`, stop it with `ringmaster delete " << name
              << "`\n";
    return 0;
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    std::cerr << "ringmaster run: pipe: " << std::strerror(errno) << "\n";
    return 1;
  }
  const pid_t parent = ::getpid();
  const pid_t child = ::fork();
  if (child < 0) {
    std::cerr << "ringmaster run: fork: " << std::strerror(errno) << "\n";
    return 1;
  }
  if (child > 0) {
    ::close(fds[1]);
    return await_launcher(child, fds[0]);
  }
  ::close(fds[0]);
  result_fd = fds[1];
  // While attached, the launcher ends with the command (a sweep driver killing its trial, say).
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) return 1;
  return std::nullopt;
}

// An elastic job's workers meet at PET_RDZV_ENDPOINT (worker 0's address for a PyTorchJob, the
// first node's for a TrainJob): locally the launcher serves that store, so it outlives every
// worker (docs/elastic.md). Null when ringmaster does not serve it
// (jobs::ringmaster_serves_rendezvous: not elastic, a rendezvous host of the user's, or torchrun
// workers, whose worker 0 hosts their own).
Result<std::unique_ptr<collectives::TcpStoreServer>> serve_elastic_rendezvous(const jobs::TrainingJob& job,
                                                                              const launcher::JobPlan& plan) {
  if (!jobs::ringmaster_serves_rendezvous(job)) return std::unique_ptr<collectives::TcpStoreServer>();
  for (const auto& r : plan.replicas)
    for (const auto& [name, value] : r.env) {
      if (name != "PET_RDZV_ENDPOINT") continue;
      auto where = parse_endpoint(value);
      if (!where) return where.status().with_context("PET_RDZV_ENDPOINT");
      auto server = collectives::TcpStoreServer::start(where->host, where->port, {plan.token, plan.job, 0, 0});
      if (!server) return server.status().with_context("serving the elastic rendezvous at " + value);
      return server;
    }
  return std::unique_ptr<collectives::TcpStoreServer>();
}

// What the launcher tells its terminal while the job runs: phase changes, replicas left running,
// the replicas' logs, the summary, and (attached) the result through the pipe; and what the
// metrics endpoint serves.
class LauncherConsole {
 public:
  LauncherConsole(const jobs::TrainingJob& job, std::string dir, int result_fd)
      : name_(job.metadata.name), dir_(std::move(dir)), result_fd_(result_fd), logs_(::isatty(1)) {}

  Status serve_metrics(const RunOptions& o) {
    if (o.metrics_port < 0) return Status::ok();
    auto server = MetricsServer::start(o.metrics_address, o.metrics_port, [this] {
      std::lock_guard<std::mutex> lock(snapshot_mu_);
      return launcher::job_metrics_text(snapshot_);
    });
    if (!server) return server.status();
    metrics_ = std::move(*server);
    fmt::print(stderr, "ringmaster: metrics at http://{}:{}/metrics\n", o.metrics_address, metrics_->port());
    return Status::ok();
  }

  // Elastic: the group's membership, read from the rendezvous store, goes to <job dir>/elastic.json
  // (what `ringmaster status` shows) whenever it changes.
  void watch_membership(std::unique_ptr<collectives::Store> store) { rendezvous_ = std::move(store); }

  void wire(launcher::RunOptions& ro) {
    ro.on_change = [this](const launcher::JobStatus& s) { changed(s); };
    ro.on_tick = [this] {
      if (latest_ && !detached_) logs_.follow(*latest_);
      if (rendezvous_) note_membership();
    };
    ro.on_finished_leaving_running = [this](const launcher::JobStatus& s) { detach_leaving_running(s); };
  }

  int finish(const launcher::JobStatus& final_status) {
    if (!detached_) logs_.follow(final_status);
    summary(final_status);
    std::fflush(nullptr);
    const int code = final_status.phase == "Succeeded" ? 0 : 1;
    tell_result(code, false);
    return code;
  }

 private:
  void changed(const launcher::JobStatus& s) {
    latest_ = &s;
    if (metrics_) {
      std::lock_guard<std::mutex> lock(snapshot_mu_);
      snapshot_ = s;
    }
    if (s.phase != last_phase_) {
      fmt::print(stderr, "ringmaster: job {} {}{}{}\n", name_, s.phase, s.reason.empty() ? "" : " (" + s.reason + ")",
                 s.message.empty() ? "" : ": " + s.message);
      last_phase_ = s.phase;
    }
    if (!s.left_running.empty() && !told_left_running_) {
      fmt::print(stderr, "ringmaster: cleanPodPolicy None leaves {} running, as the operator would\n",
                 join(s.left_running, ", "));
      told_left_running_ = true;
    }
  }
  // The job finished with replicas left running (cleanPodPolicy None): the command returns, a
  // detached launcher watches them.
  void detach_leaving_running(const launcher::JobStatus& s) {
    if (result_fd_ < 0) return;  // -d: already in the background
    logs_.follow(s);
    fmt::print(stderr,
               "ringmaster: a detached launcher (pid {}) watches the replica(s) left running until they end; see them "
               "with `ringmaster status {}` and `ringmaster logs {} -f`, stop them with `ringmaster delete {}`\n",
               ::getpid(), name_, name_, name_);
    summary(s);
    detach_from_terminal((std::filesystem::path(dir_) / "launcher.log").string());
    ::prctl(PR_SET_PDEATHSIG, 0);
    detached_ = true;
    tell_result(s.phase == "Succeeded" ? 0 : 1, true);
  }
  void note_membership() {
    const auto now = std::chrono::steady_clock::now();
    if (now < next_membership_read_) return;
    next_membership_read_ = now + std::chrono::milliseconds(500);
    auto m = worker::read_membership(*rendezvous_);
    if (!m) return;  // the store answers again at the next tick, or the job is over
    const nlohmann::json j = {{"generation", m->generation}, {"forming", m->forming}, {"members", m->members}};
    if (j == membership_) return;
    membership_ = j;
    if (Status s = write_file_atomic((std::filesystem::path(dir_) / "elastic.json").string(), j.dump(2) + "\n", 0644,
                                     Durability::kReplaceOnly);
        !s)
      fmt::print(stderr, "ringmaster: writing the elastic membership: {}\n", s.message());
  }
  void summary(const launcher::JobStatus& s) const {
    std::fprintf(stderr, "ringmaster: job %s %s after %.1f s, %d restarts; state in %s\n", name_.c_str(),
                 s.phase.c_str(), s.elapsed_seconds, s.restarts, dir_.c_str());
  }
  void tell_result(int code, bool detaching) {
    if (result_fd_ < 0) return;
    const unsigned char byte = static_cast<unsigned char>(code | (detaching ? 0x80 : 0));
    if (::write(result_fd_, &byte, 1) != 1)
      std::fprintf(stderr, "ringmaster: telling the command the job's result: %s\n", std::strerror(errno));
    ::close(result_fd_);
    result_fd_ = -1;
  }

  const std::string name_, dir_;
  int result_fd_;
  LogFollower logs_;
  std::mutex snapshot_mu_;
  launcher::JobStatus snapshot_;  // GUARDED_BY(snapshot_mu_): the endpoint renders it on its thread
  std::unique_ptr<MetricsServer> metrics_;
  const launcher::JobStatus* latest_ = nullptr;
  std::string last_phase_;
  bool told_left_running_ = false, detached_ = false;
  std::unique_ptr<collectives::Store> rendezvous_;  // elastic: a client of the launcher's rendezvous
  std::chrono::steady_clock::time_point next_membership_read_{};
  nlohmann::json membership_;
};

}  // namespace

int run_run(const RunOptions& o) {
  jobs::LoadResult loaded;
  const int cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int max_replicas = o.max_replicas > 0 ? o.max_replicas : launcher::local_replica_limit(cpus);
  jobs::LoadOptions lo;
  lo.max_replicas = std::max(lo.max_replicas, static_cast<std::size_t>(max_replicas));
  if (const int rc = load_training_job(o.file, loaded, "run", lo, nullptr, o.runtime_dirs); rc >= 0) return rc;
  const auto& job = std::get<jobs::TrainingJob>(loaded.documents[0].object);
  if (refuse_if_too_big(o, job, cpus, max_replicas)) return 2;
  auto backoff = restart_backoff(o.backoff);
  if (!backoff) {
    std::cerr << "ringmaster run: " << backoff.status().message() << "\n";
    return 2;
  }
  std::string dir = o.job_dir.empty() ? (jobs_root(o.jobs_root) / job.metadata.name).string() : o.job_dir;
  // Absolute: replicas start in it, and paths into it (the MPI hostfile) must mean the same there.
  dir = std::filesystem::absolute(dir).lexically_normal().string();
  if (Status s = prepare_job_dir(dir); !s) {
    std::cerr << "ringmaster run: " << s.message() << "\n";
    return s.code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  std::error_code ec;  // where the replicas write their metrics (RINGMASTER_METRICS_FILE), for the dashboard
  std::filesystem::create_directories(launcher::metrics_dir(dir), ec);
  auto plan = launcher::plan_job(job, {random_hex(16), (std::filesystem::path(dir) / "hostfile").string(),
                                       free_loopback_port, cpus, launcher::detect_gpus(), launcher::allowed_cpus(), dir});
  if (!plan) {
    std::cerr << o.file << ": " << plan.status().message() << "\n";
    return 2;
  }
  put_this_binary_on_path(*plan);
  int result_fd = -1;  // foreground: where the launcher writes the job's result
  if (const std::optional<int> rc = fork_launcher(o, job.metadata.name, dir, result_fd)) return *rc;
  // The launcher from here on.
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  if (Status s = mark_suspended_if_asked(job, dir); !s) {
    std::cerr << "ringmaster run: " << s.message() << "\n";
    return 1;
  }
  auto rendezvous = serve_elastic_rendezvous(job, *plan);
  if (!rendezvous) {
    std::cerr << "ringmaster run: " << rendezvous.status().message() << "\n";
    return 1;
  }
  LauncherConsole console(job, dir, result_fd);
  if (*rendezvous) {
    auto client = collectives::connect_tcp_store({"127.0.0.1", (*rendezvous)->port()}, {plan->token, plan->job, 0, 0},
                                                 Deadline::after(std::chrono::seconds(5)));
    if (!client) {
      std::cerr << "ringmaster run: reading the elastic rendezvous: " << client.status().message() << "\n";
      return 1;
    }
    console.watch_membership(std::move(*client));
  }
  if (Status s = console.serve_metrics(o); !s) {
    std::cerr << "ringmaster run: " << s.message() << "\n";
    return 1;
  }
  launcher::RunOptions ro;
  ro.job_dir = dir;
  ro.grace = std::chrono::seconds(o.grace_seconds);
  ro.backoff = *backoff;
  ro.stop_requested = [] { return g_stop_signal.load() != 0; };
  ro.stop_reason = "stopped by a signal (Ctrl-C or SIGTERM)";
  ro.suspended = suspended_check(dir);
  console.wire(ro);
  auto processes = launcher::real_processes();
  launcher::JobRunner runner(job, std::move(*plan), *processes, ro);
  return console.finish(runner.run());
}

}  // namespace ringmaster::cli
