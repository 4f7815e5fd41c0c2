// Private to jobs/: the reading context shared by the per-kind loaders. Reads typed values from the
// original YAML (which carries source positions), reports webhook-style problems, and writes the
// normalized object (a clone without positions) as defaults are decided.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jobs/diagnostics.h"
#include "jobs/loader.h"
#include "jobs/yaml_util.h"

namespace ringmaster::jobs {

// A child of a mapping, or an undefined node when `parent` is not a mapping or lacks `key`.
YAML::Node get(const YAML::Node& parent, std::string_view key);

struct LoadContext {
  const std::string& file;
  const LoadOptions& options;
  Diagnostics& diags;
  std::string prefix;  // prepended to every path: "spec.trialTemplate.trialSpec" inside an Experiment

  std::string full_path(const std::string& path) const {
    if (prefix.empty()) return path;
    if (path.empty()) return prefix;
    return path[0] == '[' ? prefix + path : prefix + "." + path;
  }
  void error(const YAML::Node& at, const std::string& path, std::string message) {
    diags.error(file, pos_of(at), full_path(path), std::move(message));
  }
  void warning(const YAML::Node& at, const std::string& path, std::string message) {
    diags.warning(file, pos_of(at), full_path(path), std::move(message));
  }

  // Typed reads: nullopt when absent or of the wrong type (the schema check has reported the latter).
  std::optional<std::int64_t> get_int(const YAML::Node& parent, std::string_view key) const;
  std::optional<std::string> get_string(const YAML::Node& parent, std::string_view key) const;
  std::optional<bool> get_bool(const YAML::Node& parent, std::string_view key) const;
  std::vector<std::string> get_string_list(const YAML::Node& parent, std::string_view key) const;
  std::map<std::string, std::string> get_string_map(const YAML::Node& parent, std::string_view key) const;

  // An int32 field that must be >= min; reports "expected an integer >= min, found ...".
  std::optional<int> get_int32(const YAML::Node& parent, std::string_view key, const std::string& path,
                               std::int64_t min = INT32_MIN);

  // A string field that must be one of `allowed`; reports with a did-you-mean hint. Returns the value
  // if valid, nullopt if absent or invalid.
  std::optional<std::string> get_enum(const YAML::Node& parent, std::string_view key, const std::string& path,
                                      std::initializer_list<std::string_view> allowed);
};

}  // namespace ringmaster::jobs
