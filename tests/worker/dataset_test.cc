// IDX reading (good, truncated, corrupt, missing) and the batch loader's order and resume.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "common/files.h"
#include "worker/dataset.h"

using namespace ringmaster::worker;
namespace fs = std::filesystem;

namespace {

class IdxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("rm_idx_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::string header(uint32_t magic, std::vector<uint32_t> dims) {
    std::string h;
    auto put = [&h](uint32_t v) {
      for (int s = 24; s >= 0; s -= 8) h.push_back(static_cast<char>((v >> s) & 0xff));
    };
    put(magic);
    for (uint32_t v : dims) put(v);
    return h;
  }
  std::string write(const std::string& name, const std::string& bytes, bool gzip) {
    const std::string path = (dir_ / name).string();
    if (gzip) {
      gzFile f = gzopen(path.c_str(), "wb");
      gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
      gzclose(f);
    } else {
      std::ofstream(path, std::ios::binary) << bytes;
    }
    return path;
  }
  // n images of 2x3 pixels with value i, labels i % 10.
  void write_pair(const std::string& stem, uint32_t n, bool gzip, std::string pixels = "", std::string labels = "") {
    if (pixels.empty())
      for (uint32_t i = 0; i < n * 6; ++i) pixels.push_back(static_cast<char>(i / 6));
    if (labels.empty())
      for (uint32_t i = 0; i < n; ++i) labels.push_back(static_cast<char>(i % 10));
    const std::string ext = gzip ? ".gz" : "";
    images_ = write(stem + "-images-idx3-ubyte" + ext, header(0x803, {n, 2, 3}) + pixels, gzip);
    labels_ = write(stem + "-labels-idx1-ubyte" + ext, header(0x801, {n}) + labels, gzip);
  }
  std::string error(int64_t limit = 0) {
    auto r = read_idx(images_, labels_, limit);
    return r ? "" : r.status().message();
  }
  fs::path dir_;
  std::string images_, labels_;
};

}  // namespace

TEST_F(IdxTest, ReadsGzipAndPlainFiles) {
  for (bool gzip : {true, false}) {
    write_pair("train", 12, gzip);
    auto r = read_idx(images_, labels_);
    ASSERT_TRUE(r.is_ok()) << r.status().message();
    EXPECT_EQ(r->count, 12);
    EXPECT_EQ(r->sample_shape, (Shape{1, 2, 3}));
    EXPECT_EQ(r->pixels[6 * 5 + 2], 5);
    EXPECT_EQ(r->labels[11], 1);
  }
  auto limited = read_idx(images_, labels_, 4);
  ASSERT_TRUE(limited.is_ok());
  EXPECT_EQ(limited->count, 4);
  EXPECT_EQ(limited->pixels.size(), 24u);
}

TEST_F(IdxTest, TruncatedDataIsReportedNotReadPast) {
  write_pair("train", 10, true, std::string(59, '\1'));
  EXPECT_EQ(error(), images_ + ": truncated: the header promises 60 bytes of data, found 59");
}

TEST_F(IdxTest, TrailingDataIsReported) {
  write_pair("train", 10, false, std::string(61, '\1'));
  EXPECT_EQ(error(), images_ + ": 60 bytes of data expected after the header, found more (trailing data)");
}

TEST_F(IdxTest, WrongMagicIsReported) {
  write_pair("train", 2, false);
  std::string swapped = labels_;
  labels_ = images_;
  EXPECT_EQ(error(), images_ + ": not an IDX file of unsigned bytes with 1 dimensions: expected magic 0x00000801, "
                               "found 0x00000803");
  labels_ = swapped;
}

TEST_F(IdxTest, LabelOutOfRangeAndCountMismatchAreReported) {
  write_pair("train", 3, false, "", std::string("\1\2\12", 3));
  EXPECT_EQ(error(), labels_ + ": label 2 is 10, expected a class in [0, 10)");
  write_pair("train", 3, false);
  labels_ = write("other-labels", header(0x801, {4}) + std::string(4, '\0'), false);
  EXPECT_EQ(error(), labels_ + ": expected 3 labels to match " + images_ + ", found 4");
}

TEST_F(IdxTest, CorruptGzipIsReported) {
  write_pair("train", 50, true);
  std::string bytes = ringmaster::read_file(images_).value();
  for (std::size_t i = 12; i < bytes.size() - 8; ++i) bytes[i] = static_cast<char>(bytes[i] ^ 0x5a);
  std::ofstream(images_, std::ios::binary | std::ios::trunc) << bytes;
  const std::string e = error();
  EXPECT_FALSE(e.empty());
  EXPECT_EQ(e.rfind(images_ + ": ", 0), 0u) << e;
}

TEST_F(IdxTest, MissingDataSetNamesTheDebianPackage) {
  auto r = load_fashion_mnist((dir_ / "nowhere").string(), Split::kTrain);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), ringmaster::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("apt-get install dataset-fashion-mnist"), std::string::npos);
  EXPECT_NE(r.status().message().find("--data-dir"), std::string::npos);
}

TEST_F(IdxTest, FashionMnistNamesAreFound) {
  write_pair("t10k", 5, true);
  auto r = load_fashion_mnist(dir_.string(), Split::kTest);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->name, "fashion-mnist/test");
  EXPECT_EQ(r->count, 5);
}

TEST(BatchLoader, EpochVisitsEverySampleOnceInASeededOrder) {
  Dataset d = make_synthetic(1000, 1);
  BatchLoader a(d, {64, true, 7, 3});
  EXPECT_EQ(a.batches_per_epoch(), 16);
  auto order = [&](BatchLoader& loader, int64_t epoch, int64_t first) {
    loader.start_epoch(epoch, first);
    std::vector<std::vector<float>> firsts;
    int64_t samples = 0;
    while (const Batch* b = loader.next()) {
      samples += static_cast<int64_t>(b->labels.size());
      EXPECT_EQ(b->images.dim(0), static_cast<int64_t>(b->labels.size()));
      firsts.emplace_back(b->images.data(), b->images.data() + b->images.size());
    }
    return std::make_pair(firsts, samples);
  };
  auto [e0, n0] = order(a, 0, 0);
  EXPECT_EQ(n0, 1000);
  EXPECT_EQ(e0.size(), 16u);
  EXPECT_EQ(e0.back().size(), (1000u - 15 * 64) * 784);
  BatchLoader b(d, {64, true, 7, 2});
  auto [again, n_again] = order(b, 0, 0);
  EXPECT_EQ(again, e0);  // same seed and epoch: same batches
  auto [e1, n1] = order(a, 1, 0);
  EXPECT_NE(e1, e0);  // reshuffled per epoch
  auto [tail, n_tail] = order(b, 1, 10);
  ASSERT_EQ(tail.size(), 6u);  // resuming at batch 10 replays batches 10..15
  for (std::size_t i = 0; i < tail.size(); ++i) EXPECT_EQ(tail[i], e1[10 + i]);
}

TEST(BatchLoader, NormalizesWithTheDatasetStatistics) {
  Dataset d;
  d.count = 2;
  d.sample_shape = {1, 1, 2};
  d.pixels = {0, 255, 51, 102};
  d.labels = {1, 2};
  d.mean = 0.5f;
  d.stddev = 0.25f;
  BatchLoader loader(d, {2, false, 0, 2});
  loader.start_epoch(0);
  const Batch* b = loader.next();
  ASSERT_NE(b, nullptr);
  EXPECT_FLOAT_EQ(b->images[0], -2.0f);
  EXPECT_FLOAT_EQ(b->images[1], 2.0f);
  EXPECT_NEAR(b->images[2], (0.2f - 0.5f) / 0.25f, 1e-6);
  EXPECT_EQ(b->labels, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(loader.next(), nullptr);
}

TEST(BatchLoader, RestartingMidEpochStopsTheWorkerCleanly) {
  Dataset d = make_synthetic(5000, 2);
  BatchLoader loader(d, {10, true, 1, 3});
  for (int epoch = 0; epoch < 20; ++epoch) {
    loader.start_epoch(epoch);
    ASSERT_NE(loader.next(), nullptr);
  }
}
