#include "common/shared_module.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <vector>

#include <fmt/format.h>

#include "common/files.h"

namespace ringmaster {
namespace {

std::string executable_dir() {
  const std::string exe = executable_path();
  return exe.empty() ? std::string() : std::filesystem::path(exe).parent_path().string();
}

std::vector<std::string> candidates(const SharedModuleSpec& spec) {
  std::vector<std::string> paths;
  if (!spec.env_override.empty()) {
    const char* env = std::getenv(spec.env_override.c_str());
    if (env != nullptr && *env != '\0') return {env};  // an explicit choice is the only one tried
  }
  if (const std::string dir = executable_dir(); !dir.empty()) {
    paths.push_back(dir + "/" + spec.file);
    paths.push_back(dir + "/../lib/ringmaster/" + spec.file);
  }
  if (!spec.build_path.empty()) paths.push_back(spec.build_path);
  return paths;
}

struct Loaded {
  void* handle = nullptr;
  std::string error;  // when handle is null
};

Loaded load(const SharedModuleSpec& spec) {
  std::string tried;
  for (const std::string& path : candidates(spec)) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      tried += fmt::format("\n  {}: not there", path);
      continue;
    }
    if (void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)) return {h, {}};
    const char* why = dlerror();
    // A module that is there but does not load is the answer: say why, do not look further.
    return {nullptr, fmt::format("{} ({}) does not load: {}", spec.what, path, why != nullptr ? why : "dlopen failed")};
  }
  return {nullptr, fmt::format("{} ({}) was not found; tried:{}{}", spec.what, spec.file, tried,
                               spec.env_override.empty() ? std::string()
                                                         : fmt::format("\n  (set {} to its path)", spec.env_override))};
}

}  // namespace

Result<void*> shared_module_symbol(const SharedModuleSpec& spec, const char* symbol) {
  static std::mutex mu;
  static std::map<std::string, Loaded> loaded;
  std::lock_guard lock(mu);
  auto it = loaded.find(spec.file);
  if (it == loaded.end()) it = loaded.emplace(spec.file, load(spec)).first;
  if (it->second.handle == nullptr) return Status(StatusCode::kFailedPrecondition, it->second.error);
  dlerror();
  void* address = dlsym(it->second.handle, symbol);
  if (address == nullptr)
    return Status(StatusCode::kFailedPrecondition,
                  fmt::format("{} has no entry point {}: is it from another ringmaster build?", spec.what, symbol));
  return address;
}

}  // namespace ringmaster
