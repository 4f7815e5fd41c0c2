// Katib v1alpha3's trial template: a Go text/template that renders the trial's job YAML. The
// subset Katib's templates use is supported: {{.Field}} and {{.Field.Sub}} of the data, `range`,
// `with` and `if` blocks (with `else`) ended by {{end}}, and the {{- and -}} markers that trim the
// whitespace next to an action. The data Katib passes: .Trial, .Experiment, .NameSpace and
// .HyperParameters (a list of {.Name, .Value}). Anything else is refused with its line and column.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace ringmaster::sweep {

// A template value: a string, a list or a map of values.
struct TemplateValue {
  std::string text;
  std::vector<TemplateValue> list;
  std::map<std::string, TemplateValue> fields;
  bool is_list = false, is_map = false;

  static TemplateValue string(std::string s) { return {std::move(s), {}, {}, false, false}; }
  static TemplateValue map(std::map<std::string, TemplateValue> m) { return {{}, {}, std::move(m), false, true}; }
  static TemplateValue array(std::vector<TemplateValue> l) { return {{}, std::move(l), {}, true, false}; }
};

// Renders `text` with `data` as the dot. Fails (kInvalidArgument) naming the line and column of a
// syntax error, an unknown action, a missing field or an {{end}} without a block.
Result<std::string> render_go_template(const std::string& text, const TemplateValue& data);

}  // namespace ringmaster::sweep
