// Checkpoint encoding, corruption detection, mismatch refusal and fallback to an older file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/files.h"
#include "worker/checkpoint.h"

using namespace ringmaster::worker;
using ringmaster::Rng;
namespace fs = std::filesystem;

namespace {

struct Trained {
  std::unique_ptr<Model> model;
  std::unique_ptr<Optimizer> optimizer;
};

Trained make(const std::string& spec = "mlp:784-16-10", const std::string& opt = "sgd", uint64_t seed = 1) {
  Trained s;
  s.model = std::move(Model::create(spec, {1, 28, 28}, 10).value());
  s.model->init(seed);
  OptimizerConfig c;
  c.name = opt;
  s.optimizer = std::move(make_optimizer(c, s.model->param_count()).value());
  // Take one step so the optimizer state is not all zeros.
  for (float& g : s.model->grads()) g = 0.01f;
  s.optimizer->step(s.model->params(), s.model->grads(), 0.1f);
  return s;
}

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() /
            ("rm_ckpt_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

}  // namespace

TEST_F(CheckpointTest, RoundTripRestoresEverything) {
  Trained a = make();
  TrainState st;
  st.epoch = 3;
  st.batch_in_epoch = 17;
  st.global_step = 1234;
  st.seed = 99;
  st.rng = Rng(5).state();
  st.epoch_loss_sum = 12.5;
  st.epoch_samples = 2176;
  st.epoch_correct = 2000;
  st.best_accuracy = 0.875;
  const std::string bytes = encode_checkpoint(*a.model, *a.optimizer, st);

  Trained b = make("mlp:784-16-10", "sgd", 2);
  TrainState out;
  ASSERT_TRUE(decode_checkpoint(bytes, "x.rmck", *b.model, *b.optimizer, out).is_ok());
  EXPECT_TRUE(std::equal(a.model->params().begin(), a.model->params().end(), b.model->params().begin()));
  auto sa = a.optimizer->state(), sb = b.optimizer->state();
  EXPECT_TRUE(std::equal(sa[0].second.begin(), sa[0].second.end(), sb[0].second.begin()));
  EXPECT_EQ(b.optimizer->step_count(), 1);
  EXPECT_EQ(out.epoch, 3);
  EXPECT_EQ(out.batch_in_epoch, 17);
  EXPECT_EQ(out.global_step, 1234);
  EXPECT_EQ(out.seed, 99u);
  EXPECT_EQ(out.rng, st.rng);
  EXPECT_EQ(out.epoch_loss_sum, 12.5);
  EXPECT_EQ(out.epoch_samples, 2176);
  EXPECT_EQ(out.epoch_correct, 2000);
  EXPECT_EQ(out.best_accuracy, 0.875);
  EXPECT_EQ(encode_checkpoint(*b.model, *b.optimizer, out), bytes);
}

TEST_F(CheckpointTest, EveryFlippedByteIsDetectedAndNothingChanges) {
  Trained a = make("mlp:784-2-10");
  const std::string bytes = encode_checkpoint(*a.model, *a.optimizer, {});
  Trained b = make("mlp:784-2-10", "sgd", 7);
  const std::vector<float> before(b.model->params().begin(), b.model->params().end());
  for (std::size_t i = 0; i < bytes.size(); i += 37) {
    std::string bad = bytes;
    bad[i] = static_cast<char>(bad[i] ^ 0x10);
    TrainState st;
    ringmaster::Status s = decode_checkpoint(bad, "c.rmck", *b.model, *b.optimizer, st);
    ASSERT_FALSE(s.is_ok()) << "byte " << i;
    EXPECT_EQ(s.code(), ringmaster::StatusCode::kDataLoss) << s.message();
  }
  EXPECT_TRUE(std::equal(before.begin(), before.end(), b.model->params().begin()));
  TrainState st;
  ringmaster::Status s = decode_checkpoint(bytes.substr(0, bytes.size() / 2), "c.rmck", *b.model, *b.optimizer, st);
  EXPECT_NE(s.message().find("checksum mismatch"), std::string::npos) << s.message();
  s = decode_checkpoint("hello", "c.rmck", *b.model, *b.optimizer, st);
  EXPECT_EQ(s.message(), "c.rmck: not a ringmaster checkpoint (expected the magic \"RMCKPT01\" and at least 20 bytes)");
}

TEST_F(CheckpointTest, OtherModelOrOptimizerIsRefusedByName) {
  Trained a = make("mlp:784-16-10");
  const std::string bytes = encode_checkpoint(*a.model, *a.optimizer, {});
  Trained other = make("mlp:784-32-10");
  TrainState st;
  ringmaster::Status s = decode_checkpoint(bytes, "c.rmck", *other.model, *other.optimizer, st);
  EXPECT_EQ(s.message(), "c.rmck: written for model mlp:784-16-10, but this run trains mlp:784-32-10");
  Trained adam = make("mlp:784-16-10", "adam");
  s = decode_checkpoint(bytes, "c.rmck", *adam.model, *adam.optimizer, st);
  EXPECT_EQ(s.message(), "c.rmck: holds sgd optimizer state, but this run uses --optimizer adam");
}

TEST_F(CheckpointTest, SaveKeepsTheNewestAndResumeFallsBackPastACorruptOne) {
  Trained a = make();
  TrainState st;
  for (int64_t step : {10, 20, 30, 40}) {
    st.global_step = step;
    a.model->params()[0] = static_cast<float>(step);
    ASSERT_TRUE(save_checkpoint(dir_, *a.model, *a.optimizer, st, 2).is_ok());
  }
  auto files = list_checkpoints(dir_);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0], checkpoint_path(dir_, 40));
  EXPECT_EQ(files[1], checkpoint_path(dir_, 30));
  // A crash mid-write of the newest leaves a torn file (simulated): the previous one is used.
  std::string torn = ringmaster::read_file(files[0]).value();
  ASSERT_TRUE(ringmaster::write_file_atomic(files[0], torn.substr(0, torn.size() - 100)).is_ok());
  Trained b = make();
  TrainState out;
  auto r = resume_from(dir_, *b.model, *b.optimizer, out);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->path, files[1]);
  ASSERT_EQ(r->rejected.size(), 1u);
  EXPECT_NE(r->rejected[0].find("checksum mismatch"), std::string::npos);
  EXPECT_EQ(out.global_step, 30);
  EXPECT_EQ(b.model->params()[0], 30.0f);
}

TEST_F(CheckpointTest, ResumeWithNothingUsableFailsAndListsWhy) {
  Trained b = make();
  TrainState out;
  auto empty = resume_from(dir_, *b.model, *b.optimizer, out);
  ASSERT_TRUE(empty.is_ok());
  EXPECT_TRUE(empty->path.empty());
  fs::create_directories(dir_);
  std::ofstream(checkpoint_path(dir_, 5)) << "garbage";
  auto r = resume_from(dir_, *b.model, *b.optimizer, out);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("--resume: no usable checkpoint in " + dir_), std::string::npos);
  EXPECT_NE(r.status().message().find("not a ringmaster checkpoint"), std::string::npos);
}
