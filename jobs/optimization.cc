// Kubeflow Trainer's OptimizationJob (trainer.kubeflow.org/v1alpha1, Katib's successor; Trainer
// main after v2.3.0): pkg/apis/trainer/v1alpha1/optimizationjob_types.go and the CEL rules of its
// CRD (manifests/base/crds/trainer.kubeflow.org_optimizationjobs.yaml), with the controller's
// behaviour from its proposal (proposals/2605-optimization-job-crd: parameters as
// KUBEFLOW_TRAINER_OPT_<NAME> environment variables and a TrainJob annotation, metrics through the
// progress API of proposals/2779-trainjob-progress). Loaded into the Experiment shape the sweep
// driver runs (model.h: Experiment::kind). The schema check (schema.h, from the CRD) has already
// reported unknown fields and wrong types; here: defaults, bounds and the CRD's CEL rules, with the
// CRD's own messages where it has one.
#include <fmt/format.h>

#include <cmath>
#include <regex>
#include <set>

#include "common/strings.h"
#include "jobs/kinds.h"
#include "jobs/load_context.h"
#include "jobs/yaml_tree.h"

namespace ringmaster::jobs {
namespace {

const std::regex kNumber(R"(^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$)");  // the CRD's Double pattern

// spec.objectives: one (the CRD's maxItems); more through ringmaster.io/objectives.
void load_objectives(LoadContext& ctx, const YAML::Node& spec, YAML::Node nspec, Experiment& e) {
  const YAML::Node list = get(spec, "objectives");
  if (!list.IsDefined() || !list.IsSequence() || list.size() == 0) {
    ctx.error(list.IsDefined() ? list : spec, "spec.objectives", "expected one objective, found none");
    return;
  }
  if (list.size() > 1)
    ctx.error(list[1], "spec.objectives",
              fmt::format("expected at most 1 item (the CRD's maxItems; more objectives through metadata.annotations[{}], "
                          "docs/multi-objective.md), found {}",
                          kObjectivesAnnotation, list.size()));
  const YAML::Node o = list[0];
  const std::string path = "spec.objectives[0]";
  e.objective.objective_metric_name = ctx.get_string(o, "metric").value_or("");
  if (e.objective.objective_metric_name.empty() || e.objective.objective_metric_name.size() > 64)
    ctx.error(o, path + ".metric", "expected a metric name of 1 to 64 characters, found " + quote(e.objective.objective_metric_name));
  const auto direction = ctx.get_enum(o, "direction", path + ".direction", {"Maximize", "Minimize"});
  e.objective.type = direction.value_or("Minimize") == "Maximize" ? ObjectiveType::kMaximize : ObjectiveType::kMinimize;
  if (!get(o, "direction").IsDefined()) nspec["objectives"][0]["direction"] = "Minimize";
  // Trainer reads a TrainJob's metrics from its status.trainerStatus, which holds the latest update
  // only: a trial's value is its last reported one.
  e.objective.metric_strategies.emplace_back(e.objective.objective_metric_name, MetricStrategy::kLatest);
}

// One bound of a uniform or logUniform space: the CRD's Double pattern, an integer for type Int.
std::optional<double> bound(LoadContext& ctx, const YAML::Node& space, const char* key, const std::string& path,
                            bool integer) {
  const auto text = ctx.get_string(space, key);
  if (!text) {
    ctx.error(space, path + "." + key, "expected a number (as a string), found none");
    return std::nullopt;
  }
  if (!std::regex_match(*text, kNumber) || text->size() > 64) {
    ctx.error(get(space, key), path + "." + key, "expected a number matching ^-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?$, found " + quote(*text));
    return std::nullopt;
  }
  const double v = parse_double(*text).value_or(0);
  if (integer && v != std::floor(v)) {
    ctx.error(get(space, key), path + "." + key, "expected an integer for type Int, found " + quote(*text));
    return std::nullopt;
  }
  return v;
}

void load_parameters(LoadContext& ctx, const YAML::Node& spec, YAML::Node nspec, Experiment& e) {
  const YAML::Node list = get(spec, "parameters");
  if (!list.IsDefined() || !list.IsSequence() || list.size() == 0) {
    ctx.error(list.IsDefined() ? list : spec, "spec.parameters", "expected 1 to 100 parameters, found none");
    return;
  }
  if (list.size() > 100) ctx.error(list[100], "spec.parameters", fmt::format("expected at most 100 parameters, found {}", list.size()));
  std::set<std::string> names;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const YAML::Node p = list[i];
    const std::string path = fmt::format("spec.parameters[{}]", i);
    ParameterSpec ps;
    ps.name = ctx.get_string(p, "name").value_or("");
    if (ps.name.empty() || ps.name.size() > 64)
      ctx.error(p, path + ".name", "expected a parameter name of 1 to 64 characters, found " + quote(ps.name));
    else if (!names.insert(ps.name).second)
      ctx.error(get(p, "name"), path + ".name", "expected unique parameter names (a list-map keyed by name), found " + quote(ps.name) + " twice");
    const YAML::Node space = get(p, "searchSpace");
    const std::string spath = path + ".searchSpace";
    int given = 0;
    for (const char* k : {"uniform", "logUniform", "categorical"}) given += get(space, k).IsDefined();
    if (given != 1) {
      ctx.error(space.IsDefined() ? space : p, spath, "exactly one of the fields in [uniform logUniform categorical] must be set");
      continue;
    }
    if (const YAML::Node c = get(space, "categorical"); c.IsDefined()) {
      ps.type = ParameterType::kCategorical;
      ps.feasible_space.list = ctx.get_string_list(c, "choices");
      std::set<std::string> seen;
      if (ps.feasible_space.list.empty() || ps.feasible_space.list.size() > 100)
        ctx.error(c, spath + ".categorical.choices", fmt::format("expected 1 to 100 choices, found {}", ps.feasible_space.list.size()));
      for (const auto& choice : ps.feasible_space.list)
        if (!seen.insert(choice).second || choice.size() > 64)
          ctx.error(get(c, "choices"), spath + ".categorical.choices",
                    "expected distinct choices (a set) of at most 64 characters, found " + quote(choice) +
                        (choice.size() > 64 ? "" : " twice"));
    } else {
      const bool log = get(space, "logUniform").IsDefined();
      const char* key = log ? "logUniform" : "uniform";
      const YAML::Node u = get(space, key);
      const std::string upath = spath + "." + key;
      const auto type = ctx.get_enum(u, "type", upath + ".type", {"Int", "Float"});
      if (!get(u, "type").IsDefined()) nspec["parameters"][i]["searchSpace"][key]["type"] = "Float";
      const bool integer = type.value_or("Float") == "Int";
      ps.type = integer ? ParameterType::kInt : ParameterType::kDouble;
      ps.feasible_space.distribution = log ? Distribution::kLogUniform : Distribution::kUniform;
      const auto lo = bound(ctx, u, "min", upath, integer), hi = bound(ctx, u, "max", upath, integer);
      if (lo && hi) {
        if (log && *lo <= 0) ctx.error(get(u, "min"), upath, "min must be strictly greater than 0");
        if (*lo >= *hi) ctx.error(get(u, "min"), upath, "min must be strictly less than max");
        ps.feasible_space.min = *ctx.get_string(u, "min");
        ps.feasible_space.max = *ctx.get_string(u, "max");
      }
    }
    e.parameters.push_back(std::move(ps));
  }
}

// spec.searchAlgorithm (random, the default, or grid), or ours from the annotations
// ringmaster.io/algorithm and ringmaster.io/algorithm-settings ("name=value, name=value").
void load_algorithm(LoadContext& ctx, const YAML::Node& doc, const YAML::Node& spec, YAML::Node nspec, Experiment& e) {
  const YAML::Node a = get(spec, "searchAlgorithm");
  const bool random = !a.IsDefined() || get(a, "random").IsDefined(), grid = get(a, "grid").IsDefined();
  if (a.IsDefined() && (random == grid))
    ctx.error(a, "spec.searchAlgorithm", "exactly one of the fields in [random grid] must be set");
  if (!a.IsDefined()) nspec["searchAlgorithm"]["random"] = YAML::Node(YAML::NodeType::Map);
  e.algorithm.name = grid ? "grid" : "random";
  if (const auto seed = ctx.get_int(get(a, "random"), "seed")) e.algorithm.settings.emplace_back("random_state", std::to_string(*seed));
  if (grid)
    for (std::size_t i = 0; i < e.parameters.size(); ++i)
      if (e.parameters[i].type != ParameterType::kCategorical) {
        ctx.error(get(spec, "parameters")[i], "spec",
                  "Grid search requires all parameters to be Categorical; Uniform and LogUniform are not supported.");
        break;
      }
  const YAML::Node annotations = get(get(doc, "metadata"), "annotations");
  const YAML::Node name = get(annotations, kAlgorithmAnnotation), settings = get(annotations, kAlgorithmSettingsAnnotation);
  const std::string field = std::string("metadata.annotations[") + kAlgorithmAnnotation + "]";
  if (name.IsDefined() && name.IsScalar()) {
    if (grid) ctx.error(name, field, "expected no spec.searchAlgorithm.grid beside it (the annotation replaces the search algorithm), found one");
    e.algorithm.name = ctx.get_enum(annotations, kAlgorithmAnnotation, field, algorithm_names()).value_or("random");
    e.algorithm.settings.clear();
  } else if (settings.IsDefined()) {
    ctx.error(settings, std::string("metadata.annotations[") + kAlgorithmSettingsAnnotation + "]",
              std::string("expected it only with ") + kAlgorithmAnnotation + ", found it alone");
  }
  if (settings.IsDefined() && settings.IsScalar())
    for (const std::string& item : split(settings.Scalar(), ',')) {
      if (trim(item).empty()) continue;
      const auto eq = item.find('=');
      if (eq == std::string::npos || trim(item.substr(0, eq)).empty()) {
        ctx.error(settings, std::string("metadata.annotations[") + kAlgorithmSettingsAnnotation + "]",
                  "expected settings as name=value, separated by commas, found " + quote(trim(item)));
        return;
      }
      e.algorithm.settings.emplace_back(trim(item.substr(0, eq)), trim(item.substr(eq + 1)));
    }
}

// The TrainJob each trial runs: the template's metadata and spec, checked as a TrainJob is.
void load_template(LoadContext& ctx, const YAML::Node& spec, Experiment& e) {
  const YAML::Node t = get(spec, "trainJobTemplate");
  const std::string path = "spec.trainJobTemplate";
  if (!t.IsDefined() || !t.IsMap()) {
    ctx.error(t.IsDefined() ? t : spec, path, "expected the TrainJob each trial runs, found none");
    return;
  }
  const YAML::Node meta = get(t, "metadata");
  if (get(meta, "name").IsDefined() || get(meta, "namespace").IsDefined())
    ctx.error(get(meta, "name").IsDefined() ? get(meta, "name") : get(meta, "namespace"), path + ".metadata",
              "name and namespace cannot be set in a template.");
  YAML::Node job;
  job["apiVersion"] = "trainer.kubeflow.org/v1alpha1";
  job["kind"] = "TrainJob";
  job["metadata"] = meta.IsDefined() && meta.IsMap() ? YAML::Clone(meta) : YAML::Node(YAML::NodeType::Map);
  job["spec"] = YAML::Clone(get(t, "spec"));
  // The TrainJob's own rules (runtimeRef, trainer, ...), its names given by the driver.
  LoadContext inner{ctx.file, ctx.options, ctx.diags, path};
  YAML::Node scratch = YAML::Clone(job);
  const int before = ctx.diags.error_count();
  (void)load_train_job(inner, t, scratch, "trainer.kubeflow.org/v1alpha1", /*in_trial=*/true);
  if (ctx.diags.error_count() > before) return;
  e.trial_template.trial_spec = tree(job);
  e.trial_template.primary_container_name = "node";
}

}  // namespace

std::optional<Experiment> load_optimization_job(LoadContext& ctx, const YAML::Node& doc, YAML::Node& norm,
                                                const std::string& api_version) {
  Experiment e;
  e.kind = "OptimizationJob";
  e.api_version = api_version;
  const int errors_before = ctx.diags.error_count();
  e.metadata = load_object_meta(ctx, doc);
  static const std::regex name_re("[a-z]([-a-z0-9]*[a-z0-9])?");
  if (e.metadata.name.empty())
    ctx.error(get(doc, "metadata").IsDefined() ? get(doc, "metadata") : doc, "metadata.name", "expected a name, found none");
  else if (!std::regex_match(e.metadata.name, name_re) || e.metadata.name.size() > 50)
    ctx.error(get(get(doc, "metadata"), "name"), "metadata.name",
              "expected at most 50 lower-case letters, digits and '-', starting with a letter and ending with a letter "
              "or digit (its trials are named <name>-trial-NNN), found " + quote(e.metadata.name));
  const YAML::Node spec = get(doc, "spec");
  if (!spec.IsDefined() || !spec.IsMap()) {
    ctx.error(spec.IsDefined() ? spec : doc, "spec", "expected the optimization job's spec, found none");
    return std::nullopt;
  }
  YAML::Node nspec = norm["spec"];
  load_objectives(ctx, spec, nspec, e);
  load_objective_annotations(ctx, doc, e.objective);
  for (const auto& o : e.objective.more) e.objective.metric_strategies.emplace_back(o.metric, MetricStrategy::kLatest);
  load_parameters(ctx, spec, nspec, e);
  load_algorithm(ctx, doc, spec, nspec, e);
  const auto trials = ctx.get_int(spec, "numTrials").value_or(1);
  const auto parallel = ctx.get_int(spec, "parallelTrials").value_or(1);
  if (!get(spec, "numTrials").IsDefined()) nspec["numTrials"] = 1;
  if (!get(spec, "parallelTrials").IsDefined()) nspec["parallelTrials"] = 1;
  if (trials < 1 || trials > 100)
    ctx.error(get(spec, "numTrials"), "spec.numTrials", fmt::format("expected 1 to 100, found {}", trials));
  if (parallel < 1 || parallel > 100)
    ctx.error(get(spec, "parallelTrials"), "spec.parallelTrials", fmt::format("expected 1 to 100, found {}", parallel));
  else if (parallel > trials)
    ctx.error(get(spec, "parallelTrials"), "spec", "parallelTrials cannot exceed numTrials");
  e.max_trial_count = static_cast<int>(trials);
  e.parallel_trial_count = static_cast<int>(parallel);
  e.metrics_collector.kind = "TrainerStatus";
  load_template(ctx, spec, e);
  if (ctx.diags.error_count() > errors_before) return std::nullopt;
  return e;
}

}  // namespace ringmaster::jobs
