// Katib Experiment (kubeflow.org/v1beta1, and the v1alpha3 form with goTemplate): the defaulting of
// Katib v0.18's Experiment.SetDefault and the checks of its validating webhook, plus the trial
// template checks Katib does by substitution (every ${trialParameters.x} declared, every declared one
// used) done on the template's own nodes so the messages carry positions.
#include <algorithm>
#include <cmath>
#include <map>
#include <regex>
#include <set>

#include "common/strings.h"
#include "jobs/katib_regex.h"
#include "jobs/kinds.h"
#include "jobs/load_context.h"
#include "jobs/schema.h"
#include "jobs/yaml_tree.h"

namespace ringmaster::jobs {

namespace {

// Katib's, then ours: nsga2 (multi-objective; sweep/nsga2.h). Katib validates the name against its
// suggestion config, so an Experiment naming ours runs only here.
const std::initializer_list<std::string_view> kKatibAlgorithms = {
    "random", "grid", "tpe", "multivariate-tpe", "bayesianoptimization", "cmaes", "sobol", "hyperband", "pbt", "enas", "darts",
    "nsga2"};
// v1alpha3 shipped NAS by reinforcement learning ("nasrl") and a few since removed.
const std::initializer_list<std::string_view> kKatibAlgorithmsV1alpha3 = {
    "random", "grid", "tpe", "bayesianoptimization", "hyperband", "cmaes", "nasrl", "enas", "darts", "nasenvelopenet"};

constexpr std::string_view kJobSuccess = R"(status.conditions.#(type=="Complete")#|#(status=="True")#)";
constexpr std::string_view kJobFailure = R"(status.conditions.#(type=="Failed")#|#(status=="True")#)";
constexpr std::string_view kKubeflowSuccess = R"(status.conditions.#(type=="Succeeded")#|#(status=="True")#)";
constexpr std::string_view kKubeflowFailure = R"(status.conditions.#(type=="Failed")#|#(status=="True")#)";

// Calls fn(node, placeholder-name) for every ${trialParameters.NAME} in any scalar (keys too) under node.
template <typename Fn>
void for_each_placeholder(const YAML::Node& node, Fn&& fn) {
  static const std::regex re(R"(\$\{trialParameters\.([^}]*)\})");
  if (node.IsScalar()) {
    const std::string& s = node.Scalar();
    for (auto it = std::sregex_iterator(s.begin(), s.end(), re); it != std::sregex_iterator(); ++it) fn(node, (*it)[1].str());
  } else if (node.IsSequence()) {
    for (auto it = node.begin(); it != node.end(); ++it) for_each_placeholder(*it, fn);
  } else if (node.IsMap()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      for_each_placeholder(it->first, fn);
      for_each_placeholder(it->second, fn);
    }
  }
}

bool is_meta_reference(const std::string& ref) {
  static const std::regex re(R"(\$\{trialSpec\.(Name|Namespace|Kind|APIVersion|Labels\[[^\]]+\]|Annotations\[[^\]]+\])\})");
  return std::regex_match(ref, re);
}

std::optional<double> parse_number(const std::string& s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

void load_parameters(LoadContext& ctx, const YAML::Node& spec, YAML::Node nspec, Experiment& exp, bool v1beta1) {
  YAML::Node params = get(spec, "parameters");
  if (!params.IsDefined() || !params.IsSequence()) return;
  std::set<std::string> names;
  std::size_t i = 0;
  for (auto it = params.begin(); it != params.end(); ++it, ++i) {
    const YAML::Node& p = *it;
    std::string path = index_path("spec.parameters", i);
    ParameterSpec ps;
    ps.name = ctx.get_string(p, "name").value_or("");
    if (ps.name.empty()) {
      ctx.error(p, path + ".name", "expected a parameter name, found none");
    } else if (!names.insert(ps.name).second) {
      ctx.error(get(p, "name"), path + ".name", "expected unique parameter names, found " + quote(ps.name) + " twice");
    }
    auto type = ctx.get_enum(p, "parameterType", path + ".parameterType", {"double", "int", "discrete", "categorical"});
    if (!type && !get(p, "parameterType").IsDefined()) {
      ctx.error(p, path + ".parameterType", "expected one of double, int, discrete, categorical, found none");
    }
    std::string t = type.value_or("");
    ps.type = t == "int" ? ParameterType::kInt : t == "discrete" ? ParameterType::kDiscrete
            : t == "categorical" ? ParameterType::kCategorical : ParameterType::kDouble;
    YAML::Node fs = get(p, "feasibleSpace");
    std::string fpath = path + ".feasibleSpace";
    if (!fs.IsDefined() || !fs.IsMap() || fs.size() == 0) {
      ctx.error(fs.IsDefined() ? fs : p, fpath, "expected a feasible space (min/max or list), found none");
      exp.parameters.push_back(std::move(ps));
      continue;
    }
    FeasibleSpace& space = ps.feasible_space;
    space.min = ctx.get_string(fs, "min");
    space.max = ctx.get_string(fs, "max");
    space.step = ctx.get_string(fs, "step");
    space.list = ctx.get_string_list(fs, "list");
    if (auto d = ctx.get_enum(fs, "distribution", fpath + ".distribution", {"uniform", "logUniform", "normal", "logNormal"})) {
      space.distribution = *d == "logUniform" ? Distribution::kLogUniform : *d == "normal" ? Distribution::kNormal
                         : *d == "logNormal" ? Distribution::kLogNormal : Distribution::kUniform;
    } else if (v1beta1 && !get(fs, "distribution").IsDefined()) {
      nspec["parameters"][i]["feasibleSpace"]["distribution"] = "uniform";
    }
    if (t == "int" || t == "double") {
      if (!space.list.empty()) {
        ctx.error(get(fs, "list"), fpath + ".list", "expected min and max for parameterType " + t + ", found a list");
      }
      if (!space.min || !space.max) {
        ctx.error(fs, fpath + (space.min ? ".max" : ".min"),
                  "expected both min and max for parameterType " + t + ", found " +
                      (space.min ? "min only" : space.max ? "max only" : "neither"));
      }
      std::optional<double> lo, hi;
      for (auto [key, val, out] : {std::tuple{"min", space.min, &lo}, std::tuple{"max", space.max, &hi},
                                   std::tuple{"step", space.step, static_cast<std::optional<double>*>(nullptr)}}) {
        if (!val) continue;
        auto v = parse_number(*val);
        bool int_ok = !v || t != "int" || std::floor(*v) == *v;
        if (!v || !int_ok) {
          ctx.error(get(fs, key), fpath + "." + key,
                    std::string("expected ") + (t == "int" ? "an integer" : "a number") + " (as a string), found " + quote(*val));
          continue;
        }
        if (out) *out = v;
        if (std::string_view(key) == "step" && *v <= 0) {
          ctx.error(get(fs, key), fpath + ".step", "expected a positive step, found " + quote(*val));
        }
      }
      if (lo && hi && *lo > *hi) {
        ctx.error(get(fs, "min"), fpath + ".min", "expected min <= max (" + *space.max + "), found " + *space.min);
      }
      if (lo && (space.distribution == Distribution::kLogUniform || space.distribution == Distribution::kLogNormal) && *lo <= 0) {
        ctx.error(get(fs, "min"), fpath + ".min",
                  std::string("expected min > 0 for distribution ") + distribution_name(space.distribution) + ", found " + *space.min);
      }
    } else if (t == "categorical" || t == "discrete") {
      for (const char* key : {"min", "max", "step"}) {
        if (get(fs, key).IsDefined()) {
          ctx.error(get(fs, key), fpath + "." + key, "expected only a list for parameterType " + t + ", found " + key);
        }
      }
      if (space.list.empty()) {
        ctx.error(fs, fpath + ".list", "expected a non-empty list for parameterType " + t + ", found none");
      }
      if (t == "discrete") {
        YAML::Node list = get(fs, "list");
        for (std::size_t k = 0; k < space.list.size(); ++k) {
          if (!parse_number(space.list[k])) {
            ctx.error(list[k], index_path(fpath + ".list", k), "expected a number for a discrete parameter, found " + quote(space.list[k]));
          }
        }
      }
    }
    exp.parameters.push_back(std::move(ps));
  }
}

void load_objective(LoadContext& ctx, const YAML::Node& spec, YAML::Node nspec, Experiment& exp, bool v1beta1) {
  YAML::Node obj = get(spec, "objective");
  if (!obj.IsDefined() || !obj.IsMap()) {
    if (!obj.IsDefined() || is_null(obj)) ctx.error(spec, "spec.objective", "expected an objective, found none");
    return;
  }
  Objective& o = exp.objective;
  auto type = ctx.get_enum(obj, "type", "spec.objective.type", {"minimize", "maximize"});
  if (!type && !get(obj, "type").IsDefined()) {
    ctx.error(obj, "spec.objective.type", "expected minimize or maximize, found none");
  }
  o.type = type.value_or("maximize") == "minimize" ? ObjectiveType::kMinimize : ObjectiveType::kMaximize;
  if (auto g = as_number(get(obj, "goal"))) o.goal = *g;
  o.objective_metric_name = ctx.get_string(obj, "objectiveMetricName").value_or("");
  if (o.objective_metric_name.empty()) {
    ctx.error(obj, "spec.objective.objectiveMetricName", "expected the name of the objective metric, found none");
  }
  o.additional_metric_names = ctx.get_string_list(obj, "additionalMetricNames");
  if (std::find(o.additional_metric_names.begin(), o.additional_metric_names.end(), o.objective_metric_name) !=
      o.additional_metric_names.end()) {
    ctx.error(get(obj, "additionalMetricNames"), "spec.objective.additionalMetricNames",
              "expected metrics other than the objective, found " + quote(o.objective_metric_name));
  }
  // Katib: a metric without a strategy gets min when minimizing, max when maximizing.
  std::map<std::string, MetricStrategy> given;
  YAML::Node ms = get(obj, "metricStrategies");
  if (ms.IsDefined() && ms.IsSequence()) {
    std::size_t i = 0;
    for (auto it = ms.begin(); it != ms.end(); ++it, ++i) {
      auto name = ctx.get_string(*it, "name");
      auto value = ctx.get_enum(*it, "value", index_path("spec.objective.metricStrategies", i) + ".value", {"min", "max", "latest"});
      if (name && value) given[*name] = *value == "min" ? MetricStrategy::kMin : *value == "max" ? MetricStrategy::kMax : MetricStrategy::kLatest;
    }
  }
  MetricStrategy def = o.type == ObjectiveType::kMinimize ? MetricStrategy::kMin : MetricStrategy::kMax;
  const char* def_name = o.type == ObjectiveType::kMinimize ? "min" : "max";
  std::vector<std::string> metrics{o.objective_metric_name};
  metrics.insert(metrics.end(), o.additional_metric_names.begin(), o.additional_metric_names.end());
  for (const auto& m : metrics) {
    if (m.empty()) continue;
    auto it = given.find(m);
    o.metric_strategies.emplace_back(m, it != given.end() ? it->second : def);
    if (it == given.end() && v1beta1) {  // v1alpha3 had no metricStrategies
      YAML::Node s;
      s["name"] = m;
      s["value"] = def_name;
      nspec["objective"]["metricStrategies"].push_back(s);
    }
  }
}

}  // namespace

std::initializer_list<std::string_view> algorithm_names() { return kKatibAlgorithms; }

void load_objective_annotations(LoadContext& ctx, const YAML::Node& doc, Objective& o) {
  const YAML::Node annotations = get(get(doc, "metadata"), "annotations");
  const auto at = [&](const char* key) { return get(annotations, key); };
  const auto text = [&](const char* key) -> std::optional<std::string> {
    const YAML::Node n = at(key);
    if (n.IsDefined() && n.IsScalar()) return n.Scalar();
    return std::nullopt;
  };
  if (const auto objectives = text(kObjectivesAnnotation)) {
    const std::string field = std::string("metadata.annotations[") + kObjectivesAnnotation + "]";
    std::set<std::string> seen{o.objective_metric_name};
    for (const std::string& item : split(*objectives, ',')) {
      const std::string entry = trim(item);
      const auto colon = entry.rfind(':');
      const std::string metric = trim(entry.substr(0, colon == std::string::npos ? entry.size() : colon));
      const std::string direction = colon == std::string::npos ? "" : to_lower(trim(entry.substr(colon + 1)));
      if (metric.empty() || (direction != "minimize" && direction != "maximize")) {
        ctx.error(at(kObjectivesAnnotation), field,
                  "expected objectives as METRIC:minimize or METRIC:maximize, separated by commas, found " + quote(entry));
        return;
      }
      if (!seen.insert(metric).second) {
        ctx.error(at(kObjectivesAnnotation), field, "expected each objective once (the first is the main objective's), found " +
                                                        quote(metric) + " twice");
        return;
      }
      o.more.push_back({metric, direction == "minimize" ? ObjectiveType::kMinimize : ObjectiveType::kMaximize});
    }
  }
  if (const auto reference = text(kHypervolumeReferenceAnnotation)) {
    const std::string field = std::string("metadata.annotations[") + kHypervolumeReferenceAnnotation + "]";
    for (const std::string& item : split(*reference, ',')) {
      const auto v = parse_double(trim(item));
      if (!v || !std::isfinite(*v)) {
        ctx.error(at(kHypervolumeReferenceAnnotation), field, "expected numbers separated by commas, found " + quote(trim(item)));
        return;
      }
      o.hypervolume_reference.push_back(*v);
    }
    if (o.hypervolume_reference.size() != o.more.size() + 1)
      ctx.error(at(kHypervolumeReferenceAnnotation), field,
                "expected one value per objective (" + std::to_string(o.more.size() + 1) + "), found " +
                    std::to_string(o.hypervolume_reference.size()));
  }
}

namespace {

void load_algorithms(LoadContext& ctx, const YAML::Node& spec, YAML::Node nspec, Experiment& exp, bool v1beta1) {
  YAML::Node alg = get(spec, "algorithm");
  if (!alg.IsDefined() || !alg.IsMap()) {
    if (!alg.IsDefined() || is_null(alg)) ctx.error(spec, "spec.algorithm", "expected an algorithm, found none");
  } else {
    if (auto name = ctx.get_enum(alg, "algorithmName", "spec.algorithm.algorithmName",
                                 v1beta1 ? kKatibAlgorithms : kKatibAlgorithmsV1alpha3)) {
      exp.algorithm.name = *name;
    } else if (!get(alg, "algorithmName").IsDefined()) {
      ctx.error(alg, "spec.algorithm.algorithmName", "expected an algorithm name, found none");
    }
    YAML::Node settings = get(alg, "algorithmSettings");
    if (settings.IsDefined() && settings.IsSequence()) {
      for (auto it = settings.begin(); it != settings.end(); ++it)
        exp.algorithm.settings.emplace_back(ctx.get_string(*it, "name").value_or(""), ctx.get_string(*it, "value").value_or(""));
    }
  }
  YAML::Node es = get(spec, "earlyStopping");
  if (es.IsDefined() && es.IsMap()) {
    AlgorithmSpec e;
    auto name = ctx.get_enum(es, "algorithmName", "spec.earlyStopping.algorithmName", {"medianstop"});
    if (!name && !get(es, "algorithmName").IsDefined()) {
      ctx.error(es, "spec.earlyStopping.algorithmName", "expected medianstop, found none");
    }
    e.name = name.value_or("medianstop");
    YAML::Node settings = get(es, "algorithmSettings");
    std::size_t i = 0;
    if (settings.IsDefined() && settings.IsSequence()) {
      for (auto it = settings.begin(); it != settings.end(); ++it, ++i) {
        std::string n = ctx.get_string(*it, "name").value_or("");
        std::string v = ctx.get_string(*it, "value").value_or("");
        std::string path = index_path("spec.earlyStopping.algorithmSettings", i);
        if (n != "min_trials_required" && n != "start_step") {
          std::vector<std::string_view> known{"min_trials_required", "start_step"};
          std::string msg = "expected min_trials_required or start_step, found " + quote(n);
          if (auto best = closest_match(n, known)) msg += " (did you mean " + quote(*best) + "?)";
          ctx.error(get(*it, "name"), path + ".name", msg);
        } else {
          auto num = parse_number(v);
          if (!num || *num < 1 || std::floor(*num) != *num) {
            ctx.error(get(*it, "value"), path + ".value", "expected a positive integer (as a string), found " + quote(v));
          }
        }
        e.settings.emplace_back(n, v);
      }
    }
    // Katib's medianstop service defaults: min_trials_required=3, start_step=4.
    for (const auto& setting : {std::pair{"min_trials_required", "3"}, std::pair{"start_step", "4"}}) {
      const char* n = setting.first;
      const char* v = setting.second;
      bool has = std::any_of(e.settings.begin(), e.settings.end(), [&](const auto& s) { return s.first == n; });
      if (!has) {
        e.settings.emplace_back(n, v);
        YAML::Node s;
        s["name"] = n;
        s["value"] = std::string(v);
        nspec["earlyStopping"]["algorithmSettings"].push_back(s);
      }
    }
    exp.early_stopping = e;
  }
}

void load_counts(LoadContext& ctx, const YAML::Node& spec, YAML::Node nspec, Experiment& exp, bool v1beta1) {
  auto parallel = ctx.get_int32(spec, "parallelTrialCount", "spec.parallelTrialCount", 1);
  exp.max_trial_count = ctx.get_int32(spec, "maxTrialCount", "spec.maxTrialCount", 1);
  exp.max_failed_trial_count = ctx.get_int32(spec, "maxFailedTrialCount", "spec.maxFailedTrialCount", 0);
  if (parallel) exp.parallel_trial_count = *parallel;
  else if (!get(spec, "parallelTrialCount").IsDefined()) nspec["parallelTrialCount"] = 3;
  if (exp.max_trial_count) {
    if (parallel && *parallel > *exp.max_trial_count) {
      ctx.error(get(spec, "parallelTrialCount"), "spec.parallelTrialCount",
                "expected at most spec.maxTrialCount (" + std::to_string(*exp.max_trial_count) + "), found " + std::to_string(*parallel));
    }
    if (exp.max_failed_trial_count && *exp.max_failed_trial_count > *exp.max_trial_count) {
      ctx.error(get(spec, "maxFailedTrialCount"), "spec.maxFailedTrialCount",
                "expected at most spec.maxTrialCount (" + std::to_string(*exp.max_trial_count) + "), found " +
                    std::to_string(*exp.max_failed_trial_count));
    }
  }
  // v1alpha3 had Never and LongRunning (Katib 0.9, 0.10); v1beta1 added FromVolume.
  const auto resume = v1beta1 ? ctx.get_enum(spec, "resumePolicy", "spec.resumePolicy", {"Never", "LongRunning", "FromVolume"})
                              : ctx.get_enum(spec, "resumePolicy", "spec.resumePolicy", {"Never", "LongRunning"});
  if (resume) {
    exp.resume_policy = *resume;
  } else if (!get(spec, "resumePolicy").IsDefined()) {
    nspec["resumePolicy"] = "Never";
  }
}

void load_metrics_collector(LoadContext& ctx, const YAML::Node& spec, YAML::Node nspec, Experiment& exp) {
  YAML::Node mc = get(spec, "metricsCollectorSpec");
  YAML::Node collector = get(mc, "collector");
  MetricsCollector& m = exp.metrics_collector;
  if (auto kind = ctx.get_enum(collector, "kind", "spec.metricsCollectorSpec.collector.kind",
                               {"StdOut", "File", "TensorFlowEvent", "PrometheusMetric", "Custom", "None", "Push"})) {
    m.kind = *kind;
  } else if (!get(collector, "kind").IsDefined()) {
    nspec["metricsCollectorSpec"]["collector"]["kind"] = "StdOut";
  }
  YAML::Node source = get(mc, "source");
  YAML::Node fsp = get(source, "fileSystemPath");
  const std::string fpath = "spec.metricsCollectorSpec.source.fileSystemPath";
  if (m.kind == "File") {
    m.file_path = ctx.get_string(fsp, "path").value_or("");
    if (m.file_path.empty() || m.file_path[0] != '/') {
      ctx.error(fsp.IsDefined() ? fsp : (mc.IsDefined() ? mc : spec), fpath + ".path",
                "expected the absolute path of the metrics file, found " + (m.file_path.empty() ? std::string("none") : quote(m.file_path)));
    }
    auto kind = ctx.get_enum(fsp, "kind", fpath + ".kind", {"File"});
    if (!kind && !get(fsp, "kind").IsDefined()) nspec["metricsCollectorSpec"]["source"]["fileSystemPath"]["kind"] = "File";
    auto format = ctx.get_enum(fsp, "format", fpath + ".format", {"TEXT", "JSON"});
    m.file_format = format.value_or("TEXT");
    if (!get(fsp, "format").IsDefined()) nspec["metricsCollectorSpec"]["source"]["fileSystemPath"]["format"] = "TEXT";
    if (m.file_format == "JSON" && get(source, "filter").IsDefined()) {
      ctx.error(get(source, "filter"), "spec.metricsCollectorSpec.source.filter",
                "expected no filter with format JSON (JSON metrics are read by name), found one");
    }
  }
  YAML::Node formats = get(get(source, "filter"), "metricsFormat");
  m.metrics_format = ctx.get_string_list(get(source, "filter"), "metricsFormat");
  for (std::size_t i = 0; i < m.metrics_format.size(); ++i) {
    const std::string& f = m.metrics_format[i];
    std::string path = index_path("spec.metricsCollectorSpec.source.filter.metricsFormat", i);
    // Compiled as Katib compiles it (Go syntax, jobs/katib_regex.h).
    if (auto re = MetricsRegex::compile(f); !re)
      ctx.error(formats[i], path, "expected a regular expression (Go syntax) with two capture groups (name, value), "
                                  "found " + quote(f) + ": " + re.status().message());
  }
}

// spec.trialTemplate.trialParameters: each a name and a reference to an experiment parameter (or
// a ${trialSpec.*} meta reference). Returns the names declared, at their nodes.
std::map<std::string, YAML::Node> load_trial_parameters(LoadContext& ctx, const YAML::Node& tt, const std::string& tpath,
                                                        Experiment& exp) {
  TrialTemplate& t = exp.trial_template;
  std::set<std::string> experiment_params;
  for (const auto& p : exp.parameters) experiment_params.insert(p.name);
  std::map<std::string, YAML::Node> declared;
  YAML::Node tps = get(tt, "trialParameters");
  if (!tps.IsDefined() || !tps.IsSequence()) {
    if (!tps.IsDefined() || is_null(tps)) ctx.error(tt, tpath + ".trialParameters", "expected the trial parameters, found none");
    return declared;
  }
  std::set<std::string> refs;
  std::size_t i = 0;
  for (auto it = tps.begin(); it != tps.end(); ++it, ++i) {
    TrialParameter p{ctx.get_string(*it, "name").value_or(""), ctx.get_string(*it, "description").value_or(""),
                     ctx.get_string(*it, "reference").value_or("")};
    std::string path = index_path(tpath + ".trialParameters", i);
    if (p.name.empty() || p.reference.empty() || p.name.find_first_of("{}") != std::string::npos) {
      ctx.error(*it, path, "expected a name (without '{' or '}') and a reference, found " +
                               std::string(p.name.empty() ? "no name" : p.reference.empty() ? "no reference" : "name " + quote(p.name)));
      continue;
    }
    if (declared.count(p.name)) {
      ctx.error(get(*it, "name"), path + ".name", "expected unique trial parameter names, found " + quote(p.name) + " twice");
      continue;
    }
    if (!refs.insert(p.reference).second) {
      ctx.error(get(*it, "reference"), path + ".reference", "expected unique references, found " + quote(p.reference) + " twice");
    }
    if (!experiment_params.empty() && !experiment_params.count(p.reference) && !is_meta_reference(p.reference)) {
      std::vector<std::string_view> names(experiment_params.begin(), experiment_params.end());
      std::string msg = "expected the name of a parameter in spec.parameters (" + join(names, ", ") + "), found " + quote(p.reference);
      if (auto best = closest_match(p.reference, names)) msg += " (did you mean " + quote(*best) + "?)";
      ctx.error(get(*it, "reference"), path + ".reference", msg);
    }
    declared.emplace(p.name, get(*it, "name"));
    t.trial_parameters.push_back(std::move(p));
  }
  return declared;
}

// Both directions of the substitution contract: every ${trialParameters.x} in the trial job is
// declared, and every declared trial parameter is used.
void check_placeholders(LoadContext& ctx, const YAML::Node& trial_spec, const std::string& tpath,
                        const std::map<std::string, YAML::Node>& declared) {
  std::set<std::string> used;
  for_each_placeholder(trial_spec, [&](const YAML::Node& at, const std::string& name) {
    if (!used.insert(name).second) return;
    if (!declared.count(name)) {
      std::vector<std::string_view> names;
      for (const auto& [n, _] : declared) names.push_back(n);
      std::string msg = "expected ${trialParameters." + name + "} to name a trial parameter declared in " + tpath +
                        ".trialParameters (" + join(names, ", ") + "), found none named " + quote(name);
      if (auto best = closest_match(name, names)) msg += " (did you mean " + quote(*best) + "?)";
      ctx.error(at, tpath + ".trialSpec", msg);
    }
  });
  for (const auto& [name, at] : declared) {
    if (!used.count(name)) {
      ctx.error(at, tpath + ".trialParameters",
                "expected trial parameter " + quote(name) + " to be used as ${trialParameters." + name + "} in " + tpath +
                    ".trialSpec, found no use");
    }
  }
}

// The trial job itself: its own schema and webhook rules, placeholders standing for any value.
// Returns its kind, or nullopt (reported) when it is not a job Katib runs.
std::optional<std::string> check_trial_job(LoadContext& ctx, const YAML::Node& trial_spec, const std::string& tpath) {
  auto api = ctx.get_string(trial_spec, "apiVersion");
  auto kind = ctx.get_string(trial_spec, "kind");
  if (!api || !kind) {
    ctx.error(trial_spec, tpath + ".trialSpec", "expected apiVersion and kind, found " + std::string(!api ? "no apiVersion" : "no kind"));
    return std::nullopt;
  }
  YAML::Node meta = get(trial_spec, "metadata");
  for (const char* key : {"name", "namespace"}) {
    if (get(meta, key).IsDefined()) {
      ctx.error(get(meta, key), tpath + ".trialSpec.metadata." + key,
                std::string("expected no ") + key + " (Katib names each trial itself), found " + quote(ctx.get_string(meta, key).value_or("")));
    }
  }
  auto root = root_schema(*api, *kind);
  // Katib v0.18's default trialResources (manifests katib-config.yaml): Job, TFJob, PyTorchJob,
  // MPIJob and XGBoostJob; mpi-operator's v2beta1 MPIJob; and Katib v0.19's Trainer v2 TrainJob.
  static const std::set<std::pair<std::string, std::string>> runnable = {
      {"batch/v1", "Job"}, {"kubeflow.org/v1", "TFJob"}, {"kubeflow.org/v1", "PyTorchJob"},
      {"kubeflow.org/v1", "MPIJob"}, {"kubeflow.org/v1", "XGBoostJob"}, {"kubeflow.org/v2beta1", "MPIJob"},
      {"trainer.kubeflow.org/v1alpha1", "TrainJob"}};
  if (!root || !runnable.count({*api, *kind})) {
    ctx.error(get(trial_spec, "kind"), tpath + ".trialSpec.kind",
              "expected a trial job of kind batch/v1 Job, kubeflow.org/v1 TFJob, PyTorchJob, MPIJob or XGBoostJob, "
              "kubeflow.org/v2beta1 MPIJob (Katib's default trial resources) or trainer.kubeflow.org/v1alpha1 "
              "TrainJob, found " +
                  *api + " " + *kind);
    return std::nullopt;
  }
  SchemaCheckOptions so{ctx.options.strict, true};
  check_schema(trial_spec, *root, tpath + ".trialSpec", ctx.file, so, ctx.diags);
  LoadContext inner{ctx.file, ctx.options, ctx.diags, tpath + ".trialSpec"};
  YAML::Node scratch = YAML::Clone(trial_spec);
  const bool is_trainjob = *kind == "TrainJob";
  if (is_trainjob)
    (void)load_train_job(inner, trial_spec, scratch, *api, /*in_trial=*/true);
  else
    (void)load_training_job(inner, trial_spec, scratch, *api, *kind, /*in_trial=*/true);
  return *kind;
}

// Katib's defaults that depend on the trial job's kind: success and failure conditions, the
// primary pod's labels.
void default_by_trial_kind(TrialTemplate& t, YAML::Node nspec, const std::string& kind) {
  // Katib v0.19 constants.go: a TrainJob succeeds and fails by the Complete and Failed conditions,
  // as a batch Job does; its primary pod is node 0 of the trainer's replicatedJob.
  const bool is_trainjob = kind == "TrainJob";
  const bool is_job = kind == "Job" || is_trainjob;
  if (t.success_condition.empty()) {
    t.success_condition = std::string(is_job ? kJobSuccess : kKubeflowSuccess);
    nspec["trialTemplate"]["successCondition"] = t.success_condition;
  }
  if (t.failure_condition.empty()) {
    t.failure_condition = std::string(is_job ? kJobFailure : kKubeflowFailure);
    nspec["trialTemplate"]["failureCondition"] = t.failure_condition;
  }
  if (is_trainjob && t.primary_pod_labels.empty()) {
    t.primary_pod_labels = {{"jobset.sigs.k8s.io/replicatedjob-name", "node"}, {"batch.kubernetes.io/job-completion-index", "0"}};
    for (const auto& [k, v] : t.primary_pod_labels) {
      YAML::Node value(v);
      value.SetTag("tag:yaml.org,2002:str");  // "0" is a label value, a string
      nspec["trialTemplate"]["primaryPodLabels"][k] = value;
    }
  }
  if (!is_job && t.primary_pod_labels.empty()) {
    t.primary_pod_labels = {{"training.kubeflow.org/job-role", "master"}};
    nspec["trialTemplate"]["primaryPodLabels"]["training.kubeflow.org/job-role"] = "master";
  }
}

void load_trial_template_v1beta1(LoadContext& ctx, const YAML::Node& spec, YAML::Node nspec, Experiment& exp) {
  YAML::Node tt = get(spec, "trialTemplate");
  const std::string tpath = "spec.trialTemplate";
  if (!tt.IsDefined() || !tt.IsMap()) {
    if (!tt.IsDefined() || is_null(tt)) ctx.error(spec, tpath, "expected a trial template, found none");
    return;
  }
  TrialTemplate& t = exp.trial_template;
  t.primary_container_name = ctx.get_string(tt, "primaryContainerName").value_or("");
  if (t.primary_container_name.empty()) {
    ctx.error(tt, tpath + ".primaryContainerName", "expected the name of the training container, found none");
  }
  t.retain = ctx.get_bool(tt, "retain").value_or(false);
  t.primary_pod_labels = ctx.get_string_map(tt, "primaryPodLabels");
  t.success_condition = ctx.get_string(tt, "successCondition").value_or("");
  t.failure_condition = ctx.get_string(tt, "failureCondition").value_or("");

  const std::map<std::string, YAML::Node> declared = load_trial_parameters(ctx, tt, tpath, exp);

  YAML::Node trial_spec = get(tt, "trialSpec");
  YAML::Node config_map = get(tt, "configMap");
  if (!trial_spec.IsDefined() && !config_map.IsDefined()) {
    ctx.error(tt, tpath + ".trialSpec", "expected trialSpec (the job to run per trial) or configMap, found neither");
    return;
  }
  if (trial_spec.IsDefined() && config_map.IsDefined()) {
    ctx.error(config_map, tpath + ".configMap", "expected only one of trialSpec and configMap, found both");
    return;
  }
  if (config_map.IsDefined()) {
    for (const char* key : {"configMapName", "configMapNamespace", "templatePath"}) {
      if (!ctx.get_string(config_map, key)) ctx.error(config_map, tpath + ".configMap." + key, "expected a value, found none");
    }
    return;
  }
  if (!trial_spec.IsMap()) return;  // reported by the schema check
  t.trial_spec = tree(trial_spec);

  check_placeholders(ctx, trial_spec, tpath, declared);
  if (auto kind = check_trial_job(ctx, trial_spec, tpath)) default_by_trial_kind(t, nspec, *kind);
}

// v1alpha3: goTemplate.rawTemplate is Go template text rendered per trial; it cannot be parsed as YAML
// before rendering, so its actions are checked against what Katib v1alpha3 offered a template.
void load_trial_template_v1alpha3(LoadContext& ctx, const YAML::Node& spec, Experiment& exp) {
  YAML::Node tt = get(spec, "trialTemplate");
  const std::string tpath = "spec.trialTemplate.goTemplate";
  YAML::Node go = get(tt, "goTemplate");
  if (!go.IsDefined() || !go.IsMap()) {
    ctx.error(tt.IsDefined() ? tt : spec, tpath, "expected goTemplate with rawTemplate or templateSpec, found none");
    return;
  }
  exp.trial_template.retain = ctx.get_bool(tt, "retain").value_or(false);
  auto raw = ctx.get_string(go, "rawTemplate");
  YAML::Node ts = get(go, "templateSpec");
  if (raw && ts.IsDefined()) {
    ctx.error(ts, tpath + ".templateSpec", "expected only one of rawTemplate and templateSpec, found both");
    return;
  }
  if (!raw) {
    if (!ts.IsDefined()) ctx.error(go, tpath + ".rawTemplate", "expected rawTemplate or templateSpec, found neither");
    return;
  }
  exp.trial_template.raw_template = *raw;
  static const std::regex action(R"(\{\{-?\s*(.*?)\s*-?\}\})");
  static const std::regex allowed(
      R"((\.(Trial|Experiment|NameSpace|HyperParameters|Name|Value)|with \.HyperParameters|range \.|range \.HyperParameters|end|else|if .*))");
  int depth = 0;
  for (auto it = std::sregex_iterator(raw->begin(), raw->end(), action); it != std::sregex_iterator(); ++it) {
    std::string body = (*it)[1].str();
    if (!std::regex_match(body, allowed)) {
      ctx.error(get(go, "rawTemplate"), tpath + ".rawTemplate",
                "expected template actions on .Trial, .Experiment, .NameSpace or .HyperParameters (with .Name and .Value), found {{" + body + "}}");
      continue;
    }
    if (starts_with(body, "with") || starts_with(body, "range") || starts_with(body, "if")) ++depth;
    if (body == "end" && --depth < 0) {
      ctx.error(get(go, "rawTemplate"), tpath + ".rawTemplate", "expected {{end}} to close a with/range/if, found an extra {{end}}");
      depth = 0;
    }
  }
  if (depth > 0) {
    ctx.error(get(go, "rawTemplate"), tpath + ".rawTemplate",
              "expected every with/range/if to be closed by {{end}}, found " + std::to_string(depth) + " unclosed");
  }
  std::size_t open = 0, close = 0;
  for (std::size_t p = raw->find("{{"); p != std::string::npos; p = raw->find("{{", p + 2)) ++open;
  for (std::size_t p = raw->find("}}"); p != std::string::npos; p = raw->find("}}", p + 2)) ++close;
  if (open != close) {
    ctx.error(get(go, "rawTemplate"), tpath + ".rawTemplate",
              "expected balanced {{ and }}, found " + std::to_string(open) + " {{ and " + std::to_string(close) + " }}");
  }
}

}  // namespace

std::optional<Experiment> load_experiment(LoadContext& ctx, const YAML::Node& doc, YAML::Node& norm,
                                          const std::string& api_version) {
  Experiment exp;
  exp.api_version = api_version;
  bool v1beta1 = api_version == "kubeflow.org/v1beta1";
  int errors_before = ctx.diags.error_count();
  YAML::Node meta = get(doc, "metadata");
  exp.metadata = load_object_meta(ctx, doc);
  static const std::regex name_re("[a-z]([-a-z0-9]*[a-z0-9])?");
  if (exp.metadata.name.empty()) {
    ctx.error(meta.IsDefined() ? meta : doc, "metadata.name", "expected an experiment name, found none");
  } else if (!std::regex_match(exp.metadata.name, name_re)) {
    ctx.error(get(meta, "name"), "metadata.name",
              "expected lower-case letters, digits and '-', starting with a letter and ending with a letter or digit, found " +
                  quote(exp.metadata.name));
  }
  YAML::Node spec = get(doc, "spec");
  if (!spec.IsDefined() || !spec.IsMap()) {
    if (!spec.IsDefined() || is_null(spec)) ctx.error(doc, "spec", "expected the experiment's spec, found none");
    return std::nullopt;
  }
  YAML::Node nspec = norm["spec"];
  load_counts(ctx, spec, nspec, exp, v1beta1);
  load_objective(ctx, spec, nspec, exp, v1beta1);
  load_objective_annotations(ctx, doc, exp.objective);
  load_algorithms(ctx, spec, nspec, exp, v1beta1);
  load_parameters(ctx, spec, nspec, exp, v1beta1);
  bool has_nas = get(spec, "nasConfig").IsDefined();
  if (exp.parameters.empty() && !has_nas) {
    ctx.error(spec, "spec.parameters", "expected spec.parameters or spec.nasConfig, found neither");
  } else if (!exp.parameters.empty() && has_nas) {
    ctx.error(get(spec, "nasConfig"), "spec.nasConfig", "expected only one of spec.parameters and spec.nasConfig, found both");
  }
  load_metrics_collector(ctx, spec, nspec, exp);
  if (v1beta1) {
    load_trial_template_v1beta1(ctx, spec, nspec, exp);
  } else {
    load_trial_template_v1alpha3(ctx, spec, exp);
  }
  if (ctx.diags.error_count() > errors_before) return std::nullopt;
  return exp;
}

}  // namespace ringmaster::jobs
