// `ringmaster sweep`: runs a Katib Experiment locally. Trials are jobs made from the trialTemplate
// (${trialParameters.NAME} and ${trialSpec.Name} substituted), each run by `ringmaster run` as a
// child process, parallelTrialCount at a time; their output is read by the StdOut collector. The
// experiment ends as Katib's controller ends it (goal reached, maxTrialCount, more failed trials
// than maxFailedTrialCount, the grid exhausted), with Katib's condition and reason names.
//
// Nothing is lost: every event goes to DIR/journal.jsonl (fsynced) before the driver goes on; the
// experiment file is copied to DIR. `--resume DIR` after the driver was killed (even with SIGKILL:
// its trials die with it) keeps every finished trial and runs again the ones that were running.
//
// pbt: each trial's suggestion_trial_dir is DIR/pbt/<trial> (the path is replaced in the trial's
// job, as Katib mounts the suggestion's volume there); before a trial starts, its parent's directory
// is copied into it (again when it starts again on --resume), and the journal records its lineage.
//
// Stopping: request_stop(DIR) (`ringmaster sweep stop DIR`, the dashboard's Stop) asks the driver
// to stop the trials running, record "experiment_stopped" and return; `--resume DIR` goes on,
// running those trials again. One driver at a time holds an experiment (a POSIX record lock on
// DIR/driver.lock).
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "jobs/model.h"

namespace ringmaster::sweep {

struct SweepOptions {
  std::string dir;          // the experiment directory
  bool resume = false;      // continue the experiment in `dir`
  std::string ringmaster;   // the binary whose `run` carries out each trial
  double poll_seconds = 0.1;
};

struct TrialRecord {
  std::string name;
  int index = 0;
  std::vector<std::pair<std::string, std::string>> assignment;
  // Running, Succeeded, Failed, MetricsUnavailable, EarlyStopped, Killed; Stopped: running when the
  // experiment was stopped (it runs again on --resume)
  std::string status = "Running";
  std::optional<double> objective;
  std::vector<std::pair<std::string, double>> metrics;
  std::string note;  // what the algorithm said of it (hyperband's bracket and rung)
  std::vector<double> series;  // every reported value of the objective, in order
  // pbt: its generation and place in the population, and the trial whose checkpoint directory it
  // started from (empty: none)
  std::optional<int> generation;
  int member = 0;
  std::string parent;
};

struct SweepResult {
  std::string condition;  // Succeeded | Failed
  std::string reason;     // ExperimentGoalReached, ExperimentMaxTrialsReached, ExperimentSuggestionEndReached, ExperimentFailed
  std::vector<TrialRecord> trials;
  std::optional<std::size_t> best;  // index into trials (the first objective's best)
  // Multi-objective (objectives.h): the Pareto front of the scored trials (indices into trials,
  // in trial order) and, for two objectives, the hypervolume it dominates up to `reference`
  // (losses: maximized objectives negated).
  std::vector<std::size_t> front;
  std::optional<double> hypervolume;
  std::vector<double> reference;
  bool stopped = false;  // stopped (request_stop) before it ended: condition is empty
  std::string created_at, finished_at;  // RFC 3339 UTC, from the journal (empty: not recorded)
};

// Runs (or resumes) the experiment, printing a line per trial event to `out`. Fails for an
// unsupported algorithm, an inconsistent search space or trial template, or an unusable directory,
// naming what was expected and found.
Result<SweepResult> run_sweep(const jobs::Experiment& experiment, const std::string& experiment_file,
                              const SweepOptions& options, std::FILE* out);

// Where experiment directories live: `root` when given, else ~/.ringmaster/experiments (an
// experiment's default directory is <that>/<its name>).
std::string experiments_root(const std::string& root = "");

// The Experiment an experiment directory holds (DIR/experiment.yaml, copied there by run_sweep).
Result<jobs::Experiment> load_experiment_dir(const std::string& dir);

// The state recorded in DIR's journal (for `ringmaster sweep status DIR`).
Result<SweepResult> read_sweep(const std::string& dir, const jobs::Experiment& experiment);

// Whether a `ringmaster sweep` in another process runs the experiment in `dir` now (it holds the
// lock on DIR/driver.lock).
bool driver_running(const std::string& dir);

// Asks the driver running the experiment in `dir` to stop (it does within its polling interval,
// once it has stopped its running trials). kFailedPrecondition when no driver runs it.
Status request_stop(const std::string& dir);

// An OptimizationJob's object as Trainer's controller leaves it: the file's OptimizationJob with
// status.conditions (Created; then Complete or Failed) and status.result (the best trial's
// TrainJob name and parameters). run_sweep writes it to DIR/optimizationjob.yaml after every trial.
Result<std::string> optimization_job_status(const std::string& dir, const SweepResult& result);

// Prints the trials table and the best trial.
void print_table(const SweepResult& result, const jobs::Experiment& experiment, std::FILE* out);

}  // namespace ringmaster::sweep
