#include "sweep/progress_server.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "common/files.h"
#include "common/strings.h"

namespace ringmaster::sweep {
namespace {

const std::regex kStatusPath(R"(^/apis/trainer\.kubeflow\.org/v1alpha1/namespaces/([^/]+)/trainjobs/([^/]+)/status$)");

// A metav1.Status, as Trainer's badRequest writes it.
HttpResponse failure(int code, const std::string& reason, const std::string& message) {
  const nlohmann::json status = {{"kind", "Status"},   {"apiVersion", "v1"}, {"metadata", nlohmann::json::object()},
                                 {"status", "Failure"}, {"message", message}, {"reason", reason},
                                 {"code", code}};
  return {code, "application/json", status.dump() + "\n"};
}

// Trainer's CRD rules for trainerStatus (trainjob_types.go: TrainerStatus, Metric); empty when it
// passes.
std::string check(const nlohmann::json& ts) {
  if (!ts.is_object()) return "trainerStatus: expected an object";
  if (!ts.contains("lastUpdatedTime") || !ts["lastUpdatedTime"].is_string())
    return "lastUpdatedTime is required when trainerStatus is present";
  if (ts.contains("progressPercentage")) {
    const auto& p = ts["progressPercentage"];
    if (!p.is_number_integer() || p.get<int64_t>() < 0 || p.get<int64_t>() > 100)
      return "trainerStatus.progressPercentage: expected an integer from 0 to 100, found " + p.dump();
  }
  if (ts.contains("estimatedRemainingSeconds")) {
    const auto& e = ts["estimatedRemainingSeconds"];
    if (!e.is_number_integer() || e.get<int64_t>() < 0 || e.get<int64_t>() > INT32_MAX)
      return "trainerStatus.estimatedRemainingSeconds: expected an integer >= 0, found " + e.dump();
  }
  if (ts.contains("metrics")) {
    const auto& m = ts["metrics"];
    if (!m.is_array()) return "trainerStatus.metrics: expected a list";
    if (m.size() > 256) return fmt::format("trainerStatus.metrics: expected at most 256 items, found {}", m.size());
    for (std::size_t i = 0; i < m.size(); ++i)
      for (const char* key : {"name", "value"}) {
        const auto& v = m[i].is_object() && m[i].contains(key) ? m[i][key] : nlohmann::json();
        if (!v.is_string() || v.get<std::string>().empty() || v.get<std::string>().size() > 64)
          return fmt::format("trainerStatus.metrics[{}].{}: expected a string of 1 to 64 characters, found {}", i, key,
                             v.dump());
      }
  }
  return "";
}

}  // namespace

Result<std::unique_ptr<ProgressServer>> ProgressServer::start() {
  auto self = std::unique_ptr<ProgressServer>(new ProgressServer());
  ProgressServer* raw = self.get();
  auto server = HttpServer::start("127.0.0.1", 0, [raw](const HttpRequest& r) { return raw->handle(r); }, 256 << 10);
  if (!server) return Status(server.status().code(), "the progress API server: " + server.status().message());
  self->server_ = std::move(*server);
  return self;
}

Result<ProgressServer::Trial> ProgressServer::add(const std::string& ns, const std::string& name,
                                                  const std::string& token_file, const std::string& progress_file,
                                                  const std::string& status_file) {
  const std::string token = random_hex(24);
  if (Status s = write_file_atomic(token_file, token + "\n", 0600); !s) return s;
  std::lock_guard<std::mutex> lock(mu_);
  trials_[ns + "/" + name] = {token, progress_file, status_file};
  return Trial{fmt::format("http://127.0.0.1:{}/apis/trainer.kubeflow.org/v1alpha1/namespaces/{}/trainjobs/{}/status",
                           port(), ns, name),
               token_file};
}

void ProgressServer::remove(const std::string& ns, const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  trials_.erase(ns + "/" + name);
}

HttpResponse ProgressServer::handle(const HttpRequest& r) {
  std::smatch m;
  if (r.method != "POST" || !std::regex_match(r.path, m, kStatusPath)) return failure(404, "NotFound", "Not found");
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = trials_.find(m[1].str() + "/" + m[2].str());
  const std::string auth = r.header("Authorization");
  if (it == trials_.end() || auth.rfind("Bearer ", 0) != 0 || !same_secret(trim(auth.substr(7)), it->second.token))
    return failure(403, "Forbidden", "Forbidden");
  const nlohmann::json payload = nlohmann::json::parse(r.body, nullptr, false);
  if (payload.is_discarded() || !payload.is_object()) return failure(422, "Invalid", "Invalid payload");
  if (!payload.contains("trainerStatus") || payload["trainerStatus"].is_null())
    return {200, "application/json", payload.dump() + "\n"};  // nothing to apply, as Trainer
  const nlohmann::json& ts = payload["trainerStatus"];
  if (const std::string why = check(ts); !why.empty()) return failure(422, "Invalid", why);
  nlohmann::json values = nlohmann::json::object();
  for (const auto& metric : ts.value("metrics", nlohmann::json::array()))
    if (auto v = parse_double(metric["value"].get<std::string>())) values[metric["name"].get<std::string>()] = *v;
  // One line per update: appended whole (O_APPEND), so the collector never reads half of one.
  const std::string line = values.dump() + "\n";
  const int fd = ::open(it->second.progress_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0 || ::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    if (fd >= 0) ::close(fd);
    return failure(500, "InternalError", "Internal error");
  }
  ::close(fd);
  (void)write_file_atomic(it->second.status_file, ts.dump(2) + "\n", 0600, Durability::kReplaceOnly);
  return {200, "application/json", payload.dump() + "\n"};
}

}  // namespace ringmaster::sweep
