// Hands parameter-server work to ringmaster-ps (see commands.h for why it is a second binary).
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

int exec_ringmaster_ps() {
  const std::string target = (std::filesystem::path(executable_path()).parent_path() / "ringmaster-ps").string();
  std::vector<char*> argv;
  std::string name = "ringmaster-ps";
  argv.push_back(name.data());
  for (std::size_t i = 1; i < g_args.size(); ++i) argv.push_back(g_args[i].data());
  argv.push_back(nullptr);
  std::fflush(nullptr);
  ::execv(target.c_str(), argv.data());
  std::fprintf(stderr,
               "ringmaster: the parameter server lives in ringmaster-ps, expected next to this binary at %s: %s "
               "(build the ringmaster-ps target)\n",
               target.c_str(), std::strerror(errno));
  return 1;
}

}  // namespace ringmaster::cli
