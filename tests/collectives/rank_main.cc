// One rank of a multi-process collectives test: joins through the environment (factory.h), runs
// a scenario, exits 0 on success and 1 with the error on stderr.
//   collectives_rank verify        every collective, type and op against the serial reference
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

using namespace ringmaster;
using namespace ringmaster::collectives;

namespace {

int fail(const std::string& what) {
  std::fprintf(stderr, "rank failed: %s\n", what.c_str());
  return 1;
}

int verify(Communicator& c) {
  const int n = c.size(), r = c.rank();
  for (std::size_t count : {0u, 1u, 7u, 13u, 100003u}) {
    for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMin, ReduceOp::kMax, ReduceOp::kAverage}) {
      std::vector<double> v(count), want(count);
      for (std::size_t i = 0; i < count; ++i) {
        v[i] = static_cast<double>((r * 5 + i) % 11);
        double acc = static_cast<double>(i % 11);
        for (int k = 1; k < n; ++k) {
          const double x = static_cast<double>((k * 5 + i) % 11);
          acc = op == ReduceOp::kMin ? std::min(acc, x) : op == ReduceOp::kMax ? std::max(acc, x) : acc + x;
        }
        want[i] = op == ReduceOp::kAverage ? acc / n : acc;
      }
      if (Status s = c.allreduce(v.data(), v.data(), count, DataType::kFloat64, op); !s) return fail(s.message());
      for (std::size_t i = 0; i < count; ++i)
        if (v[i] != want[i])
          return fail("allreduce " + std::string(name(op)) + " element " + std::to_string(i) + ": got " +
                      std::to_string(v[i]) + ", expected " + std::to_string(want[i]));
    }
    std::vector<int32_t> b(count, r == n - 1 ? 42 : -1);
    if (Status s = c.broadcast(b.data(), count, DataType::kInt32, n - 1); !s) return fail(s.message());
    for (int32_t x : b)
      if (x != 42) return fail("broadcast: wrong value");
    std::vector<int64_t> mine(count, r), all(count * static_cast<std::size_t>(n));
    if (Status s = c.allgather(mine.data(), all.data(), count, DataType::kInt64); !s) return fail(s.message());
    for (std::size_t i = 0; i < all.size(); ++i)
      if (all[i] != static_cast<int64_t>(i / std::max<std::size_t>(count, 1))) return fail("allgather: wrong value");
  }
  if (Status s = c.barrier(); !s) return fail(s.message());
  return 0;
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
