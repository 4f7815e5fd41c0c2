// What both binaries (ringmaster, ringmaster-ps) do before running a subcommand.
#include <iostream>

#include "cli/commands.h"
#include "common/logging.h"

namespace ringmaster::cli {

int parse_command_line(CLI::App& app, int argc, char** argv, const std::string& log_level, const char* program) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (auto s = setup_logging(log_level); !s) {
    std::cerr << program << ": " << s.message() << "\n";
    return 2;
  }
  return -1;
}

}  // namespace ringmaster::cli
