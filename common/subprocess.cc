#include "common/subprocess.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/environment.h"

namespace ringmaster {
namespace {

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace

Result<CommandOutput> run_command(const CommandSpec& spec) {
  if (spec.argv.empty()) return invalid_argument("run_command: empty argv");
  std::vector<std::string> args = spec.argv, envs = environment_with(spec.env);
  std::vector<char*> arg_ptrs = c_string_array(args), env_ptrs = c_string_array(envs);
  const std::string not_found = fmt::format("{}: cannot execute: ", spec.argv[0]);
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  const bool capture_err = spec.stderr_mode == CommandSpec::Stderr::kCapture;
  if (::pipe2(in, O_CLOEXEC) != 0 || (!spec.inherit_stdout && ::pipe2(out, O_CLOEXEC) != 0) || (capture_err && ::pipe2(err, O_CLOEXEC) != 0)) {
    for (int* p : {in, out, err}) close_fd(p[0]), close_fd(p[1]);
    return internal_error(fmt::format("pipe: {}", std::strerror(errno)));
  }
  const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  // A command that exits before reading all its input must not kill us with SIGPIPE: the write
  // fails with EPIPE instead. (The child gets the default back: an ignored signal survives exec.)
  ::signal(SIGPIPE, SIG_IGN);
  const pid_t pid = ::fork();
  if (pid < 0) {
    for (int* p : {in, out, err}) close_fd(p[0]), close_fd(p[1]);
    if (null_fd >= 0) ::close(null_fd);
    return internal_error(fmt::format("fork: {}", std::strerror(errno)));
  }
  if (pid == 0) {
    ::signal(SIGPIPE, SIG_DFL);
    ::dup2(spec.input.empty() && null_fd >= 0 ? null_fd : in[0], 0);
    if (!spec.inherit_stdout) ::dup2(out[1], 1);
    if (capture_err) ::dup2(err[1], 2);
    else if (spec.stderr_mode == CommandSpec::Stderr::kDiscard && null_fd >= 0) ::dup2(null_fd, 2);
    ::execvpe(arg_ptrs[0], arg_ptrs.data(), env_ptrs.data());
    const int e = errno;
    [[maybe_unused]] auto w1 = ::write(2, not_found.data(), not_found.size());
    const char* why = e == ENOENT ? "not found\n" : "permission denied or not an executable\n";
    [[maybe_unused]] auto w2 = ::write(2, why, std::strlen(why));
    ::_exit(127);
  }
  if (null_fd >= 0) ::close(null_fd);
  close_fd(in[0]);
  close_fd(out[1]);
  close_fd(err[1]);
  if (spec.input.empty()) close_fd(in[1]);
  else ::fcntl(in[1], F_SETFL, O_NONBLOCK);
  CommandOutput result;
  std::size_t written = 0;
  // One loop feeds stdin and drains both outputs, so a command that writes a lot before reading
  // all its input cannot deadlock against us.
  while (out[0] >= 0 || err[0] >= 0 || in[1] >= 0) {
    pollfd fds[3];
    int n = 0;
    int* owners[3];
    auto add = [&](int& fd, short events) {
      if (fd < 0) return;
      fds[n] = {fd, events, 0};
      owners[n++] = &fd;
    };
    add(out[0], POLLIN);
    add(err[0], POLLIN);
    add(in[1], POLLOUT);
    if (::poll(fds, static_cast<nfds_t>(n), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < n; ++i) {
      if (!fds[i].revents) continue;
      int& fd = *owners[i];
      if (&fd == &in[1]) {
        const ssize_t w = ::write(fd, spec.input.data() + written, spec.input.size() - written);
        if (w > 0) written += static_cast<std::size_t>(w);
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == spec.input.size()) close_fd(fd);
        continue;
      }
      char buf[8192];
      const ssize_t r = ::read(fd, buf, sizeof buf);
      if (r > 0) (&fd == &out[0] ? result.out : result.err).append(buf, static_cast<std::size_t>(r));
      else if (r == 0 || (errno != EAGAIN && errno != EINTR)) close_fd(fd);
    }
  }
  close_fd(in[1]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace ringmaster
