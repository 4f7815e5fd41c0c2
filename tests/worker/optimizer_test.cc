// Optimizer updates against hand-computed values, and the learning-rate schedules' shapes.
#include <gtest/gtest.h>

#include <cmath>

#include "worker/optimizer.h"

using namespace ringmaster::worker;

namespace {

std::unique_ptr<Optimizer> make(OptimizerConfig c, int64_t n) {
  auto r = make_optimizer(c, n);
  EXPECT_TRUE(r.is_ok()) << r.status().message();
  return std::move(r.value());
}

}  // namespace

TEST(Sgd, MomentumAndWeightDecayMatchHandComputation) {
  OptimizerConfig c;
  c.momentum = 0.9f;
  c.weight_decay = 0.1f;
  auto opt = make(c, 1);
  std::vector<float> w = {1.0f};
  std::vector<float> g = {0.5f};
  opt->step(w, g, 0.1f);  // v = 0.5 + 0.1*1 = 0.6; w = 1 - 0.06 = 0.94
  EXPECT_NEAR(w[0], 0.94f, 1e-6);
  opt->step(w, g, 0.1f);  // v = 0.9*0.6 + 0.5 + 0.094 = 1.134; w = 0.94 - 0.1134
  EXPECT_NEAR(w[0], 0.8266f, 1e-6);
  EXPECT_EQ(opt->step_count(), 2);
  ASSERT_EQ(opt->state().size(), 1u);
  EXPECT_NEAR(opt->state()[0].second[0], 1.134f, 1e-6);
}

TEST(Sgd, NesterovLooksAhead) {
  OptimizerConfig c;
  c.momentum = 0.5f;
  c.nesterov = true;
  auto opt = make(c, 1);
  std::vector<float> w = {0.0f};
  std::vector<float> g = {1.0f};
  opt->step(w, g, 1.0f);  // v = 1; w -= (1 + 0.5*1)
  EXPECT_NEAR(w[0], -1.5f, 1e-6);
  opt->step(w, g, 1.0f);  // v = 1.5; w -= (1 + 0.75)
  EXPECT_NEAR(w[0], -3.25f, 1e-6);
}

TEST(Sgd, WithoutMomentumHasNoState) {
  OptimizerConfig c;
  c.momentum = 0.0f;
  auto opt = make(c, 2);
  std::vector<float> w = {1.0f, 2.0f};
  std::vector<float> g = {1.0f, -1.0f};
  opt->step(w, g, 0.5f);
  EXPECT_FLOAT_EQ(w[0], 0.5f);
  EXPECT_FLOAT_EQ(w[1], 2.5f);
  EXPECT_TRUE(opt->state().empty());
}

TEST(Adam, FirstStepMovesByTheLearningRateInTheGradientsSign) {
  OptimizerConfig c;
  c.name = "adam";
  auto opt = make(c, 3);
  std::vector<float> w = {0.0f, 0.0f, 0.0f};
  std::vector<float> g = {3.0f, -0.01f, 0.0f};
  opt->step(w, g, 0.001f);
  EXPECT_NEAR(w[0], -0.001f, 1e-7);
  EXPECT_NEAR(w[1], 0.001f, 1e-6);
  EXPECT_FLOAT_EQ(w[2], 0.0f);
  EXPECT_EQ(opt->state().size(), 2u);
}

TEST(Optimizer, RejectsBadHyperparameters) {
  OptimizerConfig c;
  c.name = "adagrad";
  auto r = make_optimizer(c, 1);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().message(), "--optimizer: expected sgd or adam, found \"adagrad\"");
  c = {};
  c.momentum = 1.5f;
  EXPECT_FALSE(make_optimizer(c, 1).is_ok());
  c = {};
  c.momentum = 0.0f;
  c.nesterov = true;
  EXPECT_FALSE(make_optimizer(c, 1).is_ok());
}

TEST(Schedule, WarmupRisesLinearlyThenConstant) {
  LrSchedule s;
  s.base_lr = 0.1;
  s.warmup_steps = 4;
  EXPECT_NEAR(s.at(0), 0.025, 1e-12);
  EXPECT_NEAR(s.at(3), 0.1, 1e-12);
  EXPECT_NEAR(s.at(100), 0.1, 1e-12);
}

TEST(Schedule, StepDecaysByGammaEveryStepSize) {
  LrSchedule s;
  s.kind = "step";
  s.base_lr = 1.0;
  s.step_size = 10;
  s.gamma = 0.5;
  EXPECT_NEAR(s.at(9), 1.0, 1e-12);
  EXPECT_NEAR(s.at(10), 0.5, 1e-12);
  EXPECT_NEAR(s.at(25), 0.25, 1e-12);
  EXPECT_TRUE(validate(s).is_ok());
  s.step_size = 0;
  EXPECT_FALSE(validate(s).is_ok());
}

TEST(Schedule, CosineGoesFromBaseToMinAfterWarmup) {
  LrSchedule s;
  s.kind = "cosine";
  s.base_lr = 1.0;
  s.min_lr = 0.1;
  s.warmup_steps = 10;
  s.total_steps = 110;
  EXPECT_NEAR(s.at(10), 1.0, 1e-12);
  EXPECT_NEAR(s.at(60), 0.55, 1e-12);
  EXPECT_NEAR(s.at(110), 0.1, 1e-12);
  EXPECT_NEAR(s.at(500), 0.1, 1e-12);
  EXPECT_LT(s.at(80), s.at(70));
}

TEST(Schedule, UnknownKindIsRejected) {
  LrSchedule s;
  s.kind = "linear";
  ringmaster::Status st = validate(s);
  ASSERT_FALSE(st.is_ok());
  EXPECT_EQ(st.message(), "--lr-schedule: expected constant, step or cosine, found \"linear\"");
}
