#include <arpa/inet.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

#include "cli/ps_commands.h"
#include "common/stop_signals.h"
#include "common/tf_config.h"
#include "ps/client.h"
#include "ps/server.h"

namespace ringmaster::cli {

void add_ps_command(CLI::App& app, PsOptions& o) {
  CLI::App* cmd = app.add_subcommand("ps", "Run a parameter server (a TFJob's PS replica; its place comes from TF_CONFIG)");
  cmd->add_option("--address", o.address,
                  "address to listen on (default: TF_CONFIG's host, or every interface when it is a host name as "
                  "on a cluster; without TF_CONFIG 127.0.0.1)");
  cmd->add_flag("--insecure", o.insecure,
                "serve without a job token (RINGMASTER_JOB_TOKEN unset): any client that reaches the port can read "
                "and change the parameters");
  cmd->add_option("--port", o.port, "port (default: TF_CONFIG's, else 2222; 0 picks a free one)");
  cmd->add_option("--index", o.index, "this server's index among the job's servers (default: TF_CONFIG's task.index)");
  cmd->add_option("--checkpoint-dir", o.checkpoint_dir, "checkpoint the parameters and optimizer state here, and "
                  "restore them at start");
  cmd->add_option("--checkpoint-seconds", o.checkpoint_seconds, "seconds between checkpoints")->capture_default_str();
  cmd->add_option("--max-message-mib", o.max_message_mib, "largest gRPC message (a pull of this server's blocks)")
      ->capture_default_str();
}

int run_ps(const PsOptions& o) {
  ps::ServerOptions s;
  s.index = 0;
  s.port = 2222;
  s.address = "127.0.0.1";  // nothing listens beyond this machine unless told (an address, or a job's TF_CONFIG)
  if (const char* text = std::getenv("TF_CONFIG"); text && *text) {
    auto tf = parse_tf_config(text);
    if (!tf) {
      std::fprintf(stderr, "ringmaster ps: %s\n", tf.status().message().c_str());
      return 2;
    }
    if (tf->type != "ps") {
      std::fprintf(stderr, "ringmaster ps: environment variable TF_CONFIG: expected task.type \"ps\", found \"%s\"\n",
                   tf->type.c_str());
      return 2;
    }
    s.index = tf->index;
    const auto& list = tf->cluster["ps"];
    if (s.index < 0 || s.index >= static_cast<int>(list.size())) {
      std::fprintf(stderr, "ringmaster ps: environment variable TF_CONFIG: cluster.ps has no entry %d\n", s.index);
      return 2;
    }
    const std::string& mine = list[static_cast<std::size_t>(s.index)];
    const auto colon = mine.rfind(':');
    const std::string host = mine.substr(0, colon);
    s.port = colon == std::string::npos ? 2222 : std::atoi(mine.c_str() + colon + 1);
    // The job places this server at `host`: an address to bind, or a name (a pod's Service) that
    // other pods reach on every interface of this one.
    in_addr a{};
    s.address = inet_pton(AF_INET, host.c_str(), &a) == 1 ? host : "0.0.0.0";
  }
  if (!o.address.empty()) s.address = o.address;
  if (o.port >= 0) s.port = o.port;
  if (o.index >= 0) s.index = o.index;
  if (const char* token = std::getenv("RINGMASTER_JOB_TOKEN")) s.token = token;
  if (s.token.empty() && !o.insecure) {
    std::fprintf(stderr,
                 "ringmaster ps: environment variable RINGMASTER_JOB_TOKEN: expected the job's token (clients must "
                 "send it), found none; set it (the launcher and rendered pods do), or give --insecure to serve "
                 "without one\n");
    return 2;
  }
  if (s.token.empty())
    std::fprintf(stderr,
                 "ringmaster ps: WARNING: --insecure: serving on %s WITHOUT A JOB TOKEN; any client that reaches "
                 "this port can read and overwrite the model's parameters\n",
                 s.address.c_str());
  s.checkpoint_dir = o.checkpoint_dir;
  s.checkpoint_seconds = o.checkpoint_seconds;
  if (o.max_message_mib < 1 || o.max_message_mib > 2047) {
    std::fprintf(stderr, "ringmaster ps: --max-message-mib: expected 1 to 2047, found %lld\n",
                 static_cast<long long>(o.max_message_mib));
    return 2;
  }
  s.max_message_bytes = o.max_message_mib << 20;
  StopSignals stop;  // before gRPC starts its threads
  auto server = ps::PsServer::start(s);
  if (!server) {
    std::fprintf(stderr, "ringmaster ps: %s\n", server.status().message().c_str());
    return server.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  spdlog::info("parameter server {} listening on {}:{}{}", s.index, s.address, (*server)->port(),
               s.checkpoint_dir.empty() ? "" : ", checkpoints in " + s.checkpoint_dir);
  std::fflush(stdout);
  const int got = stop.wait();
  spdlog::info("parameter server {}: {} received, saving and stopping", s.index, StopSignals::name(got));
  (*server)->shutdown();
  return 0;
}

int run_ps_training(const TrainOptions& o) {
  ps::ClientOptions c;
  if (!o.ps_hosts.empty()) {
    c.servers = o.ps_hosts;
    c.worker = o.worker_index < 0 ? 0 : o.worker_index;
    c.workers = o.num_workers < 0 ? 1 : o.num_workers;
  } else {
    const char* tf = std::getenv("TF_CONFIG");
    if (!tf || !*tf) {
      std::fprintf(stderr, "ringmaster train: --strategy ps: expected --ps-hosts or TF_CONFIG (a TFJob with PS "
                           "replicas), found neither\n");
      return 2;
    }
    auto from = ps::client_options_from_tf_config(tf);
    if (!from) {
      std::fprintf(stderr, "ringmaster train: %s\n", from.status().message().c_str());
      return 2;
    }
    c = *from;
    if (o.worker_index >= 0) c.worker = o.worker_index;
    if (o.num_workers >= 0) c.workers = o.num_workers;
  }
  auto mode = ps::parse_mode(o.ps_mode);
  if (!mode) {
    std::fprintf(stderr, "ringmaster train: %s\n", mode.status().message().c_str());
    return 2;
  }
  c.mode = *mode;
  c.staleness = o.staleness;
  c.timeout_seconds = o.ps_timeout;
  c.reconnect_seconds = o.ps_reconnect;
  if (const char* token = std::getenv("RINGMASTER_JOB_TOKEN")) c.token = token;
  if (Status s = ps::validate(c); !s) {
    std::fprintf(stderr, "ringmaster train: %s\n", s.message().c_str());
    return 2;
  }
  const worker::TrainConfig config = replica_train_config(o);
  auto client = ps::make_client(c);
  auto r = worker::run_training(config, stdout, nullptr, client.get());
  if (!r) {
    std::fprintf(stderr, "ringmaster train: worker %d of %d: %s\n", c.worker, c.workers, r.status().message().c_str());
    return r.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}

}  // namespace ringmaster::cli
