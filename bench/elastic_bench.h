// `ringmaster bench elastic` (issue 25): what a lost worker costs. The same training (the MLP on
// Fashion-MNIST, `workers` processes) is run four ways, and the same kill -9 schedule hits the two
// disturbed runs:
//   elastic      `ringmaster train --elastic 2:W` at a `ringmaster rendezvous`; a killed worker is
//                started again at once (as the launcher does) and joins at the next commit
//   restart      fixed-world data-parallel training with checkpoints every `checkpoint_every`
//                steps; a kill (kill_interval_seconds after each start has begun training) fails
//                every rank, and all are started again with --resume (what the training operator
//                does with OnFailure)
//   and each undisturbed, for the wall time a disturbed run is measured against.
// Reported: time lost (disturbed minus undisturbed wall time; for elastic also accounted from the
// workers' logs, and the larger of the two is compared), the elastic recoveries (from the failure
// to training again, p50 and max, as the survivors log it), the steps rolled back, the final
// accuracy. Prints a table and one JSON line.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace ringmaster::bench {

struct ElasticBenchOptions {
  int workers = 4;
  int kills = 10;
  int64_t epochs = 8;
  int64_t batch_size = 64;        // per worker
  int64_t commit_every = 20;      // elastic
  int64_t checkpoint_every = 20;  // restart
  // 0: spread over the first three quarters of the undisturbed elastic run's wall time.
  double first_kill_seconds = 0.0, kill_interval_seconds = 0.0;
  std::string data_dir;           // Fashion-MNIST; synthetic data when absent
  uint64_t seed = 7;              // which worker each kill hits
};

int run_elastic_bench(const ElasticBenchOptions& options, std::FILE* out);

}  // namespace ringmaster::bench
