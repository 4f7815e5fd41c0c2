// A human-readable plan of a loaded document: which replicas a job would start and how they restart,
// or what an experiment would search. Printed by `ringmaster validate --plan` and `make demo`.
#pragma once

#include <string>

#include "jobs/loader.h"

namespace ringmaster::jobs {

// A TrainJob's plan is the JobSet it resolves to on its runtime, found among `runtimes` (the
// same files' and --runtimes directories') or the built-in ones; kNotFound/kInvalidArgument when it
// cannot be resolved.
Result<std::string> describe_plan(const Document& doc, const std::vector<TrainingRuntime>& runtimes = {});


}  // namespace ringmaster::jobs
