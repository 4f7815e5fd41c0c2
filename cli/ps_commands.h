// The subcommands of ringmaster-ps, the gRPC half of the command (see commands.h): the parameter
// server itself, training against it, and its benchmark.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "cli/commands.h"

namespace ringmaster::cli {

struct PsOptions {
  std::string address;  // default: the TF_CONFIG host (0.0.0.0 when it is a name), else 127.0.0.1
  bool insecure = false;  // serve without RINGMASTER_JOB_TOKEN: any client may push and pull
  int port = -1;        // default: the TF_CONFIG port, else 2222
  int index = -1;       // default: task.index of TF_CONFIG, else 0
  std::string checkpoint_dir;
  double checkpoint_seconds = 5.0;
  int64_t max_message_mib = 256;
};
void add_ps_command(CLI::App& app, PsOptions& options);
// Serves until SIGTERM or SIGINT, then writes its checkpoint and exits 0.
int run_ps(const PsOptions& options);
// train --strategy ps: the servers and this worker's index from --ps-hosts or TF_CONFIG.
int run_ps_training(const TrainOptions& options);

}  // namespace ringmaster::cli
