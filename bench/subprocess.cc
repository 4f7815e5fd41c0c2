#include "bench/subprocess.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/environment.h"

namespace ringmaster::bench {

std::string self_exe() { return fmt::format("/proc/{}/exe", ::getpid()); }

Result<std::string> run_capturing(const std::vector<std::string>& argv,
                                  const std::vector<std::pair<std::string, std::string>>& env) {
  // Everything the child needs is built before fork.
  std::vector<std::string> args = argv, envs = environment_with(env);
  std::vector<char*> arg_ptrs = c_string_array(args), env_ptrs = c_string_array(envs);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return internal_error("pipe failed");
  const pid_t pid = ::fork();
  if (pid < 0) return internal_error("fork failed");
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::execvpe(arg_ptrs[0], arg_ptrs.data(), env_ptrs.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return internal_error(fmt::format("{} failed ({})", argv.empty() ? "child" : argv[0],
                                      WIFEXITED(status) ? fmt::format("exit status {}", WEXITSTATUS(status))
                                                        : fmt::format("signal {}", WTERMSIG(status))));
  return text;
}

}  // namespace ringmaster::bench
