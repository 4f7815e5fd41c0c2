#include "worker/trainer_status.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/http.h"
#include "common/strings.h"

namespace ringmaster::worker {

TrainerStatusClient::TrainerStatusClient() {
  const char* url = std::getenv("KUBEFLOW_TRAINER_SERVER_URL");
  const char* token = std::getenv("KUBEFLOW_TRAINER_SERVER_TOKEN");
  if (url && *url && token && *token) url_ = url, token_file_ = token;
}

std::string trainer_status_body(int progress, int64_t remaining_seconds,
                                const std::vector<std::pair<std::string, double>>& metrics,
                                std::chrono::system_clock::time_point now) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& [name, value] : metrics) list.push_back({{"name", name}, {"value", fmt::format("{:.6g}", value)}});
  nlohmann::json status = {{"progressPercentage", std::clamp(progress, 0, 100)},
                           {"metrics", list},
                           {"lastUpdatedTime", utc_timestamp(now)}};
  if (remaining_seconds >= 0) status["estimatedRemainingSeconds"] = remaining_seconds;
  return nlohmann::json{{"trainerStatus", status}}.dump();
}

void TrainerStatusClient::report(int progress, int64_t remaining_seconds,
                                 const std::vector<std::pair<std::string, double>>& metrics) {
  if (!active()) return;
  auto warn = [&](const std::string& why) {
    if (!warned_) spdlog::warn("KUBEFLOW_TRAINER_SERVER_URL {}: progress not reported: {}", url_, why);
    warned_ = true;
  };
  auto token = read_file(token_file_);
  if (!token) return warn("KUBEFLOW_TRAINER_SERVER_TOKEN: " + token.status().message());
  auto answer = http_request("POST", url_, {{"Authorization", "Bearer " + trim(*token)}, {"Content-Type", "application/json"}},
                             trainer_status_body(progress, remaining_seconds, metrics, std::chrono::system_clock::now()),
                             Deadline::after(std::chrono::seconds(5)));
  if (!answer) return warn(answer.status().message());
  if (answer->code != 200) warn(fmt::format("the server answered {}: {}", answer->code, trim(answer->body)));
}

}  // namespace ringmaster::worker
