// `ringmaster sweep EXPERIMENT.yaml`, `ringmaster sweep --resume DIR`, `ringmaster sweep status DIR`.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <chrono>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "common/files.h"
#include "jobs/loader.h"
#include "sweep/driver.h"

namespace ringmaster::cli {
namespace fs = std::filesystem;

void add_sweep_command(CLI::App& app, SweepOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "sweep",
      "Run a Katib Experiment or a Kubeflow Trainer OptimizationJob locally: trials are jobs run by `ringmaster "
      "run`, parallelTrialCount at a time "
      "(`ringmaster sweep status DIR` shows one, `ringmaster sweep stop DIR` stops one)");
  cmd->add_option("args", o.args, "EXPERIMENT.yaml (or an OptimizationJob), or: status DIR, or: stop DIR");
  cmd->add_option("--dir", o.dir, "the experiment directory (default ~/.ringmaster/experiments/<name>)");
  cmd->add_option("--resume", o.resume, "continue the experiment in DIR (after the driver was stopped or killed)");
}

namespace {

// The Experiment in `file`, or a message and exit status 2.
std::optional<jobs::Experiment> load_experiment(const std::string& file) {
  auto loaded = jobs::load_file(file);
  for (const auto& d : loaded.diagnostics.sorted()) std::cerr << d.to_string() << "\n";
  if (!loaded.ok()) return std::nullopt;
  for (const auto& doc : loaded.documents)
    if (const auto* e = std::get_if<jobs::Experiment>(&doc.object)) return *e;
  std::cerr << "ringmaster sweep: " << file << ": expected a Katib Experiment (kubeflow.org/v1beta1) or a Trainer OptimizationJob (trainer.kubeflow.org/v1alpha1), found none\n";
  return std::nullopt;
}

// `ringmaster sweep stop DIR`: asks its driver to stop and waits until it has (its trials stopped).
int stop_sweep(const std::string& dir) {
  if (Status s = sweep::request_stop(dir); !s) {
    std::cerr << "ringmaster sweep stop: " << s.message() << "\n";
    return 1;
  }
  for (int i = 0; i < 1200 && sweep::driver_running(dir); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (sweep::driver_running(dir)) {
    std::cerr << "ringmaster sweep stop: the driver of " << dir << " has not stopped within 60 s\n";
    return 1;
  }
  std::cout << "stopped the experiment in " << dir << " (`ringmaster sweep --resume " << dir << "` goes on)\n";
  return 0;
}

}  // namespace

int run_sweep_command(const SweepOptions& o) {
  std::string file, dir = o.dir;
  bool resume = false, status = false;
  if (!o.resume.empty()) {
    dir = o.resume;
    file = (fs::path(dir) / "experiment.yaml").string();
    resume = true;
  } else if (o.args.size() == 2 && o.args[0] == "status") {
    dir = o.args[1];
    file = (fs::path(dir) / "experiment.yaml").string();
    status = true;
  } else if (o.args.size() == 2 && o.args[0] == "stop") {
    return stop_sweep(o.args[1]);
  } else if (o.args.size() == 1) {
    file = o.args[0];
  } else {
    std::cerr << "ringmaster sweep: expected EXPERIMENT.yaml, `--resume DIR`, `status DIR` or `stop DIR`\n";
    return 2;
  }
  auto e = load_experiment(file);
  if (!e) return 2;
  if (dir.empty()) dir = (fs::path(sweep::experiments_root()) / e->metadata.name).string();
  if (status) {
    auto r = sweep::read_sweep(dir, *e);
    if (!r) {
      std::cerr << "ringmaster sweep status: " << r.status().message() << "\n";
      return 1;
    }
    sweep::print_table(*r, *e, stdout);
    return 0;
  }
  sweep::SweepOptions so;
  so.dir = dir;
  so.resume = resume;
  so.ringmaster = executable_path();
  std::printf("experiment %s: %s search, %d trial(s) at a time, in %s\n", e->metadata.name.c_str(),
              e->algorithm.name.c_str(), std::max(1, e->parallel_trial_count), dir.c_str());
  std::fflush(stdout);
  auto r = sweep::run_sweep(*e, file, so, stdout);
  if (!r) {
    std::cerr << "ringmaster sweep: " << r.status().message() << "\n";
    return r.status().code() == StatusCode::kInvalidArgument || r.status().code() == StatusCode::kAlreadyExists ? 2 : 1;
  }
  sweep::print_table(*r, *e, stdout);
  if (r->stopped) std::printf("continue it with `ringmaster sweep --resume %s`\n", dir.c_str());
  return r->condition == "Succeeded" || r->stopped ? 0 : 1;
}

}  // namespace ringmaster::cli
