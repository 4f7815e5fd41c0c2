// A human-readable plan of a loaded document: which replicas a job would start and how they restart,
// or what an experiment would search. Printed by `ringmaster validate --plan` and `make demo`.
#pragma once

#include <string>

#include "jobs/loader.h"

namespace ringmaster::jobs {

std::string describe_plan(const Document& doc);

}  // namespace ringmaster::jobs
