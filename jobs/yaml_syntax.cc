#include "jobs/yaml_syntax.h"

#include <yaml.h>

namespace ringmaster::jobs {
namespace {

// yaml-cpp 0.7 loops forever on some tagged plain scalars that continue over several lines
// (`! c` newline `"x",2`, `!t a` newline `,`; found by the fuzzer, kept in tests/fuzz/regressions/).
// libyaml reads each as one scalar. We refuse every tagged plain scalar that spans lines: such a
// value is valid YAML but never appears in a job file, and the message says how to write it instead.
std::optional<YamlSyntaxError> risky_plain_scalar(const yaml_event_t& e) {
  if (e.type != YAML_SCALAR_EVENT || e.data.scalar.style != YAML_PLAIN_SCALAR_STYLE || e.data.scalar.tag == nullptr ||
      e.start_mark.line == e.end_mark.line)
    return std::nullopt;
  return YamlSyntaxError{{static_cast<int>(e.start_mark.line) + 1, static_cast<int>(e.start_mark.column) + 1},
                         "a tagged plain scalar spans several lines; quote the value or put it on one line"};
}

// yaml-cpp 0.7 takes every character up to a blank or a flow indicator into an anchor's or an
// alias's name; libyaml (and Kubernetes' go-yaml) end the name at the first character that is not a
// letter, digit, '-' or '_'. So `&k?ind",` is anchor k and then `?ind",` to libyaml, while yaml-cpp
// reads one long name and then loops forever, growing memory (found by the fuzzer, kept in
// tests/fuzz/regressions/). A name followed at once by another character is refused.
std::optional<YamlSyntaxError> risky_anchor(const yaml_event_t& e, std::string_view text) {
  const yaml_char_t* name = e.type == YAML_ALIAS_EVENT            ? e.data.alias.anchor
                            : e.type == YAML_SCALAR_EVENT         ? e.data.scalar.anchor
                            : e.type == YAML_MAPPING_START_EVENT  ? e.data.mapping_start.anchor
                            : e.type == YAML_SEQUENCE_START_EVENT ? e.data.sequence_start.anchor
                                                                  : nullptr;
  if (name == nullptr) return std::nullopt;
  const std::string anchor = std::string(e.type == YAML_ALIAS_EVENT ? "*" : "&") + reinterpret_cast<const char*>(name);
  const auto at = text.find(anchor, e.start_mark.index);
  if (at == std::string_view::npos || at + anchor.size() >= text.size()) return std::nullopt;
  const char next = text[at + anchor.size()];
  if (next == ' ' || next == '\t' || next == '\n' || next == '\r' || next == ',' || next == ']' || next == '}' ||
      next == '[' || next == '{')
    return std::nullopt;
  return YamlSyntaxError{{static_cast<int>(e.start_mark.line) + 1, static_cast<int>(e.start_mark.column) + 1},
                         "expected a space or a line break after " + anchor + ", found '" + std::string(1, next) +
                             "' (an anchor's or alias's name is letters, digits, '-' and '_')"};
}

}  // namespace

std::optional<YamlSyntaxError> check_yaml_syntax(std::string_view text, std::size_t max_depth) {
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) return YamlSyntaxError{{}, "cannot initialize the YAML parser"};
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  std::optional<YamlSyntaxError> error;
  std::size_t depth = 0;
  for (;;) {
    yaml_event_t event;
    if (!yaml_parser_parse(&parser, &event)) {
      const yaml_mark_t& m = parser.problem_mark;
      std::string msg = parser.problem ? parser.problem : "malformed YAML";
      if (parser.context) msg = std::string(parser.context) + ": " + msg;
      error = YamlSyntaxError{{static_cast<int>(m.line) + 1, static_cast<int>(m.column) + 1}, msg};
      break;
    }
    auto risky = risky_plain_scalar(event);
    if (!risky) risky = risky_anchor(event, text);
    if (risky) {
      yaml_event_delete(&event);
      error = risky;
      break;
    }
    if (event.type == YAML_MAPPING_START_EVENT || event.type == YAML_SEQUENCE_START_EVENT) {
      if (++depth > max_depth) {
        error = YamlSyntaxError{{static_cast<int>(event.start_mark.line) + 1, static_cast<int>(event.start_mark.column) + 1},
                                "expected YAML nested at most " + std::to_string(max_depth) +
                                    " levels deep (the loader's fixed limit; job objects nest about 15), found deeper "
                                    "nesting",
                                true};
        yaml_event_delete(&event);
        break;
      }
    } else if (event.type == YAML_MAPPING_END_EVENT || event.type == YAML_SEQUENCE_END_EVENT) {
      --depth;
    }
    bool done = event.type == YAML_STREAM_END_EVENT;
    yaml_event_delete(&event);
    if (done) break;
  }
  yaml_parser_delete(&parser);
  return error;
}

}  // namespace ringmaster::jobs
