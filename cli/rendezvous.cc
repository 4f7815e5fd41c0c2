// `ringmaster rendezvous`: the store an elastic job's workers meet in (worker/elastic.h), served by
// a process of its own so that it outlives any worker (torchrun's standalone c10d store and etcd
// play this part). `render` runs it as an elastic job's rendezvous Pod (`ringmaster run` serves the
// same store in its own process); it can be started by hand.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>

#include "cli/commands.h"
#include "collectives/store.h"
#include "common/stop_signals.h"

namespace ringmaster::cli {

void add_rendezvous_command(CLI::App& app, RendezvousOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "rendezvous", "Serve the rendezvous store of an elastic job (`ringmaster train --elastic MIN:MAX`); the "
                    "job's token comes from RINGMASTER_JOB_TOKEN, as its workers' does");
  cmd->add_option("--host", o.host, "address to listen on (loopback unless told otherwise)")->capture_default_str();
  cmd->add_option("--port", o.port, "port (0: a free one, printed)")->capture_default_str();
  cmd->add_option("--job", o.job, "the job's name (workers give the same: RINGMASTER_JOB_NAME)")->capture_default_str();
}

int run_rendezvous(const RendezvousOptions& o) {
  const char* token = std::getenv("RINGMASTER_JOB_TOKEN");
  if (token == nullptr || *token == '\0') {
    std::fprintf(stderr, "ringmaster rendezvous: expected RINGMASTER_JOB_TOKEN (the job's token, which its workers "
                         "have too), found none\n");
    return 2;
  }
  StopSignals stop;  // before the server's thread starts
  auto server = collectives::TcpStoreServer::start(o.host, o.port, {token, o.job, /*world_size=*/0, 0});
  if (!server) {
    std::fprintf(stderr, "ringmaster rendezvous: %s\n", server.status().message().c_str());
    return 1;
  }
  fmt::print("rendezvous for elastic job {} at {}:{}\n", o.job, o.host, (*server)->port());
  std::fflush(stdout);
  const int got = stop.wait();
  spdlog::info("rendezvous for {}: {} received, stopping", o.job, StopSignals::name(got));
  return 0;
}

}  // namespace ringmaster::cli
