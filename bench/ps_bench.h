// `ringmaster bench ps` (run by ringmaster-ps): the parameter server's speed and what it buys.
//  1. The limit: loopback TCP between two threads of this process, full duplex (both directions
//     streaming at once) and as request-response rounds of the model's size.
//  2. Push+pull rounds per second and GB/s of the MLP's parameter set (async, in-process servers
//     on 127.0.0.1 and client threads) for each worker and server count.
//  3. Time to a target test accuracy, training the same model with async, sync and ssp parameter
//     servers and with allreduce (real worker processes).
// Prints a table and one JSON line. Not a test: figures are reported.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace ringmaster::bench {

struct PsBenchOptions {
  std::string model = "mlp";
  std::vector<int> workers = {1, 2, 4};
  std::vector<int> servers = {1, 2};
  double seconds = 2.0;        // per throughput measurement
  int64_t epochs = 5;          // per training run (0: skip the training part)
  int train_workers = 2, train_servers = 2;
  double target_accuracy = 0.87;
  std::string modes = "async,sync,ssp,allreduce";
  int staleness = 2;
};

int run_ps_bench(const PsBenchOptions& options, std::FILE* out);

}  // namespace ringmaster::bench
