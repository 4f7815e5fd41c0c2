// Loading job files: YAML -> structural schema check -> the operators' defaulting and validation ->
// typed objects (jobs/model.h) plus the normalized (defaulted) object for printing or rendering.
//
//   auto result = jobs::load_file("examples/fashion-mnist-tfjob-ps.yaml");
//   for (const auto& d : result.diagnostics.sorted()) std::cerr << d.to_string() << "\n";
//   if (result.ok()) use(std::get<jobs::TrainingJob>(result.documents[0].object));
//
// A file may hold several documents separated by `---`; each is dispatched by apiVersion and kind:
//   kubeflow.org/v1 TFJob, PyTorchJob, MPIJob; kubeflow.org/v2beta1 MPIJob; kubeflow.org/v1alpha2 MPIJob;
//   batch/v1 Job; kubeflow.org/v1beta1 Experiment; kubeflow.org/v1alpha3 Experiment.
// Every problem of every document is reported at once. Input is bounded (file size, node count after
// alias expansion, nesting depth), so hostile input gives an error, never a crash or a hang.
// Thread-safe: no shared state.
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "jobs/diagnostics.h"
#include "jobs/model.h"
#include "jobs/trainer.h"

namespace ringmaster::jobs {

struct LoadOptions {
  // Unknown fields are errors (kubectl --validate=strict); false turns them into warnings (--validate=warn).
  bool strict = true;
  std::size_t max_file_bytes = 8u << 20;
  std::size_t max_nodes = 200000;  // after alias expansion
  std::size_t max_depth = 100;     // nesting of mappings and sequences, checked while parsing
  // Replicas in one job (per type and in all). A generous bound on what a cluster runs as one
  // job: it keeps a mistyped count from making render write gigabytes (a TFJob's TF_CONFIG lists
  // every replica in every pod) or run fork without end. The local launcher has its own, lower
  // bound: what this machine can run (cli/run.cc).
  std::size_t max_replicas = 10000;
};

struct Document {
  std::string file;
  SourcePos pos;
  std::string api_version, kind;
  YAML::Node normalized;  // the object with every default applied, as the operator would store it
  std::variant<TrainingJob, Experiment, TrainJob, TrainingRuntime> object;
};

struct LoadResult {
  std::vector<Document> documents;  // only documents without errors
  Diagnostics diagnostics;
  bool file_unreadable = false;  // the file could not be read at all (missing, a directory, too large)
  bool ok() const { return !diagnostics.has_errors() && !file_unreadable; }
};

LoadResult load_file(const std::string& path, const LoadOptions& options = {});
LoadResult load_string(std::string_view text, const std::string& file_name, const LoadOptions& options = {});

// Loads one object that is already parsed (e.g. a Katib trialSpec after substitution): schema check,
// defaulting and validation as for a document of a file. nullopt when it has errors (in `diags`).
std::optional<Document> load_object(const YAML::Node& node, const std::string& file, const LoadOptions& options,
                                    Diagnostics& diags);

}  // namespace ringmaster::jobs
