// `ringmaster run JOB.yaml`: runs a TFJob, PyTorchJob, MPIJob or batch Job on this machine in the
// foreground, streaming each replica's output with its name as a prefix, and exits 0 when the job
// Succeeded, 1 when it Failed, 2 when the file is invalid. Ctrl-C or SIGTERM stops every replica
// and records the job as Failed ("Stopped").
#include <fmt/format.h>
#include <signal.h>
#include <fcntl.h>
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
#include "common/metrics.h"
#include "collectives/socket.h"
#include "jobs/loader.h"
#include "launcher/plan.h"
#include "launcher/runner.h"

namespace ringmaster::cli {
namespace {

std::atomic<int> g_stop_signal{0};  // set by the signal handler; read by the run loop
void on_stop_signal(int sig) { g_stop_signal.store(sig); }

int free_port() {
  auto fd = collectives::listen_tcp("127.0.0.1", 0);
  return fd ? collectives::local_port(fd->get()) : 0;
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
  auto* cmd = app.add_subcommand("run", "Run a TFJob, PyTorchJob, MPIJob or batch Job on this machine (replicas as processes)");
  cmd->add_option("file", o.file, "job YAML")->required();
  cmd->add_option("--job-dir", o.job_dir, "state directory (default ~/.ringmaster/jobs/<name>)");
  cmd->add_option("--jobs-root", o.jobs_root, "put the state directory in ROOT/<name> (as status/logs/delete read it)");
  cmd->add_option("--grace-seconds", o.grace_seconds, "SIGTERM, then SIGKILL after this many seconds")
      ->capture_default_str();
  cmd->add_option("--metrics-port", o.metrics_port,
                  "serve Prometheus metrics (job phase, replica counts, restarts, phase durations) at "
                  "http://ADDRESS:PORT/metrics while the job runs; 0 picks a free port");
  cmd->add_option("--metrics-address", o.metrics_address, "address of the metrics endpoint")->capture_default_str();
  cmd->add_flag("-d,--detach", o.detach,
                "run in the background: print the job's name and return (then `ringmaster status|logs -f|delete`)");
}

int load_training_job(const std::string& file, jobs::LoadResult& loaded, const char* command) {
  loaded = jobs::load_file(file);
  for (const auto& d : loaded.diagnostics.sorted()) std::cerr << d.to_string() << "\n";
  if (loaded.file_unreadable) return 1;
  if (!loaded.ok()) return 2;
  if (loaded.documents.size() != 1 || !std::holds_alternative<jobs::TrainingJob>(loaded.documents[0].object)) {
    std::cerr << file << ": expected one TFJob, PyTorchJob, MPIJob or batch Job, found "
              << (loaded.documents.size() == 1 ? "a Katib Experiment (run it with `ringmaster sweep`)"
                                               : std::to_string(loaded.documents.size()) + " documents")
              << " (ringmaster " << command << ")\n";
    return 2;
  }
  return -1;
}

int run_run(const RunOptions& o) {
  jobs::LoadResult loaded;
  if (const int rc = load_training_job(o.file, loaded, "run"); rc >= 0) return rc;
  const auto& job = std::get<jobs::TrainingJob>(loaded.documents[0].object);
  std::string dir = o.job_dir.empty() ? (jobs_root(o.jobs_root) / job.metadata.name).string() : o.job_dir;
  // Absolute: replicas start in it, and paths into it (the MPI hostfile) must mean the same there.
  dir = std::filesystem::absolute(dir).lexically_normal().string();
  if (Status s = prepare_job_dir(dir); !s) {
    std::cerr << "ringmaster run: " << s.message() << "\n";
    return s.code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  const int cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  auto plan = launcher::plan_job(job, {random_hex(16), (std::filesystem::path(dir) / "hostfile").string(), free_port,
                                       cpus, launcher::detect_gpus(), launcher::allowed_cpus()});
  if (!plan) {
    std::cerr << o.file << ": " << plan.status().message() << "\n";
    return 2;
  }
  // In a job's image `ringmaster` is on PATH; here the replicas find this very binary first (a
  // PATH the container sets itself is left alone).
  {
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    const char* path = std::getenv("PATH");
    for (auto& r : plan->replicas) {
      const bool own_path = std::any_of(r.env.begin(), r.env.end(), [](const auto& kv) { return kv.first == "PATH"; });
      if (!ec && !own_path)
        r.env.emplace_back("PATH", self.parent_path().string() + (path ? ":" + std::string(path) : std::string()));
    }
  }
  if (o.detach) {
    // The launcher goes on in a child of its own session (no terminal to lose), writing what it
    // would print to <job dir>/launcher.log; this process returns once the job has a status.
    std::fflush(nullptr);
    const pid_t child = ::fork();
    if (child < 0) {
      std::cerr << "ringmaster run -d: fork: " << std::strerror(errno) << "\n";
      return 1;
    }
    if (child > 0) {
      const auto status_path = std::filesystem::path(dir) / "status.json";
      for (int i = 0; i < 200 && !std::filesystem::exists(status_path); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
      std::cout << "job " << job.metadata.name << " started in the background (launcher pid " << child
                << "); state in " << dir << "\n"
                << "follow it with `ringmaster logs " << job.metadata.name << " -f`, stop it with `ringmaster delete "
                << job.metadata.name << "`\n";
      return 0;
    }
    ::setsid();
    const std::string log = (std::filesystem::path(dir) / "launcher.log").string();
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out >= 0) ::dup2(out, 1), ::dup2(out, 2);
    if (in >= 0) ::dup2(in, 0);
  }
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  auto processes = launcher::real_processes();
  LogFollower logs(::isatty(1));
  launcher::RunOptions ro;
  ro.job_dir = dir;
  ro.grace = std::chrono::seconds(o.grace_seconds);
  ro.stop_requested = [] { return g_stop_signal.load() != 0; };
  const std::string suspend_path = suspend_file(dir);
  if (job.run_policy.suspend)  // created suspended, as the operator does; `ringmaster resume` starts it
    (void)write_file_atomic(suspend_path, "runPolicy.suspend\n");
  ro.suspended = [suspend_path] { return ::access(suspend_path.c_str(), F_OK) == 0; };
  ro.stop_reason = "stopped by a signal (Ctrl-C or SIGTERM)";
  // The metrics endpoint renders the latest status on its own thread.
  std::mutex snapshot_mu;
  launcher::JobStatus snapshot;
  std::unique_ptr<MetricsServer> metrics;
  if (o.metrics_port >= 0) {
    auto server = MetricsServer::start(o.metrics_address, o.metrics_port, [&] {
      std::lock_guard<std::mutex> lock(snapshot_mu);
      return launcher::job_metrics_text(snapshot);
    });
    if (!server) {
      std::cerr << "ringmaster run: " << server.status().message() << "\n";
      return 1;
    }
    metrics = std::move(*server);
    fmt::print(stderr, "ringmaster: metrics at http://{}:{}/metrics\n", o.metrics_address, metrics->port());
  }
  const launcher::JobStatus* latest = nullptr;
  std::string last_phase;
  bool told_left_running = false;
  ro.on_change = [&](const launcher::JobStatus& s) {
    latest = &s;
    if (metrics) {
      std::lock_guard<std::mutex> lock(snapshot_mu);
      snapshot = s;
    }
    if (s.phase != last_phase) {
      fmt::print(stderr, "ringmaster: job {} {}{}{}\n", job.metadata.name, s.phase,
                 s.reason.empty() ? "" : " (" + s.reason + ")", s.message.empty() ? "" : ": " + s.message);
      last_phase = s.phase;
    }
    if (!s.left_running.empty() && !told_left_running) {
      fmt::print(stderr,
                 "ringmaster: cleanPodPolicy None leaves {} replica(s) running, as the operator would; they end by "
                 "themselves, or stop them with Ctrl-C or `ringmaster delete {}`\n",
                 s.left_running.size(), job.metadata.name);
      told_left_running = true;
    }
  };
  ro.on_tick = [&] {
    if (latest) logs.follow(*latest);
  };
  launcher::JobRunner runner(job, std::move(*plan), *processes, ro);
  const launcher::JobStatus final_status = runner.run();
  logs.follow(final_status);
  std::fprintf(stderr, "ringmaster: job %s %s after %.1f s, %d restarts; state in %s\n", job.metadata.name.c_str(),
               final_status.phase.c_str(), final_status.elapsed_seconds, final_status.restarts, dir.c_str());
  return final_status.phase == "Succeeded" ? 0 : 1;
}

}  // namespace ringmaster::cli
