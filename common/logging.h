// Logging setup (spdlog). Call setup_logging once in main(); modules then log with spdlog::info(...)
// etc. Logs go to stderr so that stdout stays for a command's output (specs, metrics lines, tables).
#pragma once

#include <string_view>

#include "common/status.h"

namespace ringmaster {

// level: trace, debug, info, warn, error, off.
Status setup_logging(std::string_view level);

}  // namespace ringmaster
