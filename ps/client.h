// The worker's side of the parameter server (--strategy ps): a worker::ParameterService over gRPC
// to every server of the job, calling them in parallel. Every call has a deadline. A server that
// is unreachable (restarting) or has lost its state is waited for and re-registered (and re-seeded
// with this worker's parameters when it has none), for up to reconnect_seconds, so a job rides
// out a PS restart on its own.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "ps/layout.h"
#include "ps/mode.h"
#include "worker/parameter_service.h"

namespace ringmaster::ps {

struct ClientOptions {
  std::vector<std::string> servers;  // host:port, in server index order
  int worker = 0, workers = 1;
  std::string token;
  Mode mode = Mode::kAsync;
  int staleness = 0;           // ssp
  double timeout_seconds = 30.0;    // every RPC's deadline
  double reconnect_seconds = 60.0;  // how long a server may stay unreachable
  int64_t max_block_floats = kDefaultMaxBlockFloats;
};

// Checks the options (indices, addresses) with messages naming the flag.
Status validate(const ClientOptions& options);

// Reads the parameter servers and this worker's index from TF_CONFIG (a TFJob replica): the chief
// (or master) is worker 0 and the workers follow; `ps` lists the servers. Fails for a PS or
// evaluator task and when the cluster has no ps.
Result<ClientOptions> client_options_from_tf_config(const std::string& tf_config);

std::unique_ptr<worker::ParameterService> make_client(const ClientOptions& options);

}  // namespace ringmaster::ps
