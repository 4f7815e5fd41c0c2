// Private to jobs/: the per-kind loaders called by loader.cc. Each reads the original document
// (positions for messages), writes defaults into `norm` (a clone of it), and returns the typed object,
// or nullopt when it reported errors.
#pragma once

#include <optional>
#include <string>

#include "jobs/load_context.h"
#include "jobs/model.h"
#include "jobs/trainer.h"

namespace ringmaster::jobs {

// metadata: name, namespace ("default" when absent), labels, annotations.
ObjectMeta load_object_meta(LoadContext& ctx, const YAML::Node& doc);
// A container of a pod template: name, image, command, args, workingDir, env (values and value
// sources), ports (checked: 1-65535) and resource limits/requests; `path` names it in messages.
Container load_container(LoadContext& ctx, const YAML::Node& container, const std::string& path);
// A pod spec's volumes (where their files are, for a local run).
std::vector<Volume> load_volumes(LoadContext& ctx, const YAML::Node& pod_spec);

// TFJob, PyTorchJob, MPIJob (any version) and batch/v1 Job. in_trial: the object is a Katib trial
// template, whose metadata.name Katib fills in.
std::optional<TrainingJob> load_training_job(LoadContext& ctx, const YAML::Node& doc, YAML::Node& norm,
                                             const std::string& api_version, const std::string& kind, bool in_trial);

// Trainer v2: TrainJob, TrainingRuntime and ClusterTrainingRuntime (jobs/trainer.h).
// in_trial: a Katib trial template, whose metadata.name Katib fills in.
std::optional<TrainJob> load_train_job(LoadContext& ctx, const YAML::Node& doc, YAML::Node& norm,
                                       const std::string& api_version, bool in_trial = false);
std::optional<TrainingRuntime> load_training_runtime(LoadContext& ctx, const YAML::Node& doc, YAML::Node& norm,
                                                     const std::string& kind);

std::optional<Experiment> load_experiment(LoadContext& ctx, const YAML::Node& doc, YAML::Node& norm,
                                          const std::string& api_version);

// Kubeflow Trainer's OptimizationJob, as the Experiment the sweep driver runs (Experiment::kind is
// "OptimizationJob"; jobs/optimization.cc).
std::optional<Experiment> load_optimization_job(LoadContext& ctx, const YAML::Node& doc, YAML::Node& norm,
                                                const std::string& api_version);

// The search algorithms an Experiment (v1beta1) may name: Katib's, then ours (nsga2).
std::initializer_list<std::string_view> algorithm_names();

// The multi-objective annotations (model.h: kObjectivesAnnotation, kHypervolumeReferenceAnnotation)
// of an Experiment or OptimizationJob, into `o` (whose first objective is set already).
void load_objective_annotations(LoadContext& ctx, const YAML::Node& doc, Objective& o);

}  // namespace ringmaster::jobs
