// Data-parallel training with ranks as threads over real transports: N ranks with batch b train
// the same weights as one rank with batch N*b; replicas stay bit-identical; a resumed run
// continues exactly; divergence is caught; sharding follows DistributedSampler.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "tests/collectives/harness.h"
#include "worker/balance.h"
#include "worker/checkpoint.h"
#include "worker/gradient_sync.h"
#include "worker/model.h"
#include "tests/worker/scratch_fixture.h"
#include "worker/trainer.h"

using namespace ringmaster;
using namespace ringmaster::worker;
namespace fs = std::filesystem;

namespace {

class DataParallelTest : public ScratchFixture {
 protected:
  static TrainConfig small() {
    TrainConfig c;
    c.model = "mlp:784-32-10";
    c.dataset = DataSource::kSynthetic;
    c.synthetic_samples = 512;  // a multiple of every global batch below: no padded samples
    c.test_limit = 100;
    c.epochs = 2;
    c.batch_size = 32;
    c.progress = Progress::kLines;
    c.bucket_bytes = 16 * 1024;  // several buckets for this small model
    return c;
  }
  // Runs c on n ranks (threads over tcp); returns rank 0's summary.
  TrainSummary run_ranks(int n, const TrainConfig& c) {
    TrainSummary rank0;
    std::mutex mu;
    collectives::testing::run_ranks(n, [&](collectives::Communicator& comm) {
      auto r = run_training(c, sink_, &comm);
      ASSERT_TRUE(r.is_ok()) << "rank " << comm.rank() << ": " << r.status().message();
      std::lock_guard lock(mu);
      if (comm.rank() == 0) rank0 = *r;
    });
    return rank0;
  }
  // The parameters in the newest checkpoint of dir.
  static std::vector<float> weights(const fs::path& dir, const TrainConfig& c) {
    auto model = Model::create(c.model, {1, 28, 28}, 10);
    auto opt = make_optimizer(c.optimizer, (*model)->param_count());
    TrainState state;
    auto r = resume_from(dir.string(), **model, **opt, state);
    EXPECT_TRUE(r.is_ok() && !r->path.empty()) << "no checkpoint in " << dir;
    auto p = (*model)->params();
    return {p.begin(), p.end()};
  }
};

}  // namespace

// Two trainings' weights agree within float tolerance, relative to the weights' scale, and are
// not trivially equal (e.g. all zero).
static void expect_same_weights(const std::vector<float>& a, const std::vector<float>& b) {
  ASSERT_EQ(a.size(), b.size());
  double worst = 0.0, norm = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, static_cast<double>(std::fabs(a[i] - b[i])));
    norm = std::max(norm, static_cast<double>(std::fabs(b[i])));
  }
  EXPECT_LT(worst, 1e-5 * std::max(1.0, norm)) << "largest weight difference " << worst;
  EXPECT_GT(norm, 0.01);
}

TEST_F(DataParallelTest, TwoRanksOfBatchBTrainTheWeightsOfOneRankOfBatchTwoB) {
  TrainConfig two = small();
  two.checkpoint_dir = (dir_ / "two").string();
  const TrainSummary s2 = run_ranks(2, two);
  EXPECT_EQ(s2.world_size, 2);
  EXPECT_EQ(s2.global_step, 2 * 512 / 64);

  TrainConfig one = small();
  one.batch_size = 64;
  one.checkpoint_dir = (dir_ / "one").string();
  auto s1 = run_training(one, sink_);
  ASSERT_TRUE(s1.is_ok()) << s1.status().message();
  EXPECT_EQ(s1->global_step, s2.global_step);

  expect_same_weights(weights(dir_ / "two", two), weights(dir_ / "one", one));
  // The metrics are over the whole global batch too.
  EXPECT_NEAR(s2.loss, s1->loss, 1e-4);
  EXPECT_NEAR(s2.accuracy, s1->accuracy, 0.011);  // at most one of 100 test samples flips
}

TEST_F(DataParallelTest, UnequalBatchesTrainTheWeightsOfEqualOnes) {
  // 48 + 16 samples per step on two ranks: the gradients are weighted 3/4 and 1/4, so the update
  // is the one of a single rank with batch 64 over the same blocks of the permutation.
  TrainConfig split = small();
  split.balance = *parse_balance("48,16");
  split.checkpoint_dir = (dir_ / "split").string();
  const TrainSummary s2 = run_ranks(2, split);
  EXPECT_EQ(s2.rank_batches, (std::vector<int64_t>{48, 16}));
  TrainConfig one = small();
  one.batch_size = 64;
  one.checkpoint_dir = (dir_ / "one").string();
  auto s1 = run_training(one, sink_);
  ASSERT_TRUE(s1.is_ok()) << s1.status().message();
  EXPECT_EQ(s2.global_step, s1->global_step);
  expect_same_weights(weights(dir_ / "split", split), weights(dir_ / "one", one));
  EXPECT_NEAR(s2.loss, s1->loss, 1e-4);
}

TEST_F(DataParallelTest, BalanceAutoGivesTheSlowRankLessWorkAndKeepsTheUpdate) {
  // Rank 1 takes 4x as long per sample; after 4 measured steps it should get about a fifth of
  // the global batch. Whatever split the measurement picks, the weights are those of one rank.
  TrainConfig c = small();
  c.model = "mlp:784-256-10";  // enough compute per step for the sleep to be measurable
  c.epochs = 3;
  c.balance = *parse_balance("auto");
  c.balance_warmup_steps = 4;
  c.slow_rank = 1;
  c.slow_factor = 4.0;
  c.checkpoint_dir = (dir_ / "auto").string();
  const TrainSummary s2 = run_ranks(2, c);
  ASSERT_EQ(s2.rank_batches.size(), 2u);
  EXPECT_EQ(s2.rank_batches[0] + s2.rank_batches[1], 64);
  EXPECT_GE(s2.rank_batches[0], 2 * s2.rank_batches[1]) << "rank 0 (fast) got " << s2.rank_batches[0]
                                                          << " samples per step, rank 1 (slow) " << s2.rank_batches[1];
  TrainConfig one = small();
  one.model = c.model;
  one.epochs = c.epochs;
  one.batch_size = 64;
  one.checkpoint_dir = (dir_ / "one").string();
  ASSERT_TRUE(run_training(one, sink_).is_ok());
  expect_same_weights(weights(dir_ / "auto", c), weights(dir_ / "one", one));
}

TEST_F(DataParallelTest, BalanceRejectsASplitThatDoesNotFitTheRanks) {
  TrainConfig c = small();
  c.balance = *parse_balance("40,16");  // 56, not 2 x 32
  collectives::testing::run_ranks(2, [&](collectives::Communicator& comm) {
    auto r = run_training(c, sink_, &comm);
    ASSERT_FALSE(r.is_ok());
    EXPECT_NE(r.status().message().find("adding up to 64"), std::string::npos) << r.status().message();
  });
  EXPECT_FALSE(parse_balance("48,x").is_ok());
  // The GPU backend does not split batches yet: it refuses --balance over several ranks itself.
  c.device = Device::kCuda;
  collectives::testing::run_ranks(2, [&](collectives::Communicator& comm) {
    auto r = run_training(c, sink_, &comm);
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().message(), "--balance 40,16: not supported with --device cuda yet");
  });
}

TEST_F(DataParallelTest, ReplicasAreBitIdenticalAfterEveryEpochEvenWithDropout) {
  TrainConfig c = small();
  c.dropout = 0.3f;  // every rank draws its own masks; the averaged update is still common
  c.epochs = 3;
  c.metrics_file = (dir_ / "metrics.jsonl").string();
  run_ranks(3, c);
  std::ifstream in(c.metrics_file);
  std::string line;
  int epochs = 0;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (j.contains("summary")) continue;
    ++epochs;
    EXPECT_EQ(j["ranks"], 3);
    EXPECT_EQ(j["param_checksum"].get<std::string>().size(), 16u);
  }
  EXPECT_EQ(epochs, 3);  // one record per epoch, written by rank 0 only
}

TEST_F(DataParallelTest, DivergedReplicasAreReportedOnEveryRank) {
  collectives::testing::run_ranks(3, [&](collectives::Communicator& comm) {
    std::vector<float> params(1000, 0.5f);
    auto same = check_replicas_agree(comm, params);
    ASSERT_TRUE(same.is_ok()) << same.status().message();
    if (comm.rank() == 2) params[999] = std::nextafter(0.5f, 1.0f);  // one ulp on one rank
    auto differ = check_replicas_agree(comm, params);
    ASSERT_FALSE(differ.is_ok());
    EXPECT_NE(differ.status().message().find("rank 2"), std::string::npos) << differ.status().message();
  });
}

TEST_F(DataParallelTest, StoppedAndResumedOnTwoRanksEqualsStraightRun) {
  TrainConfig straight = small();
  straight.epochs = 3;
  straight.checkpoint_dir = (dir_ / "straight").string();
  run_ranks(2, straight);

  TrainConfig first = straight;
  first.checkpoint_dir = (dir_ / "resumed").string();
  first.stop_at_step = 13;  // mid-epoch (8 steps per epoch)
  EXPECT_EQ(run_ranks(2, first).global_step, 13);
  TrainConfig second = straight;
  second.checkpoint_dir = first.checkpoint_dir;
  second.resume = true;
  const TrainSummary s = run_ranks(2, second);
  EXPECT_FALSE(s.resumed_from.empty());
  EXPECT_EQ(weights(dir_ / "straight", straight), weights(dir_ / "resumed", straight));
}

TEST_F(DataParallelTest, TimelineHoldsEveryRanksStepsWithBucketsInsideTheirStep) {
  TrainConfig c = small();
  c.epochs = 1;
  c.timeline = (dir_ / "timeline.json").string();
  const TrainSummary s = run_ranks(2, c);
  const int64_t steps = s.global_step;  // 512 / 64 = 8
  ASSERT_EQ(steps, 8);
  const auto trace = nlohmann::json::parse(std::ifstream(c.timeline));
  ASSERT_TRUE(trace["traceEvents"].is_array());
  // Per rank and step: each span's interval; the buckets of a step must start after its forward
  // pass and end before its optimizer step (they overlap backward and the wait, nothing else).
  struct Step {
    double forward_end = -1, optimizer_start = -1;
    std::vector<std::pair<double, double>> buckets;
    int spans = 0;
  };
  std::map<std::pair<int, int64_t>, Step> seen;
  std::set<std::string> rows;
  for (const auto& e : trace["traceEvents"]) {
    if (e["ph"] == "M") {
      if (e["name"] == "thread_name") rows.insert(e["args"]["name"].get<std::string>());
      continue;
    }
    ASSERT_EQ(e["ph"], "X");
    ASSERT_GE(e["dur"].get<double>(), 0.0);
    Step& st = seen[{e["pid"].get<int>(), e["args"]["step"].get<int64_t>()}];
    ++st.spans;
    const double ts = e["ts"].get<double>(), end = ts + e["dur"].get<double>();
    if (e["name"] == "forward") st.forward_end = end;
    if (e["name"] == "optimizer") st.optimizer_start = ts;
    if (e["name"] == "bucket") st.buckets.emplace_back(ts, end);
  }
  EXPECT_EQ(rows, (std::set<std::string>{"data", "compute", "allreduce", "wait"}));
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(2 * steps));  // both ranks, every step
  for (const auto& [key, st] : seen) {
    // 25,450 parameters (784*32+32+32*10+10) in 16 KiB buckets: 7.
    EXPECT_EQ(st.buckets.size(), 7u) << "rank " << key.first << " step " << key.second;
    EXPECT_EQ(st.spans, 5 + static_cast<int>(st.buckets.size()));
    for (const auto& [b, e] : st.buckets) {
      EXPECT_GE(b, st.forward_end) << "rank " << key.first << " step " << key.second;
      EXPECT_LE(e, st.optimizer_start) << "rank " << key.first << " step " << key.second;
    }
  }
}

TEST(GradientSyncTest, BucketsCoverTheArenaFromItsEndAndSum) {
  collectives::testing::run_ranks(2, [&](collectives::Communicator& comm) {
    std::vector<float> grads(1000);
    for (std::size_t i = 0; i < grads.size(); ++i) grads[i] = static_cast<float>(comm.rank() + 1) * float(i);
    GradientSync sync(comm, grads, 256 * sizeof(float));
    EXPECT_EQ(sync.bucket_count(), 4u);  // 256, 256, 256, 232 elements, the last first
    sync.begin_step();
    sync.ready_from(744);  // exactly the last bucket
    sync.ready_from(500);  // nothing more is wholly final
    ASSERT_TRUE(sync.finish().is_ok());
    for (std::size_t i = 0; i < grads.size(); ++i) ASSERT_FLOAT_EQ(grads[i], 3.0f * float(i)) << i;
  });
}

TEST(ShardingTest, ShardsPartitionThePermutationLikeDistributedSampler) {
  Dataset d = make_synthetic(10, 1);
  for (std::size_t k = 0; k < d.labels.size(); ++k) d.labels[k] = static_cast<uint8_t>(k % 10);
  // A sample's label is its index here, so the labels say which samples a shard read.
  std::multiset<int> seen;
  int64_t per_shard = -1;
  for (int shard = 0; shard < 3; ++shard) {
    BatchLoader loader(d, {4, true, 7, 2, shard, 3, true});
    if (per_shard < 0) per_shard = loader.samples_per_epoch();
    EXPECT_EQ(loader.samples_per_epoch(), 4);  // ceil(10 / 3), padded
    loader.start_epoch(5);
    while (const Batch* b = loader.next())
      for (int32_t label : b->labels) seen.insert(label);
  }
  EXPECT_EQ(seen.size(), 12u);
  for (int k = 0; k < 10; ++k) EXPECT_GE(seen.count(k), 1u) << "sample " << k << " missing";
  // Unpadded (evaluation): every sample exactly once.
  std::multiset<int> once;
  for (int shard = 0; shard < 3; ++shard) {
    BatchLoader loader(d, {4, false, 0, 2, shard, 3, false});
    loader.start_epoch(0);
    while (const Batch* b = loader.next())
      for (int32_t label : b->labels) once.insert(label);
  }
  EXPECT_EQ(once.size(), 10u);
  for (int k = 0; k < 10; ++k) EXPECT_EQ(once.count(k), 1u);
}

TEST(ShardingTest, UnequalShardsTakeTheSameGlobalBlocksAsEqualOnes) {
  Dataset d = make_synthetic(23, 1);
  for (std::size_t k = 0; k < d.labels.size(); ++k) d.labels[k] = static_cast<uint8_t>(k);  // label = index
  // Global batch 12 on 3 shards: evenly 4 + 4 + 4, unevenly 7 + 3 + 2. 23 samples pad to 24, so
  // there are two global blocks, and each must hold the same samples either way.
  auto blocks = [&](const std::vector<int64_t>& split) {
    std::vector<std::multiset<int>> out(2);
    for (int shard = 0; shard < 3; ++shard) {
      BatchLoader loader(d, {4, true, 9, 2, shard, 3, true});
      loader.set_shard_batches(split);
      EXPECT_EQ(loader.batches_per_epoch(), 2);
      loader.start_epoch(1);
      while (const Batch* b = loader.next()) {
        EXPECT_EQ(b->global_count, 12);
        if (!split.empty()) {
          EXPECT_EQ(static_cast<int64_t>(b->labels.size()), split[static_cast<std::size_t>(shard)]);
        }
        for (int32_t label : b->labels) out[static_cast<std::size_t>(b->index)].insert(label);
      }
    }
    return out;
  };
  const auto even = blocks({}), uneven = blocks({7, 3, 2});
  EXPECT_EQ(even[0].size(), 12u);
  EXPECT_EQ(even, uneven);
  // Restarting mid-epoch with another split continues with the same blocks.
  std::multiset<int> second;
  for (int shard = 0; shard < 3; ++shard) {
    BatchLoader loader(d, {4, true, 9, 2, shard, 3, true});
    loader.set_shard_batches({2, 2, 8});
    loader.start_epoch(1, 1);
    while (const Batch* b = loader.next()) {
      EXPECT_EQ(b->index, 1);
      for (int32_t label : b->labels) second.insert(label);
    }
  }
  EXPECT_EQ(second, even[1]);
}

TEST(BalanceTest, SplitsInProportionWithAFloorAndTheExactTotal) {
  const std::vector<double> speeds = {3.0, 1.0};
  EXPECT_EQ(split_proportionally(64, speeds), (std::vector<int64_t>{48, 16}));
  const std::vector<double> skewed = {1000.0, 1.0, 1.0};
  const auto s = split_proportionally(10, skewed, 1);
  EXPECT_EQ(s, (std::vector<int64_t>{8, 1, 1}));
  const std::vector<double> thirds = {1.0, 1.0, 1.0};
  const auto t = split_proportionally(10, thirds, 1);
  EXPECT_EQ(t[0] + t[1] + t[2], 10);
  EXPECT_EQ(t, (std::vector<int64_t>{4, 3, 3}));
  const std::vector<double> unknown = {0.0, std::nan("")};  // nothing measured: even
  EXPECT_EQ(split_proportionally(6, unknown), (std::vector<int64_t>{3, 3}));
  auto spec = parse_balance("192,64");
  ASSERT_TRUE(spec.is_ok());
  EXPECT_EQ(spec->kind, BalanceSpec::Kind::kFixed);
  EXPECT_EQ(spec->batches, (std::vector<int64_t>{192, 64}));
  EXPECT_EQ(parse_balance("auto")->kind, BalanceSpec::Kind::kAuto);
  for (const char* bad : {"1,,2", "0,4", "fast", "3,-1", "2 ,3"})
    EXPECT_FALSE(parse_balance(bad).is_ok()) << bad;
}
