// The files of a job directory that more than one command reads or writes (`ringmaster run`
// writes the rest: status.json, events.log, logs/; docs/architecture.md).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

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

}  // namespace ringmaster::launcher
