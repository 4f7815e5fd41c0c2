#include "sweep/objectives.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "sweep/space.h"

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

std::optional<double> metric_value(const TrialRecord& t, const std::string& metric) {
  for (const auto& [name, v] : t.metrics)
    if (name == metric) return v;
  return std::nullopt;
}

std::optional<Objectives> trial_losses(const jobs::Experiment& e, const TrialRecord& t) {
  Objectives out;
  for (const auto& o : objectives_of(e)) {
    const auto v = metric_value(t, o.metric);
    if (!v || !std::isfinite(*v)) return std::nullopt;
    out.push_back(as_loss(o, *v));
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
      out.push_back(as_loss(objectives[k], e.objective.hypervolume_reference[k]));
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

std::string reference_text(const jobs::Experiment& e, const Objectives& reference) {
  const auto objectives = objectives_of(e);
  std::string out;
  for (std::size_t k = 0; k < reference.size() && k < objectives.size(); ++k)
    out += fmt::format("{}{}={}", k ? ", " : "", objectives[k].metric, format_double(as_loss(objectives[k], reference[k])));
  return out;
}

bool on_front(const SweepResult& r, std::size_t i) { return std::find(r.front.begin(), r.front.end(), i) != r.front.end(); }

std::optional<double> hypervolume_of(const jobs::Experiment& e, const std::vector<TrialRecord>& trials,
                                     std::size_t count, const Objectives& reference) {
  if (objectives_of(e).size() != 2 || reference.size() != 2) return std::nullopt;
  std::vector<Objectives> points;
  for (std::size_t i = 0; i < count && i < trials.size(); ++i)
    if (scored(e, trials[i])) points.push_back(*trial_losses(e, trials[i]));
  return hypervolume_2d(points, reference);
}

}  // namespace ringmaster::sweep
