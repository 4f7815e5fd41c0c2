// The dashboard's sweeps: Katib experiments `ringmaster sweep` ran, read from their directories
// (experiment.yaml and journal.jsonl, sweep/driver.h) under one experiments root, as they are now:
// running, finished or interrupted. Thread-safe.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "common/status.h"

namespace ringmaster::dashboard {

// Every experiment: {name, algorithm, objective: {type, metric, goal}, state (the condition it
// ended with; else Running while a driver runs it, Stopped when stopped on request, Interrupted
// when its driver was killed), reason, trialCount, best: {trial, value} or null}. A directory without a
// loadable experiment.yaml is left out.
nlohmann::json list_sweeps(const std::string& experiments_root);

// One experiment: what list_sweeps says, plus its parameters, the algorithm's and early
// stopping's settings, and every trial {name, index, status (EarlyStopped: medianstop stopped it;
// Stopped: the experiment was stopped while it ran),
// objective, assignment, metrics, series (the objective as reported, in order), note}.
Result<nlohmann::json> sweep_detail(const std::string& experiments_root, const std::string& name);

// Asks the experiment's driver to stop, as `ringmaster sweep stop` (sweep/driver.h request_stop).
// kNotFound for an unknown experiment; kFailedPrecondition when no driver runs it.
Status stop_sweep(const std::string& experiments_root, const std::string& name);

}  // namespace ringmaster::dashboard
