// Optional parts of ringmaster that live in a shared object of ours and are loaded only when used
// (today: libringmaster-cuda.so, the CUDA engine and the NCCL backend, so that a CUDA-enabled
// build starts as light as a CPU-only one everywhere else; docs/architecture.md says why).
//
// A module exports C entry points that return a table of function pointers; the table's first
// field is an ABI number both sides compare. The module's own undefined symbols (Status, Model,
// Communicator ...) resolve against the executable that loads it, which therefore must be linked
// with exported symbols (CMake ENABLE_EXPORTS): there is one copy of every ringmaster function
// and global in the process.
//
// Where a module is looked for, first match wins:
//   1. the path in the environment variable `env_override` (when set and not empty);
//   2. beside the running executable (dirname of /proc/self/exe);
//   3. <executable dir>/../lib/ringmaster/;
//   4. `build_path`, where the build tree put it (so test binaries find it).
// Thread-safe: loading happens once per file name, under a lock; handles are never closed.
#pragma once

#include <fmt/format.h>

#include <string>

#include "common/status.h"

namespace ringmaster {

struct SharedModuleSpec {
  std::string file;          // "libringmaster-cuda.so"
  std::string env_override;  // "RINGMASTER_CUDA_MODULE"
  std::string build_path;    // the build tree's copy, or empty
  std::string what;          // for messages: "the CUDA module"
};

// The address of `symbol` in the module (loaded with RTLD_NOW, so every undefined symbol is
// resolved before this returns). kFailedPrecondition naming every path tried and dlerror()'s
// reason when the module cannot be found or loaded, or lacks the symbol.
Result<void*> shared_module_symbol(const SharedModuleSpec& spec, const char* symbol);

// The table that the module's entry point `symbol` (a C function returning const Api*) hands out,
// checked to have ABI number `abi` (Api's first field is `int abi`).
template <class Api>
Result<const Api*> shared_module_table(const SharedModuleSpec& spec, const char* symbol, int abi) {
  auto entry = shared_module_symbol(spec, symbol);
  if (!entry) return entry.status();
  using Entry = const Api* (*)();
  const Api* table = reinterpret_cast<Entry>(*entry)();
  if (table == nullptr || table->abi != abi)
    return Status(StatusCode::kFailedPrecondition,
                  fmt::format("{} is from another ringmaster build (ABI {}, expected {})", spec.what,
                              table != nullptr ? table->abi : -1, abi));
  return table;
}

// libringmaster-cuda.so (the CUDA engine and the NCCL backend), overridden by
// RINGMASTER_CUDA_MODULE; build_path: where this build tree put it.
inline SharedModuleSpec cuda_module_spec(const char* build_path) {
  return {"libringmaster-cuda.so", "RINGMASTER_CUDA_MODULE", build_path, "the CUDA module"};
}

}  // namespace ringmaster
