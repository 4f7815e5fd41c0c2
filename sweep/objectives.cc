#include "sweep/objectives.h"

#include <algorithm>
#include <cmath>

namespace ringmaster::sweep {

std::vector<jobs::ObjectiveMetric> objectives_of(const jobs::Experiment& e) {
  std::vector<jobs::ObjectiveMetric> out = {{e.objective.objective_metric_name, e.objective.type}};
  out.insert(out.end(), e.objective.more.begin(), e.objective.more.end());
  return out;
}

jobs::MetricStrategy strategy_of(const jobs::Experiment& e, const std::string& metric) {
  for (const auto& [name, s] : e.objective.metric_strategies)
    if (name == metric) return s;
  for (const auto& o : objectives_of(e))
    if (o.metric == metric)
      return o.type == jobs::ObjectiveType::kMaximize ? jobs::MetricStrategy::kMax : jobs::MetricStrategy::kMin;
  return jobs::MetricStrategy::kLatest;
}

std::vector<std::string> metric_names(const jobs::Experiment& e) {
  std::vector<std::string> names;
  auto add = [&](const std::string& n) {
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  };
  for (const auto& o : objectives_of(e)) add(o.metric);
  for (const auto& n : e.objective.additional_metric_names) add(n);
  return names;
}

std::optional<Objectives> trial_losses(const jobs::Experiment& e, const TrialRecord& t) {
  Objectives out;
  for (const auto& o : objectives_of(e)) {
    const auto it = std::find_if(t.metrics.begin(), t.metrics.end(), [&](const auto& m) { return m.first == o.metric; });
    if (it == t.metrics.end() || !std::isfinite(it->second)) return std::nullopt;
    out.push_back(o.type == jobs::ObjectiveType::kMaximize ? -it->second : it->second);
  }
  return out;
}

bool scored(const jobs::Experiment& e, const TrialRecord& t) {
  return (t.status == "Succeeded" || t.status == "EarlyStopped") && t.objective && trial_losses(e, t);
}

Objectives hypervolume_reference(const jobs::Experiment& e, const std::vector<TrialRecord>& trials) {
  const auto objectives = objectives_of(e);
  if (!e.objective.hypervolume_reference.empty()) {
    Objectives out;
    for (std::size_t k = 0; k < objectives.size() && k < e.objective.hypervolume_reference.size(); ++k)
      out.push_back(objectives[k].type == jobs::ObjectiveType::kMaximize ? -e.objective.hypervolume_reference[k]
                                                                          : e.objective.hypervolume_reference[k]);
    return out;
  }
  Objectives worst, best;
  for (const auto& t : trials) {
    if (!scored(e, t)) continue;
    const Objectives l = *trial_losses(e, t);
    if (worst.empty()) worst = best = l;
    for (std::size_t k = 0; k < l.size(); ++k) worst[k] = std::max(worst[k], l[k]), best[k] = std::min(best[k], l[k]);
  }
  // A tenth of the range beyond the worst, so that the front's ends count too.
  for (std::size_t k = 0; k < worst.size(); ++k) worst[k] += 0.1 * (worst[k] - best[k]);
  return worst;
}

std::optional<double> hypervolume_of(const jobs::Experiment& e, const std::vector<TrialRecord>& trials,
                                     std::size_t count, const Objectives& reference) {
  if (objectives_of(e).size() != 2 || reference.size() != 2) return std::nullopt;
  std::vector<Objectives> points;
  for (std::size_t i = 0; i < count && i < trials.size(); ++i)
    if (scored(e, trials[i])) points.push_back(*trial_losses(e, trials[i]));
  return hypervolume_2d(points, reference);
}

}  // namespace ringmaster::sweep
