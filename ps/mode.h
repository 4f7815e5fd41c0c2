// How the parameter servers apply the workers' pushes (--ps-mode):
//   async  each push on arrival
//   sync   each step's pushes from all workers averaged and applied once
//   ssp    async, but a worker at clock c waits until the slowest has pushed c - staleness steps
// The worker parses the flag once (parse_mode); the name travels in RegisterRequest.mode, which
// the server parses once when it is configured.
#pragma once

#include <string_view>

#include "common/status.h"

namespace ringmaster::ps {

enum class Mode { kAsync, kSync, kSsp };

// Fails with kInvalidArgument: "<field>: expected async, sync or ssp, found "x"".
Result<Mode> parse_mode(std::string_view text, std::string_view field = "--ps-mode");
std::string_view name_of(Mode mode);

}  // namespace ringmaster::ps
