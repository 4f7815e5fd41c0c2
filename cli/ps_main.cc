// ringmaster-ps: the gRPC half of the ringmaster command (see cli/commands.h). `ringmaster ps`,
// `ringmaster train --strategy ps` and `ringmaster bench ps` run here; it can be called directly
// with the same arguments.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <malloc.h>

#include <exception>
#include <iostream>

#include "bench/ps_bench.h"
#include "cli/ps_commands.h"

int main(int argc, char** argv) {
  // Messages of megabytes are allocated and freed every step; served from the heap instead of
  // fresh mmaps they cost no page faults (docs/performance.md, parameter server).
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  CLI::App app{"ringmaster-ps: parameter servers and the workers that train against them"};
  app.set_version_flag("--version", std::string("ringmaster-ps ") + RINGMASTER_VERSION);
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")->capture_default_str();
  ringmaster::cli::PsOptions ps;
  ringmaster::cli::add_ps_command(app, ps);
  ringmaster::cli::TrainOptions train;
  ringmaster::cli::add_train_command(app, train);
  ringmaster::bench::PsBenchOptions bench;
  std::string workload;
  CLI::App* b = app.add_subcommand("bench", "Benchmark the parameter server (`ringmaster bench ps`)");
  b->add_option("workload", workload, "ps")->required()->check(CLI::IsMember({"ps"}));
  b->add_option("--model", bench.model, "model spec")->capture_default_str();
  b->add_option("--workers", bench.workers, "worker counts of the round measurement")->delimiter(',')->capture_default_str();
  b->add_option("--servers", bench.servers, "server counts of the round measurement")->delimiter(',')->capture_default_str();
  b->add_option("--seconds", bench.seconds, "seconds per measurement")->capture_default_str();
  b->add_option("--epochs", bench.epochs, "epochs of each training run (0: skip training)")->capture_default_str();
  b->add_option("--train-workers", bench.train_workers, "workers of the training runs")->capture_default_str();
  b->add_option("--train-servers", bench.train_servers, "parameter servers of the training runs")->capture_default_str();
  b->add_option("--target-accuracy", bench.target_accuracy, "report the time to this test accuracy")->capture_default_str();
  b->add_option("--modes", bench.modes, "training runs: async, sync, ssp, allreduce")->capture_default_str();
  b->add_option("--staleness", bench.staleness, "ssp's bound")->capture_default_str();
  if (const int rc = ringmaster::cli::parse_command_line(app, argc, argv, log_level, "ringmaster-ps"); rc >= 0) return rc;
  try {
    if (app.got_subcommand("ps")) return ringmaster::cli::run_ps(ps);
    if (app.got_subcommand("bench")) return ringmaster::bench::run_ps_bench(bench, stdout);
    if (app.got_subcommand("train")) return ringmaster::cli::run_train(train, &ringmaster::cli::run_ps_training);
  } catch (const std::exception& e) {
    std::cerr << "ringmaster-ps: internal error: " << e.what() << "\n";
    return 1;
  }
  return 1;
}
