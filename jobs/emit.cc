#include "jobs/emit.h"

#include <regex>

#include "jobs/yaml_util.h"

namespace ringmaster::jobs {

namespace {

// Plain scalars that YAML 1.1 readers (PyYAML; go-yaml v2 under kubectl) take for something other
// than a string, though YAML 1.2's core schema reads them as strings: booleans such as yes/no/on/
// off/y/n, and base-60 numbers such as 1:2 (PET_NNODES "min:max" read back as 62).
bool yaml11_non_string(const std::string& s) {
  static const std::regex bool11("y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF");
  static const std::regex sexagesimal(R"([-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?)");
  return std::regex_match(s, bool11) || std::regex_match(s, sexagesimal);
}

void emit(YAML::Emitter& out, const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      out << YAML::BeginMap;
      for (auto it = node.begin(); it != node.end(); ++it) {
        out << YAML::Key;
        emit(out, it->first);
        out << YAML::Value;
        emit(out, it->second);
      }
      out << YAML::EndMap;
      return;
    case YAML::NodeType::Sequence:
      out << YAML::BeginSeq;
      for (auto it = node.begin(); it != node.end(); ++it) emit(out, *it);
      out << YAML::EndSeq;
      return;
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      if (scalar_type(node) == ScalarType::kString) {
        // A string that would read back as another type, or an empty one, keeps its quotes.
        YAML::Node probe(s);
        bool ambiguous = s.empty() || scalar_type(probe) != ScalarType::kString || yaml11_non_string(s);
        // yaml-cpp writes literal blocks with clip chomping (`|`), which reads back with one final
        // newline: only strings that end in exactly one newline may use it.
        bool one_final_newline = s.size() >= 2 && s.back() == '\n' && s[s.size() - 2] != '\n';
        if (s.find('\n') != std::string::npos && one_final_newline) {
          out << YAML::Literal << s;
        } else if (ambiguous || s.find('\n') != std::string::npos) {
          out << YAML::DoubleQuoted << s;
        } else {
          out << s;
        }
      } else {
        out << s;
      }
      return;
    }
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      out << YAML::Null;
      return;
  }
}

}  // namespace

std::string to_yaml(const YAML::Node& node) {
  YAML::Emitter out;
  out.SetIndent(2);
  out.SetSeqFormat(YAML::Block);
  emit(out, node);
  return std::string(out.c_str()) + "\n";
}

nlohmann::ordered_json to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      auto obj = nlohmann::ordered_json::object();
      for (auto it = node.begin(); it != node.end(); ++it) obj[it->first.Scalar()] = to_json(it->second);
      return obj;
    }
    case YAML::NodeType::Sequence: {
      auto arr = nlohmann::ordered_json::array();
      for (auto it = node.begin(); it != node.end(); ++it) arr.push_back(to_json(*it));
      return arr;
    }
    case YAML::NodeType::Scalar:
      switch (scalar_type(node)) {
        case ScalarType::kNull: return nullptr;
        case ScalarType::kBool: return *as_bool(node);
        case ScalarType::kInt:
          if (auto v = as_int(node)) return *v;
          return *as_number(node);
        case ScalarType::kFloat: return *as_number(node);
        case ScalarType::kString: return node.Scalar();
      }
      return node.Scalar();
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
  }
  return nullptr;
}

}  // namespace ringmaster::jobs
