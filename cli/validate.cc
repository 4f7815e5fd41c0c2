// `ringmaster validate FILE...`: parse, default and validate job files; print the normalized objects
// (YAML, or JSON with -o json) or a plan (--plan), or every error with file:line:column.
#include <iostream>

#include "cli/commands.h"
#include "jobs/emit.h"
#include "jobs/loader.h"
#include "jobs/plan.h"

namespace ringmaster::cli {

void add_validate_command(CLI::App& app, ValidateOptions& o) {
  auto* cmd = app.add_subcommand("validate", "Parse, default and validate job / experiment YAML; print the normalized spec");
  cmd->add_option("files", o.files, "YAML files (TFJob, PyTorchJob, JAXJob, XGBoostJob, PaddleJob, MPIJob, batch Job, Katib Experiment, Trainer v2 TrainJob and (Cluster)TrainingRuntime); several documents per file allowed")
      ->required();
  cmd->add_option("-o,--output", o.output, "yaml or json")->check(CLI::IsMember({"yaml", "json"}))->capture_default_str();
  cmd->add_option("--validate", o.validate, "strict: unknown fields are errors (as kubectl --validate=strict); warn: warnings")
      ->check(CLI::IsMember({"strict", "warn"}))
      ->capture_default_str();
  cmd->add_flag("--plan", o.plan, "print what each job would start instead of the normalized spec");
  cmd->add_flag("-q,--quiet", o.quiet, "print only problems");
  add_max_replicas_flag(cmd, o.max_replicas);
  add_runtimes_flag(cmd, o.runtime_dirs);
}

int run_validate(const ValidateOptions& o) {
  jobs::LoadOptions lo;
  lo.strict = o.validate == "strict";
  lo.max_replicas = o.max_replicas;
  bool invalid = false, unreadable = false;
  nlohmann::ordered_json json_docs = nlohmann::ordered_json::array();
  bool first = true;
  std::vector<jobs::Document> documents;
  for (const auto& file : o.files) {
    jobs::LoadResult r = jobs::load_file(file, lo);
    for (const auto& d : r.diagnostics.sorted()) std::cerr << d.to_string() << "\n";
    if (r.file_unreadable) unreadable = true;
    else if (!r.ok()) invalid = true;
    if (r.ok()) documents.insert(documents.end(), r.documents.begin(), r.documents.end());
  }
  // A TrainJob is checked against its runtime (Trainer's webhook does): from these files, the
  // --runtimes directories, or the built-in ones.
  std::vector<std::string> problems;
  const auto runtimes = jobs::collect_runtimes(documents, o.runtime_dirs, problems);
  for (const auto& p : problems) std::cerr << p << "\n";
  if (!problems.empty()) invalid = true;
  for (const auto& doc : documents) {
    if (std::holds_alternative<jobs::TrainJob>(doc.object)) {
      auto plan = jobs::describe_plan(doc, runtimes);
      if (!plan) {
        const bool missing = plan.status().code() == StatusCode::kNotFound;
        std::cerr << doc.file << ":" << doc.pos.line << ":" << doc.pos.column << ": "
                  << (missing && !o.plan ? "warning: " : "error: ") << plan.status().message() << "\n";
        if (!missing || o.plan) invalid = true;
        if (o.plan) continue;
      } else if (o.plan && !o.quiet) {
        std::cout << *plan << "\n";
        continue;
      }
    }
    if (o.quiet) continue;
    if (o.plan) {
      if (auto plan = jobs::describe_plan(doc, runtimes)) std::cout << *plan << "\n";
    } else if (o.output == "json") {
      json_docs.push_back(jobs::to_json(doc.normalized));
    } else {
      if (!first) std::cout << "---\n";
      std::cout << jobs::to_yaml(doc.normalized);
    }
    first = false;
  }
  if (o.output == "json" && !o.plan && !o.quiet) {
    std::cout << (json_docs.size() == 1 ? json_docs[0] : json_docs).dump(2) << "\n";
  }
  if (invalid) return 2;
  if (unreadable) return 1;
  return 0;
}

}  // namespace ringmaster::cli
