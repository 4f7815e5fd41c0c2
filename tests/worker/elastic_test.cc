// Elastic membership (worker/elastic.h, issue 25): workers as threads meeting over one in-memory
// store, connected by real TCP communicators; a worker "dies" by dropping its group (its sockets
// close, as a killed process's do).
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "collectives/store.h"
#include "common/deadline.h"
#include "worker/elastic.h"
#include "worker/trainer.h"

using namespace ringmaster;
using namespace ringmaster::worker;
using namespace std::chrono_literals;

namespace {

ElasticOptions options(int min, int max) {
  ElasticOptions o;
  o.min_workers = min;
  o.max_workers = max;
  o.settle = 150ms;
  o.wait_for_min = 2s;
  o.communicator.timeout = 5s;
  o.token = "tok";
  o.job = "elastic-test";
  return o;
}

// The sum of every member's rank over the group's communicator: size*(size-1)/2 when all is well,
// -1 when the collective failed.
int64_t rank_sum(collectives::Communicator& comm) {
  int64_t v = comm.rank();
  if (Status s = comm.allreduce(&v, &v, 1, collectives::DataType::kInt64, collectives::ReduceOp::kSum); !s) return -1;
  return v;
}

}  // namespace

TEST(Elastic, RangeIsParsedOnce) {
  EXPECT_EQ(*parse_elastic_range("2:4"), (std::pair{2, 4}));
  EXPECT_EQ(*parse_elastic_range("3"), (std::pair{3, 3}));
  EXPECT_EQ(parse_elastic_range("4:2").status().message(),
            "--elastic: expected MIN:MAX with 1 <= MIN <= MAX (or one count), found \"4:2\"");
  EXPECT_FALSE(parse_elastic_range("0:2").is_ok());
}

TEST(Elastic, WorkersThatArriveTogetherFormOneGeneration) {
  auto store = collectives::make_in_memory_store();
  std::vector<std::thread> workers;
  std::vector<int> ranks(4, -1);
  std::vector<int64_t> sums(4, -1);
  for (int w = 0; w < 4; ++w)
    workers.emplace_back([&, w] {
      ElasticGroup group(*store, "w" + std::to_string(w), options(2, 4));
      auto comm = group.join();
      ASSERT_TRUE(comm.is_ok()) << comm.status().message();
      ranks[w] = (*comm)->rank();
      sums[w] = rank_sum(**comm);
      EXPECT_EQ(group.generation(), 0);
      EXPECT_EQ(group.members().size(), 4u);
    });
  for (auto& t : workers) t.join();
  EXPECT_EQ(std::set<int>(ranks.begin(), ranks.end()), (std::set<int>{0, 1, 2, 3}));
  for (int64_t s : sums) EXPECT_EQ(s, 6);
  // What `ringmaster status` shows, read from the store.
  auto m = read_membership(*store);
  ASSERT_TRUE(m.is_ok());
  EXPECT_EQ(m->generation, 0);
  EXPECT_FALSE(m->forming);
  EXPECT_EQ(std::set<std::string>(m->members.begin(), m->members.end()), (std::set<std::string>{"w0", "w1", "w2", "w3"}));
}

TEST(Elastic, SurvivorsOfAFailedMemberFormTheNextGeneration) {
  auto store = collectives::make_in_memory_store();
  std::atomic<int> formed{0};
  std::vector<std::thread> workers;
  std::vector<std::vector<std::string>> members_after(3);
  for (int w = 0; w < 3; ++w)
    workers.emplace_back([&, w] {
      ElasticGroup group(*store, "w" + std::to_string(w), options(2, 3));
      auto comm = group.join();
      ASSERT_TRUE(comm.is_ok()) << comm.status().message();
      ASSERT_EQ(rank_sum(**comm), 3);
      ++formed;
      if (w == 2) return;  // dies: its sockets close with the group
      while (formed < 3) std::this_thread::yield();
      auto failed = rank_sum(**comm);  // a ring through the dead worker
      ASSERT_EQ(failed, -1);
      group.abandon();
      comm = group.join();
      ASSERT_TRUE(comm.is_ok()) << comm.status().message();
      EXPECT_EQ(group.generation(), 1);
      EXPECT_EQ((*comm)->size(), 2);
      EXPECT_EQ(rank_sum(**comm), 1);
      members_after[static_cast<std::size_t>(w)] = group.members();
    });
  for (auto& t : workers) t.join();
  const std::set<std::string> survivors(members_after[0].begin(), members_after[0].end());
  EXPECT_EQ(survivors, (std::set<std::string>{"w0", "w1"}));
  EXPECT_EQ(members_after[0], members_after[1]);
}

TEST(Elastic, AWorkerThatArrivesLateJoinsAtTheMembersNextCheck) {
  auto store = collectives::make_in_memory_store();
  std::atomic<bool> first_formed{false};
  std::vector<int> final_size(3, 0);
  auto member = [&](int w) {
    ElasticGroup group(*store, "w" + std::to_string(w), options(2, 3));
    auto comm = group.join();
    ASSERT_TRUE(comm.is_ok()) << comm.status().message();
    first_formed = true;
    EXPECT_EQ((*comm)->size(), 2);
    // Training, with a commit point every iteration: a waiting worker makes everyone move on.
    for (int step = 0; step < 2000; ++step) {
      auto waiting = group.joiner_waiting();
      ASSERT_TRUE(waiting.is_ok()) << waiting.status().message();
      if (!*waiting) {
        std::this_thread::sleep_for(1ms);
        continue;
      }
      group.abandon();
      comm = group.join();
      ASSERT_TRUE(comm.is_ok()) << comm.status().message();
      break;
    }
    final_size[static_cast<std::size_t>(w)] = (*comm)->size();
    EXPECT_EQ(rank_sum(**comm), 3);
  };
  std::thread a(member, 0), b(member, 1);
  while (!first_formed) std::this_thread::sleep_for(5ms);
  std::this_thread::sleep_for(200ms);  // generation 0 closed with two
  std::thread late([&] {
    ElasticGroup group(*store, "w2", options(2, 3));
    auto comm = group.join();
    ASSERT_TRUE(comm.is_ok()) << comm.status().message();
    EXPECT_EQ(group.generation(), 1);
    final_size[2] = (*comm)->size();
    EXPECT_EQ(rank_sum(**comm), 3);
  });
  a.join(), b.join(), late.join();
  EXPECT_EQ(final_size, (std::vector<int>{3, 3, 3}));
}

TEST(Elastic, BelowMinTheSurvivorWaitsThenFailsNamingWhoIsMissing) {
  auto store = collectives::make_in_memory_store();
  std::atomic<int> formed{0};
  std::atomic<bool> gone{false};
  std::string message;
  std::thread dead([&] {
    {
      ElasticGroup group(*store, "pod-b", options(2, 2));
      EXPECT_TRUE(group.join().is_ok());
      ++formed;
      while (formed < 2) std::this_thread::yield();
    }  // its sockets close here
    gone = true;
  });
  std::thread survivor([&] {
    auto o = options(2, 2);
    o.wait_for_min = 300ms;
    ElasticGroup group(*store, "pod-a", o);
    auto comm = group.join();
    ASSERT_TRUE(comm.is_ok());
    ++formed;
    while (!gone) std::this_thread::yield();
    ASSERT_EQ(rank_sum(**comm), -1);
    group.abandon();
    const auto start = std::chrono::steady_clock::now();
    auto again = group.join();
    ASSERT_FALSE(again.is_ok());
    EXPECT_GE(std::chrono::steady_clock::now() - start, 300ms);
    message = again.status().message();
  });
  survivor.join();
  dead.join();
  EXPECT_NE(message.find("1 of at least 2 workers"), std::string::npos) << message;
  EXPECT_NE(message.find("missing from the last generation: pod-b"), std::string::npos) << message;
}

// The train loop in an elastic group: workers are threads running run_training, each with its own
// ElasticGroup over one store.
namespace {

TrainConfig small_training() {
  TrainConfig c;
  c.model = "mlp:784-32-10";
  c.dataset = DataSource::kSynthetic;
  c.synthetic_samples = 1536;
  c.test_limit = 300;
  c.epochs = 3;
  c.batch_size = 32;  // a global batch of 96 with MAX 3: 16 steps per epoch
  c.progress = Progress::kLines;
  c.commit_every = 4;
  return c;
}

struct Outcome {
  bool ok = false;
  std::string error;
  TrainSummary summary;
};

// Runs `configs.size()` workers; the last `late` of them start once the first generation has
// closed without them.
std::vector<Outcome> train_elastic(const std::vector<TrainConfig>& configs, const ElasticOptions& o,
                                   std::size_t late = 0) {
  auto store = collectives::make_in_memory_store();
  std::vector<Outcome> out(configs.size());
  std::vector<std::thread> workers;
  for (std::size_t w = 0; w < configs.size(); ++w)
    workers.emplace_back([&, w] {
      if (w + late >= configs.size()) {
        ASSERT_TRUE(store->get("elastic/g0/world", Deadline::after(10s)).is_ok());
      }
      std::FILE* sink = std::fopen("/dev/null", "w");
      {
        ElasticGroup group(*store, "w" + std::to_string(w), o);
        auto r = run_training(configs[w], sink, nullptr, nullptr, &group);
        out[w].ok = r.is_ok();
        if (r) out[w].summary = *r;
        else out[w].error = r.status().message();
      }  // the group's sockets close with it, as a process's do
      std::fclose(sink);
    });
  for (auto& t : workers) t.join();
  return out;
}

}  // namespace

TEST(ElasticTraining, AnUndisturbedGroupTrainsLikeDataParallelTraining) {
  const TrainConfig c = small_training();
  auto out = train_elastic({c, c, c}, options(2, 3));
  for (const auto& o : out) {
    ASSERT_TRUE(o.ok) << o.error;
    EXPECT_EQ(o.summary.epochs_completed, 3);
    EXPECT_EQ(o.summary.global_step, 48);
  }
  EXPECT_GT(out[0].summary.accuracy, 0.5);  // synthetic, 10 classes: chance is 0.1
}

TEST(ElasticTraining, AWorkerThatLeavesMidRunLeavesTheOthersTrainingToTheEnd) {
  const TrainConfig c = small_training();
  const auto undisturbed = train_elastic({c, c, c}, options(2, 3));
  ASSERT_TRUE(undisturbed[0].ok) << undisturbed[0].error;
  const std::string metrics = std::filesystem::temp_directory_path() / ("rm_elastic_" + std::to_string(::getpid()) + ".jsonl");
  std::filesystem::remove(metrics);
  TrainConfig staying = c;
  staying.metrics_file = metrics;
  TrainConfig leaving = c;
  leaving.stop_at_step = 22;  // between commit points (20 and 24), in the second epoch
  auto out = train_elastic({staying, staying, leaving}, options(2, 3));
  ASSERT_TRUE(out[2].ok) << out[2].error;
  EXPECT_EQ(out[2].summary.global_step, 22);
  for (int w : {0, 1}) {
    ASSERT_TRUE(out[w].ok) << "worker " << w << ": " << out[w].error;
    // Same length as the undisturbed run (the replicas were checked bit-identical after every epoch).
    EXPECT_EQ(out[w].summary.epochs_completed, 3);
    EXPECT_EQ(out[w].summary.global_step, 48);
    EXPECT_EQ(out[w].summary.world_size, 2);
  }
  // The same global batches in the same order: the update is the undisturbed one, up to the order
  // of the sums.
  EXPECT_NEAR(out[0].summary.accuracy, undisturbed[0].summary.accuracy, 0.02);
  EXPECT_EQ(out[0].summary.accuracy, out[1].summary.accuracy);
  // The change is on record: nothing rolled back, since the survivors completed step 22 as
  // replicas and go on from it (not from the commit point at step 20).
  std::ifstream in(metrics);
  std::string line, change;
  while (std::getline(in, line))
    if (line.find("\"membership_change\":true") != std::string::npos) change = line;
  EXPECT_NE(change.find("\"generation\":1"), std::string::npos) << change;
  EXPECT_NE(change.find("\"lost_steps\":0"), std::string::npos) << change;
  EXPECT_NE(change.find("\"members\":2"), std::string::npos) << change;
  std::filesystem::remove(metrics);
}

TEST(ElasticTraining, AWorkerThatArrivesLateJoinsAndTrains) {
  TrainConfig c = small_training();
  c.epochs = 12;  // long enough for the third worker to arrive while the first two train
  auto out = train_elastic({c, c, c}, options(2, 3), /*late=*/1);
  for (int w : {0, 1, 2}) {
    ASSERT_TRUE(out[w].ok) << "worker " << w << ": " << out[w].error;
    EXPECT_EQ(out[w].summary.global_step, 192);
  }
  EXPECT_EQ(out[2].summary.world_size, 3);
  EXPECT_EQ(out[0].summary.accuracy, out[2].summary.accuracy);
}

TEST(Elastic, AWorkerThatArrivesAfterTheGroupFinishedStopsWaiting) {
  auto store = collectives::make_in_memory_store();
  {
    ElasticGroup a(*store, "a", options(1, 1));
    ASSERT_TRUE(a.join().is_ok());
    a.mark_finished();
  }
  ElasticGroup late(*store, "late", options(1, 1));
  const auto start = std::chrono::steady_clock::now();
  auto comm = late.join();  // generation 0 closed with one: late for it
  ASSERT_FALSE(comm.is_ok());
  EXPECT_EQ(comm.status().code(), StatusCode::kAborted);
  EXPECT_TRUE(late.group_finished());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);  // not the 2 s wait_for_min
}

TEST(ElasticTraining, TwoWorkersLeavingAtOnceLeaveTheOtherTwoTraining) {
  TrainConfig c = small_training();
  c.batch_size = 24;  // a global batch of 96 with MAX 4, as the other tests
  TrainConfig leaving = c;
  leaving.stop_at_step = 18;
  auto out = train_elastic({c, leaving, c, leaving}, options(2, 4));
  for (int w : {0, 2}) {
    ASSERT_TRUE(out[w].ok) << "worker " << w << ": " << out[w].error;
    EXPECT_EQ(out[w].summary.global_step, 48);
    EXPECT_EQ(out[w].summary.world_size, 2);
  }
  EXPECT_EQ(out[0].summary.accuracy, out[2].summary.accuracy);
}
