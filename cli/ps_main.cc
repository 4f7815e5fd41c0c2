// ringmaster-ps: the gRPC half of the ringmaster command (see cli/commands.h). `ringmaster ps`,
// `ringmaster train --strategy ps` and `ringmaster bench ps` run here; it can be called directly
// with the same arguments.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <exception>
#include <iostream>

#include "cli/ps_commands.h"
#include "common/logging.h"
#include "worker/blas.h"

int main(int argc, char** argv) {
  ringmaster::worker::set_blas_threads(1);
  CLI::App app{"ringmaster-ps: parameter servers and the workers that train against them"};
  app.set_version_flag("--version", std::string("ringmaster-ps ") + RINGMASTER_VERSION);
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")->capture_default_str();
  ringmaster::cli::PsOptions ps;
  ringmaster::cli::add_ps_command(app, ps);
  ringmaster::cli::TrainOptions train;
  ringmaster::cli::add_train_command(app, train);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (auto s = ringmaster::setup_logging(log_level); !s) {
    std::cerr << "ringmaster-ps: " << s.message() << "\n";
    return 2;
  }
  try {
    if (app.got_subcommand("ps")) return ringmaster::cli::run_ps(ps);
    if (app.got_subcommand("train")) return ringmaster::cli::run_train(train, &ringmaster::cli::run_ps_training);
  } catch (const std::exception& e) {
    std::cerr << "ringmaster-ps: internal error: " << e.what() << "\n";
    return 1;
  }
  return 1;
}
