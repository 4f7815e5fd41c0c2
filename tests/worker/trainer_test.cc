// The train loop end to end in-process: bit-identical resume (at an epoch end and mid-epoch, with
// dropout), divergence detection, metrics records and configuration errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/files.h"
#include "worker/checkpoint.h"
#include "tests/worker/scratch_fixture.h"
#include "worker/trainer.h"

using namespace ringmaster::worker;
namespace fs = std::filesystem;

namespace {

class TrainerTest : public ScratchFixture {
 protected:
  // Real Fashion-MNIST when installed (a slice of it), synthetic data otherwise.
  TrainConfig small() {
    TrainConfig c;
    c.model = "mlp:784-32-10";
    c.dropout = 0.2f;
    if (fs::exists(std::string(kFashionMnistDir) + "/train-images-idx3-ubyte.gz")) {
      c.train_limit = 640;
      c.test_limit = 200;
    } else {
      c.dataset = DataSource::kSynthetic;
      c.synthetic_samples = 640;
      c.test_limit = 200;
    }
    c.batch_size = 64;
    c.progress = Progress::kLines;
    return c;
  }
  std::string last_checkpoint(const fs::path& dir) {
    auto files = list_checkpoints(dir.string());
    EXPECT_FALSE(files.empty());
    return files.empty() ? "" : ringmaster::read_file(files.front()).value();
  }
  // Runs c straight, then again stopped at step `stop` and resumed; the final checkpoints
  // (weights, optimizer state, counters, RNG) must be byte-identical.
  void expect_resume_identical(TrainConfig c, int64_t stop) {
    c.checkpoint_dir = (dir_ / "straight").string();
    ASSERT_TRUE(run_training(c, sink_).is_ok());
    TrainConfig first = c;
    first.checkpoint_dir = (dir_ / "resumed").string();
    first.stop_at_step = stop;
    auto r1 = run_training(first, sink_);
    ASSERT_TRUE(r1.is_ok()) << r1.status().message();
    EXPECT_EQ(r1->global_step, stop);
    TrainConfig second = c;
    second.checkpoint_dir = first.checkpoint_dir;
    second.resume = true;
    auto r2 = run_training(second, sink_);
    ASSERT_TRUE(r2.is_ok()) << r2.status().message();
    EXPECT_FALSE(r2->resumed_from.empty());
    EXPECT_TRUE(last_checkpoint(dir_ / "straight") == last_checkpoint(dir_ / "resumed"));
  }
};

}  // namespace

TEST_F(TrainerTest, TwoEpochsStraightEqualOneEpochResumeOneEpochBitForBit) {
  // With a constant learning rate, --epochs 1 then --epochs 2 --resume is the same run.
  TrainConfig straight = small();
  straight.lr_schedule = "constant";
  straight.epochs = 2;
  straight.checkpoint_dir = (dir_ / "straight").string();
  ASSERT_TRUE(run_training(straight, sink_).is_ok());

  TrainConfig first = straight;
  first.epochs = 1;
  first.checkpoint_dir = (dir_ / "resumed").string();
  ASSERT_TRUE(run_training(first, sink_).is_ok());
  TrainConfig second = first;
  second.epochs = 2;
  second.resume = true;
  auto r = run_training(second, sink_);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_FALSE(r->resumed_from.empty());
  EXPECT_EQ(r->global_step, 20);

  const std::string a = last_checkpoint(dir_ / "straight"), b = last_checkpoint(dir_ / "resumed");
  ASSERT_FALSE(a.empty());
  EXPECT_TRUE(a == b) << "weights, optimizer state and counters must be bit-identical";
}

TEST_F(TrainerTest, InterruptedAfterOneEpochThenResumedIsBitIdenticalWithCosineSchedule) {
  TrainConfig c = small();
  c.epochs = 2;
  c.lr_schedule = "cosine";
  c.warmup_epochs = 0.5;
  expect_resume_identical(c, 10);  // one epoch, as if the process had been stopped there
}

TEST_F(TrainerTest, MidEpochResumeIsBitIdentical) {
  TrainConfig c = small();
  c.steps = 16;
  c.optimizer.name = "adam";
  expect_resume_identical(c, 7);  // inside epoch 1 (10 steps per epoch)
}

TEST_F(TrainerTest, PeriodicCheckpointsAreWrittenAndPruned) {
  TrainConfig c = small();
  c.epochs = 2;
  c.checkpoint_dir = (dir_ / "ck").string();
  c.checkpoint_every = 3;
  c.keep_checkpoints = 2;
  ASSERT_TRUE(run_training(c, sink_).is_ok());
  auto files = list_checkpoints(c.checkpoint_dir);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0], checkpoint_path(c.checkpoint_dir, 20));
  EXPECT_EQ(files[1], checkpoint_path(c.checkpoint_dir, 18));
}

TEST_F(TrainerTest, ResumeFromAnotherModelIsRefused) {
  TrainConfig c = small();
  c.epochs = 1;
  c.checkpoint_dir = (dir_ / "ck").string();
  ASSERT_TRUE(run_training(c, sink_).is_ok());
  c.model = "mlp:784-64-10";
  c.resume = true;
  auto r = run_training(c, sink_);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("written for model mlp:784-32-10, but this run trains mlp:784-64-10"),
            std::string::npos)
      << r.status().message();
}

TEST_F(TrainerTest, DivergenceStopsWithAClearMessage) {
  TrainConfig c = small();
  c.lr = 1e30;
  c.lr_schedule = "constant";
  c.optimizer.momentum = 0.0f;
  c.epochs = 2;
  auto r = run_training(c, sink_);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), ringmaster::StatusCode::kAborted);
  EXPECT_NE(r.status().message().find("training diverged: the loss is"), std::string::npos) << r.status().message();
}

TEST_F(TrainerTest, MetricsLinesAndJsonRecords) {
  TrainConfig c = small();
  c.epochs = 2;
  c.metrics_file = (dir_ / "metrics.jsonl").string();
  char* buf = nullptr;
  std::size_t len = 0;
  std::FILE* mem = open_memstream(&buf, &len);
  auto r = run_training(c, mem);
  std::fclose(mem);
  const std::string text(buf, len);
  std::free(buf);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_NE(text.find("epoch=1 step=10 loss="), std::string::npos) << text;
  EXPECT_NE(text.find("epoch=2 step=20 loss="), std::string::npos) << text;
  EXPECT_NE(text.find(" accuracy="), std::string::npos);
  EXPECT_NE(text.find(" samples_per_sec="), std::string::npos);
  EXPECT_NE(text.find("summary: model=mlp:784-32-10 epochs=2 steps=20 accuracy="), std::string::npos) << text;
  std::ifstream in(c.metrics_file);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    EXPECT_EQ(line.front(), '{');
  }
  EXPECT_EQ(lines, 3);  // two epochs and the summary
  EXPECT_GT(r->accuracy, 0.3);
}

TEST_F(TrainerTest, ConfigurationErrorsNameTheFlag) {
  TrainConfig c = small();
  c.batch_size = 0;
  EXPECT_EQ(validate(c).message(), "--batch-size: expected 1 to 1000000, found 0");
  c = small();
  c.resume = true;
  EXPECT_EQ(validate(c).message(), "--resume: needs --checkpoint-dir, found none");
  // Enumerated settings are parsed once, where the flag is read.
  EXPECT_EQ(parse_data_source("imagenet").status().message(),
            "--dataset: expected fashion-mnist or synthetic, found \"imagenet\"");
  EXPECT_EQ(parse_device("tpu").status().message(), "--device: expected cpu or cuda, found \"tpu\"");
  EXPECT_EQ(parse_progress("fancy").status().message(), "--progress: expected auto, bar or lines, found \"fancy\"");
  EXPECT_EQ(name_of(*parse_progress("lines")), "lines");
  c = small();
  c.precision = Precision::kBf16;
  EXPECT_EQ(validate(c).message(), "--precision bf16: only with --device cuda (the CPU path is float32)");
  c = small();
  c.lr_schedule = "step";
  auto r = run_training(c, sink_);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().message(), "--lr-step-epochs: expected > 0 with --lr-schedule step, found 0");
}

namespace {

// A parameter service that is never reached: the backends' refusals come before any call.
class UnreachableService final : public ParameterService {
 public:
  int worker() const override { return 0; }
  int workers() const override { return 2; }
  std::string describe() const override { return "none"; }
  ringmaster::Result<int64_t> start(std::span<float>, std::span<const ParamInfo>, const OptimizerConfig&) override {
    return ringmaster::internal_error("not reachable");
  }
  ringmaster::Status push_pull(std::span<const float>, float, int64_t, std::span<float>) override {
    return ringmaster::internal_error("not reachable");
  }
};

}  // namespace

// Issue 24: what a step backend cannot run is its own answer (StepBackend::check), given before
// any data, device or server is touched; the loop has no special cases for it.
TEST(StepBackends, EachRefusesWhatItCannotRunAndSaysWhyBalanceIsIdle) {
  auto model = Model::create("mlp:784-16-10", {1, 28, 28}, 10);
  ASSERT_TRUE(model.is_ok());
  auto optimizer = make_optimizer({}, (*model)->param_count());
  ASSERT_TRUE(optimizer.is_ok());
  TrainConfig c;
  c.device = Device::kCuda;
  c.slow_rank = 1;
  c.slow_factor = 2.0;
  auto b = make_step_backend(c, **model, **optimizer, nullptr, nullptr);
  ASSERT_FALSE(b.is_ok());
  EXPECT_EQ(b.status().message(), "--slow-rank: not supported with --device cuda");
  c.slow_rank = -1;
  UnreachableService ps;
  b = make_step_backend(c, **model, **optimizer, nullptr, &ps);
  ASSERT_FALSE(b.is_ok());
  EXPECT_EQ(b.status().message(), "--device cuda: --strategy ps is not supported on the GPU yet; use allreduce");
  // A CUDA backend is made without a GPU (the engine comes at start(), with CUDA's own error).
  b = make_step_backend(c, **model, **optimizer, nullptr, nullptr);
  ASSERT_TRUE(b.is_ok()) << b.status().message();
  c.device = Device::kCpu;
  b = make_step_backend(c, **model, **optimizer, nullptr, &ps);
  ASSERT_TRUE(b.is_ok());
  EXPECT_EQ((*b)->unbalanced_because(), "not used with parameter servers (every worker pushes at its own pace)");
  EXPECT_STREQ((*b)->wait_name(), "push_pull");
  b = make_step_backend(c, **model, **optimizer, nullptr, nullptr);
  ASSERT_TRUE(b.is_ok());
  EXPECT_EQ((*b)->unbalanced_because(), "one rank, nothing to balance");
  EXPECT_STREQ((*b)->wait_name(), "allreduce_wait");
}
