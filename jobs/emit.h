// Printing normalized objects: YAML as a person would write it (strings that look like numbers keep
// their quotes, multi-line strings become literal blocks) and JSON with the types YAML resolved to.
// Thread-safe.
#pragma once

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>
#include <string>

namespace ringmaster::jobs {

std::string to_yaml(const YAML::Node& node);
nlohmann::ordered_json to_json(const YAML::Node& node);

}  // namespace ringmaster::jobs
