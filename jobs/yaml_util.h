// Helpers over yaml-cpp nodes shared by the schema checker, the loaders and the emitters:
// how a scalar resolves (YAML 1.2 core schema, as Kubernetes reads it), source positions and
// field paths. Pure functions; thread-safe.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <string>

#include "jobs/diagnostics.h"

namespace ringmaster::jobs {

enum class ScalarType { kNull, kBool, kInt, kFloat, kString };

// The type a scalar node resolves to: quoted scalars and scalars tagged !!str are strings; plain
// ones are null (~, null, empty), bool (true/false), int, float or string.
ScalarType scalar_type(const YAML::Node& node);
const char* scalar_type_name(ScalarType t);

// True for a missing node, an explicit null, or a plain empty scalar (`key:` with no value).
bool is_null(const YAML::Node& node);

// An integer scalar's value; nullopt if the node is not an integer or does not fit in int64.
std::optional<std::int64_t> as_int(const YAML::Node& node);
std::optional<double> as_number(const YAML::Node& node);
std::optional<bool> as_bool(const YAML::Node& node);

// How a node is described in a message: `"abc"`, `42`, `a mapping`, `a list`, `null`.
std::string describe(const YAML::Node& node);

SourcePos pos_of(const YAML::Node& node);

// Field paths as Kubernetes prints them: a.b for identifier-like keys, a[key] otherwise, a[3] for lists.
std::string child_path(const std::string& parent, const std::string& key);
std::string index_path(const std::string& parent, std::size_t index);

}  // namespace ringmaster::jobs
