// Model specs, parameter layout and a short training run that must reduce the loss.
#include <gtest/gtest.h>

#include "worker/dataset.h"
#include "worker/loss.h"
#include "worker/model.h"
#include "worker/optimizer.h"

using namespace ringmaster::worker;
using ringmaster::Rng;

namespace {

std::unique_ptr<Model> build(const std::string& spec, float dropout = 0.0f) {
  auto r = Model::create(spec, {1, 28, 28}, 10, dropout);
  EXPECT_TRUE(r.is_ok()) << r.status().message();
  return r ? std::move(r.value()) : nullptr;
}

std::string error_of(const std::string& spec) {
  auto r = Model::create(spec, {1, 28, 28}, 10);
  return r ? "" : r.status().message();
}

}  // namespace

TEST(Model, DefaultMlpHasTheDocumentedShape) {
  auto m = build("mlp");
  EXPECT_EQ(m->spec(), "mlp:784-512-256-10");
  EXPECT_EQ(m->param_count(), 784 * 512 + 512 + 512 * 256 + 256 + 256 * 10 + 10);
  ASSERT_EQ(m->param_infos().size(), 6u);
  EXPECT_EQ(m->param_infos()[0].name, "fc1.weight");
  EXPECT_EQ(m->param_infos()[0].shape, (Shape{512, 784}));
  EXPECT_EQ(m->param_infos()[1].offset, 512 * 784);
  EXPECT_EQ(m->params().data() + m->param_count(), m->params().data() + m->params().size());
}

TEST(Model, CnnSpecBuildsTwoConvolutionsAndTwoDenseLayers) {
  auto m = build("cnn:8-16-32");
  EXPECT_EQ(m->spec(), "cnn:8-16-32");
  const auto& infos = m->param_infos();
  ASSERT_EQ(infos.size(), 8u);
  EXPECT_EQ(infos[0].shape, (Shape{8, 1, 5, 5}));
  EXPECT_EQ(infos[2].shape, (Shape{16, 8, 5, 5}));
  EXPECT_EQ(infos[4].shape, (Shape{32, 16 * 7 * 7}));
  EXPECT_EQ(infos[6].shape, (Shape{10, 32}));
  EXPECT_EQ(build("cnn")->spec(), "cnn:32-64-128");
}

TEST(Model, BadSpecsSayWhatWasExpected) {
  EXPECT_EQ(error_of("mlp:100-10"), "--model mlp:100-10: the first width must be the input size 784, found 100");
  EXPECT_EQ(error_of("mlp:784-64-5"), "--model mlp:784-64-5: the last width must be the class count 10, found 5");
  EXPECT_EQ(error_of("mlp:784-x-10"), "--model mlp:784-x-10: expected positive integers separated by '-', found \"x\"");
  EXPECT_EQ(error_of("resnet"),
            "--model resnet: expected mlp, mlp:W0-W1-...-Wn, cnn or cnn:C1-C2-F, found \"resnet\"");
  EXPECT_EQ(error_of("cnn:8-16"), "--model cnn:8-16: expected cnn:C1-C2-F (two channel counts and a hidden width), "
                                  "found 2 numbers");
  auto r = Model::create("mlp", {1, 28, 28}, 10, 1.0f);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().message(), "--dropout: expected a probability in [0, 1), found 1");
}

TEST(Model, InitIsDeterministicPerSeed) {
  auto a = build("mlp:784-32-10"), b = build("mlp:784-32-10"), c = build("mlp:784-32-10");
  a->init(5);
  b->init(5);
  c->init(6);
  EXPECT_TRUE(std::equal(a->params().begin(), a->params().end(), b->params().begin()));
  EXPECT_FALSE(std::equal(a->params().begin(), a->params().end(), c->params().begin()));
}

TEST(Model, ShortTrainingReducesTheLossOnLearnableData) {
  for (const std::string spec : {"mlp:784-64-10", "cnn:4-8-16"}) {
    auto m = build(spec, 0.1f);
    m->init(1);
    Dataset data = make_synthetic(512, 3);
    auto opt = make_optimizer(OptimizerConfig{}, m->param_count());
    ASSERT_TRUE(opt.is_ok());
    BatchLoader loader(data, {64, true, 1, 3});
    Rng rng(4);
    Context ctx{true, &rng, nullptr};
    Tensor grad;
    double first = 0.0, last = 0.0;
    for (int epoch = 0; epoch < 4; ++epoch) {
      loader.start_epoch(epoch);
      double sum = 0.0;
      int n = 0;
      while (const Batch* b = loader.next()) {
        const Tensor& logits = m->forward(b->images, ctx);
        sum += softmax_cross_entropy(logits, b->labels, &grad).loss;
        ++n;
        m->backward(b->images, grad, ctx);
        (*opt)->step(m->params(), m->grads(), 0.02f);
      }
      (epoch == 0 ? first : last) = sum / n;
    }
    EXPECT_LT(last, first * 0.5) << spec;
  }
}
