#include "dashboard/sweeps.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "dashboard/state.h"
#include "sweep/driver.h"
#include "sweep/objectives.h"

namespace ringmaster::dashboard {
namespace fs = std::filesystem;
namespace {

nlohmann::json settings_of(const jobs::AlgorithmSpec& a) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [k, v] : a.settings) out.push_back({{"name", k}, {"value", v}});
  return out;
}

// Running while a driver holds it; Stopped on request; Interrupted when its driver went away
// without a word (killed): both go on with `ringmaster sweep --resume DIR`.
std::string state_of(const fs::path& dir, const sweep::SweepResult& r) {
  if (!r.condition.empty()) return r.condition;
  if (sweep::driver_running(dir.string())) return "Running";
  return r.stopped ? "Stopped" : "Interrupted";
}

// What list_sweeps gives for one experiment.
nlohmann::json summary_of(const fs::path& dir, const jobs::Experiment& e, const sweep::SweepResult& r) {
  const std::string name = dir.filename().string();
  nlohmann::json best = nullptr;
  if (r.best) best = {{"trial", r.trials[*r.best].name}, {"value", *r.trials[*r.best].objective}};
  nlohmann::json objective = {{"type", e.objective.type == jobs::ObjectiveType::kMinimize ? "minimize" : "maximize"},
                              {"metric", e.objective.objective_metric_name}};
  if (e.objective.goal) objective["goal"] = *e.objective.goal;
  nlohmann::json out = {{"name", name},
                        {"algorithm", e.algorithm.name},
                        {"objective", objective},
                        {"state", state_of(dir, r)},
                        {"reason", r.reason},
                        {"trialCount", r.trials.size()},
                        {"best", best}};
  if (!e.objective.more.empty()) {  // multi-objective (sweep/objectives.h): the front, not a best
    nlohmann::json objectives = nlohmann::json::array(), front = nlohmann::json::array();
    for (const auto& o : sweep::objectives_of(e))
      objectives.push_back({{"metric", o.metric}, {"type", o.type == jobs::ObjectiveType::kMinimize ? "minimize" : "maximize"}});
    for (std::size_t i : r.front) front.push_back(r.trials[i].name);
    out["objectives"] = objectives;
    out["front"] = front;
    out["hypervolume"] = r.hypervolume ? nlohmann::json(*r.hypervolume) : nlohmann::json(nullptr);
  }
  return out;
}

// The directory of experiment `name` (kNotFound unless it holds an experiment.yaml).
Result<fs::path> experiment_dir(const std::string& experiments_root, const std::string& name) {
  const fs::path dir = fs::path(experiments_root) / name;
  if (!valid_name(name) || !fs::exists(dir / "experiment.yaml"))
    return not_found(fmt::format("no experiment {} under {}", name, experiments_root));
  return dir;
}

}  // namespace

nlohmann::json list_sweeps(const std::string& experiments_root) {
  std::vector<nlohmann::json> sweeps;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(experiments_root, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || !valid_name(name)) continue;
    auto e = sweep::load_experiment_dir(entry.path().string());
    if (!e) continue;
    auto r = sweep::read_sweep(entry.path().string(), *e);
    if (r) sweeps.push_back(summary_of(entry.path(), *e, *r));
  }
  std::sort(sweeps.begin(), sweeps.end(), [](const auto& a, const auto& b) { return a["name"] < b["name"]; });
  return sweeps;
}

Result<nlohmann::json> sweep_detail(const std::string& experiments_root, const std::string& name) {
  auto found = experiment_dir(experiments_root, name);
  if (!found) return found.status();
  const fs::path& dir = *found;
  auto e = sweep::load_experiment_dir(dir.string());
  if (!e) return e.status();
  auto r = sweep::read_sweep(dir.string(), *e);
  if (!r) return r.status();
  nlohmann::json out = summary_of(dir, *e, *r);
  out["parameters"] = nlohmann::json::array();
  for (const auto& p : e->parameters) out["parameters"].push_back(p.name);
  out["settings"] = settings_of(e->algorithm);
  if (e->early_stopping) out["earlyStopping"] = {{"algorithm", e->early_stopping->name}, {"settings", settings_of(*e->early_stopping)}};
  out["trials"] = nlohmann::json::array();
  for (const auto& t : r->trials) {
    nlohmann::json assignment = nlohmann::json::object(), metrics = nlohmann::json::object();
    for (const auto& [k, v] : t.assignment) assignment[k] = v;
    for (const auto& [k, v] : t.metrics) metrics[k] = v;
    out["trials"].push_back({{"name", t.name},
                                  {"index", t.index},
                                  {"status", t.status},
                                  {"objective", t.objective ? nlohmann::json(*t.objective) : nlohmann::json(nullptr)},
                                  {"assignment", assignment},
                                  {"metrics", metrics},
                                  {"series", t.series},
                                  {"note", t.note},
                                  {"parent", t.parent}});
  }
  return out;
}

Status stop_sweep(const std::string& experiments_root, const std::string& name) {
  auto dir = experiment_dir(experiments_root, name);
  if (!dir) return dir.status();
  return sweep::request_stop(dir->string());
}

}  // namespace ringmaster::dashboard
