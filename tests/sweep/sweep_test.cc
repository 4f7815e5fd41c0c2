// The sweep's building blocks: search spaces (types, distributions, bounds, the grid), Katib's
// StdOut metrics collection and strategies, and the crash-tolerant journal.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "sweep/journal.h"
#include "sweep/metrics.h"
#include "sweep/space.h"

using namespace ringmaster;
using namespace ringmaster::sweep;

namespace {

jobs::ParameterSpec numeric(const std::string& name, jobs::ParameterType type, const char* min, const char* max,
                            const char* step = nullptr, jobs::Distribution d = jobs::Distribution::kUniform) {
  jobs::ParameterSpec p;
  p.name = name;
  p.type = type;
  p.feasible_space.min = min;
  p.feasible_space.max = max;
  if (step) p.feasible_space.step = step;
  p.feasible_space.distribution = d;
  return p;
}

jobs::ParameterSpec listed(const std::string& name, std::vector<std::string> values) {
  jobs::ParameterSpec p;
  p.name = name;
  p.type = jobs::ParameterType::kCategorical;
  p.feasible_space.list = std::move(values);
  return p;
}

}  // namespace

TEST(SearchSpaceTest, RandomDrawsStayInBoundsAndFollowTheDistribution) {
  auto space = SearchSpace::from({numeric("lr", jobs::ParameterType::kDouble, "0.001", "0.1", nullptr,
                                          jobs::Distribution::kLogUniform),
                                  numeric("layers", jobs::ParameterType::kInt, "2", "8", "2"),
                                  numeric("m", jobs::ParameterType::kDouble, "0", "1", nullptr, jobs::Distribution::kNormal),
                                  listed("opt", {"sgd", "adam"})});
  ASSERT_TRUE(space.is_ok()) << space.status().message();
  Rng rng(7);
  int below_0_01 = 0, near_middle = 0;
  std::set<std::string> layers, opts;
  for (int i = 0; i < 4000; ++i) {
    const Assignment a = space->sample(rng);
    ASSERT_EQ(a.size(), 4u);
    const double lr = std::stod(a[0].second), m = std::stod(a[2].second);
    ASSERT_GE(lr, 0.001);
    ASSERT_LE(lr, 0.1);
    below_0_01 += lr < 0.01;
    ASSERT_GE(m, 0.0);
    ASSERT_LE(m, 1.0);
    near_middle += std::fabs(m - 0.5) < 1.0 / 6;  // within one standard deviation
    layers.insert(a[1].second);
    opts.insert(a[3].second);
  }
  EXPECT_NEAR(below_0_01 / 4000.0, 0.5, 0.05);   // log-uniform: half the draws in the lower decade
  EXPECT_NEAR(near_middle / 4000.0, 0.683, 0.05);  // normal: 68% within one sigma
  EXPECT_EQ(layers, (std::set<std::string>{"2", "4", "6", "8"}));
  EXPECT_EQ(opts, (std::set<std::string>{"sgd", "adam"}));
}

TEST(SearchSpaceTest, GridEnumeratesEveryCombinationLastParameterFastest) {
  auto space = SearchSpace::from({numeric("lr", jobs::ParameterType::kDouble, "0.1", "0.3", "0.1"),
                                  listed("opt", {"sgd", "adam"})});
  ASSERT_TRUE(space.is_ok());
  auto grid = space->grid();
  ASSERT_TRUE(grid.is_ok()) << grid.status().message();
  ASSERT_EQ(grid->size(), 6u);
  EXPECT_EQ((*grid)[0], (Assignment{{"lr", "0.1"}, {"opt", "sgd"}}));
  EXPECT_EQ((*grid)[1], (Assignment{{"lr", "0.1"}, {"opt", "adam"}}));
  EXPECT_EQ((*grid)[5], (Assignment{{"lr", "0.30000000000000004"}, {"opt", "adam"}}));
  auto no_step = SearchSpace::from({numeric("lr", jobs::ParameterType::kDouble, "0.1", "0.3")});
  auto refused = no_step->grid();
  ASSERT_FALSE(refused.is_ok());
  EXPECT_NE(refused.status().message().find("needs feasibleSpace.step"), std::string::npos);
}

TEST(SearchSpaceTest, BadBoundsAreRefusedNamingTheParameter) {
  auto swapped = SearchSpace::from({numeric("lr", jobs::ParameterType::kDouble, "0.5", "0.1")});
  ASSERT_FALSE(swapped.is_ok());
  EXPECT_NE(swapped.status().message().find("spec.parameters[0] (lr).feasibleSpace: expected min <= max"), std::string::npos)
      << swapped.status().message();
  EXPECT_FALSE(SearchSpace::from({numeric("lr", jobs::ParameterType::kDouble, "abc", "1")}).is_ok());
  EXPECT_FALSE(SearchSpace::from({numeric("lr", jobs::ParameterType::kDouble, "0", "1", nullptr,
                                          jobs::Distribution::kLogUniform)})
                   .is_ok());
  EXPECT_FALSE(SearchSpace::from({numeric("n", jobs::ParameterType::kInt, "1.5", "4")}).is_ok());
  EXPECT_FALSE(SearchSpace::from({listed("opt", {})}).is_ok());
}

TEST(MetricsTest, TheDefaultFilterReadsKatibLinesAndStrategiesPickTheObservation) {
  auto p = MetricsParser::create({}, {"accuracy", "loss"});
  ASSERT_TRUE(p.is_ok());
  p->feed("epoch=1 step=468 loss=0.5312 accuracy=0.8123 test_loss=0.4 lr=0.05");
  p->feed("[trial-1-training-0] epoch=2 loss=0.41 accuracy=0.8612");
  p->feed("accuracy = 8.5e-1 and nothing else; loss=");
  EXPECT_EQ(p->values("accuracy"), (std::vector<double>{0.8123, 0.8612, 0.85}));
  EXPECT_EQ(p->values("loss"), (std::vector<double>{0.5312, 0.41}));  // test_loss is another metric
  EXPECT_DOUBLE_EQ(*p->observe("accuracy", jobs::MetricStrategy::kMax), 0.8612);
  EXPECT_DOUBLE_EQ(*p->observe("accuracy", jobs::MetricStrategy::kLatest), 0.85);
  EXPECT_DOUBLE_EQ(*p->observe("loss", jobs::MetricStrategy::kMin), 0.41);
  EXPECT_FALSE(p->observe("f1", jobs::MetricStrategy::kMax).has_value());
  // A custom metricsFormat, and expressions that cannot work.
  auto custom = MetricsParser::create({R"re(\{"metric": "(\w+)", "value": ([\d.]+)\})re"}, {"accuracy"});
  ASSERT_TRUE(custom.is_ok());
  custom->feed(R"({"metric": "accuracy", "value": 0.91})");
  EXPECT_EQ(custom->values("accuracy"), (std::vector<double>{0.91}));
  EXPECT_FALSE(MetricsParser::create({"(unclosed"}, {"a"}).is_ok());
  EXPECT_FALSE(MetricsParser::create({"accuracy=([0-9.]+)"}, {"a"}).is_ok());  // one group only
  // Katib's own File-collector filter: Go syntax, where braces that start no repetition are
  // literals (std::regex refused it).
  auto katib = MetricsParser::create({R"({metricName: ([\w|-]+), metricValue: ((-?\d+)(\.\d+)?)})"}, {"accuracy", "loss"});
  ASSERT_TRUE(katib.is_ok()) << katib.status().message();
  katib->feed("2024-03-04T17:55:08Z INFO     {metricName: accuracy, metricValue: 0.8078}");
  katib->feed("{metricName: loss, metricValue: -0.4759}");
  EXPECT_EQ(katib->values("accuracy"), (std::vector<double>{0.8078}));
  EXPECT_EQ(katib->values("loss"), (std::vector<double>{-0.4759}));
}

TEST(JournalTest, RecordsSurviveAndATornLastLineIsIgnored) {
  const auto dir = std::filesystem::temp_directory_path() / ("rm_journal_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "journal.jsonl").string();
  {
    auto j = Journal::open(path);
    ASSERT_TRUE(j.is_ok());
    ASSERT_TRUE(j->append({{"event", "created"}, {"trial", "t-1"}}).is_ok());
    ASSERT_TRUE(j->append({{"event", "completed"}, {"trial", "t-1"}, {"objective", 0.8}}).is_ok());
  }
  {
    std::ofstream torn(path, std::ios::app);
    torn << R"({"event": "created", "tri)";  // a crash in the middle of a write
  }
  auto records = Journal::read(path);
  ASSERT_TRUE(records.is_ok()) << records.status().message();
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[1]["objective"], 0.8);
  // Reopening cuts the torn record off, so the next one starts on a line of its own.
  {
    auto j = Journal::open(path);
    ASSERT_TRUE(j->append({{"event", "created"}, {"trial", "t-2"}}).is_ok());
  }
  records = Journal::read(path);
  ASSERT_TRUE(records.is_ok()) << records.status().message();
  ASSERT_EQ(records->size(), 3u);
  EXPECT_EQ((*records)[2]["trial"], "t-2");
  // Damage in the middle is not silently skipped.
  {
    std::ofstream bad(path, std::ios::app);
    bad << "not json\n" << R"({"event": "x"})" << "\n";
  }
  auto damaged = Journal::read(path);
  EXPECT_FALSE(damaged.is_ok());
  EXPECT_NE(damaged.status().message().find(":4:"), std::string::npos) << damaged.status().message();
  EXPECT_TRUE(Journal::read((dir / "absent.jsonl").string())->empty());
  std::filesystem::remove_all(dir);
}
