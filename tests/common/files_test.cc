#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/files.h"

using namespace ringmaster;
namespace fs = std::filesystem;

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("rm_files_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(FilesTest, AtomicWriteReplacesWholeAndLeavesNoTemp) {
  std::string path = (dir_ / "status.json").string();
  ASSERT_TRUE(write_file_atomic(path, "old"));
  ASSERT_TRUE(write_file_atomic(path, "new content"));
  EXPECT_EQ(*read_file(path), "new content");
  int files = 0;
  for (auto& e : fs::directory_iterator(dir_)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
}

TEST_F(FilesTest, ReplaceOnlyWriteIsStillWholeWithTheModeAsked) {
  // Without the fsyncs (a running job's status, the hostfile) the replacement is still a rename.
  std::string path = (dir_ / "hostfile").string();
  ASSERT_TRUE(write_file_atomic(path, "a slots=1\n", 0600, Durability::kReplaceOnly));
  ASSERT_TRUE(write_file_atomic(path, "b slots=2\n", 0600, Durability::kReplaceOnly));
  EXPECT_EQ(*read_file(path), "b slots=2\n");
  int files = 0;
  for (auto& e : fs::directory_iterator(dir_)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
}

TEST_F(FilesTest, AtomicWriteIntoMissingDirectoryFails) {
  auto s = write_file_atomic((dir_ / "nope" / "x").string(), "x");
  EXPECT_FALSE(s);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
}

TEST_F(FilesTest, ReadFileLimitsAndErrors) {
  std::string path = (dir_ / "big").string();
  std::ofstream(path) << std::string(1000, 'x');
  EXPECT_EQ(read_file(path, 999).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(read_file(path, 1000)->size(), 1000u);
  EXPECT_EQ(read_file((dir_ / "missing").string()).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(read_file(dir_.string()).status().code(), StatusCode::kInvalidArgument);
}

TEST(Files, RandomHexIsFreshLowerCaseHex) {
  const std::string a = ringmaster::random_hex(16), b = ringmaster::random_hex(16);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a, b);
  EXPECT_EQ(ringmaster::random_hex(3).size(), 6u);
}
