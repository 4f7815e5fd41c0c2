// JobRunner: runs a planned job to its end with the operators' semantics.
//
//   gang start    every replica is started together; one that cannot start fails the job and the
//                 others are stopped
//   restarts      Always (any exit), OnFailure (non-zero), Never, ExitCode (128-255 retryable,
//                 1-127 permanent); runPolicy.backoffLimit counts restarts ("BackoffLimitExceeded")
//   deadline      runPolicy.activeDeadlineSeconds ("DeadlineExceeded": "Job was active longer than
//                 specified deadline")
//   success       TFJob: every Chief/Master, else worker-0 (successPolicy "") or every Worker
//                 ("AllWorkers"); PyTorchJob: the Master, else every Worker; MPIJob: the Launcher;
//                 batch Job: `completions` replicas
//   suspend       while options.suspended() says so (runPolicy.suspend, `ringmaster suspend`), the
//                 running replicas are stopped (not a failure, no restart counted) and the job is
//                 Suspended; when it says no more, the replicas that had not succeeded start again
//                 together and activeDeadlineSeconds counts from then (Kubernetes resets startTime)
//   stopping      on success, failure or a stop request, remaining replicas get SIGTERM, then
//                 SIGKILL after the grace period; nothing is left running when run() returns
//                 (locally cleanPodPolicy is recorded but processes never outlive the launcher)
//
// State a person can read lives in the job directory: status.json (written atomically after every
// change), events.log (one line per event) and logs/<replica>-<restart>.log. A new run of the job
// replaces them.
// A JobRunner is used from one thread.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "jobs/model.h"
#include "launcher/plan.h"
#include "launcher/process.h"

namespace ringmaster::launcher {

struct ReplicaStatus {
  std::string name, type;
  int index = 0;
  std::string phase = "Pending";  // Pending, Running, Succeeded, Failed, Stopped (by the launcher at the end
                                  // or by a suspension, after which it is Pending again)
  int restarts = 0;
  std::optional<ExitStatus> last_exit;
  std::string log;  // current log file
  bool bookkeeping = false;
};

struct JobStatus {
  std::string phase = "Created";  // Created, Running, Restarting, Suspended, Succeeded, Failed
  std::string reason, message;
  std::vector<std::string> conditions;  // every phase entered, in order
  int restarts = 0;
  double elapsed_seconds = 0.0;
  std::vector<ReplicaStatus> replicas;
  bool finished() const { return phase == "Succeeded" || phase == "Failed"; }
};

struct RunOptions {
  std::string job_dir;                                   // created if missing
  std::chrono::milliseconds poll_interval{20};
  std::chrono::milliseconds grace{std::chrono::seconds(10)};  // SIGTERM, then SIGKILL after this
  std::function<bool()> stop_requested;                  // e.g. Ctrl-C; may be empty
  std::function<bool()> suspended;                       // the wanted state, asked every poll; may be empty
  std::string stop_reason = "stopped on request";
  std::function<void(const JobStatus&)> on_change;       // after every status change; may be empty
  std::function<void()> on_tick;                         // every poll; may be empty (log streaming)
};

class JobRunner {
 public:
  JobRunner(const jobs::TrainingJob& job, JobPlan plan, Processes& processes, RunOptions options);
  // Runs the job to its end and returns the final status.
  JobStatus run();

 private:
  void start_all();
  // Polls the running replicas and applies the restart and success rules; true when anything changed.
  bool check_replicas();
  bool succeeded() const;
  void fail(const std::string& reason, const std::string& message);
  void stop_all();
  void stop_replicas();  // SIGTERM, then SIGKILL after the grace period; waits for every exit
  bool start(std::size_t i);
  void set_phase(const std::string& phase, const std::string& reason = "", const std::string& message = "");
  void event(const std::string& reason, const std::string& message);
  void save();

  const jobs::TrainingJob& job_;
  JobPlan plan_;
  Processes& processes_;
  RunOptions options_;
  JobStatus status_;
  std::vector<int> handles_;  // per replica; -1 when not running
  std::chrono::steady_clock::time_point started_;
};

}  // namespace ringmaster::launcher
