// Hands parameter-server work to ringmaster-ps and the dashboard to ringmaster-dashboard (commands.h
// says why each is a binary of its own).
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common/files.h"

namespace ringmaster::cli {
namespace {
std::vector<std::string> g_args;
}

void remember_command_line(int argc, char** argv) { g_args.assign(argv, argv + argc); }

int exec_companion(const std::string& name, const std::string& why) {
  const std::string target = (std::filesystem::path(executable_path()).parent_path() / name).string();
  std::vector<char*> argv;
  std::string argv0 = name;
  argv.push_back(argv0.data());
  for (std::size_t i = 1; i < g_args.size(); ++i) argv.push_back(g_args[i].data());
  argv.push_back(nullptr);
  std::fflush(nullptr);
  ::execv(target.c_str(), argv.data());
  std::fprintf(stderr, "ringmaster: %s lives in %s, expected next to this binary at %s: %s (build the %s target)\n",
               why.c_str(), name.c_str(), target.c_str(), std::strerror(errno), name.c_str());
  return 1;
}

int exec_ringmaster_ps() { return exec_companion("ringmaster-ps", "the parameter server"); }

}  // namespace ringmaster::cli
