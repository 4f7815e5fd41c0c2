// `ringmaster status [JOB]`, `ringmaster logs JOB [REPLICA] [-f]`, `ringmaster delete JOB`: read and
// manage the job directories `ringmaster run` writes (status.json, events.log, logs/).
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>
#include <optional>
#include <vector>

#include "cli/commands.h"
#include "cli/log_tail.h"
#include "common/files.h"
#include "common/process_stats.h"
#include "common/strings.h"
#include "k8s/kubectl.h"
#include "k8s/render.h"
#include "launcher/job_dir.h"
#include "launcher/runner.h"

namespace ringmaster::cli {
namespace fs = std::filesystem;
namespace {
using launcher::finished_phase;
using launcher::launcher_alive;

Result<nlohmann::json> load_status(const fs::path& dir) {
  auto text = read_file((dir / "status.json").string());
  if (!text) return not_found(fmt::format("no job state in {} (no status.json)", dir.string()));
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded()) return data_loss(fmt::format("{}: not valid JSON", (dir / "status.json").string()));
  return j;
}

// cluster.json, for a job `ringmaster submit` sent to a cluster: how to reach it again.
std::optional<nlohmann::json> cluster_of(const fs::path& dir) {
  auto text = read_file((dir / "cluster.json").string());
  if (!text) return std::nullopt;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

k8s::Kubectl kubectl_of(const nlohmann::json& c) {
  return k8s::Kubectl({c.value("kubectl", "kubectl"), c.value("context", ""), c.value("namespace", "default")});
}

// A local job whose launcher died (kill -9, a reboot) without recording an end: its replicas died
// with it (their supervisors have PR_SET_PDEATHSIG), so the job has Failed. Records that in
// status.json and events.log, as the launcher would have, so every reader sees the same state.
// A submitted job's pods live on without `ringmaster submit`, so it is left as it is.
void note_launcher_gone(const fs::path& dir, nlohmann::json& s) {
  const bool working = !finished_phase(s.value("phase", "")) || s.contains("leftRunning");
  if (!working || launcher_alive(s) || cluster_of(dir)) return;
  const std::string message =
      fmt::format("launcher gone at {} (pid {} no longer runs; its last update was at {}); its replicas ended with it",
                  utc_timestamp(std::chrono::system_clock::now()), s.value("launcherPid", 0), s.value("updated", "?"));
  if (!finished_phase(s.value("phase", ""))) {
    s["phase"] = "Failed";
    s["reason"] = "LauncherGone";
    s["message"] = message;
    if (s.contains("conditions") && s["conditions"].is_array()) s["conditions"].push_back("Failed");
  }
  s.erase("leftRunning");
  if (s.contains("replicas") && s["replicas"].is_array())
    for (auto& r : s["replicas"]) {
      const std::string phase = r.value("phase", "");
      if (phase == "Running" || phase == "CrashLoopBackOff" || phase == "Pending") r["phase"] = "Stopped";
    }
  if (s.contains("replicaStatuses") && s["replicaStatuses"].is_object())
    for (auto& [type, c] : s["replicaStatuses"].items()) c["active"] = 0;
  const bool failed_now = s.value("reason", "") == "LauncherGone";
  if (Status w = write_file_atomic((dir / "status.json").string(), s.dump(2) + "\n", kPrivateFileMode); !w)
    std::cerr << "ringmaster: cannot record that the launcher is gone: " << w.message() << "\n";
  launcher::append_event(dir.string(), failed_now ? "Failed/LauncherGone" : "LauncherGone", message);
}

std::string counts(const nlohmann::json& s) {
  int active = 0, succeeded = 0, failed = 0;
  const nlohmann::json per_type = s.value("replicaStatuses", nlohmann::json::object());
  for (const auto& [type, c] : per_type.items()) {
    active += c.value("active", 0);
    succeeded += c.value("succeeded", 0);
    failed += c.value("failed", 0);
  }
  return fmt::format("{}/{}/{}", active, succeeded, failed);
}

}  // namespace

Status prepare_job_dir(const std::string& dir) {
  std::error_code ec;
  const fs::path d(dir);
  if (fs::exists(d / "status.json")) {
    auto s = load_status(d);
    if (s && launcher_alive(*s))
      return Status(StatusCode::kFailedPrecondition,
                    fmt::format("job directory {}: its job is still running (launcher pid {}); stop it with "
                                "`ringmaster delete` first",
                                dir, s->value("launcherPid", 0)));
    std::vector<fs::path> entries;  // listed first: removing while iterating is unspecified
    for (const auto& entry : fs::directory_iterator(d, ec)) entries.push_back(entry.path());
    for (const auto& p : entries) fs::remove_all(p, ec);
    if (ec) return internal_error(fmt::format("job directory {}: cannot clear the previous run: {}", dir, ec.message()));
  } else if (fs::exists(d) && !fs::is_empty(d, ec)) {
    return invalid_argument(fmt::format("job directory {}: exists, is not empty and holds no job (no status.json); "
                                        "give an empty or new directory",
                                        dir));
  }
  if (Status s = create_private_directories(dir); !s)
    return internal_error(fmt::format("job directory {}: {}", dir, s.message()));
  return Status::ok();
}

void add_state_commands(CLI::App& app, StateOptions& o) {
  auto* status = app.add_subcommand("status", "Show jobs started by `ringmaster run` (all, or one with its replicas)");
  status->add_option("job", o.job, "job name");
  status->add_option("--jobs-root", o.root, "where job directories live (default ~/.ringmaster/jobs)");
  auto* logs = app.add_subcommand("logs", "Print a job's replica logs (the latest run of each replica)");
  logs->add_option("job", o.job, "job name")->required();
  logs->add_option("replica", o.replica, "one replica, e.g. myjob-worker-0");
  logs->add_flag("-f,--follow", o.follow, "keep printing until the job ends");
  logs->add_option("--jobs-root", o.root, "where job directories live (default ~/.ringmaster/jobs)");
  for (const char* verb : {"suspend", "resume"}) {
    auto* c = app.add_subcommand(verb, std::string(verb) == "suspend"
                                           ? "Suspend a running job: its replicas are stopped until `ringmaster resume`"
                                           : "Resume a suspended job: its replicas start again (from their checkpoints)");
    c->add_option("job", o.job, "job name")->required();
    c->add_option("--jobs-root", o.root, "where job directories live (default ~/.ringmaster/jobs)");
  }
  auto* del = app.add_subcommand("delete", "Stop a running job (SIGTERM to its launcher) and remove its directory");
  del->add_option("job", o.job, "job name")->required();
  del->add_option("--jobs-root", o.root, "where job directories live (default ~/.ringmaster/jobs)");
}

int run_status(const StateOptions& o) {
  const fs::path root = jobs_root(o.root);
  if (!o.job.empty()) {
    auto s = load_status(root / o.job);
    if (!s) {
      std::cerr << "ringmaster status: " << s.status().message() << "\n";
      return 1;
    }
    note_launcher_gone(root / o.job, *s);
    fmt::print("{} {}: {}{}{}\n", s->value("kind", ""), o.job, s->value("phase", ""),
               s->value("reason", "").empty() ? "" : " (" + s->value("reason", "") + ")",
               s->value("message", "").empty() ? "" : ": " + s->value("message", ""));
    std::size_t name_width = 32, type_width = 10;  // wide enough for the longest (JobSet pod names are long)
    for (const auto& r : (*s)["replicas"]) {
      name_width = std::max(name_width, r.value("name", "").size());
      type_width = std::max(type_width, r.value("type", "").size());
    }
    if (s->contains("jobsStatus")) {
      // A TrainJob: its child Jobs per replicatedJob, as Trainer's status.jobsStatus.
      fmt::print("{:<{}} {:>5} {:>9} {:>6} {:>6} {:>9}\n", "REPLICATED JOB", type_width + 10, "READY", "SUCCEEDED",
                 "FAILED", "ACTIVE", "SUSPENDED");
      for (const auto& j : (*s)["jobsStatus"])
        fmt::print("{:<{}} {:>5} {:>9} {:>6} {:>6} {:>9}\n", j.value("name", ""), type_width + 10, j.value("ready", 0),
                   j.value("succeeded", 0), j.value("failed", 0), j.value("active", 0), j.value("suspended", 0));
      fmt::print("\n");
    }
    fmt::print("{:<{}} {:<{}} {:<16} {:>8}  {}\n", "REPLICA", name_width, "TYPE", type_width, "PHASE", "RESTARTS",
               "LAST EXIT");
    for (const auto& r : (*s)["replicas"])
      fmt::print("{:<{}} {:<{}} {:<16} {:>8}  {}{}\n", r.value("name", ""), name_width, r.value("type", ""), type_width,
                 r.value("phase", ""),
                 r.value("restarts", 0), r.value("lastExit", "-"),
                 r.value("phase", "") == "CrashLoopBackOff"
                     ? fmt::format(" (back-off {}s, restarts at {})", r.value("backoffSeconds", 0.0), r.value("restartAt", "?"))
                     : "");
    // An elastic job's group as its launcher last read it from the rendezvous (cli/run.cc).
    if (auto e = read_file((root / o.job / "elastic.json").string()); e && launcher_alive(*s)) {
      const auto m = nlohmann::json::parse(*e, nullptr, false);
      if (m.is_object() && m.contains("members"))
        fmt::print("\nelastic: generation {}{}, {} member(s): {}\n", m.value("generation", 0),
                   m.value("forming", false) ? " (forming)" : "", m["members"].size(),
                   join(m["members"].get<std::vector<std::string>>(), ", "));
    }
    if (s->contains("leftRunning") && launcher_alive(*s))
      fmt::print("\ncleanPodPolicy None left {} running; a detached launcher (pid {}) watches them until they end "
                 "(`ringmaster delete {}` stops them)\n",
                 join((*s)["leftRunning"].get<std::vector<std::string>>(), ", "), s->value("launcherPid", 0), o.job);
    if (auto c = cluster_of(root / o.job)) {
      // What the watching `ringmaster submit` last wrote, then the cluster's own view.
      const k8s::Kubectl kubectl = kubectl_of(*c);
      fmt::print("\non the cluster (namespace {}{}){}:\n", c->value("namespace", ""),
                 c->value("context", "").empty() ? "" : ", context " + c->value("context", ""),
                 launcher_alive(*s) ? "" : "; no `ringmaster submit` is watching it now");
      const std::vector<std::string> args = {"get", "pods", "-l", c->value("selector", ""), "-o", "wide"};
      const CommandOutput r = kubectl.run(args);
      std::cout << r.out << std::flush;
      if (!r.ok()) {
        std::cerr << "ringmaster status: " << kubectl.failure("listing the job's pods", args, r) << "\n";
        return 1;
      }
    }
    return 0;
  }
  fmt::print("{:<28} {:<11} {:<11} {:<22} {:>8} {:>9}  {}\n", "NAME", "KIND", "PHASE", "REASON", "RESTARTS", "ELAPSED",
             "ACTIVE/SUCCEEDED/FAILED");
  std::error_code ec;
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(root, ec))
    if (e.is_directory()) dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  for (const auto& d : dirs) {
    auto s = load_status(d);
    if (!s) continue;
    note_launcher_gone(d, *s);
    std::string phase = s->value("phase", "");
    if (!finished_phase(phase) && !launcher_alive(*s)) phase += "?";  // a submitted job nobody watches now
    fmt::print("{:<28} {:<11} {:<11} {:<22} {:>8} {:>8.1f}s  {}\n", d.filename().string(), s->value("kind", ""), phase,
               s->value("reason", ""), s->value("restarts", 0), s->value("elapsedSeconds", 0.0), counts(*s));
  }
  return 0;
}

// A submitted job's logs are the pods' (`kubectl logs`); those of attempts whose pods are gone
// were saved in the job directory when they ended.
int cluster_logs(const StateOptions& o, const fs::path& dir, const nlohmann::json& c) {
  const k8s::Kubectl kubectl = kubectl_of(c);
  std::vector<std::string> args = {"logs"};
  if (o.replica.empty())
    args.insert(args.end(), {"-l", c.value("selector", ""), "--prefix", "--tail=-1", "--max-log-requests=64"});
  else
    args.push_back(o.replica);
  if (o.follow) {
    args.push_back("--follow");
    std::fflush(nullptr);
    return kubectl.stream(args) == 0 ? 0 : 1;
  }
  const CommandOutput r = kubectl.run(args);
  std::cout << r.out << std::flush;
  if (r.ok()) return 0;
  std::cerr << "ringmaster logs: " << kubectl.failure(fmt::format("reading job {}'s logs", o.job), args, r) << "\n";
  // The pod is gone (a restart or cleanPodPolicy deleted it): what was saved when it ended.
  bool any = false;
  std::error_code ec;
  std::vector<fs::path> saved;
  for (const auto& e : fs::directory_iterator(dir / "logs", ec))
    if (o.replica.empty() || e.path().filename().string().rfind(o.replica + "-", 0) == 0) saved.push_back(e.path());
  std::sort(saved.begin(), saved.end());
  for (const auto& p : saved) {
    auto text = read_file(p.string());
    if (!text || text->empty()) continue;
    fmt::print("[ringmaster] saved when the pod ended: {}\n{}", p.string(), *text);
    any = true;
  }
  return any ? 0 : 1;
}

int run_logs(const StateOptions& o) {
  const fs::path dir = jobs_root(o.root) / o.job;
  if (auto c = cluster_of(dir)) return cluster_logs(o, dir, *c);
  LogTail tail;
  for (;;) {
    auto s = load_status(dir);
    if (!s) {
      std::cerr << "ringmaster logs: " << s.status().message() << "\n";
      return 1;
    }
    bool found = o.replica.empty();
    for (const auto& r : (*s)["replicas"]) {
      const std::string name = r.value("name", "");
      if (!o.replica.empty() && name != o.replica) continue;
      found = true;
      tail.read_new_lines(r.value("log", ""), [&](std::string_view line) {
        if (o.replica.empty())
          fmt::print("[{}] {}\n", name, line);
        else
          fmt::print("{}\n", line);
      });
    }
    std::fflush(stdout);
    if (!found) {
      std::cerr << "ringmaster logs: job " << o.job << " has no replica " << o.replica << "\n";
      return 1;
    }
    if (!o.follow || !launcher_alive(*s)) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

Status mark_suspended_if_asked(const jobs::TrainingJob& job, const std::string& job_dir) {
  if (!job.run_policy.suspend) return Status::ok();  // created suspended, as the operator does
  if (Status s = write_file_atomic(launcher::suspend_file(job_dir), "runPolicy.suspend\n"); !s)
    return s.with_context("the job asks runPolicy.suspend, and its marker cannot be written");
  return Status::ok();
}

std::function<bool()> suspended_check(const std::string& job_dir) {
  return [path = launcher::suspend_file(job_dir)] { return ::access(path.c_str(), F_OK) == 0; };
}

int run_suspend(const StateOptions& o, bool suspend) {
  const char* verb = suspend ? "suspend" : "resume";
  const fs::path dir = jobs_root(o.root) / o.job;
  auto s = load_status(dir);
  if (!s) {
    std::cerr << "ringmaster " << verb << ": " << s.status().message() << "\n";
    return 1;
  }
  if (!launcher_alive(*s)) {
    std::cerr << "ringmaster " << verb << ": job " << o.job << " is not running (phase " << s->value("phase", "?")
              << ")\n";
    return 1;
  }
  // The launcher polls for this file: present means "keep the job suspended".
  std::error_code ec;
  if (suspend) {
    if (Status w = write_file_atomic(launcher::suspend_file(dir.string()), "suspended by `ringmaster suspend`\n"); !w) {
      std::cerr << "ringmaster suspend: " << w.message() << "\n";
      return 1;
    }
  } else {
    fs::remove(launcher::suspend_file(dir.string()), ec);
  }
  for (int i = 0; i < 600; ++i) {  // until the launcher has acted (its grace period at most, usually ms)
    auto now = load_status(dir);
    if (now && ((now->value("phase", "") == "Suspended") == suspend || !launcher_alive(*now))) {
      std::cout << "job " << o.job << " " << now->value("phase", "?") << "\n";
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::cerr << "ringmaster " << verb << ": the launcher of " << o.job << " did not act within 60 s\n";
  return 1;
}

int run_delete(const StateOptions& o) {
  const fs::path dir = jobs_root(o.root) / o.job;
  auto s = load_status(dir);
  if (!s) {
    std::cerr << "ringmaster delete: " << s.status().message() << "\n";
    return 1;
  }
  if (launcher_alive(*s)) {
    const int pid = s->value("launcherPid", 0);
    ::kill(pid, SIGTERM);  // the launcher stops its replicas and records the job as Failed (Stopped)
    // Gone once it has exited, reaped or not: a detached launcher's new parent may never reap it.
    for (int i = 0; i < 600 && process_start_ticks(pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (process_start_ticks(pid)) {
      std::cerr << "ringmaster delete: the launcher of " << o.job << " (pid " << pid << ") did not stop within 30 s\n";
      return 1;
    }
  }
  if (auto c = cluster_of(dir)) {
    // Everything submit created carries the job's labels; crd mode created the one object.
    const k8s::Kubectl kubectl = kubectl_of(*c);
    std::vector<std::string> args;
    if (c->value("mode", "") == "pods") {
      const auto kinds = c->value("kinds", std::vector<std::string>{});
      args = {"delete", join(kinds, ","), "-l", c->value("selector", ""), "--ignore-not-found", "--wait=false"};
    } else {
      args = {"delete", c->value("resource", ""), k8s::dns_label(o.job), "--ignore-not-found", "--wait=false"};
    }
    auto r = kubectl.call(fmt::format("deleting job {}'s objects from the cluster", o.job), args);
    if (!r) {
      std::cerr << "ringmaster delete: " << r.status().message() << "\n"
                << "ringmaster delete: the job directory " << dir.string() << " is kept\n";
      return 1;
    }
    std::cout << *r;
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) {
    std::cerr << "ringmaster delete: " << dir.string() << ": " << ec.message() << "\n";
    return 1;
  }
  fmt::print("deleted job {}\n", o.job);
  return 0;
}

}  // namespace ringmaster::cli
