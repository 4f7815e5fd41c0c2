// The ringmaster command: one subcommand per use (see docs/architecture.md).
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <exception>
#include <iostream>

#include "cli/commands.h"
#include "collectives/mpi.h"

int main(int argc, char** argv) {
  ringmaster::cli::remember_command_line(argc, argv);
  CLI::App app{"ringmaster: distributed training orchestrator (Kubeflow jobs, Horovod-style allreduce, Katib sweeps)"};
  app.set_version_flag("--version", std::string("ringmaster ") + RINGMASTER_VERSION);
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")->capture_default_str();

  ringmaster::cli::ValidateOptions validate;
  ringmaster::cli::add_validate_command(app, validate);
  ringmaster::cli::RenderOptions render;
  ringmaster::cli::add_render_command(app, render);
  ringmaster::cli::TrainOptions train;
  ringmaster::cli::add_train_command(app, train);
  ringmaster::cli::RunOptions run;
  ringmaster::cli::add_run_command(app, run);
  ringmaster::cli::SubmitOptions submit;
  ringmaster::cli::add_submit_command(app, submit);
  ringmaster::cli::StateOptions state;
  ringmaster::cli::add_state_commands(app, state);
  ringmaster::cli::BenchOptions bench;
  ringmaster::cli::add_bench_command(app, bench);
  ringmaster::cli::SweepOptions sweep;
  ringmaster::cli::add_sweep_command(app, sweep);
  ringmaster::cli::RendezvousOptions rendezvous;
  ringmaster::cli::add_rendezvous_command(app, rendezvous);
  ringmaster::cli::InitializeOptions initialize;
  ringmaster::cli::add_initialize_command(app, initialize);
  // Carried out by ringmaster-ps (commands.h): its flags are parsed there.
  CLI::App* ps = app.add_subcommand("ps", "Run a parameter server (a TFJob's PS replica; see `ringmaster ps --help`)");
  ps->allow_extras();
  ps->prefix_command();
  ps->set_help_flag();
  // Carried out by ringmaster-dashboard (commands.h).
  CLI::App* dashboard =
      app.add_subcommand("dashboard", "Serve jobs and their logs to a browser (see `ringmaster dashboard --help`)");
  dashboard->allow_extras();
  dashboard->prefix_command();
  dashboard->set_help_flag();

  if (const int rc = ringmaster::cli::parse_command_line(app, argc, argv, log_level, "ringmaster"); rc >= 0) return rc;
  try {
    if (app.got_subcommand("validate")) return ringmaster::cli::run_validate(validate);
    if (app.got_subcommand("render")) return ringmaster::cli::run_render(render);
    if (app.got_subcommand("sweep")) return ringmaster::cli::run_sweep_command(sweep);
    if (app.got_subcommand("ps")) return ringmaster::cli::exec_ringmaster_ps();
    if (app.got_subcommand("dashboard")) return ringmaster::cli::exec_companion("ringmaster-dashboard", "the dashboard");
    if (app.got_subcommand("train")) {
      const int rc = ringmaster::cli::run_train(train, [](const ringmaster::cli::TrainOptions&) {
        return ringmaster::cli::exec_ringmaster_ps();
      });
      // Under mpirun a rank that fails (a collective timed out: a peer is hung or dead) must end the
      // MPI job, whichever backend it trained over, or it would wait in MPI_Finalize for ever.
      if (rc != 0) ringmaster::collectives::abort_mpi_at_exit();
      return rc;
    }
    if (app.got_subcommand("bench")) return ringmaster::cli::run_bench(bench);
    if (app.got_subcommand("run")) return ringmaster::cli::run_run(run);
    if (app.got_subcommand("submit")) return ringmaster::cli::run_submit(submit);
    if (app.got_subcommand("initialize")) return ringmaster::cli::run_initialize(initialize);
    if (app.got_subcommand("rendezvous")) return ringmaster::cli::run_rendezvous(rendezvous);
    if (app.got_subcommand("status")) return ringmaster::cli::run_status(state);
    if (app.got_subcommand("logs")) return ringmaster::cli::run_logs(state);
    if (app.got_subcommand("delete")) return ringmaster::cli::run_delete(state);
    if (app.got_subcommand("suspend")) return ringmaster::cli::run_suspend(state, true);
    if (app.got_subcommand("resume")) return ringmaster::cli::run_suspend(state, false);
  } catch (const std::exception& e) {
    std::cerr << "ringmaster: internal error: " << e.what() << "\n";
    return 1;
  }
  return 1;
}
