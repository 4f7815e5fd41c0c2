// Runs N ranks as threads of this process over an in-memory store and a real transport.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "collectives/communicator.h"

namespace ringmaster::collectives::testing {

inline StoreIdentity identity(int rank, int n) { return {"test-token", "test-job", n, rank}; }

// A transport of the named kind ("tcp" or "shm") for rank r of n.
inline Result<std::unique_ptr<Transport>> make_transport(const std::string& kind, Store& store, int r, int n,
                                                         const std::string& shm_prefix) {
  const Deadline deadline = Deadline::after(std::chrono::seconds(20));
  if (kind == "shm") return make_shm_transport(identity(r, n), {shm_prefix}, deadline);
  return make_tcp_transport(store, identity(r, n), {}, deadline);
}

// Calls fn(comm) on each of n ranks concurrently; fails the test if a rank cannot connect.
inline void run_ranks(int n, const std::function<void(Communicator&)>& fn, CommunicatorOptions options = {},
                      const std::string& kind = "tcp") {
  static int instance = 0;
  const std::string prefix = "/rm-test-" + std::to_string(::getpid()) + "-" + std::to_string(++instance);
  auto store = make_in_memory_store();
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] {
      auto t = make_transport(kind, *store, r, n, prefix);
      ASSERT_TRUE(t.is_ok()) << t.status().message();
      auto comm = make_communicator(std::move(*t), options);
      fn(*comm);
    });
  for (auto& t : threads) t.join();
}

}  // namespace ringmaster::collectives::testing
