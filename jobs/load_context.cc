#include "jobs/load_context.h"

#include <algorithm>
#include <map>

#include "common/strings.h"

namespace ringmaster::jobs {

YAML::Node get(const YAML::Node& parent, std::string_view key) {
  if (!parent.IsDefined() || !parent.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  for (auto it = parent.begin(); it != parent.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == key) return it->second;
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

std::optional<std::int64_t> LoadContext::get_int(const YAML::Node& parent, std::string_view key) const {
  YAML::Node n = get(parent, key);
  if (is_null(n)) return std::nullopt;
  return as_int(n);
}

std::optional<std::string> LoadContext::get_string(const YAML::Node& parent, std::string_view key) const {
  YAML::Node n = get(parent, key);
  if (is_null(n) || !n.IsScalar()) return std::nullopt;
  return n.Scalar();
}

std::optional<bool> LoadContext::get_bool(const YAML::Node& parent, std::string_view key) const {
  return as_bool(get(parent, key));
}

std::vector<std::string> LoadContext::get_string_list(const YAML::Node& parent, std::string_view key) const {
  std::vector<std::string> out;
  YAML::Node n = get(parent, key);
  if (!n.IsDefined() || !n.IsSequence()) return out;
  for (auto it = n.begin(); it != n.end(); ++it)
    if (it->IsScalar()) out.push_back(it->Scalar());
  return out;
}

std::map<std::string, std::string> LoadContext::get_string_map(const YAML::Node& parent, std::string_view key) const {
  std::map<std::string, std::string> out;
  YAML::Node n = get(parent, key);
  if (!n.IsDefined() || !n.IsMap()) return out;
  for (auto it = n.begin(); it != n.end(); ++it)
    if (it->first.IsScalar() && it->second.IsScalar()) out.emplace(it->first.Scalar(), it->second.Scalar());
  return out;
}

std::optional<int> LoadContext::get_int32(const YAML::Node& parent, std::string_view key, const std::string& path,
                                          std::int64_t min) {
  YAML::Node n = get(parent, key);
  if (is_null(n)) return std::nullopt;
  auto v = as_int(n);
  if (!v) return std::nullopt;  // reported by the schema check
  if (*v < min || *v > INT32_MAX) {
    error(n, path, "expected an integer from " + std::to_string(min) + " to " + std::to_string(INT32_MAX) +
                       ", found " + n.Scalar());
    return std::nullopt;
  }
  return static_cast<int>(*v);
}

std::optional<std::string> LoadContext::get_enum(const YAML::Node& parent, std::string_view key,
                                                 const std::string& path,
                                                 std::initializer_list<std::string_view> allowed) {
  YAML::Node n = get(parent, key);
  if (is_null(n) || !n.IsScalar()) return std::nullopt;
  const std::string& v = n.Scalar();
  if (std::find(allowed.begin(), allowed.end(), v) != allowed.end()) return v;
  std::vector<std::string_view> names(allowed);
  std::string msg = "expected one of " + join(names, ", ") + ", found " + quote(v);
  if (auto best = closest_match(v, names)) msg += " (did you mean " + quote(*best) + "?)";
  error(n, path, msg);
  return std::nullopt;
}

}  // namespace ringmaster::jobs
