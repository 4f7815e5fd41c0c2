#include "bench/subprocess.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "collectives/socket.h"
#include "common/environment.h"

namespace ringmaster::bench {

std::string self_exe() { return fmt::format("/proc/{}/exe", ::getpid()); }

Result<std::string> run_capturing(const std::vector<std::string>& argv,
                                  const std::vector<std::pair<std::string, std::string>>& env, bool discard_stderr) {
  // Everything the child needs is built before fork.
  std::vector<std::string> args = argv, envs = environment_with(env);
  std::vector<char*> arg_ptrs = c_string_array(args), env_ptrs = c_string_array(envs);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return internal_error("pipe failed");
  const int null_fd = discard_stderr ? ::open("/dev/null", O_WRONLY | O_CLOEXEC) : -1;
  const pid_t pid = ::fork();
  if (pid < 0) return internal_error("fork failed");
  if (pid == 0) {
    ::dup2(fds[1], 1);
    if (null_fd >= 0) ::dup2(null_fd, 2);
    ::execvpe(arg_ptrs[0], arg_ptrs.data(), env_ptrs.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  if (null_fd >= 0) ::close(null_fd);
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

std::vector<std::string> mpirun_argv(int ranks) {
  std::vector<std::string> argv = {"mpirun", "--allow-run-as-root", "-np", std::to_string(ranks), "--bind-to", "none"};
  if (static_cast<unsigned>(ranks) > std::max(1u, std::thread::hardware_concurrency()))
    argv.push_back("--oversubscribe");
  return argv;
}

std::vector<Result<std::string>> run_local_ranks(const std::vector<std::string>& argv, int ranks, const Env& env) {
  int port = 0;
  if (auto listener = collectives::listen_tcp("127.0.0.1", 0)) port = collectives::local_port(listener->get());
  std::vector<Result<std::string>> out(static_cast<std::size_t>(ranks), std::string());
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      Env e = {{"RANK", std::to_string(r)}, {"WORLD_SIZE", std::to_string(ranks)}, {"MASTER_ADDR", "127.0.0.1"},
               {"MASTER_PORT", std::to_string(port)}};
      e.insert(e.end(), env.begin(), env.end());
      out[static_cast<std::size_t>(r)] = run_capturing(argv, e);
    });
  for (auto& t : threads) t.join();
  return out;
}

}  // namespace ringmaster::bench
