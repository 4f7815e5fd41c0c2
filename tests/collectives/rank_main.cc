// One rank of a multi-process collectives test: joins through the environment (factory.h), runs
// a scenario, exits 0 on success and 1 with the error on stderr.
//   collectives_rank verify        every collective, type and op against the serial reference (reference.h)
//   collectives_rank die RANK      RANK kills itself (SIGKILL) in the middle of a 64 MiB allreduce
//   collectives_rank mismatch      rank 1 allreduces one element fewer
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "collectives/factory.h"
#include "reference.h"

using namespace ringmaster;
using namespace ringmaster::collectives;

namespace {

int fail(const std::string& what) {
  std::fprintf(stderr, "rank failed: %s\n", what.c_str());
  return 1;
}

int verify(Communicator& c) {
  const std::string error = testing::check_all(c, {0, 1, 7, 13, 100003});
  return error.empty() ? 0 : fail(error);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string scenario = argc > 1 ? argv[1] : "verify";
  auto config = rendezvous_from_env([](const char* k) { return std::getenv(k); });
  if (!config) return fail(config.status().message());
  if (!std::getenv("RINGMASTER_TIMEOUT_SECONDS")) config->options.timeout = std::chrono::seconds(20);
  auto comm = create(*config);
  if (!comm) return fail(comm.status().message());
  Communicator& c = **comm;
  if (scenario == "verify") return verify(c);
  if (scenario == "die") {
    const int victim = argc > 2 ? std::atoi(argv[2]) : 1;
    std::vector<float> big((64u << 20) / 4, 1.0f);
    if (c.rank() == victim) {
      std::thread([] {
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
        ::kill(::getpid(), SIGKILL);
      }).detach();
    }
    for (int i = 0; i < 1000; ++i)
      if (Status s = c.allreduce(big.data(), big.data(), big.size(), DataType::kFloat32, ReduceOp::kSum,
                                 std::chrono::seconds(10));
          !s)
        return fail(s.message());
    return fail("the victim never died");
  }
  if (scenario == "mismatch") {
    std::vector<float> v(100, 1.0f);
    Status s = c.allreduce(v.data(), v.data(), c.rank() == 1 ? 99 : 100, DataType::kFloat32, ReduceOp::kSum);
    return s ? 0 : fail(s.message());
  }
  return fail("unknown scenario " + scenario);
}
