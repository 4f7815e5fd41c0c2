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
    if (auto risky = risky_plain_scalar(event)) {
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
