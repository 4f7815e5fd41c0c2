// An experiment's objectives as the search sees them: one (Katib's spec.objective), or several
// with the ringmaster.io/objectives annotation (jobs/model.h; docs/multi-objective.md). Each
// objective becomes a loss (its value, negated when it is maximized); a multi-objective result is
// the Pareto front of the finished trials, measured by the hypervolume it dominates up to a
// reference point. The driver, `sweep status`, the report and the dashboard all ask here.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "jobs/model.h"
#include "sweep/driver.h"
#include "sweep/pareto.h"

namespace ringmaster::sweep {

// spec.objective's first, then the annotation's.
std::vector<jobs::ObjectiveMetric> objectives_of(const jobs::Experiment& e);

// How a metric is summarized over a trial's reports: metricStrategies when given, else min or max
// for an objective (by its direction), latest for any other metric.
jobs::MetricStrategy strategy_of(const jobs::Experiment& e, const std::string& metric);

// Every metric the collector reads: the objectives, then the additional metrics (once each).
std::vector<std::string> metric_names(const jobs::Experiment& e);

// An objective's value as a loss (negated when it is maximized), and a loss back as its value.
inline double as_loss(const jobs::ObjectiveMetric& o, double v) { return o.type == jobs::ObjectiveType::kMaximize ? -v : v; }

// The value the trial's collector recorded for `metric`; nullopt when it has none.
std::optional<double> metric_value(const TrialRecord& t, const std::string& metric);

// The trial's losses, one per objective, from its collected metrics; nullopt when one is missing.
std::optional<Objectives> trial_losses(const jobs::Experiment& e, const TrialRecord& t);

// Whether the trial counts toward the result (Succeeded or EarlyStopped, every objective known).
bool scored(const jobs::Experiment& e, const TrialRecord& t);

// The hypervolume's reference point as losses: the annotation's, else the worst loss of each
// objective over the scored `trials`, a tenth of its range further (so the front's ends count);
// empty when none is scored.
Objectives hypervolume_reference(const jobs::Experiment& e, const std::vector<TrialRecord>& trials);

// The reference point in the objectives' own values: "accuracy=0.7, parameters=420000".
std::string reference_text(const jobs::Experiment& e, const Objectives& reference);

// Whether trial `i` is on the result's Pareto front.
bool on_front(const SweepResult& r, std::size_t i);

// The hypervolume the scored trials among the first `count` dominate up to `reference`; nullopt
// for other than two objectives (hypervolume_2d).
std::optional<double> hypervolume_of(const jobs::Experiment& e, const std::vector<TrialRecord>& trials,
                                     std::size_t count, const Objectives& reference);

}  // namespace ringmaster::sweep
