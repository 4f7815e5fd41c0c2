// Every collective, data type and reduction against a serial reference, for world sizes 1-8 as
// threads over TCP, element counts 0, 1, odd, prime and large; then failures.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "collectives/communicator.h"
#include "harness.h"
#include "reference.h"

using namespace ringmaster;
using namespace ringmaster::collectives;
using namespace ringmaster::collectives::testing;
using namespace std::chrono_literals;

namespace {

class WorldTest : public ::testing::TestWithParam<std::tuple<std::string, int>> {
 protected:
  int world() const { return std::get<1>(GetParam()); }
  void run(const std::function<void(Communicator&)>& fn) { run_ranks(world(), fn, {}, std::get<0>(GetParam())); }
};

}  // namespace

TEST_P(WorldTest, AllreduceEveryTypeOpAndCount) {
  const int n = world();
  run([&](Communicator& c) {
    for (std::size_t count : {0u, 1u, 7u, 13u, 1000u, 65537u})
      for (DataType t : kTypes)
        for (ReduceOp op : kOps) {
          auto in = make_buffer(t, count, c.rank());
          auto out = std::vector<std::byte>(in.size());
          const bool in_place = count % 2 == 1;
          Status s = in_place ? c.allreduce(in.data(), in.data(), count, t, op)
                              : c.allreduce(in.data(), out.data(), count, t, op);
          ASSERT_TRUE(s.is_ok()) << s.message();
          const auto& result = in_place ? in : out;
          for (std::size_t i = 0; i < count; ++i)
            ASSERT_NEAR(read(result, t, i), expected(t, op, n, i), tolerance(t))
                << name(t) << " " << name(op) << " count " << count << " element " << i << " rank " << c.rank();
        }
  });
}

TEST_P(WorldTest, BroadcastFromEveryRoot) {
  const int n = world();
  run([&](Communicator& c) {
    for (int root = 0; root < n; ++root)
      for (std::size_t count : {0u, 1u, 13u, 300001u}) {
        auto buf = make_buffer(DataType::kFloat32, count, c.rank());
        ASSERT_TRUE(c.broadcast(buf.data(), count, DataType::kFloat32, root).is_ok());
        for (std::size_t i = 0; i < count; ++i) ASSERT_EQ(read(buf, DataType::kFloat32, i), value(root, i));
      }
  });
}

TEST_P(WorldTest, AllgatherAndReduceScatter) {
  const int n = world();
  run([&](Communicator& c) {
    for (std::size_t count : {0u, 1u, 7u, 4099u}) {
      for (DataType t : {DataType::kInt64, DataType::kBFloat16}) {
        auto in = make_buffer(t, count, c.rank());
        std::vector<std::byte> out(in.size() * static_cast<std::size_t>(n));
        ASSERT_TRUE(c.allgather(in.data(), out.data(), count, t).is_ok());
        for (int r = 0; r < n; ++r)
          for (std::size_t i = 0; i < count; ++i)
            ASSERT_EQ(read(out, t, static_cast<std::size_t>(r) * count + i), value(r, i));
      }
      // reduce_scatter: block b of rank r holds value(r, b*count + i).
      for (DataType t : {DataType::kFloat32, DataType::kFloat16})
        for (ReduceOp op : kOps) {
          auto in = make_buffer(t, count * static_cast<std::size_t>(n), c.rank());
          std::vector<std::byte> out(count * element_size(t));
          ASSERT_TRUE(c.reduce_scatter(in.data(), out.data(), count, t, op).is_ok());
          for (std::size_t i = 0; i < count; ++i)
            ASSERT_NEAR(read(out, t, i), expected(t, op, n, static_cast<std::size_t>(c.rank()) * count + i),
                        tolerance(t));
        }
    }
    ASSERT_TRUE(c.barrier().is_ok());
  });
}

TEST_P(WorldTest, AsyncAllreducesCompleteInOrder) {
  const int n = world();
  run([&](Communicator& c) {
    std::vector<std::vector<float>> bufs(8, std::vector<float>(10007));
    std::vector<Work> work;
    for (std::size_t k = 0; k < bufs.size(); ++k) {
      std::fill(bufs[k].begin(), bufs[k].end(), static_cast<float>(c.rank() + static_cast<int>(k)));
      work.push_back(c.allreduce_async(bufs[k].data(), bufs[k].data(), bufs[k].size(), DataType::kFloat32,
                                       ReduceOp::kSum));
    }
    float single = 1.0f;  // a synchronous call queues behind the asynchronous ones
    ASSERT_TRUE(c.allreduce(&single, &single, 1, DataType::kFloat32, ReduceOp::kSum).is_ok());
    EXPECT_EQ(single, static_cast<float>(n));
    for (std::size_t k = 0; k < bufs.size(); ++k) {
      ASSERT_TRUE(work[k].get().is_ok()) << work[k].get().message();
      const float want = static_cast<float>(n * (n - 1) / 2 + n * static_cast<int>(k));
      ASSERT_EQ(bufs[k][0], want);
      ASSERT_EQ(bufs[k].back(), want);
    }
  });
}

INSTANTIATE_TEST_SUITE_P(Transports, WorldTest,
                         ::testing::Combine(::testing::Values("tcp", "shm"), ::testing::Values(1, 2, 3, 4, 5, 8)),
                         [](const auto& param_info) {
                           return std::get<0>(param_info.param) + "_world" + std::to_string(std::get<1>(param_info.param));
                         });

class BigTest : public ::testing::TestWithParam<std::string> {};

TEST_P(BigTest, SixtyFourMebibytesAcrossThreeRanks) {
  const std::size_t count = (64u << 20) / 4;
  run_ranks(3, [&](Communicator& c) {
    std::vector<float> buf(count);
    for (std::size_t i = 0; i < count; ++i) buf[i] = static_cast<float>((i + static_cast<std::size_t>(c.rank())) % 5);
    ASSERT_TRUE(c.allreduce(buf.data(), buf.data(), count, DataType::kFloat32, ReduceOp::kSum).is_ok());
    for (std::size_t i = 0; i < count; i += 4099)
      ASSERT_EQ(buf[i], static_cast<float>(i % 5 + (i + 1) % 5 + (i + 2) % 5)) << i;
    ASSERT_EQ(buf[count - 1], static_cast<float>((count - 1) % 5 + count % 5 + (count + 1) % 5));
  }, {}, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Transports, BigTest, ::testing::Values("tcp", "shm"));

TEST(Communicator, MismatchedSizesFailOnEveryRankWithBothCallsNamed) {
  std::vector<std::string> errors(3);
  run_ranks(3, [&](Communicator& c) {
    std::vector<float> buf(1000, 1.0f);
    const std::size_t count = c.rank() == 1 ? 999 : 1000;
    Status s = c.allreduce(buf.data(), buf.data(), count, DataType::kFloat32, ReduceOp::kSum, 5s);
    ASSERT_FALSE(s.is_ok());
    errors[static_cast<std::size_t>(c.rank())] = s.message();
    // The communicator stays broken.
    EXPECT_FALSE(c.barrier(1s).is_ok());
  });
  bool named = false;
  for (const auto& e : errors) named |= e.find("mismatched collectives") != std::string::npos &&
                                        e.find("999 elements") != std::string::npos &&
                                        e.find("1000 elements") != std::string::npos;
  EXPECT_TRUE(named) << errors[0] << "\n" << errors[1] << "\n" << errors[2];
}

TEST(Communicator, MismatchedTypeOrOpFails) {
  run_ranks(2, [&](Communicator& c) {
    double buf[4] = {1, 2, 3, 4};
    const ReduceOp op = c.rank() == 0 ? ReduceOp::kSum : ReduceOp::kMax;
    Status s = c.allreduce(buf, buf, 4, DataType::kFloat64, op, 5s);
    ASSERT_FALSE(s.is_ok());
    EXPECT_NE(s.message().find("mismatched collectives"), std::string::npos) << s.message();
  });
}

TEST(Communicator, ARankThatStaysButNeverCallsTimesOutOnTheOthers) {
  run_ranks(3, [&](Communicator& c) {
    float x = 1.0f;
    if (c.rank() == 2) {
      std::this_thread::sleep_for(2500ms);  // alive, connected, but not in the collective
      return;
    }
    const auto start = std::chrono::steady_clock::now();
    Status s = c.allreduce(&x, &x, 1, DataType::kFloat32, ReduceOp::kSum, 1s);
    ASSERT_FALSE(s.is_ok());
    EXPECT_TRUE(s.code() == StatusCode::kDeadlineExceeded || s.code() == StatusCode::kUnavailable) << s.message();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2400ms);
  });
}

TEST(Communicator, ARankThatLeavesFailsTheOthersWithoutHanging) {
  run_ranks(3, [&](Communicator& c) {
    if (c.rank() == 2) return;  // never joins the collective; its communicator closes on return
    float x = 1.0f;
    const auto start = std::chrono::steady_clock::now();
    Status s = c.allreduce(&x, &x, 1, DataType::kFloat32, ReduceOp::kSum, 2s);
    ASSERT_FALSE(s.is_ok());
    EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  });
}

TEST(Communicator, RankThatNeverJoinsTheRendezvousTimesOut) {
  auto store = make_in_memory_store();
  auto t = make_tcp_transport(*store, {"tok", "job", 2, 1}, {}, Deadline::after(300ms));
  ASSERT_FALSE(t.is_ok());
  EXPECT_EQ(t.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(t.status().message().find("waiting for rank 0's address"), std::string::npos) << t.status().message();
}

TEST(Types, HalfAndBfloat16RoundTrip) {
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f, 1000.5f}) {
    EXPECT_EQ(half_to_float(float_to_half(f)), f) << f;
  }
  EXPECT_TRUE(std::isinf(half_to_float(float_to_half(70000.0f))));
  EXPECT_TRUE(std::isnan(half_to_float(float_to_half(NAN))));
  EXPECT_EQ(half_to_float(float_to_half(1.0f + 1.0f / 4096)), 1.0f);
  EXPECT_EQ(half_to_float(float_to_half(1000.25f)), 1000.0f);  // a tie: to the even mantissa
  EXPECT_EQ(half_to_float(float_to_half(1000.75f)), 1001.0f);
  for (float f : {0.0f, 1.0f, -3.0f, 256.0f, 1.5e30f}) EXPECT_NEAR(bfloat16_to_float(float_to_bfloat16(f)), f, std::abs(f) / 128);
  EXPECT_TRUE(std::isnan(bfloat16_to_float(float_to_bfloat16(NAN))));
}
