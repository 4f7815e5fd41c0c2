#include "launcher/process.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "common/environment.h"
#include "common/files.h"

namespace ringmaster::launcher {
namespace {

// The command as the container runtime finds it: a bare name is looked up in the PATH of the
// replica's own environment (runc does; execvpe would search the launcher's), so a PATH a replica
// is given (an MPIJob's MPICH or Intel launcher first) decides which `mpirun` it runs. Unchanged
// when it holds a '/' or is found nowhere (exec then reports it).
std::string resolve_command(const std::string& command, const std::vector<std::string>& env) {
  if (command.empty() || command.find('/') != std::string::npos) return command;
  std::string path;
  for (const auto& e : env)
    if (e.rfind("PATH=", 0) == 0) path = e.substr(5);
  const std::string found = path.empty() ? std::string() : find_in_path(command, path);
  return found.empty() ? command : found;
}

// The supervisor's loop; runs between fork and _exit, so only async-signal-safe calls.
[[noreturn]] void supervise(pid_t launcher, const char* program, char* const* argv, char* const* envp, const char* dir,
                            const cpu_set_t* cpus, int log_fd, int error_fd) {
  // Die with the launcher: SIGUSR2 arrives when it goes, however it goes.
  ::prctl(PR_SET_PDEATHSIG, SIGUSR2);
  if (::getppid() != launcher) ::_exit(125);
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGUSR2);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGQUIT);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  const pid_t child = ::fork();
  if (child < 0) {
    const int e = errno;
    [[maybe_unused]] auto w = ::write(error_fd, &e, sizeof e);
    ::_exit(127);
  }
  if (child == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // should the supervisor itself be killed outright
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    if (cpus != nullptr && ::sched_setaffinity(0, sizeof(cpu_set_t), cpus) != 0) {
      const int e = errno;
      [[maybe_unused]] auto w = ::write(error_fd, &e, sizeof e);
      ::_exit(127);
    }
    if (dir != nullptr && ::chdir(dir) != 0) {
      const int e = errno;
      [[maybe_unused]] auto w = ::write(error_fd, &e, sizeof e);
      ::_exit(127);
    }
    ::execvpe(program, argv, envp);  // argv[0] stays as the replica wrote it, as runc keeps it
    const int e = errno;
    [[maybe_unused]] auto w = ::write(error_fd, &e, sizeof e);
    ::_exit(127);
  }
  ::setpgid(child, child);
  ::close(error_fd);
  ::close(log_fd);
  int status = 0;
  bool child_done = false;
  for (;;) {
    siginfo_t info;
    const int sig = ::sigwaitinfo(&set, &info);
    if (sig == SIGCHLD) {
      // Reap everything that ended (adopted orphans too); stop when the replica itself has.
      for (;;) {
        int st = 0;
        const pid_t p = ::waitpid(-1, &st, WNOHANG);
        if (p <= 0) break;
        if (p == child) {
          status = st;
          child_done = true;
        }
      }
      if (child_done) break;
    } else if (sig == SIGUSR2) {
      // The launcher is gone: take the replica with us.
      ::kill(-child, SIGKILL);
      status = SIGKILL;  // as if killed
      ::waitpid(child, &status, 0);
      break;
    } else if (sig > 0) {
      ::kill(-child, sig);  // forward a stop request to the whole group
    }
  }
  // Nothing of the replica outlives it.
  ::kill(-child, SIGKILL);
  while (::waitpid(-1, nullptr, 0) > 0) {
  }
  if (WIFSIGNALED(status)) {
    const int s = WTERMSIG(status);
    ::signal(s, SIG_DFL);
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, s);
    ::sigprocmask(SIG_UNBLOCK, &only, nullptr);
    ::prctl(PR_SET_DUMPABLE, 0);  // no core file for the re-raised signal
    ::kill(::getpid(), s);
  }
  ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

class RealProcesses final : public Processes {
 public:
  Result<int> start(const ProcessSpec& spec) override {
    if (spec.argv.empty()) return invalid_argument("start: expected a command, found none");
    // Everything the child needs is prepared before fork: after it, no allocation.
    std::vector<std::string> env_strings = environment_with(spec.env);
    std::vector<std::string> args = spec.argv;
    const std::string program = args.empty() ? std::string() : resolve_command(args[0], env_strings);
    std::vector<char*> envp = c_string_array(env_strings), argv = c_string_array(args);
    const int log_fd = ::open(spec.log_path.empty() ? "/dev/null" : spec.log_path.c_str(),
                              O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, kPrivateFileMode);
    if (log_fd < 0) return invalid_argument(fmt::format("cannot open log {}: {}", spec.log_path, std::strerror(errno)));
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) {
      ::close(log_fd);
      return internal_error(std::string("pipe: ") + std::strerror(errno));
    }
    const pid_t launcher = ::getpid();
    const char* dir = spec.working_dir.empty() ? nullptr : spec.working_dir.c_str();
    cpu_set_t cpu_set;
    CPU_ZERO(&cpu_set);
    for (int c : spec.cpus)
      if (c >= 0 && c < CPU_SETSIZE) CPU_SET(c, &cpu_set);
    const pid_t pid = ::fork();
    if (pid < 0) {
      ::close(log_fd);
      ::close(pipefd[0]);
      ::close(pipefd[1]);
      return internal_error(std::string("fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
      ::close(pipefd[0]);
      supervise(launcher, program.c_str(), argv.data(), envp.data(), dir, spec.cpus.empty() ? nullptr : &cpu_set, log_fd, pipefd[1]);
    }
    ::close(log_fd);
    ::close(pipefd[1]);
    // The command started when the pipe closes without an errno in it (exec closed it).
    int err = 0;
    const ssize_t n = ::read(pipefd[0], &err, sizeof err);
    ::close(pipefd[0]);
    if (n == sizeof err) {
      int st = 0;
      ::waitpid(pid, &st, 0);
      return invalid_argument(fmt::format("cannot start {}{}: {}", spec.argv[0],
                                          dir ? fmt::format(" in {}", dir) : "", std::strerror(err)));
    }
    // A pidfd becomes readable when the supervisor exits; without one (old kernels) wait() sleeps.
    if (const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); fd >= 0) pidfds_[pid] = fd;
    return static_cast<int>(pid);
  }

  ~RealProcesses() override {
    for (const auto& [pid, fd] : pidfds_) ::close(fd);
  }

  void wait(std::chrono::milliseconds timeout) override {
    if (pidfds_.empty()) {
      std::this_thread::sleep_for(timeout);
      return;
    }
    std::vector<pollfd> fds;
    for (const auto& [pid, fd] : pidfds_) fds.push_back({fd, POLLIN, 0});
    ::poll(fds.data(), fds.size(), static_cast<int>(timeout.count()));
  }

  std::optional<ExitStatus> poll(int handle) override {
    int st = 0;
    const pid_t p = ::waitpid(handle, &st, WNOHANG);
    if (p != handle) return std::nullopt;
    if (auto it = pidfds_.find(handle); it != pidfds_.end()) {
      ::close(it->second);
      pidfds_.erase(it);
    }
    ExitStatus e;
    if (WIFSIGNALED(st)) e.signal = WTERMSIG(st);
    else e.code = WEXITSTATUS(st);
    return e;
  }

  // The supervisor forwards signals to the replica's group; a hard kill is asked for with SIGUSR2,
  // since SIGKILL would kill the supervisor before it could take the group with it.
  void signal(int handle, int sig) override { ::kill(handle, sig == SIGKILL ? SIGUSR2 : sig); }

 private:
  std::map<int, int> pidfds_;  // supervisor pid -> its pidfd, while it is not reaped
};

}  // namespace

std::string ExitStatus::describe() const {
  const std::string why = reason.empty() ? "" : fmt::format(" ({})", reason);
  if (signal) {
    const char* name = sigabbrev_np(signal);
    return fmt::format("killed by SIG{} ({}){}", name ? name : std::to_string(signal), container_code(), why);
  }
  return fmt::format("exit code {}{}", code, why);
}

std::string find_in_path(const std::string& name, std::string_view path) {
  for (std::size_t at = 0; at <= path.size();) {
    std::size_t end = path.find(':', at);
    if (end == std::string_view::npos) end = path.size();
    const std::string candidate = (end > at ? std::string(path.substr(at, end - at)) : std::string(".")) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    at = end + 1;
  }
  return {};
}

std::unique_ptr<Processes> real_processes() { return std::make_unique<RealProcesses>(); }

}  // namespace ringmaster::launcher
