// JobRunner: runs a planned job to its end with the operators' semantics.
//
//   gang start    every replica is started together; one that cannot start fails the job and the
//                 others are stopped
//   restarts      Always (any exit), OnFailure (non-zero), Never, ExitCode (128-255 retryable,
//                 1-127 permanent); runPolicy.backoffLimit counts restarts ("BackoffLimitExceeded")
//   back-off      the kubelet's CrashLoopBackOff: a replica to restart waits 10 s, then 20 s, 40 s ...
//                 up to 300 s before each restart; a replica that ran for 2 x the maximum (10
//                 minutes) before it ended starts over at 10 s (RestartBackoff, next_backoff). While
//                 it waits the replica is CrashLoopBackOff (counted active, as its pod would be
//                 Running) and the job Restarting with "back-off 40s restarting failed replica ..."
//   deadline      runPolicy.activeDeadlineSeconds ("DeadlineExceeded": "Job was active longer than
//                 specified deadline")
//   success       TFJob: every Chief/Master, else worker-0 (successPolicy "") or every Worker
//                 ("AllWorkers"); PyTorchJob: the Master, else every Worker; MPIJob: the Launcher;
//                 batch Job: `completions` replicas
//   suspend       while options.suspended() says so (runPolicy.suspend, `ringmaster suspend`), the
//                 running replicas are stopped (not a failure, no restart counted) and the job is
//                 Suspended; when it says no more, the replicas that had not succeeded start again
//                 together and activeDeadlineSeconds counts from then (Kubernetes resets startTime)
//   cleanPodPolicy once the job has Succeeded or Failed, replicas still running are stopped
//                 (Running, All; a batch Job always) or, with None, left to run on without restarts
//                 until they end by themselves or a stop is requested, as the operator deletes no
//                 pod then (a TFJob's parameter servers run until `ringmaster delete`). All does not
//                 delete the finished replicas' logs: locally they are the only record
//   stopping      at the end, and on a stop request, remaining replicas get SIGTERM, then SIGKILL
//                 after the grace period; nothing is left running when run() returns
//
// State a person can read lives in the job directory: status.json (written atomically after every
// change), events.log (one line per event) and logs/<replica>-<restart>.log. A new run of the job
// replaces them.
// A JobRunner is used from one thread.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "jobs/model.h"
#include "launcher/plan.h"
#include "launcher/process.h"

namespace ringmaster::launcher {

// The kubelet's restart back-off (pkg/kubelet/kubelet.go: backOffPeriod 10 s, MaxContainerBackOff
// 300 s; pkg/util/flowcontrol/backoff.go: the delay doubles up to the maximum, and an entry older
// than 2 x the maximum starts over; KEP-4603 describes the resulting curve: restarts after 10, 30,
// 70 s ...). Zero `initial` restarts at once.
struct RestartBackoff {
  std::chrono::milliseconds initial{std::chrono::seconds(10)};
  std::chrono::milliseconds max{std::chrono::seconds(300)};
};
// The delay before restarting a replica that was started at `started` and ended at `ended`, when
// the delay before its previous restart was `previous` (zero: none yet).
Clock::duration next_backoff(const RestartBackoff& b, Clock::duration previous, Clock::time_point started,
                             Clock::time_point ended);

struct ReplicaStatus {
  std::string name, type;
  int index = 0;
  std::string phase = "Pending";  // Pending, Running, CrashLoopBackOff (waiting to restart), Succeeded, Failed,
                                  // Stopped (by the launcher at the end or by a suspension, after which it is
                                  // Pending again)
  int restarts = 0;
  std::optional<ExitStatus> last_exit;
  std::string log;  // current log file
  bool bookkeeping = false;
  std::string cpus;  // the CPUs it is pinned to ("0-1"); empty: not pinned
  // The GPUs it sees (its CUDA_VISIBLE_DEVICES: "0,1", "" for none), with its share when several
  // replicas share one (" (25% of the SMs)"); unset when its environment does not say.
  std::optional<std::string> gpus;
  // Back-off: the delay of the last restart (zero before the first), when the replica last started,
  // and, while it is CrashLoopBackOff, when it starts again.
  Clock::duration backoff{};
  Clock::time_point started_at{}, restart_at{};
  bool backing_off() const { return phase == "CrashLoopBackOff"; }
};

struct JobStatus {
  std::string job, kind;
  std::string phase = "Created";  // Created, Running, Restarting, Suspended, Succeeded, Failed
  std::string reason, message;
  std::vector<std::string> conditions;  // every phase entered, in order
  int restarts = 0;
  double elapsed_seconds = 0.0;
  std::map<std::string, double> phase_seconds;  // time spent in each phase left so far
  Clock::time_point phase_since = std::chrono::steady_clock::now();  // entered the current one (run() resets it)
  std::vector<ReplicaStatus> replicas;
  // The job has finished and cleanPodPolicy None left these replicas running (see above).
  std::vector<std::string> left_running;
  // A TrainJob: JobSet's ReplicatedJobStatus per replicatedJob (child Jobs ready, succeeded,
  // failed, active, suspended), as status.json's jobsStatus; empty for other kinds.
  struct ChildJobs {
    std::string replicated_job;
    int ready = 0, succeeded = 0, failed = 0, active = 0, suspended = 0;
  };
  std::vector<ChildJobs> jobs_status;
  bool finished() const { return phase == "Succeeded" || phase == "Failed"; }
};

struct ReplicaCounts {
  int active = 0, succeeded = 0, failed = 0;
};
// Per replica type, as the operators report them in status.replicaStatuses.
std::map<std::string, ReplicaCounts> replica_counts(const JobStatus& status);

// The job's state in the Prometheus text format (`ringmaster run --metrics-port`):
//   ringmaster_job_info{job,kind} 1
//   ringmaster_job_phase{job,phase}                        1 for the current phase, 0 for the others
//   ringmaster_job_replicas{job,replica_type,state}        active / succeeded / failed
//   ringmaster_job_restarts_total{job}
//   ringmaster_replica_restarts_total{job,replica}
//   ringmaster_job_phase_seconds_total{job,phase}          time spent in each phase, the current one included
//   ringmaster_job_elapsed_seconds{job}
//   ringmaster_replica_waiting{job,replica,reason="CrashLoopBackOff"}  1 while it waits to restart
//   ringmaster_replica_backoff_seconds{job,replica}        its current restart delay (0: none)
//   ringmaster_trainjob_jobs{job,replicated_job,state}     a TrainJob's child Jobs: ready / succeeded /
//                                                          failed / active / suspended (jobsStatus)
//   ringmaster_trainjob_condition{job,type}                1 for Trainer's condition now true
//                                                          (Complete, Failed, Suspended), 0 otherwise
// `now` is on the clock the runner used (RunOptions::clock).
std::string job_metrics_text(const JobStatus& status, Clock::time_point now = std::chrono::steady_clock::now());

// Appends "<UTC time> <reason> <message>" to the job directory's events.log.
void append_event(const std::string& job_dir, const std::string& reason, const std::string& message);

struct RunOptions {
  std::string job_dir;                                   // created if missing
  std::chrono::milliseconds poll_interval{20};
  std::chrono::milliseconds grace{std::chrono::seconds(10)};  // SIGTERM, then SIGKILL after this
  std::function<bool()> stop_requested;                  // e.g. Ctrl-C; may be empty
  std::function<bool()> suspended;                       // the wanted state, asked every poll; may be empty
  std::string stop_reason = "stopped on request";
  std::function<void(const JobStatus&)> on_change;       // after every status change; may be empty
  std::function<void()> on_tick;                         // every poll; may be empty (log streaming)
  // cleanPodPolicy None: run() returns at once, leaving those replicas running (pods on a
  // cluster outlive the client that watches them), instead of waiting for them to end.
  bool leave_running = false;
  RestartBackoff backoff;
  // Steady time for deadlines, back-off and phase durations; null: the real one. A fake clock
  // moves only when the test (typically its Processes::wait) advances it.
  const Clock* clock = nullptr;
  // cleanPodPolicy None on processes: called once the job has finished with replicas left running,
  // before run() goes on waiting for them (`ringmaster run` returns to its caller there).
  std::function<void(const JobStatus&)> on_finished_leaving_running;
};

class JobRunner {
 public:
  JobRunner(const jobs::TrainingJob& job, JobPlan plan, Processes& processes, RunOptions options);
  // Runs the job to its end and returns the final status.
  JobStatus run();

 private:
  void start_all();
  bool dependencies_met(std::size_t i) const;  // a TrainJob step's dependsOn
  std::vector<JobStatus::ChildJobs> jobs_status() const;  // a TrainJob's jobsStatus
  bool start_dependents();                     // starts the waiting steps whose dependencies now hold
  // Polls the running replicas and applies the restart and success rules; true when anything changed.
  bool check_replicas();
  // The exit of replica i once it has ended (recorded in its status and the events), else nullopt.
  std::optional<ExitStatus> reap(std::size_t i);
  // Starts the replicas whose back-off has passed; true when any started.
  bool restart_due();
  // The replica ended and its policy restarts it: back off, or fail the job at backoffLimit (a
  // TrainJob: its child Job's backoffLimit; `counts` false for a podFailurePolicy Ignore).
  void schedule_restart(std::size_t i, const ExitStatus& exit, bool counts = true);
  // A TrainJob's pod ended with a failure: the first podFailurePolicy rule of its child Job that
  // matches the exit: its action (FailJob, Ignore, Count; "" when none does), its index, and the
  // container it judged.
  struct PodFailureMatch {
    std::string action;
    int rule = 0;
    std::string container;
  };
  PodFailureMatch pod_failure_action(std::size_t i, const ExitStatus& exit) const;
  // A TrainJob's child Job (the one replica i belongs to) failed with a batch/v1 Job failure reason:
  // JobSet's failurePolicy decides (jobset v0.12 pkg/controllers/failure_policy.go).
  void fail_child(std::size_t i, const std::string& reason, const std::string& message);
  // Recreates every child Job (failurePolicy RestartJobSet*): counted toward maxRestarts or not.
  void restart_jobset(bool counted, const std::string& reason, const std::string& message);
  Clock::time_point now() const { return clock_.now(); }
  bool succeeded() const;
  void fail(const std::string& reason, const std::string& message);
  void stop_all();
  // Carries out cleanPodPolicy once the job has finished (see above).
  void apply_clean_pod_policy();
  int running_replicas() const;
  void stop_replicas();  // SIGTERM, then SIGKILL after the grace period; waits for every exit
  bool start(std::size_t i);
  void set_phase(const std::string& phase, const std::string& reason = "", const std::string& message = "");
  void event(const std::string& reason, const std::string& message);
  void save();

  const jobs::TrainingJob& job_;
  JobPlan plan_;
  Processes& processes_;
  RunOptions options_;
  const Clock& clock_;
  JobStatus status_;
  bool status_write_failed_ = false;  // reported once
  std::vector<int> handles_;  // per replica; -1 when not running
  Clock::time_point started_;
  int jobset_restarts_ = 0;          // a TrainJob's JobSet recreated after a failure (failurePolicy)
  int jobset_counted_restarts_ = 0;  // ... of those, the ones that count toward maxRestarts
  // A TrainJob's pod restarts that count toward each child Job's backoffLimit, by (replicatedJob,
  // job index), since the JobSet (re)started.
  std::map<std::pair<std::string, int>, int> child_failures_;
};

}  // namespace ringmaster::launcher
