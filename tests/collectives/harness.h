// Runs N ranks as threads of this process over an in-memory store and a real transport.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <thread>
#include <vector>

#include "collectives/communicator.h"

namespace ringmaster::collectives::testing {

inline StoreIdentity identity(int rank, int n) { return {"test-token", "test-job", n, rank}; }

// Calls fn(comm) on each of n ranks concurrently; fails the test if a rank cannot connect.
inline void run_ranks(int n, const std::function<void(Communicator&)>& fn, CommunicatorOptions options = {}) {
  auto store = make_in_memory_store();
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] {
      auto t = make_tcp_transport(*store, identity(r, n), {}, Deadline::after(std::chrono::seconds(20)));
      ASSERT_TRUE(t.is_ok()) << t.status().message();
      auto comm = make_communicator(std::move(*t), options);
      fn(*comm);
    });
  for (auto& t : threads) t.join();
}

}  // namespace ringmaster::collectives::testing
