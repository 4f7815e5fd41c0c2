#include "common/tf_config.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace ringmaster {

std::vector<std::string> TfConfig::training_members() const {
  std::vector<std::string> members;
  for (const char* t : {"chief", "master", "worker"}) {
    auto it = cluster.find(t);
    if (it != cluster.end()) members.insert(members.end(), it->second.begin(), it->second.end());
  }
  return members;
}

int TfConfig::training_rank() const {
  int rank = index;
  for (const char* t : {"chief", "master"}) {
    auto it = cluster.find(t);
    if (type != t && it != cluster.end()) rank += static_cast<int>(it->second.size());
  }
  return rank;
}

Result<TfConfig> parse_tf_config(std::string_view text) {
  const auto bad = [](const std::string& what) { return invalid_argument("environment variable TF_CONFIG: " + what); };
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad("expected a JSON object, found unparsable text");
  const auto cluster = j.value("cluster", nlohmann::json::object());
  const auto task = j.value("task", nlohmann::json::object());
  if (!cluster.is_object() || !task.is_object() || !task.contains("type") || !task["type"].is_string() ||
      (task.contains("index") && !task["index"].is_number_integer()))
    return bad("expected {\"cluster\": {...}, \"task\": {\"type\": ..., \"index\": ...}}");
  TfConfig c;
  c.type = task["type"].get<std::string>();
  c.index = task.value("index", 0);
  for (const auto& [type, list] : cluster.items()) {
    if (!list.is_array()) return bad(fmt::format("cluster.{}: expected a list of host:port", type));
    auto& members = c.cluster[type];
    for (const auto& a : list) {
      if (!a.is_string()) return bad(fmt::format("cluster.{}: expected a list of host:port", type));
      members.push_back(a.get<std::string>());
    }
  }
  return c;
}

}  // namespace ringmaster
