#include "launcher/runner.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <thread>

#include "common/fd.h"
#include "common/files.h"
#include "common/metrics.h"
#include "common/process_stats.h"
#include "common/strings.h"

namespace ringmaster::launcher {
namespace {

using jobs::CleanPodPolicy;
using jobs::JobKind;
using jobs::RestartPolicy;

bool should_restart(RestartPolicy p, const ExitStatus& e) {
  switch (p) {
    case RestartPolicy::kAlways: return true;
    case RestartPolicy::kOnFailure: return !e.success();
    case RestartPolicy::kNever: return false;
    case RestartPolicy::kExitCode: return e.container_code() >= 128 && e.container_code() <= 255;
  }
  return false;
}

std::string seconds_text(Clock::duration d) {
  const double s = std::chrono::duration<double>(d).count();
  return s == static_cast<double>(static_cast<long long>(s)) ? fmt::format("{}s", static_cast<long long>(s))
                                                            : fmt::format("{:.3g}s", s);
}

}  // namespace

Clock::duration next_backoff(const RestartBackoff& b, Clock::duration previous, Clock::time_point started,
                             Clock::time_point ended) {
  if (b.initial.count() <= 0) return Clock::duration::zero();
  const Clock::duration max = std::max<Clock::duration>(b.max, b.initial);
  // flowcontrol.Backoff: an entry not updated for 2 x the maximum has expired (the replica ran
  // that long since its last restart), and the delay starts over.
  if (previous.count() <= 0 || ended - started > 2 * max) return b.initial;
  return std::min<Clock::duration>(2 * previous, max);
}

JobRunner::JobRunner(const jobs::TrainingJob& job, JobPlan plan, Processes& processes, RunOptions options)
    : job_(job), plan_(std::move(plan)), processes_(processes), options_(std::move(options)),
      clock_(clock_or_steady(options_.clock)) {
  for (const auto& r : plan_.replicas) {
    ReplicaStatus s;
    s.name = r.name;
    s.type = r.type;
    s.index = r.index;
    s.bookkeeping = r.bookkeeping;
    s.cpus = cpu_list_string(r.cpus);
    for (const auto& [k, v] : r.env)  // the last value is the one the replica sees
      if (k == "CUDA_VISIBLE_DEVICES") s.gpus = v;
    for (const auto& [k, v] : r.env)
      if (k == "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE" && s.gpus) *s.gpus += " (" + v + "% of the SMs)";
    status_.replicas.push_back(s);
  }
  handles_.assign(plan_.replicas.size(), -1);
  status_.job = plan_.job;
  status_.kind = jobs::job_kind_name(job_.kind);
}

std::map<std::string, ReplicaCounts> replica_counts(const JobStatus& status) {
  std::map<std::string, ReplicaCounts> counts;
  for (const auto& r : status.replicas) {
    ReplicaCounts& c = counts[r.type];
    c.active += r.phase == "Running" || r.backing_off();
    c.succeeded += r.phase == "Succeeded";
    c.failed += r.phase == "Failed";
  }
  return counts;
}

std::string job_metrics_text(const JobStatus& s, Clock::time_point now) {
  PrometheusText t;
  const std::string& job = s.job;
  t.family("ringmaster_job_info", "gauge", "The job run by this launcher");
  t.sample("ringmaster_job_info", {{"job", job}, {"kind", s.kind}}, 1);
  t.family("ringmaster_job_phase", "gauge", "1 for the job's current phase");
  for (const char* p : {"Created", "Running", "Restarting", "Suspended", "Succeeded", "Failed"})
    t.sample("ringmaster_job_phase", {{"job", job}, {"phase", p}}, s.phase == p ? 1 : 0);
  t.family("ringmaster_job_replicas", "gauge", "Replicas per type that are active, succeeded or failed");
  for (const auto& [type, c] : replica_counts(s)) {
    t.sample("ringmaster_job_replicas", {{"job", job}, {"replica_type", type}, {"state", "active"}}, c.active);
    t.sample("ringmaster_job_replicas", {{"job", job}, {"replica_type", type}, {"state", "succeeded"}}, c.succeeded);
    t.sample("ringmaster_job_replicas", {{"job", job}, {"replica_type", type}, {"state", "failed"}}, c.failed);
  }
  t.family("ringmaster_job_restarts_total", "counter", "Replica restarts in the job");
  t.sample("ringmaster_job_restarts_total", {{"job", job}}, s.restarts);
  t.family("ringmaster_replica_restarts_total", "counter", "Restarts of each replica");
  for (const auto& r : s.replicas)
    t.sample("ringmaster_replica_restarts_total", {{"job", job}, {"replica", r.name}}, r.restarts);
  t.family("ringmaster_job_phase_seconds_total", "counter", "Seconds the job has spent in each phase");
  std::map<std::string, double> seconds = s.phase_seconds;
  seconds[s.phase] += std::chrono::duration<double>(now - s.phase_since).count();
  for (const auto& [phase, sec] : seconds)
    t.sample("ringmaster_job_phase_seconds_total", {{"job", job}, {"phase", phase}}, sec);
  t.family("ringmaster_job_elapsed_seconds", "gauge", "Seconds since the job started (or was last resumed)");
  t.sample("ringmaster_job_elapsed_seconds", {{"job", job}}, s.elapsed_seconds);
  t.family("ringmaster_replica_waiting", "gauge", "1 while the replica waits to restart (kube-state-metrics' "
           "kube_pod_container_status_waiting_reason)");
  for (const auto& r : s.replicas)
    t.sample("ringmaster_replica_waiting", {{"job", job}, {"replica", r.name}, {"reason", "CrashLoopBackOff"}},
             r.backing_off() ? 1 : 0);
  t.family("ringmaster_replica_backoff_seconds", "gauge", "The replica's current restart back-off (0: none)");
  for (const auto& r : s.replicas)
    t.sample("ringmaster_replica_backoff_seconds", {{"job", job}, {"replica", r.name}},
             std::chrono::duration<double>(r.backoff).count());
  if (s.kind == "TrainJob") {
    t.family("ringmaster_trainjob_jobs", "gauge", "A TrainJob's child Jobs per replicatedJob and state (jobsStatus)");
    for (const auto& c : s.jobs_status)
      for (const auto& [state, n] : {std::pair{"ready", c.ready}, std::pair{"succeeded", c.succeeded},
                                     std::pair{"failed", c.failed}, std::pair{"active", c.active},
                                     std::pair{"suspended", c.suspended}})
        t.sample("ringmaster_trainjob_jobs", {{"job", job}, {"replicated_job", c.replicated_job}, {"state", state}}, n);
    t.family("ringmaster_trainjob_condition", "gauge", "1 for the TrainJob condition now true, as Trainer sets it");
    t.sample("ringmaster_trainjob_condition", {{"job", job}, {"type", "Complete"}}, s.phase == "Succeeded" ? 1 : 0);
    t.sample("ringmaster_trainjob_condition", {{"job", job}, {"type", "Failed"}}, s.phase == "Failed" ? 1 : 0);
    t.sample("ringmaster_trainjob_condition", {{"job", job}, {"type", "Suspended"}}, s.phase == "Suspended" ? 1 : 0);
  }
  return t.str();
}

void append_event(const std::string& job_dir, const std::string& reason, const std::string& message) {
  const std::string path = (std::filesystem::path(job_dir) / "events.log").string();
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, kPrivateFileMode));
  if (fd.get() < 0) return;
  const std::string line = utc_timestamp(std::chrono::system_clock::now()) + " " + reason + " " + message + "\n";
  (void)!::write(fd.get(), line.data(), line.size());  // one write: concurrent appenders never interleave a line
}

void JobRunner::event(const std::string& reason, const std::string& message) {
  append_event(options_.job_dir, reason, message);
}

void JobRunner::save() {
  status_.elapsed_seconds = std::chrono::duration<double>(now() - started_).count();
  nlohmann::json j;
  j["job"] = plan_.job;
  j["kind"] = jobs::job_kind_name(job_.kind);
  j["phase"] = status_.phase;
  j["reason"] = status_.reason;
  j["message"] = status_.message;
  j["conditions"] = status_.conditions;
  j["restarts"] = status_.restarts;
  j["elapsedSeconds"] = status_.elapsed_seconds;
  j["launcherPid"] = static_cast<int>(::getpid());
  if (auto ticks = process_start_ticks(::getpid())) j["launcherStartTicks"] = *ticks;
  // While replicas left running still run, a reader of the file knows the launcher watches them.
  if (!status_.left_running.empty() && (options_.leave_running || running_replicas() > 0))
    j["leftRunning"] = status_.left_running;
  j["updated"] = utc_timestamp(std::chrono::system_clock::now());
  nlohmann::json counts = nlohmann::json::object(), replicas = nlohmann::json::array();
  for (const auto& [type, c] : replica_counts(status_))
    counts[type] = {{"active", c.active}, {"succeeded", c.succeeded}, {"failed", c.failed}};
  for (const auto& r : status_.replicas) {
    nlohmann::json rj = {{"name", r.name}, {"type", r.type}, {"index", r.index}, {"phase", r.phase},
                         {"restarts", r.restarts}, {"log", r.log}, {"bookkeeping", r.bookkeeping}};
    if (!r.cpus.empty()) rj["cpus"] = r.cpus;
    if (r.gpus) rj["gpus"] = *r.gpus;
    if (r.last_exit) rj["lastExit"] = r.last_exit->describe();
    if (r.backoff.count() > 0) rj["backoffSeconds"] = std::chrono::duration<double>(r.backoff).count();
    if (r.backing_off()) {
      const auto wall = std::chrono::system_clock::now() +
                        std::chrono::duration_cast<std::chrono::system_clock::duration>(r.restart_at - now());
      rj["restartAt"] = utc_timestamp(wall);
    }
    replicas.push_back(rj);
  }
  j["replicaStatuses"] = counts;
  j["replicas"] = replicas;
  if (job_.jobset) {
    // A TrainJob's status as Trainer reports it (plugins/jobset Status): its conditions from the
    // JobSet's (Completed -> Complete, Failed), and jobsStatus, the child Jobs per replicatedJob.
    nlohmann::json trainjob_conditions = nlohmann::json::array();
    if (status_.phase == "Suspended") trainjob_conditions.push_back({{"type", "Suspended"}, {"status", "True"}});
    if (status_.phase == "Succeeded")
      trainjob_conditions.push_back({{"type", "Complete"}, {"status", "True"}, {"reason", "AllJobsCompleted"},
                                     {"message", status_.message}});
    if (status_.phase == "Failed")
      trainjob_conditions.push_back({{"type", "Failed"}, {"status", "True"}, {"reason", status_.reason},
                                     {"message", status_.message}});
    j["trainJobConditions"] = trainjob_conditions;
    status_.jobs_status = jobs_status();
    nlohmann::json jobs = nlohmann::json::array();
    for (const auto& c : status_.jobs_status)
      jobs.push_back({{"name", c.replicated_job}, {"ready", c.ready}, {"succeeded", c.succeeded}, {"failed", c.failed},
                      {"active", c.active}, {"suspended", c.suspended}});
    j["jobsStatus"] = jobs;
  }
  // Replaced atomically on every change; made durable once the job has ended (common/files.h).
  const Status written =
      write_file_atomic((std::filesystem::path(options_.job_dir) / "status.json").string(), j.dump(2) + "\n",
                        kPrivateFileMode, status_.finished() ? Durability::kDurable : Durability::kReplaceOnly);
  // Reported once per run (the job goes on: status.json is what `ringmaster status` reads).
  if (!written && !status_write_failed_) {
    status_write_failed_ = true;
    fmt::print(stderr, "ringmaster: job {}: cannot write its status: {}\n", plan_.job, written.message());
    event("Warning", "cannot write status.json: " + written.message());
  }
  if (options_.on_change) options_.on_change(status_);
}

void JobRunner::set_phase(const std::string& phase, const std::string& reason, const std::string& message) {
  if (status_.phase != phase) {
    status_.conditions.push_back(phase);
    const auto t = now();
    status_.phase_seconds[status_.phase] += std::chrono::duration<double>(t - status_.phase_since).count();
    status_.phase_since = t;
  }
  status_.phase = phase;
  status_.reason = reason;
  status_.message = message;
  event(phase + (reason.empty() ? "" : "/" + reason), message);
}

bool JobRunner::start(std::size_t i) {
  const ReplicaLaunch& r = plan_.replicas[i];
  ReplicaStatus& s = status_.replicas[i];
  if (r.bookkeeping) {
    s.phase = "Running";
    return true;
  }
  s.log = (std::filesystem::path(options_.job_dir) / "logs" / fmt::format("{}-{}.log", r.name, s.restarts)).string();
  // Without workingDir a container starts in its image's directory, never in the submitter's; here
  // that is the job directory, which a new run of the job replaces (so a relative
  // --checkpoint-dir survives restarts within the run, and a new run starts clean).
  const std::string cwd = r.working_dir.empty() ? options_.job_dir : r.working_dir;
  auto h = processes_.start({r.argv, r.env, cwd, s.log, r.cpus, r.name});
  if (!h) {
    s.phase = "Failed";
    fail("FailedToStart", fmt::format("replica {} could not start: {}", r.name, h.status().message()));
    return false;
  }
  handles_[i] = *h;
  s.phase = "Running";
  s.started_at = now();
  event("Started", fmt::format("replica {} (restart {})", r.name, s.restarts));
  return true;
}

std::vector<JobStatus::ChildJobs> JobRunner::jobs_status() const {
  // JobSet's ReplicatedJobStatus counts child Jobs: ready when all its pods run or have succeeded,
  // succeeded when all have, failed when one has failed, active while one runs.
  struct Child {
    int pods = 0, running = 0, succeeded = 0, failed = 0, suspended = 0;
  };
  std::map<std::string, std::map<int, Child>> by_job;
  for (const auto& r : status_.replicas) {
    Child& c = by_job[r.type][job_.jobset->child_of(r.type, r.index).first];
    ++c.pods;
    c.running += r.phase == "Running";
    c.succeeded += r.phase == "Succeeded";
    c.failed += r.phase == "Failed";
    c.suspended += status_.phase == "Suspended";
  }
  std::vector<JobStatus::ChildJobs> out;
  for (const auto& spec : job_.replicas) {
    JobStatus::ChildJobs& j = out.emplace_back();
    j.replicated_job = spec.type;
    for (const auto& [index, c] : by_job[spec.type]) {
      j.succeeded += c.succeeded == c.pods;
      j.failed += c.failed > 0;
      j.active += c.running > 0 && c.failed == 0;
      j.ready += c.running + c.succeeded == c.pods && c.running > 0;
      j.suspended += c.suspended > 0;
    }
  }
  return out;
}

bool JobRunner::dependencies_met(std::size_t i) const {
  // JobSet dependsOn: every replica of the named replicatedJob started (Ready) or succeeded (Complete).
  for (const auto& [type, condition] : plan_.replicas[i].depends_on)
    for (const auto& r : status_.replicas) {
      if (r.type != type) continue;
      if (r.phase != "Succeeded" && (condition == "Complete" || r.phase != "Running")) return false;
    }
  return true;
}

void JobRunner::start_all() {
  int waiting = 0;
  for (std::size_t i = 0; i < plan_.replicas.size(); ++i) {
    if (status_.replicas[i].phase == "Succeeded") continue;  // done before a suspension
    if (!dependencies_met(i)) {
      ++waiting;
      continue;
    }
    if (!start(i)) return;
  }
  set_phase("Running", "JobRunning",
            waiting ? fmt::format("{} replicas running, {} waiting for the steps they depend on",
                                  plan_.replicas.size() - static_cast<std::size_t>(waiting), waiting)
                    : fmt::format("{} replicas running", plan_.replicas.size()));
}

bool JobRunner::start_dependents() {
  bool started = false;
  for (std::size_t i = 0; i < plan_.replicas.size() && !status_.finished(); ++i) {
    const ReplicaStatus& s = status_.replicas[i];
    if (plan_.replicas[i].depends_on.empty() || handles_[i] >= 0 || s.phase != "Pending" || !dependencies_met(i)) continue;
    if (!start(i)) return true;
    started = true;
  }
  return started;
}

bool JobRunner::succeeded() const {
  auto done = [&](const std::string& type, int only_index) {
    int n = 0, ok = 0;
    for (const auto& r : status_.replicas)
      if (r.type == type && (only_index < 0 || r.index == only_index)) {
        ++n;
        ok += r.phase == "Succeeded";
      }
    return n > 0 && ok == n;
  };
  auto has = [&](const std::string& type) { return job_.replica(type) != nullptr; };
  switch (job_.kind) {
    case JobKind::kTFJob:
      if (has("Chief")) return done("Chief", -1);
      if (has("Master")) return done("Master", -1);
      return job_.success_policy == "AllWorkers" ? done("Worker", -1) : done("Worker", 0);
    case JobKind::kPyTorchJob: {
      // pytorch UpdateJobStatus: the Master; without one every Worker, or with an elasticPolicy
      // any Worker (an elastic group finishes together, whatever size it shrank to).
      if (has("Master")) return done("Master", -1);
      if (!job_.elastic_policy) return done("Worker", -1);
      return std::any_of(status_.replicas.begin(), status_.replicas.end(),
                         [](const auto& r) { return r.type == "Worker" && r.phase == "Succeeded"; });
    }
    case JobKind::kJAXJob: return done("Worker", -1);  // jax UpdateJobStatus: every Worker succeeded
    case JobKind::kXGBoostJob: return done("Master", -1);  // xgboost UpdateJobStatus: the Master succeeded
    // paddlepaddle UpdateJobStatus: the Master when there is one, else every Worker
    case JobKind::kPaddleJob: return has("Master") ? done("Master", -1) : done("Worker", -1);
    case JobKind::kMPIJob: return done("Launcher", -1);
    case JobKind::kTrainJob: {
      // JobSet successPolicy: a child Job completes when all its pods have; operator All needs every
      // child Job of the target replicatedJobs (default: all of them), Any one of them.
      const auto& p = *job_.jobset;
      std::map<std::pair<std::string, int>, std::pair<int, int>> children;  // (type, job index) -> (pods, done)
      for (const auto& r : status_.replicas) {
        if (!p.success_targets.empty() &&
            std::find(p.success_targets.begin(), p.success_targets.end(), r.type) == p.success_targets.end())
          continue;
        auto& c = children[{r.type, p.child_of(r.type, r.index).first}];
        ++c.first;
        c.second += r.phase == "Succeeded";
      }
      const auto complete = [](const auto& c) { return c.second.first == c.second.second; };
      if (p.success_operator == "Any") return std::any_of(children.begin(), children.end(), complete);
      return !children.empty() && std::all_of(children.begin(), children.end(), complete);
    }
    case JobKind::kBatchJob: {
      int ok = 0;
      for (const auto& r : status_.replicas) ok += r.phase == "Succeeded";
      return ok >= std::max(1, job_.completions);
    }
  }
  return false;
}

void JobRunner::fail(const std::string& reason, const std::string& message) {
  if (status_.finished()) return;
  set_phase("Failed", reason, message);
}

void JobRunner::fail_child(std::size_t i, const std::string& reason, const std::string& message) {
  if (status_.finished()) return;
  const auto& p = *job_.jobset;
  const ReplicaLaunch& r = plan_.replicas[i];
  const std::string child = p.child_job_name(plan_.job, r.type, r.index);
  const std::string what = fmt::format("child Job {} failed ({}: {})", child, reason, message);
  if (!p.has_failure_policy) {
    set_phase("Failed", "FailedJobs",
              fmt::format("jobset failed due to one or more job failures (first failed job: {}); {}", child, what));
    return;
  }
  // The first rule the failed Job matches: its reason, its message and its replicatedJob.
  const jobs::TrainingJob::JobSetPolicy::FailureRule* rule = nullptr;
  for (const auto& candidate : p.failure_rules) {
    const auto listed = [](const std::vector<std::string>& v, const std::string& x) {
      return v.empty() || std::find(v.begin(), v.end(), x) != v.end();
    };
    if (!listed(candidate.on_reasons, reason) || !listed(candidate.targets, r.type)) continue;
    bool message_matches = candidate.on_message_patterns.empty();
    for (const auto& pattern : candidate.on_message_patterns) {
      try {
        message_matches = message_matches || std::regex_search(message, std::regex(pattern));
      } catch (const std::regex_error&) {  // as JobSet: an invalid pattern matches nothing
      }
    }
    if (!message_matches) continue;
    rule = &candidate;
    break;
  }
  const std::string action = rule != nullptr ? rule->action : "RestartJobSet";
  const std::string restart_reason = rule != nullptr ? "FailurePolicy_" + rule->name : "DefaultFailurePolicy";
  if (action == "FailJobSet") {
    set_phase("Failed", "FailJobSetFailurePolicyAction",
              fmt::format("applying FailJobSet failure policy action (first failed job: {}); {}", child, what));
  } else if (action == "RestartJobSet" && jobset_counted_restarts_ >= p.max_restarts) {
    set_phase("Failed", "ReachedMaxRestarts",
              fmt::format("jobset failed due to reaching max number of restarts ({}) (first failed job: {}); {}",
                          p.max_restarts, child, what));
  } else {
    restart_jobset(action == "RestartJobSet", restart_reason, what);
  }
}

void JobRunner::restart_jobset(bool counted, const std::string& reason, const std::string& message) {
  ++jobset_restarts_;
  jobset_counted_restarts_ += counted;
  const std::string text =
      counted ? fmt::format("restart {} of at most {} after {}", jobset_counted_restarts_, job_.jobset->max_restarts, message)
              : fmt::format("restart {} (not counted toward maxRestarts) after {}", jobset_restarts_, message);
  event("RestartingJobSet", fmt::format("{}: {}", reason, text));
  stop_replicas();
  for (auto& r : status_.replicas) {
    r.phase = "Pending";
    r.backoff = {};
  }
  child_failures_.clear();
  set_phase("Restarting", reason, text);
  start_all();
}

JobRunner::PodFailureMatch JobRunner::pod_failure_action(std::size_t i, const ExitStatus& exit) const {
  // batch/v1 podFailurePolicy onExitCodes: the first rule whose container and exit code match.
  PodFailureMatch match;
  const ReplicaLaunch& r = plan_.replicas[i];
  const auto rules = job_.jobset->pod_failure_rules.find(r.type);
  if (rules == job_.jobset->pod_failure_rules.end()) return match;
  const jobs::ReplicaSpec* spec = job_.replica(r.type);
  if (spec != nullptr && spec->primary_container < spec->template_.containers.size())
    match.container = spec->template_.containers[spec->primary_container].name;
  const int code = exit.container_code();
  for (std::size_t k = 0; k < rules->second.size(); ++k) {
    const auto& rule = rules->second[k];
    if (!rule.container.empty() && rule.container != match.container) continue;
    const bool listed = std::find(rule.codes.begin(), rule.codes.end(), code) != rule.codes.end();
    if (listed == rule.in) {
      match.action = rule.action;
      match.rule = static_cast<int>(k);
      return match;
    }
  }
  return match;
}

std::optional<ExitStatus> JobRunner::reap(std::size_t i) {
  if (handles_[i] < 0) return std::nullopt;
  auto exit = processes_.poll(handles_[i]);
  if (!exit) return std::nullopt;
  handles_[i] = -1;
  status_.replicas[i].last_exit = exit;
  event(exit->success() ? "Completed" : "Exited", fmt::format("replica {}: {}", plan_.replicas[i].name, exit->describe()));
  return exit;
}

bool JobRunner::check_replicas() {
  bool changed = false;
  for (std::size_t i = 0; i < handles_.size() && !status_.finished(); ++i) {
    auto exit = reap(i);
    if (!exit) continue;
    changed = true;  // every exit changes the replica's state, and perhaps the job's
    ReplicaStatus& s = status_.replicas[i];
    const ReplicaLaunch& r = plan_.replicas[i];
    bool counts = true;
    if (job_.jobset && !exit->success()) {
      const PodFailureMatch match = pod_failure_action(i, *exit);
      if (match.action == "FailJob") {
        s.phase = "Failed";
        fail_child(i, "PodFailurePolicy",
                   fmt::format("Container {} for pod {} failed with exit code {} matching FailJob rule at index {}",
                               match.container, r.name, exit->container_code(), match.rule));
        return true;
      }
      counts = match.action != "Ignore";
    }
    if (should_restart(r.restart_policy, *exit)) {
      schedule_restart(i, *exit, counts);
      if (status_.finished()) return true;
      continue;
    }
    if (exit->success()) {
      s.phase = "Succeeded";
    } else {
      s.phase = "Failed";
      if (job_.jobset) {
        fail_child(i, "BackoffLimitExceeded", fmt::format("pod {} failed with {}", r.name, exit->describe()));
        return true;
      }
      const bool permanent = r.restart_policy == RestartPolicy::kExitCode;
      fail(permanent ? "ExitCodePermanent" : "ReplicaFailed",
           fmt::format("replica {} failed with {}{}", r.name, exit->describe(),
                       permanent ? " (1-127 is a permanent error under restartPolicy ExitCode)" : ""));
      return true;
    }
  }
  if (!status_.finished() && succeeded()) {
    set_phase("Succeeded", "JobSucceeded", fmt::format("{} {} succeeded", jobs::job_kind_name(job_.kind), plan_.job));
    changed = true;
  }
  return changed;
}

void JobRunner::schedule_restart(std::size_t i, const ExitStatus& exit, bool counts) {
  ReplicaStatus& s = status_.replicas[i];
  const ReplicaLaunch& r = plan_.replicas[i];
  if (job_.jobset && !exit.success() && counts) {
    // A child Job counts its own failed pods against its own backoffLimit (batch/v1 default 6).
    const auto& p = *job_.jobset;
    const auto limit = p.backoff_limits.find(r.type);
    int& failures = child_failures_[{r.type, p.child_of(r.type, r.index).first}];
    if (failures >= (limit == p.backoff_limits.end() ? 6 : limit->second)) {
      s.phase = "Failed";
      fail_child(i, "BackoffLimitExceeded",
                 fmt::format("Job has reached the specified backoff limit; pod {} ended with {}", r.name, exit.describe()));
      return;
    }
    ++failures;
  }
  const auto limit = job_.run_policy.backoff_limit;  // none for a TrainJob: its child Jobs count above
  const auto waiting = std::count_if(status_.replicas.begin(), status_.replicas.end(),
                                     [](const ReplicaStatus& x) { return x.backing_off(); });
  if (limit && status_.restarts + waiting >= *limit) {  // restarts decided count, though not yet made
    s.phase = "Failed";
    fail("BackoffLimitExceeded", fmt::format("Job has reached the specified backoff limit ({} restarts); replica "
                                             "{} ended with {}",
                                             *limit, r.name, exit.describe()));
    return;
  }
  const auto t = now();
  s.backoff = next_backoff(options_.backoff, s.backoff, s.started_at, t);
  if (s.backoff.count() <= 0) {
    ++s.restarts;
    ++status_.restarts;
    set_phase("Restarting", "ReplicaRestarting", fmt::format("replica {} ended with {}; restarting", r.name,
                                                             exit.describe()));
    if (start(i)) set_phase("Running", "JobRunning", "");
    return;
  }
  // The kubelet's words (kuberuntime_manager.go doBackOff), with the exit that caused it.
  s.phase = "CrashLoopBackOff";
  s.restart_at = t + s.backoff;
  const std::string message = fmt::format("back-off {} restarting {}replica {} (it ended with {})",
                                          seconds_text(s.backoff), exit.success() ? "" : "failed ", r.name,
                                          exit.describe());
  event("BackOff", message);
  set_phase("Restarting", "CrashLoopBackOff", message);
}

bool JobRunner::restart_due() {
  bool started = false;
  const auto t = now();
  for (std::size_t i = 0; i < status_.replicas.size() && !status_.finished(); ++i) {
    ReplicaStatus& s = status_.replicas[i];
    if (!s.backing_off() || t < s.restart_at) continue;
    ++s.restarts;  // counted when it happens, as a container's restartCount
    ++status_.restarts;
    if (!start(i)) return true;
    started = true;
  }
  if (!started || status_.finished()) return started;
  // The job is Running again once no replica waits; else it says which one still does.
  const auto waiting = std::find_if(status_.replicas.begin(), status_.replicas.end(),
                                    [](const ReplicaStatus& r) { return r.backing_off(); });
  if (waiting == status_.replicas.end())
    set_phase("Running", "JobRunning", "");
  else
    set_phase("Restarting", "CrashLoopBackOff",
              fmt::format("back-off {} restarting replica {}", seconds_text(waiting->backoff), waiting->name));
  return true;
}

void JobRunner::stop_all() {
  stop_replicas();
  for (auto& r : status_.replicas)
    if (r.backing_off())
      r.phase = "Stopped";
    else if (r.phase == "Running" && !(options_.leave_running && std::count(status_.left_running.begin(),
                                                                        status_.left_running.end(), r.name)))
      r.phase = !r.bookkeeping ? "Stopped" : status_.phase == "Succeeded" ? "Succeeded" : "Failed";
}

void JobRunner::stop_replicas() {
  bool any = false;
  for (std::size_t i = 0; i < handles_.size(); ++i)
    if (handles_[i] >= 0) {
      processes_.signal(handles_[i], SIGTERM);
      any = true;
    }
  const auto deadline = now() + options_.grace;
  while (any) {
    any = false;
    for (std::size_t i = 0; i < handles_.size(); ++i) {
      if (handles_[i] < 0) continue;
      if (auto e = processes_.poll(handles_[i])) {
        status_.replicas[i].last_exit = e;
        handles_[i] = -1;
      } else {
        any = true;
        if (now() >= deadline) processes_.signal(handles_[i], SIGKILL);
      }
    }
    if (any) processes_.wait(options_.poll_interval);
  }
}

JobStatus JobRunner::run() {
  started_ = now();
  status_.phase_since = started_;
  // A new run of a job replaces the state of the previous one.
  std::error_code ec;
  std::filesystem::remove_all(std::filesystem::path(options_.job_dir) / "logs", ec);
  std::filesystem::remove(std::filesystem::path(options_.job_dir) / "events.log", ec);
  if (Status s = create_private_directories((std::filesystem::path(options_.job_dir) / "logs").string()); !s)
    event("Warning", "cannot make the logs directory (replica output is lost): " + s.message());
  // Rebuilt by every run (only mpirun reads it, while we run); without it mpirun cannot place ranks.
  Status hostfile = Status::ok();
  if (!plan_.hostfile_path.empty())
    hostfile = write_file_atomic(plan_.hostfile_path, plan_.hostfile, 0644, Durability::kReplaceOnly);
  for (const auto& d : plan_.directories)
    if (Status s = create_private_directories(d); !s) event("Warning", fmt::format("cannot make volume directory {}: {}", d, s.message()));
  for (const auto& [program, target] : plan_.program_shims) {
    std::error_code dir_ec;
    std::filesystem::create_directories(std::filesystem::path(program).parent_path(), dir_ec);
    const Status s = write_file_atomic(program, fmt::format("#!/bin/sh\nexec '{}' \"$@\"\n", target));
    std::filesystem::permissions(program, std::filesystem::perms::owner_all, dir_ec);
    if (!s || dir_ec) event("Warning", fmt::format("cannot write {} (for {})", program, target));
  }
  status_.conditions.push_back("Created");
  event("Created", fmt::format("{} {} with {} replicas", jobs::job_kind_name(job_.kind), plan_.job,
                               plan_.replicas.size()));
  if (!plan_.cpu_note.empty()) event("CpuLimitsNotApplied", plan_.cpu_note);
  save();
  auto want_suspended = [&] { return options_.suspended && options_.suspended(); };
  if (!hostfile)
    fail("HostfileNotWritten", fmt::format("cannot write the MPI hostfile {}: {}", plan_.hostfile_path, hostfile.message()));
  else if (want_suspended())
    set_phase("Suspended", "JobSuspended", "Job suspended");
  else
    start_all();
  save();
  const auto deadline = job_.run_policy.active_deadline_seconds;
  while (!status_.finished()) {
    processes_.wait(options_.poll_interval);
    if (options_.stop_requested && options_.stop_requested()) {
      fail("Stopped", options_.stop_reason);
      break;
    }
    if (status_.phase == "Suspended") {
      if (options_.on_tick) options_.on_tick();
      if (want_suspended()) continue;
      started_ = now();  // activeDeadlineSeconds counts from the resumption
      event("Resumed", "Job resumed");
      start_all();
      save();
      continue;
    }
    if (want_suspended()) {
      check_replicas();  // exits that happened before the suspension count as usual
      if (status_.finished()) break;
      stop_replicas();
      for (auto& r : status_.replicas)
        if (r.phase == "Running" || r.backing_off()) r.phase = "Pending";
      set_phase("Suspended", "JobSuspended", "Job suspended");
      save();
      continue;
    }
    bool changed = check_replicas();
    if (!status_.finished()) changed |= restart_due();
    if (!status_.finished()) changed |= start_dependents();
    if (!status_.finished() && deadline && now() - started_ > std::chrono::seconds(*deadline)) {
      fail("DeadlineExceeded", "Job was active longer than specified deadline");
      changed = true;
    }
    if (options_.on_tick) options_.on_tick();
    if (changed) save();
  }
  // A stop request, and a gang start that failed, end every replica whatever the policy.
  if (status_.reason != "Stopped" && status_.reason != "FailedToStart") apply_clean_pod_policy();
  stop_all();
  if (options_.on_tick) options_.on_tick();
  save();
  return status_;
}

int JobRunner::running_replicas() const {
  return static_cast<int>(std::count_if(handles_.begin(), handles_.end(), [](int h) { return h >= 0; }));
}

void JobRunner::apply_clean_pod_policy() {
  if (running_replicas() == 0) return;
  std::vector<std::string> names;
  for (std::size_t i = 0; i < handles_.size(); ++i)
    if (handles_[i] >= 0) names.push_back(plan_.replicas[i].name);
  // A batch/v1 Job has no cleanPodPolicy: the Job controller ends the pods it no longer needs.
  const auto policy = job_.kind == JobKind::kBatchJob ? CleanPodPolicy::kRunning : job_.run_policy.clean_pod_policy;
  if (policy != CleanPodPolicy::kNone) {
    event("CleanPodPolicy", fmt::format("{}: stopping {}", jobs::clean_pod_policy_name(policy), join(names, ", ")));
    return;  // stop_all() does it
  }
  // None: as the operator deletes nothing, the replicas run on (no restarts now) until they end by
  // themselves or somebody stops the job.
  event("CleanPodPolicy", fmt::format("None: {} left running until they end or the job is stopped", join(names, ", ")));
  status_.left_running = names;
  if (options_.leave_running) {
    // They live on elsewhere (pods on a cluster): forget them instead of waiting.
    std::fill(handles_.begin(), handles_.end(), -1);
    save();
    return;
  }
  save();
  if (options_.on_finished_leaving_running) options_.on_finished_leaving_running(status_);
  while (running_replicas() > 0) {
    processes_.wait(options_.poll_interval);
    if (options_.stop_requested && options_.stop_requested()) {
      event("Stopped", options_.stop_reason);
      break;  // stop_all() ends them
    }
    bool changed = false;
    for (std::size_t i = 0; i < handles_.size(); ++i) {
      auto exit = reap(i);
      if (!exit) continue;
      changed = true;
      status_.replicas[i].phase = exit->success() ? "Succeeded" : "Failed";
    }
    if (options_.on_tick) options_.on_tick();
    if (changed) save();
  }
}

}  // namespace ringmaster::launcher
