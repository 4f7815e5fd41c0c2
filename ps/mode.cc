#include "ps/mode.h"

#include <fmt/format.h>

namespace ringmaster::ps {

Result<Mode> parse_mode(std::string_view text, std::string_view field) {
  if (text == "async") return Mode::kAsync;
  if (text == "sync") return Mode::kSync;
  if (text == "ssp") return Mode::kSsp;
  return invalid_argument(fmt::format("{}: expected async, sync or ssp, found \"{}\"", field, text));
}

std::string_view name_of(Mode mode) {
  switch (mode) {
    case Mode::kAsync: return "async";
    case Mode::kSync: return "sync";
    case Mode::kSsp: return "ssp";
  }
  return "async";
}

}  // namespace ringmaster::ps
