// The experiment's report: one self-contained HTML file (inline CSS and SVG, no script, nothing
// fetched) with the outcome, the best trial, the objective per trial with the best so far, each
// parameter against the objective, and the trials table. The driver rewrites DIR/report.html
// after every finished trial.
//
// For tools and tests the marks carry data: each plotted trial is a <circle class="trial"
// data-trial="NAME" data-objective="V">, the best-so-far line is <polyline class="best-so-far">,
// and each chart is an <svg id="objective-per-trial"> or <svg id="parameter-NAME">.
#pragma once

#include <string>

#include "jobs/model.h"
#include "sweep/driver.h"

namespace ringmaster::sweep {

std::string render_report(const SweepResult& result, const jobs::Experiment& experiment);

}  // namespace ringmaster::sweep
