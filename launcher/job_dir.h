// The files of a job directory that more than one command reads or writes (`ringmaster run`
// writes the rest: status.json, events.log, logs/; docs/architecture.md).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/process_stats.h"

namespace ringmaster::launcher {

// Where job directories live: `root` when given (--jobs-root), else ~/.ringmaster/jobs.
inline std::filesystem::path jobs_root(const std::string& root) {
  if (!root.empty()) return root;
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home ? home : ".") / ".ringmaster" / "jobs";
}

// Present: the job's launcher keeps the job suspended (`ringmaster suspend`, the dashboard's
// suspend action, runPolicy.suspend); removing it resumes the job.
inline std::string suspend_file(const std::string& job_dir) {
  return (std::filesystem::path(job_dir) / "suspend").string();
}

// Where replica `replica` of a job writes its training metrics (JSON lines, `ringmaster train`'s
// --metrics-file): the launcher gives each replica this path as RINGMASTER_METRICS_FILE, and the
// dashboard reads every file of metrics_dir().
inline std::string metrics_dir(const std::string& job_dir) {
  return (std::filesystem::path(job_dir) / "metrics").string();
}
inline std::string metrics_file(const std::string& job_dir, const std::string& replica) {
  return (std::filesystem::path(metrics_dir(job_dir)) / (replica + ".jsonl")).string();
}
// ... and, as RINGMASTER_METRICS_STEP_SECONDS, how often a replica adds a record of its latest
// steps (`ringmaster train --metrics-step-seconds`) for the dashboard's per-step curves.
inline constexpr const char* kMetricsStepSeconds = "1";

// Whether a job in this phase (status.json's "phase") has ended.
inline bool finished_phase(const std::string& phase) { return phase == "Succeeded" || phase == "Failed"; }

// The launcher that wrote status.json `s` still runs: its pid exists and started when the file
// says (pids are reused; their start times are not).
inline bool launcher_running(const nlohmann::json& s) {
  const int pid = s.value("launcherPid", 0);
  if (pid <= 0) return false;
  const auto ticks = process_start_ticks(pid);
  if (!ticks) return false;
  const auto it = s.find("launcherStartTicks");
  return it == s.end() || !it->is_number_unsigned() || it->get<unsigned long long>() == *ticks;
}

// The job has a launcher at work: it has not finished, or it has and watches replicas that
// cleanPodPolicy None left running.
inline bool launcher_alive(const nlohmann::json& s) {
  if (finished_phase(s.value("phase", "")) && !s.contains("leftRunning")) return false;
  return launcher_running(s);
}

}  // namespace ringmaster::launcher
