// The NCCL backend on real GPUs (CUDA builds only). Skipped, with the reason, where no GPU is
// visible; one rank per GPU (NCCL refuses two ranks on one device), so a one-GPU machine runs the
// world of one and the mismatch check, and a multi-GPU machine runs a world per GPU count.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "collectives/nccl.h"

using namespace ringmaster;
using namespace ringmaster::collectives;

namespace {

int gpus() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

void run_gpu_ranks(int n, const std::function<void(Communicator&, int device)>& fn) {
  auto store = make_in_memory_store();
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] {
      auto c = make_nccl_communicator(*store, {"tok", "nccl-test", n, r}, r, {},
                                      Deadline::after(std::chrono::seconds(60)));
      ASSERT_TRUE(c.is_ok()) << c.status().message();
      fn(**c, r);
    });
  for (auto& t : threads) t.join();
}

}  // namespace

// The module must load into this executable with or without a GPU (CMake's
// ringmaster_cuda_module_host): a world of one on a machine with no GPU fails on CUDA, not dlopen.
TEST(Nccl, ModuleLoadsIntoThisExecutable) {
  if (gpus() > 0) GTEST_SKIP() << "a GPU is visible: the world-of-one test below covers loading";
  auto store = make_in_memory_store();
  auto c = make_nccl_communicator(*store, {"tok", "nccl-load", 1, 0}, 0, {}, Deadline::after(std::chrono::seconds(10)));
  ASSERT_FALSE(c.is_ok());
  EXPECT_EQ(c.status().message().find("does not load"), std::string::npos) << c.status().message();
}

TEST(Nccl, AllreduceBroadcastAllgatherOnDeviceBuffers) {
  const int n = gpus();
  if (n == 0) GTEST_SKIP() << "no CUDA device visible: the NCCL backend is built but cannot run here";
  ASSERT_TRUE(nccl_built());
  run_gpu_ranks(n, [n](Communicator& c, int device) {
    ASSERT_EQ(cudaSetDevice(device), cudaSuccess);
    const std::size_t count = 1 << 20;
    std::vector<float> host(count);
    for (std::size_t i = 0; i < count; ++i) host[i] = static_cast<float>((i + static_cast<std::size_t>(c.rank())) % 7);
    // count floats for the allreduce, then 4 per rank for the allgather's output. (This buffer
    // was count * n floats, so the allgather wrote past its end: on an H200 the world of one
    // crashed inside NCCL's copy, 2026-11-30.)
    float* dev = nullptr;
    ASSERT_EQ(cudaMalloc(&dev, (count + 4 * static_cast<std::size_t>(n)) * sizeof(float)), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(dev, host.data(), count * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
    ASSERT_TRUE(c.allreduce(dev, dev, count, DataType::kFloat32, ReduceOp::kSum).is_ok());
    ASSERT_EQ(cudaMemcpy(host.data(), dev, count * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
    for (std::size_t i = 0; i < count; i += 997) {
      float want = 0;
      for (int r = 0; r < n; ++r) want += static_cast<float>((i + static_cast<std::size_t>(r)) % 7);
      ASSERT_EQ(host[i], want) << i;
    }
    ASSERT_TRUE(c.broadcast(dev, 16, DataType::kFloat32, 0).is_ok());
    ASSERT_TRUE(c.allgather(dev, dev + count, 4, DataType::kFloat32).is_ok());
    ASSERT_TRUE(c.barrier().is_ok());
    // Every rank's first 4 floats are the broadcast's, so the gather holds n copies of them.
    std::vector<float> head(4), gathered(4 * static_cast<std::size_t>(n));
    ASSERT_EQ(cudaMemcpy(head.data(), dev, 4 * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(gathered.data(), dev + count, gathered.size() * sizeof(float), cudaMemcpyDeviceToHost),
              cudaSuccess);
    for (std::size_t i = 0; i < gathered.size(); ++i) ASSERT_EQ(gathered[i], head[i % 4]) << i;
    cudaFree(dev);
  });
}

TEST(Nccl, MismatchedCallsAreRefused) {
  const int n = gpus();
  if (n < 2) GTEST_SKIP() << "needs two GPUs (one NCCL rank per device); found " << n;
  run_gpu_ranks(2, [](Communicator& c, int device) {
    cudaSetDevice(device);
    float* dev = nullptr;
    cudaMalloc(&dev, 1024 * sizeof(float));
    Status s = c.allreduce(dev, dev, c.rank() == 0 ? 1024 : 1000, DataType::kFloat32, ReduceOp::kSum,
                           std::chrono::seconds(20));
    EXPECT_FALSE(s.is_ok());
    EXPECT_NE(s.message().find("mismatched collectives"), std::string::npos) << s.message();
    cudaFree(dev);
  });
}
