// A gtest fixture for tests that train: a fresh directory per test (dir_, removed afterwards) and
// a stream that discards the trainer's output (sink_).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

class ScratchFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() / ("rm_" + std::string(test->test_suite_name()) + "_" +
                                                     std::to_string(::getpid()) + "_" + test->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    sink_ = std::fopen("/dev/null", "w");
  }
  void TearDown() override {
    std::fclose(sink_);
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
  std::FILE* sink_ = nullptr;
};
