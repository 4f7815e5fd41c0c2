#include "jobs/yaml_util.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <regex>

#include "common/strings.h"

namespace ringmaster::jobs {

namespace {

bool is_plain(const YAML::Node& node) { return node.Tag() == "?" || node.Tag().empty(); }

bool looks_int(const std::string& s) {
  std::size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  if (i >= s.size()) return false;
  for (; i < s.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  return true;
}

bool looks_float(const std::string& s) {
  static const std::regex re(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  static const std::regex special(R"([-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))");
  return std::regex_match(s, re) || std::regex_match(s, special);
}

}  // namespace

ScalarType scalar_type(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return ScalarType::kNull;
  if (!node.IsScalar()) return ScalarType::kString;
  if (node.Tag() == "tag:yaml.org,2002:str" || !is_plain(node)) return ScalarType::kString;
  const std::string& s = node.Scalar();
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return ScalarType::kNull;
  if (s == "true" || s == "True" || s == "TRUE" || s == "false" || s == "False" || s == "FALSE") return ScalarType::kBool;
  if (looks_int(s)) return ScalarType::kInt;
  if (looks_float(s)) return ScalarType::kFloat;
  return ScalarType::kString;
}

const char* scalar_type_name(ScalarType t) {
  switch (t) {
    case ScalarType::kNull: return "null";
    case ScalarType::kBool: return "boolean";
    case ScalarType::kInt: return "integer";
    case ScalarType::kFloat: return "number";
    case ScalarType::kString: return "string";
  }
  return "?";
}

bool is_null(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return true;
  return node.IsScalar() && scalar_type(node) == ScalarType::kNull;
}

std::optional<std::int64_t> as_int(const YAML::Node& node) {
  if (!node.IsDefined() || !node.IsScalar() || scalar_type(node) != ScalarType::kInt) return std::nullopt;
  const std::string& s = node.Scalar();
  // YAML 1.2's core schema allows a leading '+'; the typed parser does not.
  return parse_int<std::int64_t>(std::string_view(s).substr(!s.empty() && s[0] == '+' ? 1 : 0));
}

std::optional<double> as_number(const YAML::Node& node) {
  if (!node.IsDefined() || !node.IsScalar()) return std::nullopt;
  auto t = scalar_type(node);
  if (t != ScalarType::kInt && t != ScalarType::kFloat) return std::nullopt;
  std::string s = node.Scalar();
  if (s.find("inf") != std::string::npos || s.find("Inf") != std::string::npos || s.find("INF") != std::string::npos)
    return s[0] == '-' ? -HUGE_VAL : HUGE_VAL;
  if (s.find("nan") != std::string::npos || s.find("NaN") != std::string::npos || s.find("NAN") != std::string::npos)
    return std::nan("");
  return std::strtod(s.c_str(), nullptr);
}

std::optional<bool> as_bool(const YAML::Node& node) {
  if (!node.IsDefined() || !node.IsScalar() || scalar_type(node) != ScalarType::kBool) return std::nullopt;
  return node.Scalar()[0] == 't' || node.Scalar()[0] == 'T';
}

std::string describe(const YAML::Node& node) {
  if (!node.IsDefined()) return "nothing";
  switch (node.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "null";
    case YAML::NodeType::Undefined: return "nothing";
    case YAML::NodeType::Scalar: break;
  }
  switch (scalar_type(node)) {
    case ScalarType::kNull: return "null";
    case ScalarType::kString: return "string " + quote(node.Scalar());
    case ScalarType::kBool: return "boolean " + node.Scalar();
    case ScalarType::kInt: return "integer " + node.Scalar();
    case ScalarType::kFloat: return "number " + node.Scalar();
  }
  return "?";
}

SourcePos pos_of(const YAML::Node& node) {
  if (!node.IsDefined()) return {};
  YAML::Mark m = node.Mark();
  if (m.is_null()) return {};
  return {m.line + 1, m.column + 1};
}

std::string child_path(const std::string& parent, const std::string& key) {
  bool ident = !key.empty();
  for (char c : key)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) ident = false;
  if (!ident) return parent + "[" + key + "]";
  return parent.empty() ? key : parent + "." + key;
}

std::string index_path(const std::string& parent, std::size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

}  // namespace ringmaster::jobs
