// What `ringmaster dashboard` shows, read from the job directories `ringmaster run` and `submit`
// write (status.json, events.log, logs/; launcher/runner.h) under one jobs root. Nothing here
// keeps state: every call reads the files as they are now, so a job still being written shows as
// far as it got, a finished one as it ended, and an empty root as no jobs. Reads are bounded (a
// log's tail, never a whole log). Thread-safe.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>

#include "common/status.h"

namespace ringmaster::dashboard {

// Whether `name` can name a job or replica here: a DNS label's characters ([a-z0-9.-], 1-253),
// never a path (no "/" nor "..").
bool valid_name(const std::string& name);

// Every job under `jobs_root`, newest first: {name, kind, phase, replicas: {active, succeeded,
// failed}, restarts, start (the first event's time, ISO 8601), seconds (counting on while the job
// runs), launcherAlive (a launcher still runs it), message}. A directory without a readable
// status.json is left out.
nlohmann::json list_jobs(const std::string& jobs_root);

// One job: its status.json as written (each replica with its CPUs and GPUs when placed), plus
// "events" (events.log as {time, text} lines, the last 500), "suspended" (whether the suspend file
// is present) and "launcherAlive"; its elapsedSeconds count on while it runs. kNotFound names the job.
Result<nlohmann::json> job_detail(const std::string& jobs_root, const std::string& job);

// The last `max_bytes` of replica's log (whole lines), and its size: {replica, size, text}.
// kNotFound for an unknown job or replica.
Result<nlohmann::json> log_tail(const std::string& jobs_root, const std::string& job, const std::string& replica,
                                std::size_t max_bytes);

// The training metrics the job's replicas wrote (launcher/job_dir.h metrics_file: `ringmaster
// train`'s per-epoch records, its per-second step records, membership changes, summary), each
// with "replica" added, in each file's order: at most the last 10000 records of each, its step
// records thinned evenly to 1000. An unknown job is kNotFound; a job whose replicas wrote none has [].
Result<nlohmann::json> job_metrics(const std::string& jobs_root, const std::string& job);

// The Chrome trace replica wrote with --timeline (the path its metrics file announces). kNotFound
// when it wrote none, the file is gone, or it is not a Chrome trace ({"...traceEvents" at its start).
Result<std::string> timeline_path(const std::string& jobs_root, const std::string& job, const std::string& replica);

// Where replica's log is (for following it as it grows). kNotFound as log_tail.
Result<std::string> log_path(const std::string& jobs_root, const std::string& job, const std::string& replica);

// Suspends or resumes the job as `ringmaster suspend|resume` does (the launcher polls the suspend
// file). kNotFound for an unknown job; kFailedPrecondition for a finished one.
Status set_suspended(const std::string& jobs_root, const std::string& job, bool suspended);

}  // namespace ringmaster::dashboard
