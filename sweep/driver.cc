#include "sweep/driver.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include "common/files.h"
#include "common/strings.h"
#include "jobs/emit.h"
#include "jobs/loader.h"
#include "jobs/yaml_tree.h"
#include "launcher/job_dir.h"
#include "launcher/process.h"
#include "sweep/gotemplate.h"
#include "sweep/journal.h"
#include "sweep/report.h"
#include "sweep/metrics.h"
#include "sweep/objectives.h"
#include "sweep/progress_server.h"
#include "sweep/space.h"
#include "sweep/suggest.h"
#include "common/rng.h"

namespace ringmaster::sweep {
namespace fs = std::filesystem;
namespace {

const std::regex kPlaceholder(R"(\$\{trialParameters\.([A-Za-z0-9_.-]+)\})");

bool maximize(const jobs::Experiment& e) { return e.objective.type == jobs::ObjectiveType::kMaximize; }
bool better(const jobs::Experiment& e, double a, double b) { return maximize(e) ? a > b : a < b; }

// Calls `f` with every scalar under `n` (map values and sequence items, at any depth); `f` may
// assign to the scalar it is given.
void for_each_scalar(YAML::Node n, const std::function<void(YAML::Node)>& f) {
  if (n.IsScalar()) {
    f(n);
  } else if (n.IsSequence() || n.IsMap()) {
    for (auto it = n.begin(); it != n.end(); ++it) for_each_scalar(n.IsMap() ? it->second : *it, f);
  }
}

// Replaces every `from` in `s` by `to`; true when there was one.
bool replace_all(std::string& s, const std::string& from, const std::string& to) {
  bool found = false;
  for (std::size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size()) {
    s.replace(at, from.size(), to);
    found = true;
  }
  return found;
}

// Every ${trialParameters.X} in the template's strings.
void placeholders(const YAML::Node& n, std::set<std::string>& out) {
  for_each_scalar(n, [&](YAML::Node scalar) {
    const std::string s = scalar.Scalar();
    for (std::sregex_iterator it(s.begin(), s.end(), kPlaceholder), end; it != end; ++it) out.insert((*it)[1].str());
  });
}

// Replaces ${trialParameters.X} by values[X] and ${trialSpec.Name} by the trial's name.
void substitute(YAML::Node n, const std::map<std::string, std::string>& values, const std::string& name) {
  for_each_scalar(n, [&](YAML::Node scalar) {
    const std::string s = scalar.Scalar();
    if (s.find("${") == std::string::npos) return;
    std::string out;
    std::size_t last = 0;
    for (std::sregex_iterator it(s.begin(), s.end(), kPlaceholder), end; it != end; ++it) {
      out += s.substr(last, static_cast<std::size_t>(it->position()) - last);
      out += values.at((*it)[1].str());
      last = static_cast<std::size_t>(it->position() + it->length());
    }
    out += s.substr(last);
    replace_all(out, "${trialSpec.Name}", name);
    const std::string tag = scalar.Tag();  // a quoted "${trialParameters.lr}" stays a string
    scalar = out;
    if (!tag.empty() && tag != "?") scalar.SetTag(tag);
  });
}

// Replaces every occurrence of `from` in the node's strings by `to`.
void replace_text(YAML::Node n, const std::string& from, const std::string& to) {
  for_each_scalar(n, [&](YAML::Node scalar) {
    std::string s = scalar.Scalar();
    if (replace_all(s, from, to)) scalar = s;
  });
}

// True when one of the node's strings contains `text`.
bool mentions(const YAML::Node& n, const std::string& text) {
  bool found = false;
  for_each_scalar(n, [&](YAML::Node scalar) { found |= scalar.Scalar().find(text) != std::string::npos; });
  return found;
}

// v1alpha3: the Go template rendered with Katib's data and read as YAML.
Result<YAML::Node> render_v1alpha3(const jobs::Experiment& e, const std::string& trial, const Assignment& a) {
  std::vector<TemplateValue> hyper;
  for (const auto& [k, v] : a)
    hyper.push_back(TemplateValue::map({{"Name", TemplateValue::string(k)}, {"Value", TemplateValue::string(v)}}));
  const TemplateValue data = TemplateValue::map({{"Trial", TemplateValue::string(trial)},
                                                 {"Experiment", TemplateValue::string(e.metadata.name)},
                                                 {"NameSpace", TemplateValue::string(e.metadata.namespace_)},
                                                 {"HyperParameters", TemplateValue::array(std::move(hyper))}});
  auto text = render_go_template(e.trial_template.raw_template, data);
  if (!text) return Status(text.status().code(), "spec.trialTemplate.goTemplate.rawTemplate: " + text.status().message());
  try {
    YAML::Node job = YAML::Load(*text);
    if (!job.IsMap()) return invalid_argument("spec.trialTemplate.goTemplate.rawTemplate: expected a job (a YAML map) once rendered, found something else");
    return job;
  } catch (const YAML::Exception& ex) {
    return invalid_argument(fmt::format("spec.trialTemplate.goTemplate.rawTemplate: the rendered text is not YAML: "
                                        "line {} column {}: {}",
                                        ex.mark.line + 1, ex.mark.column + 1, ex.msg));
  }
}

// pbt's suggestion_trial_dir without a trailing slash; empty when the algorithm has none.
std::string trial_dir_setting(const jobs::Experiment& e) {
  for (const auto& [name, value] : e.algorithm.settings)
    if (name == "suggestion_trial_dir") {
      std::string dir = value;
      while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
      return dir;
    }
  return "";
}

// Checks the template against the parameters before anything runs.
Status check_template(const jobs::Experiment& e, const SearchSpace& space) {
  const auto& t = e.trial_template;
  const auto& mc = e.metrics_collector;
  if (const std::string dir = trial_dir_setting(e); !dir.empty()) {
    const bool found = t.raw_template.empty() ? t.trial_spec.is_map() && mentions(jobs::yaml(t.trial_spec), dir)
                                              : t.raw_template.find(dir) != std::string::npos;
    if (!found)
      return invalid_argument(fmt::format("spec.algorithm.algorithmSettings (suggestion_trial_dir): expected {} to "
                                          "appear in the trial template (each local trial gets its own copy, at a "
                                          "path the driver puts in its place), found it nowhere",
                                          dir));
  }
  if (e.kind == "OptimizationJob") return Status::ok();  // its TrainJob template was checked as it loaded
  if (mc.kind != "StdOut" && mc.kind != "File")
    return invalid_argument(fmt::format("spec.metricsCollectorSpec.collector.kind: expected StdOut or File (the "
                                        "collectors ringmaster sweep runs), found {}",
                                        mc.kind));
  if (!t.raw_template.empty()) {
    Rng rng(1);
    auto job = render_v1alpha3(e, e.metadata.name + "-check", space.sample(rng));
    if (!job) return job.status();
    if (mc.kind == "File" && t.raw_template.find(mc.file_path) == std::string::npos)
      return invalid_argument(fmt::format("spec.metricsCollectorSpec.source.fileSystemPath.path: expected {} to "
                                          "appear in the trial template (each local trial writes its own copy, at a "
                                          "path the driver puts in its place), found it nowhere",
                                          mc.file_path));
    return Status::ok();
  }
  if (mc.kind == "File" && t.trial_spec.is_map() && !mentions(jobs::yaml(t.trial_spec), mc.file_path))
    return invalid_argument(fmt::format("spec.metricsCollectorSpec.source.fileSystemPath.path: expected {} to appear "
                                        "in spec.trialTemplate.trialSpec (each local trial writes its own copy, at a "
                                        "path the driver puts in its place), found it nowhere",
                                        mc.file_path));
  if (!t.trial_spec.is_map())
    return invalid_argument("spec.trialTemplate.trialSpec: expected the job to run per trial, found none");
  std::set<std::string> names;
  for (const auto& d : space.dimensions()) names.insert(d.name);
  std::set<std::string> declared;
  for (std::size_t i = 0; i < t.trial_parameters.size(); ++i) {
    const auto& p = t.trial_parameters[i];
    declared.insert(p.name);
    if (!names.count(p.reference))
      return invalid_argument(fmt::format("spec.trialTemplate.trialParameters[{}] ({}).reference: expected one of the "
                                          "parameters, found \"{}\"",
                                          i, p.name, p.reference));
  }
  std::set<std::string> used;
  placeholders(jobs::yaml(t.trial_spec), used);
  for (const auto& u : used)
    if (!declared.count(u))
      return invalid_argument(fmt::format("spec.trialTemplate.trialSpec: ${{trialParameters.{}}} is used but not "
                                          "declared in trialParameters",
                                          u));
  return Status::ok();
}

// The collector's parser: JSON lines for a File collector in JSON format, regular expressions
// otherwise.
Result<MetricsParser> parser_of(const jobs::Experiment& e) {
  if ((e.metrics_collector.kind == "File" && e.metrics_collector.file_format == "JSON") ||
      e.metrics_collector.kind == "TrainerStatus")  // the progress server's JSON lines (progress_server.h)
    return MetricsParser::json(metric_names(e));
  return MetricsParser::create(e.metrics_collector.metrics_format, metric_names(e));
}

// Katib: <experiment>-NNN; an OptimizationJob's TrainJobs: <name>-trial-NNN (Trainer's proposal
// shows <name>-trial-<5 random>; ours are numbered, so a resumed search names them again alike).
std::string trial_name(const jobs::Experiment& e, int index) {
  if (e.kind == "OptimizationJob") return fmt::format("{}-trial-{:03}", e.metadata.name, index + 1);
  return fmt::format("{}-{:03}", e.metadata.name, index + 1);
}

// KUBEFLOW_TRAINER_OPT_<NAME>: the parameter's name upper-cased, anything but letters and digits
// as '_' (Trainer's proposal: "learning_rate" -> KUBEFLOW_TRAINER_OPT_LEARNING_RATE).
std::string opt_env_name(const std::string& parameter) {
  std::string out = "KUBEFLOW_TRAINER_OPT_";
  for (char c : parameter) out += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : '_';
  return out;
}

// Sets name=value in a container env list (a YAML sequence of {name, value}), replacing one there.
void upsert_env(YAML::Node env, const std::string& name, const std::string& value) {
  for (auto it = env.begin(); it != env.end(); ++it)
    if ((*it)["name"].IsScalar() && (*it)["name"].Scalar() == name) {
      (*it)["value"] = value;
      (*it)["value"].SetTag("!");
      return;
    }
  YAML::Node var;
  var["name"] = name;
  var["value"] = value;
  var["value"].SetTag("!");  // a string, whatever it looks like ("0.01" stays quoted in job.yaml)
  env.push_back(var);
}

std::string describe(const TrialRecord& t) {
  std::string s;
  for (const auto& [k, v] : t.assignment) s += fmt::format("{}{}={}", s.empty() ? "" : " ", k, v);
  return s;
}

// pbt: "  (generation 2, from NAME)".
std::string lineage(const TrialRecord& t) {
  if (!t.generation) return "";
  return fmt::format("  (generation {}{})", *t.generation, t.parent.empty() ? "" : ", from " + t.parent);
}

// Present: the driver stops (request_stop). Locked (a POSIX record lock, run_sweep) by the driver
// running the experiment.
std::string stop_file(const std::string& dir) { return (fs::path(dir) / "stop").string(); }
std::string lock_file(const std::string& dir) { return (fs::path(dir) / "driver.lock").string(); }

class Driver {
 public:
  // `metrics`: a parser with nothing fed yet, copied for each trial. `suggester` is null when the
  // driver only reads the journal (`sweep status`).
  Driver(const jobs::Experiment& e, const SweepOptions& o, std::FILE* out, std::unique_ptr<Suggester> suggester,
         MetricsParser metrics, std::optional<MedianStop> median_stop)
      : e_(e), o_(o), out_(out), suggester_(std::move(suggester)), metrics_(std::move(metrics)),
        median_stop_(median_stop), tty_(out && ::isatty(::fileno(out))) {}

  // Rebuilds the state from journal records.
  void replay(const std::vector<nlohmann::json>& records) {
    for (const auto& r : records) {
      const std::string event = r.value("event", "");
      if (event == "trial_created") {
        TrialRecord t;
        t.name = r.value("trial", "");
        t.index = r.value("index", 0);
        t.note = r.value("note", "");
        if (r.contains("generation") && r["generation"].is_number_integer()) {
          t.generation = r["generation"].get<int>();
          t.member = r.value("member", 0);
          t.parent = r.value("parent", "");
        }
        const nlohmann::json assignment = r.value("assignment", nlohmann::json::array());
        for (const auto& a : assignment)
          if (a.is_array() && a.size() == 2 && a[0].is_string() && a[1].is_string())
            t.assignment.emplace_back(a[0].get<std::string>(), a[1].get<std::string>());
        auto it = std::find_if(result_.trials.begin(), result_.trials.end(), [&](auto& x) { return x.name == t.name; });
        if (it == result_.trials.end()) result_.trials.push_back(t);
        else *it = t;  // created again after a resume
        next_index_ = std::max(next_index_, t.index + 1);
      } else if (event == "trial_finished") {
        for (auto& t : result_.trials)
          if (t.name == r.value("trial", "")) {
            t.status = r.value("status", "Failed");
            if (r.contains("objective") && r["objective"].is_number()) t.objective = r["objective"].get<double>();
            t.metrics.clear();
            const nlohmann::json metrics = r.value("metrics", nlohmann::json::object());
            for (auto& [k, v] : metrics.items())
              if (v.is_number()) t.metrics.emplace_back(k, v.get<double>());
            t.series.clear();
            const nlohmann::json series = r.value("series", nlohmann::json::array());
            for (const auto& v : series)
              if (v.is_number()) t.series.push_back(v.get<double>());
          }
      } else if (event == "experiment_created") {
        result_.created_at = r.value("time", "");
      } else if (event == "experiment_finished") {
        result_.finished_at = r.value("time", "");
        result_.condition = r.value("condition", "");
        result_.reason = r.value("reason", "");
      } else if (event == "experiment_stopped") {
        result_.stopped = true;
        for (auto& t : result_.trials)
          if (t.status == "Running") t.status = "Stopped";
      } else if (event == "experiment_resumed") {
        result_.stopped = false;
      }
    }
    update_best();
  }

  SweepResult result() const { return result_; }
  void serve_progress(std::unique_ptr<ProgressServer> server) { progress_ = std::move(server); }

  // A new experiment's first record.
  Status create(Journal& journal) {
    result_.created_at = utc_timestamp(std::chrono::system_clock::now());
    return journal.append({{"event", "experiment_created"}, {"name", e_.metadata.name}, {"time", result_.created_at}});
  }

  Result<SweepResult> run(Journal& journal) {
    if (!result_.condition.empty()) {
      fmt::print(out_, "experiment {} already ended: {} ({})\n", e_.metadata.name, result_.condition, result_.reason);
      return result_;
    }
    if (result_.stopped) {
      if (Status s = journal.append({{"event", "experiment_resumed"}}); !s) return s;
      result_.stopped = false;
    }
    // Trials that were running when the driver stopped run again, first.
    std::deque<std::size_t> again;
    for (std::size_t i = 0; i < result_.trials.size(); ++i)
      if (auto& t = result_.trials[i]; t.status == "Running" || t.status == "Stopped") {
        t.status = "Running";
        again.push_back(i);
      }
    if (!again.empty()) event(fmt::format("resuming: {} trial(s) that were running start again", again.size()));
    const int parallel = std::max(1, e_.parallel_trial_count);
    while (true) {
      if (::access(stop_file(o_.dir).c_str(), F_OK) == 0) return stop_here(journal);
      // Reap the trials that ended; read what the others reported and stop the ones the
      // early-stopping rule condemns.
      for (std::size_t k = 0; k < running_.size();) {
        Live& live = running_[k];
        if (const auto exit = processes_->poll(live.handle)) {
          if (Status s = finish(journal, live, exit->success() ? "" : "Failed"); !s) return s;
          running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(k));
          continue;
        }
        drain(live, false);
        if (median_stop_ && median_stop_->should_stop(losses(live.parser.values(e_.objective.objective_metric_name)),
                                                      completed_series())) {
          stop(live);
          if (Status s = finish(journal, live, "EarlyStopped"); !s) return s;
          running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(k));
          continue;
        }
        ++k;
      }
      if (auto end = ending(running_.empty()); end) {
        for (Live& live : running_) {  // Katib deletes the trials still running
          stop(live);
          TrialRecord& t = result_.trials[live.trial];
          t.status = "Killed";
          if (Status s = journal.append({{"event", "trial_finished"}, {"trial", t.name}, {"status", "Killed"}}); !s) return s;
          event(fmt::format("trial {} killed: the experiment ended", t.name));
        }
        running_.clear();
        result_.condition = end->first;
        result_.reason = end->second;
        result_.finished_at = utc_timestamp(std::chrono::system_clock::now());
        if (Status s = journal.append({{"event", "experiment_finished"}, {"condition", end->first}, {"reason", end->second},
                                       {"time", result_.finished_at}});
            !s)
          return s;
        write_report();
        return result_;
      }
      // Start.
      while (static_cast<int>(running_.size()) < parallel) {
        std::size_t i = 0;
        if (!again.empty()) {
          i = again.front();
          again.pop_front();
        } else if (can_create()) {
          Suggestion next = suggester_->next(views());
          if (next.kind == Suggestion::Kind::kEnd || (next.kind == Suggestion::Kind::kWait && running_.empty())) {
            exhausted_ = true;
            break;
          }
          if (next.kind == Suggestion::Kind::kWait) break;  // on running trials (a cmaes generation, a hyperband rung)
          TrialRecord t;
          t.index = next_index_++;
          t.name = trial_name(e_, t.index);
          t.assignment = std::move(next.assignment);
          t.note = std::move(next.note);
          if (next.lineage) {
            t.generation = next.lineage->generation;
            t.member = next.lineage->member;
            if (next.lineage->parent && *next.lineage->parent < result_.trials.size())
              t.parent = result_.trials[*next.lineage->parent].name;
          }
          result_.trials.push_back(t);
          i = result_.trials.size() - 1;
        } else {
          break;
        }
        auto live = start(journal, i);
        if (!live) return live.status();
        running_.push_back(std::move(*live));
      }
      // Wakes at a trial's exit (the launcher's pidfds) or after the polling interval.
      processes_->wait(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::duration<double>(o_.poll_seconds)));
    }
  }

 private:
  // A running trial: its process and what has been read of its metrics so far.
  struct Live {
    std::size_t trial = 0;
    int handle = -1;  // in processes_
    MetricsParser parser;
    std::string source;  // the file its metrics are read from
    std::uint64_t offset = 0;
    std::string partial;  // a line not ended yet
  };

  // request_stop: the running trials stop (to run again on --resume), and the driver returns.
  Result<SweepResult> stop_here(Journal& journal) {
    for (Live& live : running_) {
      stop(live);
      result_.trials[live.trial].status = "Stopped";
    }
    running_.clear();
    if (Status s = journal.append({{"event", "experiment_stopped"}}); !s) return s;
    std::error_code ec;
    fs::remove(stop_file(o_.dir), ec);
    result_.stopped = true;
    event(fmt::format("experiment stopped on request: `ringmaster sweep --resume {}` goes on", o_.dir));
    write_report();
    return result_;
  }

  bool can_create() const { return !exhausted_ && !(e_.max_trial_count && next_index_ >= *e_.max_trial_count); }

  // The trials as the suggester sees them: a loss to minimize for each finished one.
  std::vector<TrialView> views() const {
    std::vector<TrialView> out;
    std::map<std::string, std::size_t> index;  // pbt: a parent's place in the list
    for (const auto& t : result_.trials) {
      TrialView v;
      v.assignment = t.assignment;
      if (t.generation) {
        v.lineage.generation = *t.generation;
        v.lineage.member = t.member;
        if (const auto p = index.find(t.parent); p != index.end()) v.lineage.parent = p->second;
        index.emplace(t.name, out.size());
      }
      if (t.status == "Running") {
        v.state = TrialView::State::kRunning;
      } else if (scored(e_, t)) {
        v.state = TrialView::State::kDone;
        v.loss = maximize(e_) ? -*t.objective : *t.objective;
        if (multi_objective()) v.losses = trial_losses(e_, t).value_or(Objectives{});
      } else {
        v.state = TrialView::State::kFailed;
      }
      out.push_back(std::move(v));
    }
    return out;
  }

  std::vector<double> losses(const std::vector<double>& values) const {
    std::vector<double> out = values;
    if (maximize(e_))
      for (double& v : out) v = -v;
    return out;
  }

  std::vector<std::vector<double>> completed_series() const {
    std::vector<std::vector<double>> out;
    for (const auto& t : result_.trials)
      if (t.status == "Succeeded") out.push_back(losses(t.series));
    return out;
  }

  // Katib's order: goal, failures, trial count, the end of the suggestions.
  std::optional<std::pair<std::string, std::string>> ending(bool idle) const {
    if (e_.objective.goal && result_.best && better_or_equal(*result_.trials[*result_.best].objective, *e_.objective.goal))
      return std::make_pair(std::string("Succeeded"), std::string("ExperimentGoalReached"));
    int failed = 0, done = 0;
    for (const auto& t : result_.trials) {
      failed += t.status == "Failed";
      done += t.status != "Running";
    }
    if (e_.max_failed_trial_count && failed > *e_.max_failed_trial_count)
      return std::make_pair(std::string("Failed"), std::string("ExperimentFailed"));
    if (e_.max_trial_count && done >= *e_.max_trial_count)
      return std::make_pair(std::string("Succeeded"), std::string("ExperimentMaxTrialsReached"));
    if (idle && !can_create() && std::none_of(result_.trials.begin(), result_.trials.end(),
                                              [](const TrialRecord& t) { return t.status == "Running"; }))
      return std::make_pair(std::string("Succeeded"), std::string("ExperimentSuggestionEndReached"));
    return std::nullopt;
  }
  bool better_or_equal(double v, double goal) const { return maximize(e_) ? v >= goal : v <= goal; }

  // The trial's job: the template with its values, named after the trial, its metrics file (File
  // collector) moved into the trial's directory.
  Result<YAML::Node> job_of(const TrialRecord& t, const fs::path& dir) const {
    YAML::Node job;
    if (e_.kind == "OptimizationJob") {
      job = train_job_of(t);
    } else if (!e_.trial_template.raw_template.empty()) {
      auto rendered = render_v1alpha3(e_, t.name, t.assignment);
      if (!rendered) return rendered.status();
      job = *rendered;
    } else {
      std::map<std::string, std::string> values;
      for (const auto& p : e_.trial_template.trial_parameters)
        for (const auto& [k, v] : t.assignment)
          if (k == p.reference) values[p.name] = v;
      job = YAML::Clone(jobs::yaml(e_.trial_template.trial_spec));
      substitute(job, values, t.name);
    }
    job["metadata"]["name"] = t.name;
    if (e_.metrics_collector.kind == "File") replace_text(job, e_.metrics_collector.file_path, metrics_file(dir));
    if (const std::string from = trial_dir_setting(e_); !from.empty()) replace_text(job, from, trial_dir(t.name));
    return job;
  }

  // An OptimizationJob's trial: its TrainJob template, named and labelled after the trial, the
  // parameters as Trainer's controller hands them (proposals/2605-optimization-job-crd, 8.2: the
  // KUBEFLOW_TRAINER_OPT_<NAME> variables in spec.trainer.env, and the assignment as JSON in an
  // annotation), and the progress API's variables, which Trainer's TrainJobStatus plugin injects
  // into the trainer's containers (pkg/runtime/framework/plugins/trainjobstatus).
  YAML::Node train_job_of(const TrialRecord& t) const {
    YAML::Node job = YAML::Clone(jobs::yaml(e_.trial_template.trial_spec));
    job["metadata"]["name"] = t.name;
    job["metadata"]["namespace"] = e_.metadata.namespace_;
    job["metadata"]["labels"][jobs::kOptimizationJobLabel] = e_.metadata.name;
    nlohmann::json assignment = nlohmann::json::array();
    for (const auto& [k, v] : t.assignment) assignment.push_back({{"name", k}, {"value", v}});
    job["metadata"]["annotations"][jobs::kParametersAnnotation] = assignment.dump();
    YAML::Node env = job["spec"]["trainer"]["env"];
    if (!env.IsSequence()) env = job["spec"]["trainer"]["env"] = YAML::Node(YAML::NodeType::Sequence);
    for (const auto& [k, v] : t.assignment) upsert_env(env, opt_env_name(k), v);
    const auto it = progress_trials_.find(t.name);
    if (it != progress_trials_.end()) {
      upsert_env(env, "KUBEFLOW_TRAINER_SERVER_URL", it->second.url);
      upsert_env(env, "KUBEFLOW_TRAINER_SERVER_TOKEN", it->second.token_file);
      upsert_env(env, "KUBEFLOW_TRAINER_SERVER_CA_CERT", "");  // plain HTTP on loopback: no certificate
    }
    return job;
  }

  // Where the trials' `ringmaster run`s keep their job directories.
  std::string jobs_dir() const { return (fs::path(o_.dir) / "jobs").string(); }

  // pbt: DIR/pbt/<trial>, which the trial's job sees in place of suggestion_trial_dir.
  std::string trial_dir(const std::string& trial) const { return (fs::path(o_.dir) / "pbt" / trial).string(); }

  // pbt: the trial's directory afresh, holding a copy of its parent's (Katib's suggestion copies
  // it before the trial is created). Atomic: the copy is made beside it and renamed into place.
  Status prepare_trial_dir(const TrialRecord& t) const {
    if (trial_dir_setting(e_).empty()) return Status::ok();
    const fs::path dir = trial_dir(t.name), part = dir.string() + ".part";
    std::error_code ec;
    fs::remove_all(part, ec);
    fs::remove_all(dir, ec);
    fs::create_directories(dir.parent_path(), ec);
    if (!t.parent.empty()) fs::copy(trial_dir(t.parent), part, fs::copy_options::recursive, ec);
    else fs::create_directory(part, ec);
    if (!ec) fs::rename(part, dir, ec);
    if (ec)
      return Status(StatusCode::kUnavailable,
                    fmt::format("{}: cannot prepare the trial's suggestion_trial_dir{}: {}", dir.string(),
                                t.parent.empty() ? "" : " from " + trial_dir(t.parent), ec.message()));
    return Status::ok();
  }

  std::string metrics_file(const fs::path& dir) const {
    return (dir / "metrics" / fs::path(e_.metrics_collector.file_path).relative_path()).string();
  }

  Result<Live> start(Journal& journal, std::size_t i) {
    TrialRecord& t = result_.trials[i];
    t.status = "Running";
    t.objective.reset();
    t.metrics.clear();
    t.series.clear();
    nlohmann::json assignment = nlohmann::json::array();
    for (const auto& [k, v] : t.assignment) assignment.push_back({k, v});
    nlohmann::json record = {{"event", "trial_created"}, {"trial", t.name}, {"index", t.index}, {"assignment", assignment}};
    if (!t.note.empty()) record["note"] = t.note;
    if (t.generation) {
      record["generation"] = *t.generation;
      record["member"] = t.member;
      if (!t.parent.empty()) record["parent"] = t.parent;
    }
    if (Status s = journal.append(record); !s) return s;
    const fs::path dir = fs::path(o_.dir) / "trials" / t.name;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (Status s = prepare_trial_dir(t); !s) return s;
    if (progress_) {  // an OptimizationJob: the trial reports through the progress API
      fs::remove(dir / "progress.jsonl", ec);
      auto added = progress_->add(e_.metadata.namespace_, t.name, (dir / "token").string(),
                                  (dir / "progress.jsonl").string(), (dir / "trainer-status.json").string());
      if (!added) return added.status();
      progress_trials_[t.name] = *added;
    }
    auto job = job_of(t, dir);
    if (!job) return job.status();
    Live live;
    live.trial = i;
    live.parser = metrics_;
    live.source = (dir / (progress_ ? "progress.jsonl" : "output.log")).string();
    if (e_.metrics_collector.kind == "File") {
      live.source = metrics_file(dir);
      fs::remove(live.source, ec);  // a rerun starts a fresh file
      fs::create_directories(fs::path(live.source).parent_path(), ec);
    }
    if (Status s = write_file_atomic((dir / "job.yaml").string(), jobs::to_yaml(*job)); !s) return s;
    event(fmt::format("trial {} started: {}{}{}", t.name, describe(t), t.note.empty() ? "" : fmt::format(" ({})", t.note),
                      t.parent.empty() ? "" : fmt::format(" from {}", t.parent)));
    // A trial that starts again (after a resume) writes a fresh log (the launcher appends) into a
    // fresh job directory.
    const std::string log = (dir / "output.log").string();
    fs::remove(log, ec);
    clear_job_dir(t.name);
    launcher::ProcessSpec spec;
    spec.argv = {o_.ringmaster, "run", (dir / "job.yaml").string(), "--jobs-root", jobs_dir()};
    spec.log_path = log;
    spec.name = t.name;
    auto handle = processes_->start(spec);
    if (!handle) return handle.status();
    live.handle = *handle;
    return live;
  }

  // Removes a trial's job directory before it runs (again). Its earlier `ringmaster run`, killed
  // with a driver, may still be going (the parent-death signals travel a chain of processes): its
  // status.json says while it lives, and it is given up to 10 s. One killed before it wrote
  // status.json leaves a directory `ringmaster run` would refuse; after a second without one it is
  // taken for dead.
  void clear_job_dir(const std::string& trial) const {
    const fs::path job = fs::path(jobs_dir()) / trial;
    std::error_code ec;
    for (int i = 0; i < 200 && fs::exists(job, ec); ++i) {
      auto text = read_file((job / "status.json").string());
      if (text) {
        const auto status = nlohmann::json::parse(*text, nullptr, false);
        if (status.is_discarded() || !launcher::launcher_alive(status)) break;
      } else if (i >= 20) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    fs::remove_all(job, ec);
  }

  // Asks a trial's `ringmaster run` to stop (it stops its replicas) and waits for it to end.
  void stop(Live& live) {
    processes_->signal(live.handle, SIGTERM);
    while (!processes_->poll(live.handle)) processes_->wait(std::chrono::milliseconds(50));
  }

  // Feeds the parser the complete lines written since the last call (and, at the end, the rest).
  static void drain(Live& live, bool last) {
    const int fd = ::open(live.source.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      char buf[65536];
      while (true) {
        const ssize_t n = ::pread(fd, buf, sizeof buf, static_cast<off_t>(live.offset));
        if (n <= 0) break;
        live.offset += static_cast<std::uint64_t>(n);
        live.partial.append(buf, static_cast<std::size_t>(n));
      }
      ::close(fd);
    }
    std::size_t at = 0;
    for (std::size_t nl; (nl = live.partial.find('\n', at)) != std::string::npos; at = nl + 1)
      live.parser.feed(std::string_view(live.partial).substr(at, nl - at));
    live.partial.erase(0, at);
    if (last && !live.partial.empty()) {
      live.parser.feed(live.partial);
      live.partial.clear();
    }
  }

  // `forced`: EarlyStopped or Failed; empty: the trial exited 0 (Succeeded or MetricsUnavailable).
  Status finish(Journal& journal, Live& live, const std::string& forced) {
    drain(live, true);
    TrialRecord& t = result_.trials[live.trial];
    if (progress_) progress_->remove(e_.metadata.namespace_, t.name);
    const MetricsParser& parser = live.parser;
    for (const auto& n : metric_names(e_))
      if (auto v = parser.observe(n, strategy_of(e_, n))) t.metrics.emplace_back(n, *v);
    t.objective = parser.observe(e_.objective.objective_metric_name, strategy_of(e_, e_.objective.objective_metric_name));
    t.series = parser.values(e_.objective.objective_metric_name);
    // Every objective must be reported (Katib: the objective), or the trial has no result.
    t.status = !forced.empty() ? forced : t.objective && trial_losses(e_, t) ? "Succeeded" : "MetricsUnavailable";
    const auto before = result_.best;
    const bool was_on_front = on_front(result_, live.trial);
    update_best();
    nlohmann::json record = {{"event", "trial_finished"}, {"trial", t.name}, {"status", t.status}};
    if (t.objective) record["objective"] = *t.objective;
    nlohmann::json metrics = nlohmann::json::object();
    for (const auto& [k, v] : t.metrics) metrics[k] = v;
    record["metrics"] = metrics;
    record["series"] = t.series;
    if (multi_objective()) {  // the front after this trial, and what it dominates
      nlohmann::json front = nlohmann::json::array();
      for (std::size_t i : result_.front) front.push_back(result_.trials[i].name);
      record["pareto_front"] = front;
      if (result_.hypervolume) {
        record["hypervolume"] = *result_.hypervolume;
        record["hypervolume_reference"] = result_.reference;
      }
    }
    if (Status s = journal.append(record); !s) return s;
    std::string why;
    if (t.status == "EarlyStopped")
      why = fmt::format(" (medianstop at step {}: worse than the median of the succeeded trials)", t.series.size());
    event(fmt::format("trial {} {}: {}{}{}{}", t.name, t.status, describe(t),
                      t.objective ? fmt::format(" {}={}", e_.objective.objective_metric_name, format_double(*t.objective)) : "",
                      multi_objective() ? (on_front(result_, live.trial) && !was_on_front ? "  (on the Pareto front)" : "")
                      : result_.best && result_.best != before && *result_.best == live.trial ? "  (best so far)" : "",
                      why));
    write_report();
    return Status::ok();
  }

  bool multi_objective() const { return !e_.objective.more.empty(); }

  void update_best() {
    if (multi_objective()) {
      std::vector<std::size_t> index;
      std::vector<Objectives> points;
      for (std::size_t i = 0; i < result_.trials.size(); ++i)
        if (scored(e_, result_.trials[i])) {
          index.push_back(i);
          points.push_back(*trial_losses(e_, result_.trials[i]));
        }
      result_.front.clear();
      for (std::size_t k : pareto_front(points)) result_.front.push_back(index[k]);
      result_.reference = hypervolume_reference(e_, result_.trials);
      result_.hypervolume = hypervolume_of(e_, result_.trials, result_.trials.size(), result_.reference);
    }
    result_.best.reset();
    for (std::size_t i = 0; i < result_.trials.size(); ++i) {
      const auto& t = result_.trials[i];
      if ((t.status != "Succeeded" && t.status != "EarlyStopped") || !t.objective) continue;
      if (!result_.best || better(e_, *t.objective, *result_.trials[*result_.best].objective)) result_.best = i;
    }
  }

  // One line per event; on a terminal, the whole table again above the latest events (a live
  // table).
  void event(const std::string& line) {
    if (!tty_) {
      fmt::print(out_, "{}\n", line);
      std::fflush(out_);
      return;
    }
    recent_.push_back(line);
    if (recent_.size() > 5) recent_.pop_front();
    fmt::print(out_, "\033[H\033[2J");
    print_table(result_, e_, out_);
    fmt::print(out_, "\n");
    for (const auto& l : recent_) fmt::print(out_, "{}\n", l);
    std::fflush(out_);
  }

  void write_report() {
    if (Status s = write_file_atomic((fs::path(o_.dir) / "report.html").string(), render_report(result_, e_)); !s)
      fmt::print(out_, "warning: report.html not written: {}\n", s.message());
    if (e_.kind != "OptimizationJob") return;
    auto status = optimization_job_status(o_.dir, result_);
    Status s = status ? write_file_atomic((fs::path(o_.dir) / "optimizationjob.yaml").string(), *status) : status.status();
    if (!s) fmt::print(out_, "warning: optimizationjob.yaml not written: {}\n", s.message());
  }

  const jobs::Experiment& e_;
  const SweepOptions& o_;
  std::FILE* out_;
  std::unique_ptr<Suggester> suggester_;
  MetricsParser metrics_;
  std::optional<MedianStop> median_stop_;
  bool tty_;
  std::deque<std::string> recent_;
  SweepResult result_;
  // Trials are started, watched and stopped through the launcher's process seam, as replicas are.
  std::unique_ptr<launcher::Processes> processes_ = launcher::real_processes();
  std::vector<Live> running_;
  // An OptimizationJob's progress API server, and what each trial was given.
  std::unique_ptr<ProgressServer> progress_;
  std::map<std::string, ProgressServer::Trial> progress_trials_;
  int next_index_ = 0;
  bool exhausted_ = false;  // the algorithm has nothing more to suggest
};

}  // namespace

Result<SweepResult> run_sweep(const jobs::Experiment& e, const std::string& experiment_file, const SweepOptions& o,
                              std::FILE* out) {
  auto space = SearchSpace::from(e.parameters);
  if (!space) return space.status();
  if (Status s = check_template(e, *space); !s) return s;
  auto suggester = make_suggester(e.algorithm, *space, std::hash<std::string>{}(e.metadata.name), objectives_of(e).size());
  if (!suggester) return suggester.status();
  auto metrics = parser_of(e);
  if (!metrics) return metrics.status();
  std::optional<MedianStop> median_stop;
  if (e.early_stopping) {
    auto m = make_median_stop(*e.early_stopping);
    if (!m) return m.status();
    median_stop = *m;
  }
  const fs::path dir(o.dir);
  const std::string journal_path = (dir / "journal.jsonl").string();
  std::error_code ec;
  if (!o.resume && fs::exists(journal_path, ec))
    return Status(StatusCode::kAlreadyExists,
                  fmt::format("{} holds an experiment already: continue it with `ringmaster sweep --resume {}` or "
                              "remove the directory",
                              o.dir, o.dir));
  // Trials' logs and jobs can hold secrets: the experiment's directory is the owner's alone.
  if (Status s = create_private_directories(dir.string()); !s) return Status(StatusCode::kUnavailable, s.message());
  if (!o.resume) {
    auto text = read_file(experiment_file);
    if (!text) return text.status();
    if (Status s = write_file_atomic((dir / "experiment.yaml").string(), *text); !s) return s;
  }
  // One driver per experiment. A POSIX record lock: the kernel drops it with a killed driver, and,
  // unlike flock(), the trials' forked supervisors do not inherit it (they can outlive the driver
  // by a moment).
  UniqueFd lock(::open(lock_file(o.dir).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  struct flock whole = {};
  whole.l_type = F_WRLCK;
  whole.l_whence = SEEK_SET;
  if (!lock.valid() || ::fcntl(lock.get(), F_SETLK, &whole) != 0)
    return Status(StatusCode::kFailedPrecondition,
                  fmt::format("{}: another `ringmaster sweep` runs this experiment now (it holds {})", o.dir,
                              lock_file(o.dir)));
  std::filesystem::remove(stop_file(o.dir), ec);  // a request for an earlier driver
  auto records = Journal::read(journal_path);
  if (!records) return records.status();
  auto journal = Journal::open(journal_path);
  if (!journal) return journal.status();
  Driver driver(e, o, out, std::move(*suggester), std::move(*metrics), median_stop);
  driver.replay(*records);
  if (e.kind == "OptimizationJob") {
    auto server = ProgressServer::start();
    if (!server) return server.status();
    driver.serve_progress(std::move(*server));
  }
  if (records->empty())
    if (Status s = driver.create(*journal); !s) return s;
  return driver.run(*journal);
}

bool driver_running(const std::string& dir) {
  UniqueFd fd(::open(lock_file(dir).c_str(), O_RDONLY | O_CLOEXEC));
  struct flock probe = {};
  probe.l_type = F_RDLCK;  // conflicts with the driver's write lock (another process's only)
  probe.l_whence = SEEK_SET;
  return fd.valid() && ::fcntl(fd.get(), F_GETLK, &probe) == 0 && probe.l_type != F_UNLCK;
}

Status request_stop(const std::string& dir) {
  if (!driver_running(dir))
    return Status(StatusCode::kFailedPrecondition,
                  fmt::format("no `ringmaster sweep` runs the experiment in {} now (it has ended, stopped or been "
                              "killed: `ringmaster sweep --resume {}` goes on)",
                              dir, dir));
  return write_file_atomic(stop_file(dir), "stop requested\n");
}

std::string experiments_root(const std::string& root) {
  if (!root.empty()) return root;
  const char* home = std::getenv("HOME");
  return (fs::path(home && *home ? home : ".") / ".ringmaster" / "experiments").string();
}

Result<jobs::Experiment> load_experiment_dir(const std::string& dir) {
  const std::string file = (fs::path(dir) / "experiment.yaml").string();
  auto loaded = jobs::load_file(file);
  if (!loaded.ok()) {
    const auto diags = loaded.diagnostics.sorted();
    return invalid_argument(diags.empty() ? file + ": cannot be loaded" : diags.front().to_string());
  }
  for (const auto& doc : loaded.documents)
    if (const auto* e = std::get_if<jobs::Experiment>(&doc.object)) return *e;
  return invalid_argument(file + ": expected a Katib Experiment (kubeflow.org/v1beta1) or a Trainer OptimizationJob (trainer.kubeflow.org/v1alpha1), found none");
}

Result<SweepResult> read_sweep(const std::string& dir, const jobs::Experiment& e) {
  auto records = Journal::read((fs::path(dir) / "journal.jsonl").string());
  if (!records) return records.status();
  auto metrics = parser_of(e);
  if (!metrics) return metrics.status();
  SweepOptions o;
  o.dir = dir;
  Driver driver(e, o, nullptr, nullptr, std::move(*metrics), std::nullopt);
  driver.replay(*records);
  return driver.result();
}

Result<std::string> optimization_job_status(const std::string& dir, const SweepResult& r) {
  const std::string file = (fs::path(dir) / "experiment.yaml").string();
  auto text = read_file(file);
  if (!text) return text.status();
  YAML::Node job;
  try {
    job = YAML::Load(*text);
  } catch (const YAML::Exception& ex) {
    return invalid_argument(fmt::format("{}: {}", file, ex.what()));
  }
  // Reasons: Trainer's proposal shows Complete/MaxTrialsReached; the others are ours.
  auto condition = [](const std::string& type, const std::string& reason, const std::string& message,
                      const std::string& time) {
    YAML::Node c;
    c["type"] = type;
    c["status"] = "True";
    c["status"].SetTag("!");
    c["reason"] = reason;
    c["message"] = message;
    c["lastTransitionTime"] = time;
    return c;
  };
  YAML::Node status;
  status["conditions"].push_back(condition("Created", "TrainJobsCreated",
                                           "the OptimizationJob is accepted and its TrainJobs are being created",
                                           r.created_at));
  if (r.condition == "Succeeded")
    status["conditions"].push_back(condition(
        "Complete", r.reason == "ExperimentMaxTrialsReached" ? "MaxTrialsReached" : "SearchSpaceExhausted",
        fmt::format("{} TrainJobs ran", r.trials.size()), r.finished_at));
  else if (r.condition == "Failed")
    status["conditions"].push_back(condition("Failed", "TrainJobsFailed", "more TrainJobs failed than allowed", r.finished_at));
  if (r.best) {
    const TrialRecord& b = r.trials[*r.best];
    status["result"]["trainJobName"] = b.name;
    for (const auto& [k, v] : b.assignment) {
      YAML::Node p;
      p["name"] = k;
      p["value"] = v;
      p["value"].SetTag("!");
      status["result"]["parameters"].push_back(p);
    }
  }
  job["status"] = status;
  return jobs::to_yaml(job);
}

void print_table(const SweepResult& r, const jobs::Experiment& e, std::FILE* out) {
  const auto objectives = objectives_of(e);
  fmt::print(out, "{:<28} {:<18}", "TRIAL", "STATUS");
  for (const auto& o : objectives) fmt::print(out, " {:>12}", o.metric);
  fmt::print(out, "  {}\n", "PARAMETERS");
  for (std::size_t i = 0; i < r.trials.size(); ++i) {
    const auto& t = r.trials[i];
    fmt::print(out, "{:<28} {:<18}", t.name, t.status);
    for (const auto& o : objectives) {
      const auto v = metric_value(t, o.metric);
      fmt::print(out, " {:>12}", v ? fmt::format("{:.6g}", *v) : "-");
    }
    fmt::print(out, "  {}{}{}\n", describe(t), lineage(t), on_front(r, i) ? "  *" : "");
  }
  if (objectives.size() > 1) {
    std::vector<std::string> names;
    for (std::size_t i : r.front) names.push_back(r.trials[i].name);
    fmt::print(out, "Pareto front (*, {} trial{}): {}\n", names.size(), names.size() == 1 ? "" : "s",
               names.empty() ? "none yet" : fmt::format("{}", fmt::join(names, ", ")));
    if (r.hypervolume)
      fmt::print(out, "hypervolume: {} (up to {})\n", format_double(*r.hypervolume), reference_text(e, r.reference));
  } else if (r.best) {
    const auto& b = r.trials[*r.best];
    fmt::print(out, "best: {} {}={} with {}\n", b.name, e.objective.objective_metric_name, format_double(*b.objective),
               describe(b));
  }
  if (!r.condition.empty()) fmt::print(out, "experiment {}: {} ({})\n", e.metadata.name, r.condition, r.reason);
  else if (r.stopped) fmt::print(out, "experiment {}: stopped before it ended\n", e.metadata.name);
}

}  // namespace ringmaster::sweep
