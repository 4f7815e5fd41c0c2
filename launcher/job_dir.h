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

}  // namespace ringmaster::launcher
