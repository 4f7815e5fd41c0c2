#include "dashboard/state.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>

#include "common/files.h"
#include "launcher/job_dir.h"

namespace ringmaster::dashboard {
namespace fs = std::filesystem;
namespace {

constexpr std::size_t kMaxEvents = 500;
constexpr std::size_t kMaxRecords = 10000;     // per metrics file
constexpr std::size_t kMaxStepRecords = 1000;  // per metrics file, as served

bool is_step_record(const nlohmann::json& r) { return r.contains("window_steps"); }

Result<nlohmann::json> read_status(const fs::path& dir) {
  auto text = read_file((dir / "status.json").string());
  if (!text) return not_found(fmt::format("no job {} (no status.json in {})", dir.filename().string(), dir.string()));
  auto j = nlohmann::json::parse(*text, nullptr, false);
  // status.json is replaced atomically, so a parse failure is a damaged file, not a half-written one.
  if (j.is_discarded() || !j.is_object()) return data_loss(fmt::format("{}/status.json: not a JSON object", dir.string()));
  return j;
}

// An events.log line "2026-11-30T23:22:01Z text" as {time, text}.
nlohmann::json event_of(const std::string& line) {
  const auto space = line.find(' ');
  return {{"time", line.substr(0, space)}, {"text", space == std::string::npos ? "" : line.substr(space + 1)}};
}

// events.log's last kMaxEvents events.
nlohmann::json read_events(const fs::path& dir) {
  std::ifstream in(dir / "events.log");
  std::deque<nlohmann::json> events;
  for (std::string line; std::getline(in, line);) {
    events.push_back(event_of(line));
    if (events.size() > kMaxEvents) events.pop_front();
  }
  return nlohmann::json(std::vector<nlohmann::json>(events.begin(), events.end()));
}

// When the job started: its first event's time ("" before it has one). Reads one line.
std::string start_time(const fs::path& dir) {
  std::ifstream in(dir / "events.log");
  std::string line;
  return std::getline(in, line) ? event_of(line).value("time", "") : "";
}

// How long the job has run: status.json's elapsedSeconds, written at the launcher's last change,
// plus the time since then while its launcher still runs it.
double seconds_of(const nlohmann::json& s, const fs::path& dir) {
  double seconds = s.value("elapsedSeconds", 0.0);
  std::error_code ec;
  const auto written = fs::last_write_time(dir / "status.json", ec);
  if (!ec && !launcher::finished_phase(s.value("phase", "")) && launcher::launcher_running(s))
    seconds += std::max(0.0, std::chrono::duration<double>(fs::file_time_type::clock::now() - written).count());
  return seconds;
}

// s[key] when it is an object or array, else an empty object (a job still being written may lack
// it): either way something to iterate.
const nlohmann::json& member(const nlohmann::json& s, const char* key) {
  static const nlohmann::json empty = nlohmann::json::object();
  auto it = s.find(key);
  return it != s.end() && (it->is_object() || it->is_array()) ? *it : empty;
}

Result<fs::path> job_dir(const std::string& jobs_root, const std::string& job) {
  if (!valid_name(job)) return not_found(fmt::format("no job \"{}\"", job));
  const fs::path dir = fs::path(jobs_root) / job;
  if (!fs::exists(dir / "status.json")) return not_found(fmt::format("no job {} under {}", job, jobs_root));
  return dir;
}

}  // namespace

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 253 || name.find("..") != std::string::npos) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'; });
}

nlohmann::json list_jobs(const std::string& jobs_root) {
  std::vector<nlohmann::json> jobs;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(jobs_root, ec)) {
    if (!entry.is_directory() || !valid_name(entry.path().filename().string())) continue;
    auto s = read_status(entry.path());
    if (!s) continue;
    nlohmann::json counts = {{"active", 0}, {"succeeded", 0}, {"failed", 0}};
    int restarts = 0;
    for (const auto& [type, c] : member(*s, "replicaStatuses").items())
      for (const char* k : {"active", "succeeded", "failed"})
        if (c.is_object()) counts[k] = counts[k].get<int>() + c.value(k, 0);
    for (const auto& r : member(*s, "replicas"))
      if (r.is_object()) restarts += r.value("restarts", 0);
    jobs.push_back({{"name", entry.path().filename().string()},
                    {"kind", s->value("kind", "")},
                    {"phase", s->value("phase", "")},
                    {"replicas", counts},
                    {"restarts", restarts},
                    {"start", start_time(entry.path())},
                    {"seconds", seconds_of(*s, entry.path())},
                    {"launcherAlive", launcher::launcher_alive(*s)},
                    {"message", s->value("message", "")}});
  }
  std::sort(jobs.begin(), jobs.end(), [](const auto& a, const auto& b) {
    return std::pair(a.value("start", ""), a.value("name", "")) > std::pair(b.value("start", ""), b.value("name", ""));
  });
  return jobs;
}

Result<nlohmann::json> job_detail(const std::string& jobs_root, const std::string& job) {
  auto dir = job_dir(jobs_root, job);
  if (!dir) return dir.status();
  auto s = read_status(*dir);
  if (!s) return s.status();
  (*s)["events"] = read_events(*dir);
  (*s)["suspended"] = fs::exists(launcher::suspend_file(dir->string()));
  (*s)["elapsedSeconds"] = seconds_of(*s, *dir);
  (*s)["launcherAlive"] = launcher::launcher_alive(*s);
  return *s;
}

Result<std::string> log_path(const std::string& jobs_root, const std::string& job, const std::string& replica) {
  auto dir = job_dir(jobs_root, job);
  if (!dir) return dir.status();
  auto s = read_status(*dir);
  if (!s) return s.status();
  for (const auto& r : member(*s, "replicas"))
    if (r.is_object() && r.value("name", "") == replica && !r.value("log", "").empty()) return r.value("log", "");
  return not_found(fmt::format("job {} has no replica {}", job, replica));
}

Result<nlohmann::json> job_metrics(const std::string& jobs_root, const std::string& job) {
  auto dir = job_dir(jobs_root, job);
  if (!dir) return dir.status();
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(launcher::metrics_dir(dir->string()), ec))
    if (entry.path().extension() == ".jsonl") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  nlohmann::json records = nlohmann::json::array();
  for (const auto& file : files) {
    std::ifstream in(file);
    std::deque<nlohmann::json> mine;
    for (std::string line; std::getline(in, line);) {
      auto record = nlohmann::json::parse(line, nullptr, false);
      if (record.is_discarded() || !record.is_object()) continue;  // a line still being written
      record["replica"] = file.stem().string();
      mine.push_back(std::move(record));
      if (mine.size() > kMaxRecords) mine.pop_front();
    }
    // Step records (one a second) thinned to at most kMaxStepRecords, evenly, keeping the last.
    const auto steps = static_cast<std::size_t>(std::count_if(mine.begin(), mine.end(), is_step_record));
    const std::size_t stride = (steps + kMaxStepRecords - 1) / kMaxStepRecords;
    std::size_t k = 0;
    for (auto& r : mine)
      if (!is_step_record(r) || stride <= 1 || (steps - ++k) % stride == 0) records.push_back(std::move(r));
  }
  return records;
}

Result<std::string> timeline_path(const std::string& jobs_root, const std::string& job, const std::string& replica) {
  auto dir = job_dir(jobs_root, job);
  if (!dir) return dir.status();
  if (!valid_name(replica)) return not_found(fmt::format("job {} has no replica \"{}\"", job, replica));
  std::ifstream in(launcher::metrics_file(dir->string(), replica));
  std::string path;
  for (std::string line; std::getline(in, line);) {
    if (line.find("\"timeline\"") == std::string::npos) continue;
    auto record = nlohmann::json::parse(line, nullptr, false);
    if (record.is_object() && record.contains("timeline") && record["timeline"].is_string()) path = record["timeline"];
  }
  std::error_code ec;
  if (path.empty() || !fs::is_regular_file(path, ec))
    return not_found(fmt::format("replica {} of job {} has written no --timeline{}", replica, job,
                                 path.empty() ? "" : " (" + path + " is gone)"));
  // Only a Chrome trace is served: the record names any path its writer chose.
  std::ifstream trace(path, std::ios::binary);
  std::string head(256, '\0');
  trace.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<std::size_t>(trace.gcount()));
  if (head.rfind("{", 0) != 0 || head.find("\"traceEvents\"") == std::string::npos)
    return not_found(fmt::format("replica {} of job {}: {} is not a Chrome trace", replica, job, path));
  return path;
}

Result<nlohmann::json> log_tail(const std::string& jobs_root, const std::string& job, const std::string& replica,
                                std::size_t max_bytes) {
  auto path = log_path(jobs_root, job, replica);
  if (!path) return path.status();
  std::ifstream in(*path, std::ios::binary | std::ios::ate);
  const auto size = in ? static_cast<std::size_t>(in.tellg()) : 0;
  const std::size_t from = size > max_bytes ? size - max_bytes : 0;
  std::string text(size - from, '\0');
  if (in) {
    in.seekg(static_cast<std::streamoff>(from));
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
  }
  if (from > 0)  // start at a whole line
    if (const auto nl = text.find('\n'); nl != std::string::npos) text.erase(0, nl + 1);
  return nlohmann::json{{"replica", replica}, {"size", size}, {"text", text}};
}

Status set_suspended(const std::string& jobs_root, const std::string& job, bool suspended) {
  auto dir = job_dir(jobs_root, job);
  if (!dir) return dir.status();
  auto s = read_status(*dir);
  if (!s) return s.status();
  const std::string phase = s->value("phase", "");
  if (launcher::finished_phase(phase))
    return Status(StatusCode::kFailedPrecondition, fmt::format("job {} has finished ({})", job, phase));
  const std::string file = launcher::suspend_file(dir->string());
  if (suspended) return write_file_atomic(file, "suspended from the dashboard\n");
  std::error_code ec;
  fs::remove(file, ec);
  return Status::ok();
}

}  // namespace ringmaster::dashboard
