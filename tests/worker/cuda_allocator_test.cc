// The caching device allocator (a GPU test; skipped without one).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include "worker/cuda/allocator.h"

using namespace ringmaster::worker::cuda;

TEST(DeviceAllocator, RoundsSizes) {
  EXPECT_EQ(DeviceAllocator::round_size(1), 512u);
  EXPECT_EQ(DeviceAllocator::round_size(513), 1024u);
  EXPECT_EQ(DeviceAllocator::round_size(1u << 20), 1u << 20);
  EXPECT_EQ(DeviceAllocator::round_size((1u << 20) + 1), 2u << 20);
  EXPECT_EQ(DeviceAllocator::round_size((5u << 20) + 3), 6u << 20);
}

TEST(DeviceAllocator, ReusesReleasedBlocks) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) GTEST_SKIP() << "no CUDA device visible";
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  DeviceAllocator alloc(0);
  void* first = nullptr;
  {
    auto a = alloc.allocate(3u << 20);
    ASSERT_TRUE(a.is_ok()) << a.status().message();
    first = a->get();
    EXPECT_EQ(cudaMemset(a->get(), 1, a->bytes()), cudaSuccess);
  }
  auto b = alloc.allocate((3u << 20) - 100);  // rounds to the same 4 MiB block
  ASSERT_TRUE(b.is_ok());
  EXPECT_EQ(b->get(), first);
  auto c = alloc.allocate(16u << 20);  // more than twice the cached block: a new one
  ASSERT_TRUE(c.is_ok());
  EXPECT_NE(c->get(), first);
  const auto s = alloc.stats();
  EXPECT_EQ(s.device_mallocs, 2);
  EXPECT_EQ(s.cache_hits, 1);
  EXPECT_EQ(s.in_use_bytes, (4u << 20) + (16u << 20));
  EXPECT_EQ(s.reserved_bytes, s.in_use_bytes);
  b->reset();
  c->reset();
  EXPECT_EQ(alloc.stats().in_use_bytes, 0u);
  EXPECT_TRUE(alloc.empty_cache().is_ok());
  EXPECT_EQ(alloc.stats().reserved_bytes, 0u);
  EXPECT_FALSE(alloc.allocate(0).is_ok());
}
