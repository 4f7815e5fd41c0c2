// Processes: the seam between the launcher and the operating system (in the spirit of LevelDB's
// Env), so restart and failure logic is tested with injected faults as well as real processes.
//
// The real implementation starts each replica under a small supervisor, a forked copy of the
// launcher that never execs:
//   launcher --fork--> supervisor --fork+exec--> replica command (its own process group)
// The supervisor is a child subreaper, dies with the launcher (PR_SET_PDEATHSIG), and on its way
// out — the replica exited, the launcher asked, or the launcher died, even of SIGKILL — kills the
// replica's whole process group and reaps everything, so no process is ever left behind. It then
// exits with the replica's status (re-raising the same signal when the replica was killed).
// A Processes object is used from one thread.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/status.h"

namespace ringmaster::launcher {

struct ProcessSpec {
  std::vector<std::string> argv;
  std::vector<std::pair<std::string, std::string>> env;  // added to (and overriding) the launcher's own
  std::string working_dir;                                // empty: the launcher's
  std::string log_path;                                   // stdout and stderr, appended
  std::vector<int> cpus;                                  // CPU affinity; empty: the launcher's
  std::string name;  // the replica's name (on a cluster, its pod's)
};

struct ExitStatus {
  int code = 0;    // exit code when it exited
  int signal = 0;  // signal number when it was killed
  // The code Kubernetes reports: the exit code, or 128 + signal.
  int container_code() const { return signal ? 128 + signal : code; }
  bool success() const { return signal == 0 && code == 0; }
  std::string reason;  // why, when something other than the process says so (a pod's "OOMKilled")
  std::string describe() const;  // "exit code 1", "killed by SIGKILL (137)", "... (OOMKilled)"
};

class Processes {
 public:
  virtual ~Processes() = default;
  // Starts the process; fails (and starts nothing) when the command cannot be run, naming it.
  virtual Result<int> start(const ProcessSpec& spec) = 0;
  // The exit status once the process has ended (it is then reaped); nullopt while it runs.
  virtual std::optional<ExitStatus> poll(int handle) = 0;
  // Sends sig to the process and everything it started.
  virtual void signal(int handle, int sig) = 0;
  // Returns once one of the running processes may have ended, or after `timeout`. The real one
  // wakes at the exit itself (pidfds), so a restart or the job's end waits for no polling tick.
  virtual void wait(std::chrono::milliseconds timeout) { std::this_thread::sleep_for(timeout); }
};

std::unique_ptr<Processes> real_processes();

// The executable `name` in the colon-separated directory list `path` (an empty entry is the
// current directory, as execvp reads it): its path, or "" when no directory has it.
std::string find_in_path(const std::string& name, std::string_view path);

}  // namespace ringmaster::launcher
