#include "jobs/yaml_syntax.h"

#include <yaml.h>

namespace ringmaster::jobs {

std::optional<YamlSyntaxError> check_yaml_syntax(std::string_view text) {
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) return YamlSyntaxError{{}, "cannot initialize the YAML parser"};
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  std::optional<YamlSyntaxError> error;
  for (;;) {
    yaml_event_t event;
    if (!yaml_parser_parse(&parser, &event)) {
      const yaml_mark_t& m = parser.problem_mark;
      std::string msg = parser.problem ? parser.problem : "malformed YAML";
      if (parser.context) msg = std::string(parser.context) + ": " + msg;
      error = YamlSyntaxError{{static_cast<int>(m.line) + 1, static_cast<int>(m.column) + 1}, msg};
      break;
    }
    bool done = event.type == YAML_STREAM_END_EVENT;
    yaml_event_delete(&event);
    if (done) break;
  }
  yaml_parser_delete(&parser);
  return error;
}

}  // namespace ringmaster::jobs
